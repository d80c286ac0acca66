"""benchmarks/record.py: a script's output replaces its section of BENCHMARKS.md, and only then."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .._scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
record = load_script("benchmarks/record.py")

PAGE = (
    "# B\n\n<!-- bench:a -->\nold a\n<!-- /bench:a -->\n\ntext\n\n"
    "<!-- bench:b -->\nold b\n<!-- /bench:b -->\n"
)


def test_render_keeps_matching_lines_and_fences():
    block = record.render("a", "x 1\ny 2\nx 3\n", keep="^x", fence=True)
    assert block == "<!-- bench:a -->\n```text\nx 1\nx 3\n```\n<!-- /bench:a -->"


def test_replace_touches_only_its_section_and_refuses_an_unknown_one():
    new = record.replace_section(PAGE, "a", "<!-- bench:a -->\nnew a\n<!-- /bench:a -->")
    assert new == PAGE.replace("old a", "new a")
    with pytest.raises(SystemExit, match="no section"):
        record.replace_section(PAGE, "c", "")


def test_a_failing_command_leaves_the_page_as_it_was(tmp_path):
    page = tmp_path / "B.md"
    page.write_text(PAGE, encoding="utf-8")
    script = tmp_path / "s.py"
    script.write_text("print('figure 7')\nraise SystemExit(3)\n", encoding="utf-8")
    assert record.main(["a", "--benchmarks", str(page), "--", str(script)]) == 3
    assert page.read_text(encoding="utf-8") == PAGE
    script.write_text("print('figure 7')\n", encoding="utf-8")
    assert record.main(["a", "--benchmarks", str(page), "--", str(script)]) == 0
    assert page.read_text(encoding="utf-8") == PAGE.replace("old a", "figure 7")


def test_every_section_of_benchmarks_is_recorded_by_make_bench():
    page = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    bench = makefile.split("\nbench:")[1].split("\n\n")[0]
    sections = set(re.findall(r"<!-- bench:([\w-]+) -->", page))
    assert sections, "BENCHMARKS.md has no recorded sections"
    recorded = set(re.findall(r"\$\(RECORD\) ([\w-]+)", bench))
    assert sections == recorded
    for name in re.findall(r"<!-- leaderboard:([\w-]+) -->", page):
        assert name in load_script("benchmarks/leaderboards.py").DATASETS
    assert "benchmarks/leaderboards.py" in bench


@pytest.mark.parametrize(
    "script",
    sorted(p.name for p in (ROOT / "benchmarks" / "experiments").glob("*.py")),
)
def test_experiment_scripts_still_import(script):
    # kept for their recorded figures (docs/research); they must not rot where they stand
    module = load_script(f"benchmarks/experiments/{script}")
    assert callable(module.main)
