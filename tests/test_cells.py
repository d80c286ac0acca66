"""Per-cell N/C: cells split at the neck between nuclei, areas that add up, flags."""

import csv
import io

import numpy as np
import pytest

from seglab.cli import main
from seglab.io import load_mask, save_mask
from seglab.measure import label_cells, per_cell_nc


def two_touching_cells():
    """Two square cells joined by a 2-pixel neck, each with a nucleus; a loose fragment."""
    mask = np.zeros((20, 41), int)
    mask[2:18, 2:18] = 1  # left cell 16x16 = 256 px
    mask[2:18, 23:39] = 1  # right cell 16x16 = 256 px
    mask[9:11, 18:23] = 1  # neck: 2 x 5 = 10 px
    mask[6:12, 6:12] = 2  # left nucleus 36 px
    mask[5:15, 27:37] = 2  # right nucleus 100 px
    return mask


def test_touching_cells_are_split_at_the_neck():
    mask = two_touching_cells()
    cells = label_cells(mask)
    assert cells.max() == 2
    assert cells[10, 5] != cells[10, 35]
    rows = per_cell_nc(mask, "t")
    left, right = sorted(rows, key=lambda r: r["centroid_col"])
    assert left["nucleus_px"] == 36 and right["nucleus_px"] == 100
    # The neck's 10 pixels are shared out between the two cells.
    assert left["cytoplasm_px"] + right["cytoplasm_px"] == 256 + 256 + 10 - 36 - 100
    assert 256 - 36 <= left["cytoplasm_px"] <= 256 - 36 + 10
    assert right["nc_ratio"] == pytest.approx(100 / right["cytoplasm_px"])
    assert right["nucleus_cell_ratio"] == pytest.approx(100 / right["cell_px"])
    assert not left["touches_border"] and not left["several_nuclei"]


def test_fragment_without_nucleus_and_specks():
    mask = np.zeros((30, 30), int)
    mask[2:10, 2:10] = 1  # a cytoplasm fragment without nucleus
    mask[15:28, 15:28] = 1
    mask[18:25, 18:25] = 2  # 49 px nucleus
    mask[26, 16] = 2  # a 1-px speck inside the same cell: seeds nothing
    rows = per_cell_nc(mask)
    assert len(rows) == 2
    fragment = next(r for r in rows if r["nucleus_px"] == 0)
    assert fragment["cytoplasm_px"] == 64 and fragment["nc_ratio"] == 0
    cell = next(r for r in rows if r["nucleus_px"] > 0)
    assert cell["nucleus_px"] == 50 and cell["several_nuclei"]


def test_high_ratio_flag_and_no_cytoplasm():
    mask = np.zeros((12, 12), int)
    mask[2:10, 2:10] = 2  # all nucleus
    (row,) = per_cell_nc(mask)
    assert row["no_cytoplasm"] and np.isnan(row["nc_ratio"])
    assert row["nucleus_cell_ratio"] == 1.0 and row["high_nc"]


def test_pixel_size_areas():
    (row,) = per_cell_nc(np.pad(np.full((4, 5), 1), 1), pixel_size=0.5)
    assert row["cell_px"] == 20 and row["cell_um2"] == pytest.approx(20 * 0.25)


def test_course_masks_one_row_per_cell_and_areas_add_up(voced):
    for i in range(0, 200, 3):
        mask = load_mask(voced / "masks" / f"{i}.png")
        rows = per_cell_nc(mask, str(i))
        cells = label_cells(mask)
        assert len(rows) == cells.max()
        assert sum(r["nucleus_px"] for r in rows) == (mask == 2).sum()
        assert sum(r["cytoplasm_px"] for r in rows) == (mask == 1).sum()


def test_cli_per_cell(tmp_path, capsys):
    save_mask(tmp_path / "a.png", two_touching_cells())
    assert main(["nc-ratio", "--per-cell", str(tmp_path / "a.png"), "--pixel-size", "2"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["cell"] for r in rows] == ["1", "2", "all"]
    total = rows[-1]
    assert int(total["nucleus_px"]) == 136 and int(total["cell_px"]) == 522
    assert float(total["cell_um2"]) == pytest.approx(522 * 4)
    assert sum(int(r["cell_px"]) for r in rows[:-1]) == 522


def test_clinical_summary_by_hand(tmp_path, capsys):
    from seglab.measure import image_cell_summary

    rows = per_cell_nc(two_touching_cells())
    summary = image_cell_summary(rows, high_ratio=0.25)
    ratios = [r["nc_ratio"] for r in rows]
    assert summary["top5_nc"] == pytest.approx(np.mean(ratios))  # only two cells
    assert summary["max_nucleus_px"] == 100
    # nucleus/cell: left 36/~261 = 0.14, right 100/~261 = 0.38; N/C criterion 0.25/0.75 = 1/3
    assert summary["n_high_nucleus_cell"] == 1
    assert summary["n_high_nc"] == sum(r >= 1 / 3 for r in ratios)
    assert image_cell_summary(rows, top=1)["top5_nc"] == pytest.approx(max(ratios))
    save_mask(tmp_path / "a.png", two_touching_cells())
    assert main(["nc-ratio", "--per-cell", str(tmp_path / "a.png")]) == 0
    total = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))[-1]
    assert total["cell"] == "all" and int(total["max_nucleus_px"]) == 100
