"""seglab.measure: the N/C ratio of masks, its range from probabilities, and cells one by one."""

import csv
import io
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seglab.bench import nc_range_summary
from seglab.cli import main
from seglab.datasets import synthetic_cells
from seglab.errors import (
    ImageReadError,
    ShapeError,
)
from seglab.io import (
    load_mask,
    load_probabilities,
    save_image,
    save_mask,
)
from seglab.measure import (
    NC_ODDS_GRID,
    label_cells,
    nc_agreement,
    nc_odds_needed,
    nc_ratio,
    nc_ratio_range,
    odds_for_coverage,
    per_cell_nc,
    per_cell_nc_range,
)


@given(st.lists(st.tuples(st.floats(0, 3), st.floats(0, 3)), min_size=2, max_size=40))
@settings(max_examples=200, deadline=None)
def test_nc_agreement_properties(pairs):
    p = np.array([x for x, _ in pairs])
    t = np.array([y for _, y in pairs])
    a = nc_agreement(p, t)
    assert a["mae"] >= 0 and 0 <= a["within"] <= 1
    assert a["bias"] == pytest.approx(np.mean(p - t), abs=1e-9)
    assert a["loa"][0] <= a["bias"] <= a["loa"][1]
    perfect = nc_agreement(t, t)
    assert perfect["mae"] == 0 and perfect["within"] == 1
    if np.ptp(t) > 1e-6:
        assert perfect["r2"] == pytest.approx(1.0)


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
    (row,) = per_cell_nc(np.pad(np.full((6, 5), 1), 1), pixel_size=0.5)
    assert row["cell_px"] == 30 and row["cell_um2"] == pytest.approx(30 * 0.25)


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


def _range_by_pixel_loop(proba, odds):
    """The plainest form of the definition: each pixel decided on its own, ties to the lower
    column as argmax does, then nucleus pixels over cytoplasm pixels."""
    ratios = []
    for factor in (1 / odds, odds):
        counts = {1: 0, 2: 0}
        for row in proba:
            for p in row:
                scores = [p[0], p[1], p[2] * factor]
                label = scores.index(max(scores))
                if label:
                    counts[label] += 1
        ratios.append(counts[2] / counts[1] if counts[1] else float("nan"))
    return tuple(ratios)


def test_range_by_hand():
    # (background, cytoplasm, nucleus) per pixel; argmax: 1 1 2 2 0 -> ratio 2 / 2
    p = np.array(
        [[[0.1, 0.6, 0.3], [0.0, 0.9, 0.1], [0.0, 0.45, 0.55], [0.0, 0.0, 1.0], [0.8, 0.0, 0.2]]]
    )
    # /2: nucleus 0.15, 0.05, 0.275 (< 0.45), 0.5, 0.1 -> labels 1 1 1 2 0: 1 / 3
    # x2: nucleus 0.6 (> 0.6? no, tie goes to cytoplasm), 0.2, 1.1, 2.0, 0.4 -> 1 1 2 2 0: 1
    # x3: 0.9 > 0.6, 0.3, ..., 0.6 < 0.8 -> 2 1 2 2 0: 3 / 1
    assert nc_ratio_range(p, odds=2) == pytest.approx((1 / 3, 1.0))
    assert nc_ratio_range(p, odds=3)[1] == pytest.approx(3.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_range_matches_pixel_loop_and_brackets_the_ratio(seed):
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet([1.0, 1.0, 1.0], size=(9, 11)).astype(np.float32)
    low, high = nc_ratio_range(proba, odds=3.0)
    assert (low, high) == pytest.approx(_range_by_pixel_loop(proba, 3.0))
    assert low <= nc_ratio(proba.argmax(-1)) <= high


def test_range_follows_the_columns_classes():
    rng = np.random.default_rng(3)
    proba = rng.dirichlet([1.0, 1.0, 1.0], size=(8, 8))
    order = [2, 0, 1]  # columns: nucleus, background, cytoplasm
    assert nc_ratio_range(proba[..., order], classes=order) == pytest.approx(nc_ratio_range(proba))
    assert all(np.isnan(nc_ratio_range(proba[..., :2])))  # no nucleus column


def test_range_refuses_bad_input():
    with pytest.raises(ValueError, match="odds"):
        nc_ratio_range(np.full((2, 2, 3), 1 / 3), odds=1.0)
    with pytest.raises(ShapeError):
        nc_ratio_range(np.zeros((4, 3)))
    with pytest.raises(ShapeError):
        nc_ratio_range(np.full((2, 2, 3), 1 / 3), classes=[0, 1])


def test_range_summary_by_hand():
    rows = [
        {"nc_true": 0.5, "nc_pred": 0.5, "nc_low": 0.4, "nc_high": 0.6},  # in, error 0
        {"nc_true": 1.0, "nc_pred": 0.6, "nc_low": 0.2, "nc_high": 0.8},  # out, error 0.4
        {"nc_true": 0.3, "nc_pred": 0.5, "nc_low": 0.45, "nc_high": 0.75},  # out, error 0.2
        {"nc_true": 2.0, "nc_pred": 1.0, "nc_low": 0.5, "nc_high": 3.0},  # in, error 1.0
        {"nc_true": float("nan"), "nc_pred": 1.0, "nc_low": 0.5, "nc_high": 3.0},  # left out
    ]
    s = nc_range_summary(rows)
    assert s["n"] == 4 and s["coverage"] == 0.5
    assert s["median_width"] == pytest.approx((0.3 + 0.6) / 2)
    # widths 0.2, 0.6, 0.3, 2.5 rank 1 3 2 4; errors 0, 0.4, 0.2, 1.0 rank 1 3 2 4
    assert s["width_error_spearman"] == pytest.approx(1.0)
    assert "calibrated_odds" not in s
    for row, needed in zip(rows, [1.5, 8.0, float("nan"), 2.0, 3.0], strict=True):
        row["nc_odds_needed"] = needed
    # the NaN-ratio row is left out: 1.5 2 8 NaN; coverage 0.5 -> ceil(5 * 0.5) = 3rd
    assert nc_range_summary(rows, coverage=0.5)["calibrated_odds"] == {
        "coverage": 0.5,
        "odds": 8.0,
    }


def test_load_probabilities_round_trip_and_refusals(tmp_path):
    rng = np.random.default_rng(0)
    proba = rng.dirichlet([1.0, 1.0, 1.0], size=(5, 6)).astype(np.float32)
    save_image(tmp_path / "a_proba.tif", proba)
    np.testing.assert_array_equal(load_probabilities(tmp_path / "a_proba.tif"), proba)
    save_mask(tmp_path / "m.png", np.zeros((5, 6), np.uint8))
    with pytest.raises(ShapeError):
        load_probabilities(tmp_path / "m.png")
    np.save(tmp_path / "labels.npy", np.zeros((5, 6, 3), np.uint8))
    with pytest.raises(ImageReadError, match="not probabilities"):
        load_probabilities(tmp_path / "labels.npy")
    np.save(tmp_path / "twice.npy", 2 * proba)
    with pytest.raises(ImageReadError, match="sum to 1"):
        load_probabilities(tmp_path / "twice.npy")


def test_cli_nc_ratio_from_probability_maps(tmp_path, capsys):
    # the by-hand map of test_range_by_hand, 8 times over (32 pixels: a cell, not debris), as
    # `predict --proba` would write it
    p = np.array(
        [[[0.1, 0.6, 0.3], [0.0, 0.9, 0.1], [0.0, 0.45, 0.55], [0.0, 0.0, 1.0], [0.8, 0.0, 0.2]]],
        np.float32,
    )
    save_image(tmp_path / "cell_proba.tif", np.concatenate([p] * 8))
    assert main(["nc-ratio", "--proba", "--odds", "2", str(tmp_path / "cell_proba.tif")]) == 0
    (row,) = csv.DictReader(io.StringIO(capsys.readouterr().out))
    assert row["image"] == "cell"
    assert (int(row["nucleus_px"]), int(row["cytoplasm_px"])) == (16, 16)
    assert float(row["nc_ratio"]) == pytest.approx(1.0)
    assert float(row["nc_low"]) == pytest.approx(1 / 3, abs=1e-5)
    assert float(row["nc_high"]) == pytest.approx(1.0)
    assert main(["nc-ratio", "--proba", "--per-cell", str(tmp_path / "cell_proba.tif")]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    summary = [r for r in rows if r["cell"] == "all"]
    assert len(summary) == 1 and float(summary[0]["nc_high"]) == pytest.approx(3.0)  # odds 4
    # one cell (the first four pixels of each row): at odds 4 its labels are 1 1 1 2 (N/C
    # 1/3) and 2 1 2 2 (3); the Paris criterion nucleus/cell >= 0.7 is N/C >= 7/3, inside
    (cell,) = [r for r in rows if r["cell"] != "all"]
    assert float(cell["nc_low"]) == pytest.approx(1 / 3, abs=1e-5)
    assert float(cell["nc_high"]) == pytest.approx(3.0)
    assert cell["high_nc"] == "False" and cell["high_nc_unsure"] == "True"
    assert summary[0]["high_nc_unsure"] == "1"


def test_cli_nc_ratio_proba_refusals(tmp_path, capsys):
    save_mask(tmp_path / "m.png", np.ones((4, 4), np.uint8))
    assert main(["nc-ratio", "--proba", str(tmp_path / "m.png")]) == 2
    assert "probabilities must be" in capsys.readouterr().err
    assert main(["nc-ratio", "--proba", "--odds", "0.5", str(tmp_path / "m.png")]) == 2
    assert "--odds" in capsys.readouterr().err


def test_evaluate_reports_a_range_consistent_with_its_rows(tmp_path, capsys):
    from seglab.modelfile import save
    from seglab.segmenters.base import make_segmenter

    data = synthetic_cells(8, size=64, random_state=2)
    root = tmp_path / "data"
    for i in range(len(data)):
        save_image(root / "images" / f"{i}.tif", data.image(i).astype(np.float32))
        save_mask(root / "masks" / f"{i}.png", data.mask(i))
    model = make_segmenter("logistic").fit(
        [data.image(i) for i in range(4)], [data.mask(i) for i in range(4)]
    )
    save(model, tmp_path / "m.seglab")
    args = ["evaluate", "--model", str(tmp_path / "m.seglab"), "--data", str(root)]
    assert main([*args, "--split", "all", "--json", str(tmp_path / "e.json")]) == 0
    assert "N/C range" in capsys.readouterr().out
    method = json.loads((tmp_path / "e.json").read_text())["methods"][0]
    rows = method["per_image"]
    inside = [r["nc_low"] <= r["nc_true"] <= r["nc_high"] for r in rows]
    assert method["nc_range"]["coverage"] == pytest.approx(np.mean(inside))
    for r in rows:
        assert r["nc_low"] <= r["nc_pred"] <= r["nc_high"]
    # the calibrated odds: the ceil((n + 1) * 0.8)-th smallest odds an image needed
    # (JSON writes NaN, "no odds on the grid", as null: it sorts after every number)
    needed = sorted(np.inf if r["nc_odds_needed"] is None else r["nc_odds_needed"] for r in rows)
    k = int(np.ceil((len(needed) + 1) * 0.8))
    expected = needed[k - 1] if k <= len(needed) and np.isfinite(needed[k - 1]) else None
    assert method["nc_range"]["calibrated_odds"] == {"coverage": 0.8, "odds": expected}


@pytest.fixture()
def cells_on_disk(tmp_path):
    """Eight synthetic cell images (TIFF) with masks, and a logistic model fitted on four."""
    from seglab.modelfile import save
    from seglab.segmenters.base import make_segmenter

    data = synthetic_cells(8, size=64, random_state=4)
    for i in range(len(data)):
        save_image(tmp_path / "images" / f"{i}.tif", data.image(i).astype(np.float32))
    model = make_segmenter("logistic").fit(
        [data.image(i) for i in range(4)], [data.mask(i) for i in range(4)]
    )
    save(model, tmp_path / "m.seglab")
    return tmp_path


def test_predict_nc_rows_match_the_written_masks(cells_on_disk, capsys):
    from seglab.io import load_mask

    root = cells_on_disk
    images = [str(root / "images" / f"{i}.tif") for i in (5, 1, 7)]
    args = ["predict", str(root / "m.seglab"), *images, "--proba"]
    assert main([*args, "-o", str(root / "out"), "--nc", str(root / "nc.csv")]) == 0
    rows = list(csv.DictReader(io.StringIO((root / "nc.csv").read_text())))
    assert [r["image"] for r in rows] == ["5", "1", "7"]  # the order of the inputs
    for r in rows:
        mask = load_mask(root / "out" / f"{r['image']}.png")
        n, c = int((mask == 2).sum()), int((mask == 1).sum())
        assert (int(r["nucleus_px"]), int(r["cytoplasm_px"])) == (n, c)
        assert float(r["nc_ratio"]) == pytest.approx(n / c, rel=1e-5)
        assert float(r["nc_low"]) <= float(r["nc_ratio"]) <= float(r["nc_high"])
    # the same figures as nc-ratio on the probability maps predict wrote
    capsys.readouterr()
    probas = [str(root / "out" / f"{i}_proba.tif") for i in (5, 1, 7)]
    assert main(["nc-ratio", "--proba", *probas]) == 0
    assert capsys.readouterr().out == (root / "nc.csv").read_text()
    # and the same rows when the files run in parallel
    assert (
        main(
            [*args, "-o", str(root / "o2"), "--nc", str(root / "nc2.csv"), "--scheduler", "threads"]
        )
        == 0
    )
    assert (root / "nc2.csv").read_text() == (root / "nc.csv").read_text()


def test_predict_nc_without_probabilities_and_refusals(cells_on_disk, capsys):
    from seglab.modelfile import save
    from seglab.segmenters.base import make_segmenter

    root = cells_on_disk
    save(make_segmenter("threshold").fit([np.zeros((8, 8, 3))]), root / "t.seglab")
    image = str(root / "images" / "0.tif")
    assert (
        main(
            [
                "predict",
                str(root / "t.seglab"),
                image,
                "-o",
                str(root / "o"),
                "--nc",
                str(root / "t.csv"),
            ]
        )
        == 0
    )
    header = (root / "t.csv").read_text().splitlines()[0]
    assert header == "image,nucleus_px,cytoplasm_px,nc_ratio"  # labels only: no range
    rng = np.random.default_rng(0)
    two_class = make_segmenter("logistic").fit([rng.random((64, 64, 3))], [np.eye(64, dtype=int)])
    save(two_class, root / "two.seglab")
    capsys.readouterr()
    assert (
        main(
            [
                "predict",
                str(root / "two.seglab"),
                image,
                "-o",
                str(root / "o"),
                "--nc",
                str(root / "two.csv"),
            ]
        )
        == 2
    )
    assert "nucleus (2) and cytoplasm (1)" in capsys.readouterr().err
    assert not (root / "two.csv").exists()


def test_predict_nc_odds_is_the_range_factor(cells_on_disk, capsys):
    root = cells_on_disk
    image, model = str(root / "images" / "3.tif"), str(root / "m.seglab")
    out = ["-o", str(root / "o")]
    assert main(["predict", model, image, "--proba", *out, "--nc", str(root / "a.csv")]) == 0
    capsys.readouterr()
    proba = str(root / "o" / "3_proba.tif")
    written = []
    for odds in ("2", "9"):
        nc = ["--nc", str(root / "b.csv"), "--odds", odds]
        assert main(["predict", model, image, *out, *nc]) == 0
        capsys.readouterr()
        assert main(["nc-ratio", "--proba", "--odds", odds, proba]) == 0
        written.append((root / "b.csv").read_text())
        assert capsys.readouterr().out == written[-1]
    assert written[0] != written[1]  # the factor reached the range
    assert main(["predict", model, image, *out, "--nc", str(root / "c.csv"), "--odds", "1"]) == 2
    assert "odds" in capsys.readouterr().err


@pytest.mark.parametrize("seed", [0, 1])
def test_odds_needed_is_the_first_grid_odds_whose_range_holds_the_truth(seed):
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet([1.0, 1.0, 1.0], size=(7, 9))
    ranges = [_range_by_pixel_loop(proba, odds) for odds in NC_ODDS_GRID]
    for truth in (ranges[0][0], ranges[3][1], ranges[-1][1] * 1.5, float("nan")):
        pairs = zip(NC_ODDS_GRID, ranges, strict=True)
        held = [o for o, (lo, hi) in pairs if lo - 1e-9 <= truth <= hi + 1e-9]
        expected = held[0] if held else float("nan")
        assert nc_odds_needed(proba, truth) == pytest.approx(expected, nan_ok=True)


def test_odds_for_coverage_by_hand():
    needed = [4.0, 1.5, 8.0, 2.0, 16.0, 3.0, 6.0, 12.0, 1.5]  # n = 9
    # ceil(10 * 0.8) = 8th smallest of 1.5 1.5 2 3 4 6 8 12 16
    assert odds_for_coverage(needed, 0.8) == 12.0
    assert odds_for_coverage(needed, 0.5) == 4.0  # 5th
    assert np.isnan(odds_for_coverage(needed, 0.95))  # 10th of 9
    assert np.isnan(odds_for_coverage([*needed[:8], float("nan")], 0.85))  # 9th is NaN
    with pytest.raises(ValueError):
        odds_for_coverage(needed, 1.0)


def test_per_cell_range_matches_the_pixel_loop_cell_by_cell():
    rng = np.random.default_rng(5)
    proba = rng.dirichlet([1.0, 1.0, 1.0], size=(10, 12))
    cells = np.zeros((10, 12), int)
    cells[1:5, 1:6], cells[6:9, 2:11], cells[1:4, 8:12] = 1, 2, 3
    got = per_cell_nc_range(proba, cells, odds=2.5)
    for k in (1, 2, 3):
        inside = proba[cells == k][None]  # (1, pixels, 3): the cell's pixels alone
        assert got[k - 1] == pytest.approx(_range_by_pixel_loop(inside, 2.5), nan_ok=True)


def test_per_cell_flags_a_high_grade_call_that_hinges_on_unsure_pixels():
    # two cells of 4 pixels: cell 1 is sure (nucleus/cytoplasm far apart), cell 2 is not
    sure = [[0.0, 0.95, 0.05], [0.0, 0.95, 0.05], [0.0, 0.02, 0.98], [0.0, 0.02, 0.98]]
    unsure = [[0.0, 0.55, 0.45], [0.0, 0.55, 0.45], [0.0, 0.45, 0.55], [0.0, 0.45, 0.55]]
    proba = np.array([sure + unsure])  # (1, 8, 3)
    mask = proba.argmax(-1)  # 1 1 2 2 | 1 1 2 2: N/C 1, nucleus/cell 0.5, both cells
    cells = np.array([[1, 1, 1, 1, 2, 2, 2, 2]])
    rows = per_cell_nc(mask, "x", cells=cells, proba=proba, odds=2.0, high_ratio=0.7)
    # x2 on cell 2: 0.9 > 0.55, all nucleus, no cytoplasm left: above 0.7; /2: 0.275 < 0.45
    assert [r["high_nc"] for r in rows] == [False, False]
    assert [r["high_nc_unsure"] for r in rows] == [False, True]
    assert rows[0]["nc_low"] == rows[0]["nc_high"] == 1.0
    assert rows[1]["nc_low"] == 0.0 and np.isnan(rows[1]["nc_high"])


def test_nc_ratio_of_a_predict_folder_reads_its_masks_or_its_maps(cells_on_disk, capsys):
    root = cells_on_disk
    out = root / "out"
    images = [str(root / "images" / f"{i}.tif") for i in (2, 3)]
    args = ["predict", str(root / "m.seglab"), *images, "--proba", "--uncertainty"]
    assert main([*args, "-o", str(out), "--nc", str(root / "nc.csv")]) == 0
    capsys.readouterr()
    # the folder holds masks, _proba and _uncertainty maps; each form takes its own files
    assert main(["nc-ratio", str(out)]) == 0
    by_folder = capsys.readouterr().out
    assert main(["nc-ratio", str(out / "2.png"), str(out / "3.png")]) == 0
    assert by_folder == capsys.readouterr().out
    assert main(["nc-ratio", "--proba", str(out)]) == 0
    assert capsys.readouterr().out == (root / "nc.csv").read_text()
    (root / "none").mkdir()
    assert main(["nc-ratio", str(root / "none")]) == 2
    assert "no masks" in capsys.readouterr().err
