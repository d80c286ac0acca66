"""seglab in napari: train from scribbles, apply a model, measure cells (the npe2 plugin).

Install with ``pip install "seglab[napari]"`` and a Qt binding of your choice (napari's own
``napari[pyqt6]``, for example); the widgets are under Plugins > seglab. Qt is imported
through ``qtpy`` only, and ``import seglab`` does not import this package, napari or Qt.

- :class:`seglab.napari.train.TrainWidget`: scribbles in a Labels layer (0 unlabelled, label k
  is class k - 1), any supervised method, Train or Live, Save model.
- :class:`seglab.napari.apply.ApplyWidget`: a ``.seglab`` file on any Image layer, tile by tile
  for dask, zarr and multiscale layers.
- :class:`seglab.napari.cells.CellsWidget`: the cells of a prediction with their N/C table.

Both prediction widgets write two layers, updated in place: ``seglab prediction`` (labels,
seglab's classes: 0 background, 1 cytoplasm, 2 nucleus) and ``seglab uncertainty`` (the
probabilities' entropy, 0 sure to 1 undecided).
"""
