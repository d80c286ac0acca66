"""The border-moving helpers of benchmarks/nc_border_sensitivity.py, checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from .._scripts import load_script


@pytest.fixture(scope="module")
def module():
    return load_script("benchmarks/nc_border_sensitivity.py")


def square_cell() -> np.ndarray:
    # A 15x15 cell (cytoplasm) holding a 5x5 nucleus, on background.
    mask = np.zeros((25, 25), np.uint8)
    mask[5:20, 5:20] = 1
    mask[10:15, 10:15] = 2
    return mask


def test_nucleus_border_moves_by_one_pixel(module):
    mask = square_cell()
    grown = module.nucleus_border_moved(mask, 1)
    # disk(1) is the 4-neighbour cross: a 5x5 square gains one row/column on each side, 4 x 5.
    assert (grown == 2).sum() == 25 + 20
    assert (grown != 0).sum() == (mask != 0).sum()
    shrunk = module.nucleus_border_moved(mask, -1)
    assert (shrunk == 2).sum() == 9
    assert (shrunk == 1).sum() == 225 - 9


def test_cell_border_moves_and_new_pixels_are_cytoplasm(module):
    mask = square_cell()
    grown = module.cell_border_moved(mask, 1)
    assert (grown == 1).sum() == (225 - 25) + 4 * 15
    assert (grown == 2).sum() == 25
    shrunk = module.cell_border_moved(mask, -1)
    assert (shrunk != 0).sum() == 13 * 13


def test_border_distance_of_a_square_moved_by_two_pixels(module):
    truth = square_cell()
    moved = np.zeros_like(truth)
    moved[12:17, 10:15] = 2  # the nucleus shifted down by two rows
    # By hand, each square's 16 edge pixels against the other's edge: the far row is 2 px off
    # (5 pixels), the near row 0, 1, 2, 1, 0 px, the two sides 1, 0, 0 px each: six at 0, four
    # at 1, six at 2, the same both ways, so the median of the 32 is 1.
    assert module.border_distance(truth, moved) == 1.0
    assert module.border_distance(truth, truth) == 0
    assert np.isnan(module.border_distance(truth, np.zeros_like(truth)))


def test_round_trip_gives_back_a_mask_whose_edges_lie_on_the_blocks(module):
    mask = np.zeros((24, 24), np.uint8)
    mask[4:20, 4:20] = 1
    mask[8:14, 8:14] = 2
    # Every edge on the 2-pixel grid: each block is pure, and a pixel next to an edge is a
    # quarter of the way to the other block, so the argmax keeps its own label.
    np.testing.assert_array_equal(module.round_trip(mask, 2), mask)
    # Off the grid a 1/4 round trip cannot keep a 5-pixel-wide nucleus exactly.
    assert not np.array_equal(module.round_trip(square_cell(), 4), square_cell())
