"""Write this format version's reference model files (one per method family) and predictions.

Run once per released model-file format version, from the project root:

    .venv/bin/python tests/data/models/make_models.py

Existing files are never overwritten: they are the record of what older seglab versions
wrote, and tests/test_model_formats.py checks that each still loads and predicts the same.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import seglab
from seglab.modelfile import FORMAT_VERSION

HERE = Path(__file__).resolve().parent
FAMILIES = {
    "threshold": {},
    "kmeans": {"sigma": 1.0},
    "slic": {"n_segments": 30},
    "rf": {
        "features": {"sigmas": [1.0, 4.0]},
        "n_estimators": 4,
        "max_depth": 6,
        "n_jobs": 1,
        "samples_per_class": 200,
    },
    "unet": {
        "depth": 3,
        "width": 4,
        "patch_size": 32,
        "max_epochs": 6,
        "learning_rate": 0.01,
        "verbose": False,
    },
}


def main() -> None:
    ds = seglab.synthetic_cells(3, size=64, random_state=11)
    image_path = HERE / "image.png"
    if not image_path.exists():
        seglab.io.save_image(image_path, (ds.image(2) * 255).round().astype(np.uint8))
    image = seglab.load_image(image_path)
    for name, params in FAMILIES.items():
        stem = HERE / f"{name}-v{FORMAT_VERSION}"
        if stem.with_suffix(".seglab").exists():
            continue
        seg = seglab.make_segmenter(name, **params).fit(
            [ds.image(0), ds.image(1)], [ds.mask(0), ds.mask(1)]
        )
        seglab.save(seg, stem.with_suffix(".seglab"), trained_on={"data": "synthetic_cells"})
        seglab.save_mask(stem.with_suffix(".png"), seg.predict(image))
        if seg.has_proba:  # a finer record than the labels
            np.save(stem.with_suffix(".npy"), seg.predict_proba(image), allow_pickle=False)
        print(f"wrote {stem.name}.seglab and .png")


if __name__ == "__main__":
    main()
