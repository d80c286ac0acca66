"""Measuring cells: the nucleus-to-cytoplasm (N/C) ratio of masks, per image and per cell.

- :mod:`~seglab.measure.cells`: which pixels make one cell (:func:`find_cells`,
  :func:`label_cells`), and the fixed rule for the true cells (:func:`reference_cells`);
- :mod:`~seglab.measure.nc`: the ratio of a mask, its range from probabilities, its agreement
  with the truth, and the per-cell rows;
- :mod:`~seglab.measure.scoring`: are the cells right? Found cells matched to true ones and
  scored (:func:`compare_cells`, :func:`cell_scores`);
- :mod:`~seglab.measure.tiled`: the same per cell for masks too large for memory, tile by tile;
- :mod:`~seglab.measure.files`: mask files on disk, as ``seglab nc-ratio`` reports them.
"""

from .cells import CellRules, FoundCells, find_cells, label_cells, reference_cells
from .nc import (
    ATYPIA_CELL_RATIO,
    CELL_FIELDS,
    CYTOPLASM,
    HIGH_NC_CELL_RATIO,
    NC_ODDS_GRID,
    NC_RANGE_ODDS,
    NUCLEUS,
    image_cell_summary,
    image_summary_row,
    nc_agreement,
    nc_odds_needed,
    nc_ratio,
    nc_ratio_range,
    nc_row,
    nucleus_cell_ratio,
    odds_for_coverage,
    per_cell_nc,
    per_cell_nc_range,
)
from .scoring import CellComparison, cell_scores, compare_cells, match_cells

__all__ = [
    "ATYPIA_CELL_RATIO",
    "CELL_FIELDS",
    "CYTOPLASM",
    "HIGH_NC_CELL_RATIO",
    "NC_ODDS_GRID",
    "NC_RANGE_ODDS",
    "NUCLEUS",
    "CellComparison",
    "CellRules",
    "FoundCells",
    "cell_scores",
    "compare_cells",
    "find_cells",
    "image_cell_summary",
    "image_summary_row",
    "label_cells",
    "match_cells",
    "nc_agreement",
    "nc_odds_needed",
    "nc_ratio",
    "nc_ratio_range",
    "nc_row",
    "nucleus_cell_ratio",
    "odds_for_coverage",
    "per_cell_nc",
    "per_cell_nc_range",
    "reference_cells",
]
