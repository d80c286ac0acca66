"""Measuring cells: the nucleus-to-cytoplasm (N/C) ratio of masks, per image and per cell.

- :mod:`~seglab.measure.nc`: the ratio of a mask, its range from probabilities, its agreement
  with the truth, cells (:func:`label_cells`) and their per-cell rows;
- :mod:`~seglab.measure.tiled`: the same per cell for masks too large for memory, tile by tile;
- :mod:`~seglab.measure.files`: mask files on disk, as ``seglab nc-ratio`` reports them.
"""

from .nc import (
    CELL_FIELDS,
    CYTOPLASM,
    HIGH_NC_CELL_RATIO,
    NC_ODDS_GRID,
    NC_RANGE_ODDS,
    NUCLEUS,
    image_cell_summary,
    image_summary_row,
    label_cells,
    nc_agreement,
    nc_odds_needed,
    nc_ratio,
    nc_ratio_range,
    nc_row,
    odds_for_coverage,
    per_cell_nc,
    per_cell_nc_range,
)

__all__ = [
    "CELL_FIELDS",
    "CYTOPLASM",
    "HIGH_NC_CELL_RATIO",
    "NC_ODDS_GRID",
    "NC_RANGE_ODDS",
    "NUCLEUS",
    "image_cell_summary",
    "image_summary_row",
    "label_cells",
    "nc_agreement",
    "nc_odds_needed",
    "nc_ratio",
    "nc_ratio_range",
    "nc_row",
    "odds_for_coverage",
    "per_cell_nc",
    "per_cell_nc_range",
]
