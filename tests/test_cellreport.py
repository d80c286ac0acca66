"""The per-cell HTML report: its figures worked out by hand, and the page in headless Chromium."""

import csv
import io
import os
import shutil

import numpy as np
import pytest

from seglab.cli import main
from seglab.io import save_image, save_mask

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRE_BROWSER = os.environ.get("SEGLAB_REQUIRE_BROWSER") == "1"


def _cells():
    """Three cells apart: nucleus/cell 64/400 = 0.16, 240/400 = 0.6 and 300/400 = 0.75, and a
    10-pixel fragment (debris). The nuclei are darker than their cytoplasm."""
    mask = np.zeros((40, 100), np.uint8)
    image = np.ones((40, 100, 3))
    for x0, (nh, nw) in zip((2, 34, 66), ((8, 8), (12, 20), (15, 20)), strict=True):
        mask[10:30, x0 : x0 + 20] = 1
        mask[10 : 10 + nh, x0 : x0 + nw] = 2
    mask[35:37, 90:95] = 1  # 10 px: a fragment, not a cell
    image[mask == 1] = 0.5
    image[mask == 2] = 0.1
    return mask, image


@pytest.fixture(scope="module")
def cell_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("cells")
    mask, image = _cells()
    save_mask(root / "masks" / "a.png", mask)
    save_image(root / "images" / "a.png", (image * 255).round().astype(np.uint8))
    out = root / "cells.html"
    args = ["nc-ratio", str(root / "masks"), "--per-cell", "--images", str(root / "images")]
    args += ["--report", str(out), "--csv", str(root / "cells.csv")]
    assert main(args) == 0
    rows = list(csv.DictReader(io.StringIO((root / "cells.csv").read_text())))
    return out, rows


def test_cell_rows_and_summary_by_hand(cell_report):
    _, rows = cell_report
    cells = [r for r in rows if r["cell"] != "all"]
    assert [round(float(r["nucleus_cell_ratio"]), 3) for r in cells] == [0.16, 0.6, 0.75]
    (summary,) = [r for r in rows if r["cell"] == "all"]
    assert summary["debris"] == "1"
    # 0.6 and 0.75 are above 0.5; 0.75 is at or above 0.7
    assert summary["n_atypia_nucleus_cell"] == "2" and summary["n_high_nucleus_cell"] == "1"
    # optical density: nucleus -log10(0.1) = 1, cytoplasm -log10(0.5) = 0.301 (8-bit rounding)
    for r in cells:
        assert float(r["hyperchromasia"]) == pytest.approx(1 / 0.30103, rel=0.02)
        assert float(r["chromatin_texture"]) == pytest.approx(0.0, abs=1e-6)  # uniform
        assert float(r["nucleus_irregularity"]) == pytest.approx(0.0)  # rectangles are convex


def test_report_page_counts_and_gallery(cell_report):
    path, _ = cell_report
    page = path.read_text()
    assert "3 cells measured in 1 image(s); 1 fragments left out as debris;" in page
    assert "2 cells above nucleus/cell 0.5, 1 at or above 0.7." in page
    assert page.count("<figure>") == 3
    # the gallery is ordered by ratio, highest first
    first = page.index("a cell 3: nucleus/cell 0.75")
    assert first < page.index("a cell 2: nucleus/cell 0.60") < page.index("a cell 1:")


def test_report_needs_per_cell(tmp_path):
    mask, _ = _cells()
    save_mask(tmp_path / "a.png", mask)
    args = ["nc-ratio", str(tmp_path / "a.png"), "--report", str(tmp_path / "r.html")]
    assert main(args) == 2  # a usage error: one line, exit 2
    assert not (tmp_path / "r.html").exists()


@pytest.mark.skipif(not CHROMIUM and not REQUIRE_BROWSER, reason="no Chromium here")
def test_cell_report_renders_in_headless_chromium(cell_report):
    sync_api = pytest.importorskip("playwright.sync_api") if not REQUIRE_BROWSER else None
    if sync_api is None:
        from playwright import sync_api
    path, _ = cell_report
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
        )
        page = browser.new_page()
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        images = page.evaluate(
            "Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])"
        )
        table = page.inner_text("#images")
        browser.close()
    assert len(images) == 4  # three cells and the distribution
    for alt, complete, width in images:
        assert complete and width > 0, f"{alt!r} did not load"
    # image, cells, debris, > 0.5, unsure, >= 0.7, unsure (no probabilities: no ranges)
    assert "a\t3\t1\t2\t-\t1\t-" in table
