"""The HTML report: self-contained, every figure a real PNG, and it renders in Chromium."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from seglab.cli import main
from seglab.io import save_mask

from ._scripts import load_script

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# CI sets this so that a missing browser fails instead of skipping (.ci/run installs it).
REQUIRE_BROWSER = os.environ.get("SEGLAB_REQUIRE_BROWSER") == "1"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from seglab.datasets import synthetic_cells

    root = tmp_path_factory.mktemp("report")
    ds = synthetic_cells(8, size=64, random_state=3)
    for i in range(len(ds)):
        (root / "data" / "images").mkdir(parents=True, exist_ok=True)
        iio.imwrite(root / "data" / "images" / f"{i}.png", (ds.image(i) * 255).astype(np.uint8))
        save_mask(root / "data" / "masks" / f"{i}.png", ds.mask(i))
    # A class per image, as Herlev's classes.csv gives each cell its diagnosis.
    rows = ["stem,class"] + [f"{i},{'even' if i % 2 == 0 else 'odd'}" for i in range(len(ds))]
    (root / "data" / "classes.csv").write_text("\n".join(rows) + "\n")
    path = root / "r.html"
    args = ["bench", "--data", str(root / "data"), "--methods", "threshold,kmeans,nearest-mean"]
    args += ["--split", "random:0", "--report", str(path), "--json", str(root / "b.json")]
    args += ["--uncertainty"]
    assert main(args) == 0
    return path, json.loads((root / "b.json").read_text())


def _images(page: str) -> list[tuple[str, bytes]]:
    found = re.findall(r"<img alt='([^']*)' src='data:image/png;base64,([^']*)'>", page)
    return [(alt, base64.b64decode(data)) for alt, data in found]


def test_report_holds_every_figure_as_an_embedded_png(report):
    path, _ = report
    page = path.read_text(encoding="utf-8")
    alts = [alt for alt, _ in _images(page)]
    for expected in (
        "Dice box plots",
        "N/C agreement",
        "accuracy against speed",
        "confusion matrices",
        "feature space",
        "threshold overlays",
        "kmeans overlays",
        "uncertainty against error",
        "N/C range against the truth",
        "nucleus/cell by image class",
    ):
        assert expected in alts
    for alt, data in _images(page):
        picture = Image.open(io.BytesIO(data))
        picture.verify()  # a real, complete PNG
        assert picture.size[0] > 100 and picture.size[1] > 100, alt
    assert "src='http" not in page and "<script" not in page  # nothing fetched, nothing run


def test_report_names_the_winner_from_the_scores(report):
    path, result = report
    page = path.read_text(encoding="utf-8")
    best = max(result["methods"], key=lambda m: m["score"]["mean"])["name"]
    verdict = re.search(r"<p id='verdict'>(.*?)</p>", page).group(1)
    assert f"Best mean score: <b>{best}</b>" in verdict
    for m in result["methods"]:
        assert m["name"] in page.split("id='leaderboard'>")[1].split("</pre>")[0]


def test_figures_by_image_class_follow_the_classes_file(report):
    path, result = report
    root = path.parent / "data"
    # Independently: each test image's class from its stem, its true nucleus/cell from its mask.
    for m in result["methods"]:
        rows = m["per_image"]
        for row in rows:
            assert row["image_class"] == ("even" if int(row["id"]) % 2 == 0 else "odd")
            mask = np.asarray(Image.open(root / "masks" / f"{row['id']}.png"))
            nucleus, cytoplasm = np.sum(mask == 2), np.sum(mask == 1)
            assert row["nucleus_cell_true"] == pytest.approx(nucleus / (nucleus + cytoplasm))
        for name, figures in m["by_image_class"].items():
            mine = [r for r in rows if r["image_class"] == name]
            assert figures["n"] == len(mine)
            dice = np.mean([r["dice"]["nucleus"] for r in mine])
            assert figures["dice"]["nucleus"] == pytest.approx(dice)
            errors = [abs(r["nucleus_cell_pred"] - r["nucleus_cell_true"]) for r in mine]
            assert figures["nucleus_cell"]["mae"] == pytest.approx(np.mean(errors))
            within = np.mean([e <= 0.05 for e in errors])
            assert figures["nucleus_cell"]["within_0.05"] == pytest.approx(within)
        assert sum(f["n"] for f in m["by_image_class"].values()) == result["n_test"]
    table = path.read_text(encoding="utf-8").split("id='by-image-class'>")[1].split("</table>")[0]
    assert "<td>even</td>" in table or "<td>odd</td>" in table


def test_confusion_in_the_json_counts_every_test_pixel(report):
    _, result = report
    for m in result["methods"]:
        counts = np.asarray(m["confusion"])
        assert counts.sum() == 64 * 64 * result["n_test"]


@pytest.mark.skipif(not CHROMIUM and not REQUIRE_BROWSER, reason="no Chromium here")
def test_report_renders_in_headless_chromium(report):
    sync_api = pytest.importorskip("playwright.sync_api") if not REQUIRE_BROWSER else None
    if sync_api is None:
        from playwright import sync_api
    path, result = report
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page()
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        images = page.evaluate(
            "Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])"
        )
        leaderboard = page.inner_text("#leaderboard")
        browser.close()
    assert len(images) >= 7
    for alt, complete, width in images:
        assert complete and width > 0, f"figure {alt!r} did not load"
    for m in result["methods"]:
        assert m["name"] in leaderboard


def test_leaderboard_sections_of_benchmarks_md_are_replaced_in_place():
    module = load_script("benchmarks/leaderboards.py")
    text = "# B\nhand-written\n"
    once = module.replace_section(
        text, "voced", "<!-- leaderboard:voced -->\nA\n<!-- /leaderboard:voced -->"
    )
    assert once.startswith(text.rstrip("\n")) and module.HEADING in once and "\nA\n" in once
    twice = module.replace_section(
        once + "\nafter\n", "voced", "<!-- leaderboard:voced -->\nB\n<!-- /leaderboard:voced -->"
    )
    assert "\nA\n" not in twice and "\nB\n" in twice and twice.endswith("after\n")
    assert twice.count(module.HEADING) == 1


def test_leaderboard_of_a_data_set_with_image_classes_has_its_class_table(report):
    module = load_script("benchmarks/leaderboards.py")
    _, result = report
    best = max(result["methods"], key=lambda m: m["score"]["mean"])
    table = module.class_table(result)
    assert table.startswith(f"By class, {best['name']}:")
    for name, figures in best["by_image_class"].items():
        row = next(line for line in table.splitlines() if line.startswith(f"| {name} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1] == str(figures["n"])
        assert cells[3] == f"{figures['dice']['nucleus']:.3f}"
        assert cells[4] == f"{figures['nucleus_cell']['mae']:.3f}"
    # The leaderboard gives nucleus/cell in place of nucleus/cytoplasm, and every row's cells
    # stand under their own header.
    head, _, *rows = module.table(result).splitlines()
    columns = [c.strip() for c in head.strip("|").split("|")]
    assert "nucleus/cell MAE" in columns and "N/C MAE" not in columns
    for m in result["methods"]:
        row = next(r for r in rows if r.startswith(f"| {m['name']} |"))
        cells = dict(zip(columns, (c.strip() for c in row.strip("|").split("|")), strict=True))
        assert cells["nucleus/cell MAE"] == f"{m['nc']['nucleus_cell']['mae']:.3f}"
        assert cells["Dice nucleus"] == f"{m['dice']['nucleus']:.3f}"
        assert cells["±std"] == f"{m['score']['std']:.3f}"


def test_leaderboard_leaves_out_columns_that_say_nothing(report):
    module = load_script("benchmarks/leaderboards.py")
    _, result = report
    full = module.table(result).splitlines()[0]
    assert "±std" in full and "uncertainty r" in full
    # One test image: no spread; no probabilities: no uncertainty.
    bare = {
        **result,
        "n_test": 1,
        "methods": [{**m, "uncertainty": None} for m in result["methods"]],
    }
    head = module.table(bare).splitlines()[0]
    assert "±std" not in head and "uncertainty r" not in head
    assert head.count("|") == full.count("|") - 2


def test_report_draws_a_ratio_that_lies_outside_its_range(report, tmp_path):
    # A post step such as single_cell changes the mask after the range is taken from the
    # probabilities, so a predicted ratio may fall outside its own range.
    from seglab.report import write_report

    _, result = report
    methods = [m for m in result["methods"] if m.get("nc_range")]
    assert methods, "the fixture's bench gives no N/C ranges"
    moved = json.loads(json.dumps(result))
    for m in moved["methods"]:
        for row in m["per_image"]:
            if "nc_low" in row:
                row["nc_pred"] = row["nc_high"] + 0.1
    path = write_report(moved, tmp_path / "r.html")
    assert "N/C range against the truth" in path.read_text(encoding="utf-8")
