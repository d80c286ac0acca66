"""seglab: segmentation of microscopy images, from a grey threshold to a U-Net.

The public API::

    >>> import seglab
    >>> ds = seglab.synthetic_cells(4, size=64)
    >>> seg = seglab.make_segmenter("threshold").fit([ds.image(0)])
    >>> seg.predict(ds.image(0)).shape
    (64, 64)
"""

__version__ = "0.1.0"

from .bench import run_bench, score_predictions
from .cellclass import CellClassifier, describe_cells
from .datasets import (
    Dataset,
    course_split,
    grouped_kfold_split,
    kfold_split,
    make_splits,
    open_dataset,
    random_split,
    synthetic_cells,
)
from .errors import (
    DataSetError,
    ImageReadError,
    ImageTooLargeError,
    ModelFileError,
    OutputPathError,
    ParameterError,
    SeglabError,
    ShapeError,
)
from .io import load_image, load_mask, load_scribbles, save_mask
from .measure import nc_agreement, nc_ratio, nc_ratio_range
from .metrics import confusion_matrix, dice, image_score, iou, pixel_accuracy, roc_auc
from .modelfile import load, load_cell_classifier, save, save_cell_classifier
from .segmenters import Segmenter, list_segmenters, make_segmenter, register

__all__ = [
    "CellClassifier",
    "DataSetError",
    "Dataset",
    "ImageReadError",
    "ImageTooLargeError",
    "ModelFileError",
    "OutputPathError",
    "ParameterError",
    "SeglabError",
    "Segmenter",
    "ShapeError",
    "__version__",
    "confusion_matrix",
    "course_split",
    "describe_cells",
    "dice",
    "grouped_kfold_split",
    "image_score",
    "iou",
    "kfold_split",
    "list_segmenters",
    "load",
    "load_cell_classifier",
    "load_image",
    "load_mask",
    "load_scribbles",
    "make_segmenter",
    "make_splits",
    "nc_agreement",
    "nc_ratio",
    "nc_ratio_range",
    "open_dataset",
    "pixel_accuracy",
    "random_split",
    "register",
    "roc_auc",
    "run_bench",
    "save",
    "save_cell_classifier",
    "save_mask",
    "score_predictions",
    "synthetic_cells",
]
