"""Cells: the reference rule, the cell finder's rules, and the per-cell scores, by hand."""

import numpy as np
import pytest

from seglab.bench import score_predictions
from seglab.errors import ParameterError
from seglab.measure import (
    CellComparison,
    CellRules,
    cell_scores,
    compare_cells,
    find_cells,
    match_cells,
    reference_cells,
)
from seglab.measure.cells import geodesic_split
from seglab.measure.scoring import cohen_kappa, icc_agreement


def test_reference_rule_splits_by_path_not_by_straight_line():
    # A U-shaped region: nucleus A at the top of the left arm, nucleus B at the top of the
    # right arm. The bottom of the right arm is near A in a straight line (through the gap)
    # but far along the region, so it belongs to B.
    m = np.zeros((7, 7), int)
    m[:, 0:2] = 1
    m[:, 5:7] = 1
    m[5:7, :] = 1
    m[0, 0:2] = 2
    m[0, 5:7] = 2
    cells = reference_cells(m)
    a, b = cells[0, 0], cells[0, 6]
    assert a != b and cells.max() == 2
    # by hand: pixel (6, 3) is 6 + 3 = 9ish steps from both ends; (4, 5) is 4 from B
    assert cells[4, 5] == b and cells[4, 1] == a
    assert cells[6, 6] == b and cells[6, 0] == a


def test_reference_rule_every_nucleus_one_cell_and_nucleus_free_regions():
    m = np.zeros((5, 12), int)
    m[1:4, 0:5] = 1
    m[2, 1] = 2  # one nucleus ...
    m[2, 3] = 2  # ... and a second one, not touching: two cells in one region
    m[1:4, 8:11] = 1  # a region without a nucleus: one cell
    cells = reference_cells(m)
    assert cells.max() == 3
    assert cells[2, 1] != cells[2, 3]
    assert len(np.unique(cells[1:4, 8:11])) == 1 and cells[2, 9] == 3
    assert (cells[m == 0] == 0).all()


def test_geodesic_split_ignores_corner_contacts_between_regions():
    # two 4-connected regions touching at a corner: the seed of one never floods the other
    region = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]], bool)
    seeds = np.zeros((4, 4), int)
    seeds[0, 0] = 1
    cells = geodesic_split(region, seeds)
    assert (cells[:2, :2] == 1).all() and (cells[2:, 2:] == 0).all()


def test_match_one_to_one_and_scores_by_hand():
    true = np.zeros((4, 10), int)
    true[:, 0:4] = 1  # 16 px
    true[:, 6:10] = 2  # 16 px
    found = np.zeros((4, 10), int)
    found[:, 0:3] = 1  # 12 px inside true 1: IoU 12/16 = 0.75
    found[:, 3:6] = 2  # 4 px of true 1 and 8 of nothing: IoU 4 / 24
    found[0:2, 6:10] = 3  # 8 px of true 2: IoU 8/16 = 0.5 (matches: >= 0.5)
    assert match_cells(found, true) == [(1, 1, 0.75), (3, 2, 0.5)]
    found[0, 6] = 0  # 7/16 < 0.5: no longer a match
    assert match_cells(found, true) == [(1, 1, 0.75)]


def test_cell_scores_worked_by_hand():
    # 4 found, 3 true, 2 matched: precision 2/4, recall 2/3, F1 2*2/(4+3) = 4/7
    c = CellComparison(
        n_found=4,
        n_true=3,
        found_cell=[0.2, 0.75],
        true_cell=[0.4, 0.65],
        found_nc=[0.25, 3.0],
        true_nc=[2 / 3, 13 / 7],
        found_ratios=[0.2, 0.75, 0.9, 0.1],
        true_ratios=[0.4, 0.65, 0.8],
    )
    s = cell_scores(c)
    assert (s["found"], s["true"], s["matched"]) == (4, 3, 2)
    assert s["precision"] == pytest.approx(0.5)
    assert s["recall"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(4 / 7)
    # differences -0.2 and +0.1: MAE 0.15, bias -0.05, SD sqrt(0.045) = 0.2121
    r = s["nucleus_cell"]
    assert r["mae"] == pytest.approx(0.15)
    assert r["bias"] == pytest.approx(-0.05)
    sd = np.sqrt(((-0.2 + 0.05) ** 2 + (0.1 + 0.05) ** 2) / 1)
    assert r["loa"] == pytest.approx([-0.05 - 1.96 * sd, -0.05 + 1.96 * sd])
    assert r["n"] == 2
    # flags at > 0.5: matched found (F, T) vs true (F, T): both 1, neither 1, kappa 1
    low, high = s["flags"]
    assert (low["both"], low["found_only"], low["true_only"], low["neither"]) == (1, 0, 0, 1)
    assert low["kappa"] == 1.0
    assert (low["found_high"], low["true_high"]) == (2, 2)  # 0.75, 0.9 and 0.65, 0.8
    # >= 0.7: found (F, T) vs true (F, F): observed 1/2, chance 1/2 * 1 ... kappa 0
    assert (high["both"], high["found_only"], high["true_only"], high["neither"]) == (0, 1, 0, 1)
    assert high["kappa"] == pytest.approx(0.0)
    assert (high["found_high"], high["true_high"]) == (2, 1)


def test_icc_and_kappa_by_hand():
    # ICC(2,1) of x = (1, 2, 3), y = (1, 3, 2): grand mean 2; row means 1, 2.5, 2.5;
    # MSR = 2 * (1 + 0.25 + 0.25) / 2 = 1.5; column means 2, 2: MSC = 0;
    # residuals (0, 0), (-0.5, 0.5), (0.5, -0.5): MSE = 1 / 2 = 0.5;
    # ICC = (1.5 - 0.5) / (1.5 + 0.5 + 2 * (0 - 0.5) / 3) = 1 / (5 / 3) = 0.6
    assert icc_agreement([1, 2, 3], [1, 3, 2]) == pytest.approx(0.6)
    assert np.isnan(icc_agreement([1.0], [1.0]))
    # kappa: 6 of 8 agree (observed 0.75); a says yes 4/8, b 4/8: chance 0.5 -> 0.5
    a = [1, 1, 1, 1, 0, 0, 0, 0]
    b = [1, 1, 1, 0, 1, 0, 0, 0]
    assert cohen_kappa(a, b) == pytest.approx(0.5)
    assert np.isnan(cohen_kappa([], []))


def test_compare_cells_ratios_come_from_each_mask():
    true = np.array([[2, 1, 1, 1, 0, 0]])  # one cell, nucleus/cell 1/4
    found_mask = np.array([[2, 2, 1, 1, 0, 0]])  # same cell, nucleus/cell 2/4
    cells = (true > 0).astype(int)
    c = compare_cells(cells, found_mask, cells, true)
    assert c.found_cell == [0.5] and c.true_cell == [0.25]
    assert c.found_nc == [1.0] and c.true_nc == [pytest.approx(1 / 3)]


def test_found_cells_debris_and_sure_nuclei():
    m = np.zeros((10, 40), int)
    m[1:9, 1:30] = 1
    m[2:8, 2:14] = 2  # a large nucleus, 72 px
    m[4:6, 22:25] = 2  # a 6-px speck of nucleus in the same cytoplasm
    m[4:6, 35:37] = 1  # a 4-px fragment on its own
    rules = CellRules(min_nucleus_px=2, min_cell_px=5)
    # the true mask is sure of every pixel: both nuclei seed (the reference rule's 3 cells
    # less the fragment under 5 px)
    found = find_cells(m, rules=rules)
    assert found.cells.max() == 2 and found.debris.max() == 1
    assert (found.debris > 0).sum() == 4
    # with probabilities unsure of the speck (0.6 < 0.8) and 6 < 0.1 * 72: one cell
    p = np.zeros((10, 40, 3))
    p[..., 2] = m == 2
    p[..., 1] = m == 1
    p[4:6, 22:25] = [0.0, 0.4, 0.6]
    assert find_cells(m, p, rules=rules).cells.max() == 1
    # sure of it, it seeds again
    p[4:6, 22:25] = [0.0, 0.1, 0.9]
    assert find_cells(m, p, rules=rules).cells.max() == 2
    # in µm²: at 0.5 µm per pixel the smallest cell of 6 µm² is 24 px, so the 4-px
    # fragment is debris and the 6-px nucleus (1.5 µm²) seeds nothing at 5 µm² a nucleus
    found = find_cells(m, pixel_size=0.5)
    assert found.cells.max() == 1 and found.debris.max() == 1
    with pytest.raises(ParameterError):
        CellRules(nucleus_free="maybe")
    with pytest.raises(ParameterError):
        CellRules(min_cell_px=-1)


def test_nucleus_free_regions():
    m = np.zeros((8, 20), int)
    m[2:7, 1:8] = 1
    m[3:6, 3:6] = 2
    m[2:7, 12:19] = 1  # no nucleus, inside the field
    m[0:3, 9:11] = 1  # no nucleus, at the edge (6 px)
    rules = dict(min_nucleus_px=1, min_cell_px=1)
    assert find_cells(m, rules=CellRules(**rules)).cells.max() == 3
    edge = find_cells(m, rules=CellRules(nucleus_free="edge", **rules))
    assert edge.cells.max() == 2 and edge.debris.max() == 1
    assert edge.cells[0, 9] > 0 and edge.cells[4, 15] == 0
    assert find_cells(m, rules=CellRules(nucleus_free="debris", **rules)).cells.max() == 1


def test_bench_scores_cells_with_the_reference_rule():
    # true: two cells sharing a region; predicted: the same mask, and a merged one
    true = np.zeros((12, 24), int)
    true[1:11, 1:23] = 1
    true[4:8, 3:9] = 2
    true[4:8, 15:21] = 2
    merged = true.copy()
    merged[4:8, 15:21] = 1  # the second nucleus missed: one cell over both
    result = score_predictions(
        [("same", true, true), ("merged", true, merged)], ["background", "cytoplasm", "nucleus"]
    )
    cells = result["cells"]
    # image 1: 2 found, 2 true, 2 matched; image 2: 1 found (IoU 1/2 with the left cell:
    # matched), 2 true
    assert (cells["found"], cells["true"], cells["matched"]) == (3, 4, 3)
    assert cells["precision"] == 1.0 and cells["recall"] == pytest.approx(0.75)
    rows = {r["id"]: r["cells"] for r in result["per_image"]}
    assert rows["merged"]["found"] == 1 and rows["merged"]["matched"] == 1


def _rows_text(rows):
    # NaN ratios compare equal as text; centroids shifted by a tile's corner differ in the
    # last bits of a float
    def value(v):
        return round(v, 9) if isinstance(v, float) else v

    return [repr(sorted((k, value(v)) for k, v in row.items())) for row in rows]


def test_tiled_cells_equal_whole_image_cells_with_groups_wider_than_the_halo(voced):
    from seglab.io import load_mask
    from seglab.measure import per_cell_nc
    from seglab.measure.tiled import per_cell_nc_tiled

    masks = [load_mask(voced / "masks" / f"{i}.png") for i in range(16)]
    mosaic = np.block([[masks[r * 4 + c] for c in range(4)] for r in range(4)])
    whole = per_cell_nc(mosaic, "m")
    # a halo of 8 pixels: most groups of touching cells cross a tile's edge and reach further
    tiled = per_cell_nc_tiled(mosaic, "m", tile=256, halo=8)
    assert len(tiled) == len(whole) > 16
    assert _rows_text(tiled) == _rows_text(whole)


def test_a_group_wider_than_the_largest_window_is_measured_within_it(monkeypatch):
    from seglab.measure import tiled as tiled_module

    # one snake of cytoplasm across the whole image, nuclei along it
    mask = np.zeros((64, 300), np.uint8)
    mask[30:34, :] = 1
    for x in range(10, 300, 40):
        mask[29:35, x : x + 6] = 2
    monkeypatch.setattr(tiled_module, "MAX_GROUP_WINDOW", 64)
    with pytest.warns(UserWarning, match="wider than 64 pixels"):
        rows = tiled_module.per_cell_nc_tiled(mask, tile=32, halo=4)
    assert rows  # the job goes on
    monkeypatch.setattr(tiled_module, "MAX_GROUP_WINDOW", 8192)
    from seglab.measure import per_cell_nc

    assert _rows_text(tiled_module.per_cell_nc_tiled(mask, tile=32, halo=4)) == _rows_text(
        per_cell_nc(mask)
    )


def test_predict_geojson_cells_carry_the_stain_and_range_columns(tmp_path):
    import json

    from seglab.batch import predict_file
    from seglab.datasets import synthetic_cells
    from seglab.io import save_image
    from seglab.segmenters import make_segmenter

    data = synthetic_cells(4, size=96, random_state=1)
    seg = make_segmenter("nearest-mean").fit(
        [data.image(i) for i in range(3)], [data.mask(i) for i in range(3)]
    )
    save_image(tmp_path / "a.png", (data.image(3) * 255).round().astype(np.uint8))
    predict_file(seg, tmp_path / "a.png", tmp_path / "out", geojson=True)
    features = json.loads((tmp_path / "out" / "a.geojson").read_text())["features"]
    assert features
    for feature in features:
        measured = feature["properties"]["measurements"]
        # the probabilities give each cell its N/C range; the image its stain columns
        assert {"nc_low", "nc_high", "nucleus_irregularity"} <= set(measured)
        if measured["nucleus_px"] > 0 and measured["cytoplasm_px"] > 0:
            assert measured["hyperchromasia"] > 1  # synthetic nuclei are darker
        assert measured["cell_px"] >= CellRules().min_cell_px  # no debris exported


def test_evaluate_scores_the_cells_of_a_geojson_as_they_are(tmp_path):
    from seglab.evaluate import evaluate_predictions
    from seglab.io import save_mask
    from seglab.measure import label_cells, per_cell_nc
    from seglab.qupath import cell_features, write_geojson

    true = np.zeros((30, 60), np.uint8)
    true[2:28, 2:28] = 1
    true[8:16, 8:16] = 2
    true[2:28, 32:58] = 1
    true[8:20, 38:50] = 2
    save_mask(tmp_path / "true" / "a.png", true)
    # the prediction: the left cell as it is, the right one cut in half (two cells)
    cells = label_cells(true)
    cells[2:28, 45:58][cells[2:28, 45:58] > 0] = 3
    (tmp_path / "pred").mkdir()
    rows = per_cell_nc(true, "a", cells=cells)
    write_geojson(tmp_path / "pred" / "a.geojson", cell_features(true, cells, rows))
    payload = evaluate_predictions(tmp_path / "pred", tmp_path / "true")
    c = payload["methods"][0]["cells"]
    # right half: 26 x 13 of 26 x 26 = IoU 0.5 exactly (a match); so 3 found, 2 true, 2 matched
    assert (c["found"], c["true"], c["matched"]) == (3, 2, 2)
    assert c["precision"] == pytest.approx(2 / 3) and c["recall"] == 1.0


def test_the_summary_counts_cells_unsure_of_atypia_and_of_high_grade():
    from seglab.measure import image_summary_row

    def cell(ratio, low, high, high_unsure):
        return {
            "touches_border": False, "no_cytoplasm": False, "several_nuclei": False,
            "high_nc": False, "nc_ratio": ratio, "nucleus_cell_ratio": ratio / (1 + ratio),
            "nucleus_px": 10, "nc_low": low, "nc_high": high, "high_nc_unsure": high_unsure,
        }  # fmt: skip

    cells = [
        cell(1.1, 0.8, 1.2, False),  # N/C 1 (nucleus/cell 0.5) inside its range: atypia unsure
        cell(2.5, 2.0, 3.0, True),  # 2.33 (0.7) inside: high grade unsure, atypia sure
        cell(1.8, 1.5, float("nan"), True),  # no upper bound: above 1 for sure
        cell(0.2, 0.1, 0.3, False),
    ]
    row = image_summary_row("a", cells, 10, 20, nc_range={"nc_low": 0.1, "nc_high": 3.0})
    assert row["atypia_unsure"] == 1 and row["high_nc_unsure"] == 2
    # nucleus/cell 1.1/2.1, 2.5/3.5 and 1.8/2.8 are above 0.5; 0.2/1.2 is not
    assert row["n_atypia_nucleus_cell"] == 3 and row["n_high_nucleus_cell"] == 1
