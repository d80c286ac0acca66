"""The edge and snapping helpers of benchmarks/experiments/border_refinement.py, on drawn cells."""

from __future__ import annotations

import numpy as np
import pytest

from .._scripts import load_script


@pytest.fixture(scope="module")
def module():
    return load_script("benchmarks/experiments/border_refinement.py")


def disk_mask(radius: float, size: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return (yy - size / 2) ** 2 + (xx - size / 2) ** 2 <= radius**2


def cell(nucleus_radius: float) -> np.ndarray:
    """Labels: a 48-px square cell (cytoplasm) with a round nucleus in its middle."""
    mask = np.zeros((64, 64), np.int64)
    mask[8:56, 8:56] = 1
    mask[disk_mask(nucleus_radius)] = 2
    return mask


def test_disagreeing_edges_find_the_border_on_the_edge(module):
    # A dark nucleus of radius 10 on a flat bright cell: the true border is on the step, a
    # prediction of radius 16 is 6 px out, on flat grey where the Sobel response is zero.
    grey = np.where(disk_mask(10), 0.0, 1.0)
    true_edge, pred_edge = module.disagreeing_edges(grey, cell(10), cell(16), sigma=1.0)
    assert true_edge > 0.1
    assert pred_edge < 1e-3
    # The same border twice: nothing disagrees, so nothing to compare.
    assert all(np.isnan(module.disagreeing_edges(grey, cell(10), cell(10), sigma=1.0)))


def test_snapping_keeps_the_cell_and_leaves_a_nucleus_on_its_edge(module):
    grey = np.where(disk_mask(10), 0.0, 1.0)
    predicted = cell(10)
    snapped = module.snap_nucleus(grey, predicted, sigma=1.0, iterations=5)
    # Only nucleus and cytoplasm trade pixels: the background and the cell stay as they were.
    assert np.array_equal(snapped == 0, predicted == 0)
    # A nucleus already on the step edge stays within a pixel's ring of it (2*pi*10 ~ 63 px).
    assert abs(int((snapped == 2).sum()) - int((predicted == 2).sum())) <= 63
    # A nucleus drawn 3 px out (radius 13, 212 px too many) is pulled back onto the edge.
    pulled = module.snap_nucleus(grey, cell(13), sigma=1.0, iterations=5)
    assert abs(int((pulled == 2).sum()) - int(disk_mask(10).sum())) <= 63
    # No nucleus: nothing to snap.
    no_nucleus = cell(0.0)
    no_nucleus[no_nucleus == 2] = 1
    assert module.snap_nucleus(grey, no_nucleus, 1.0, 5) is no_nucleus
