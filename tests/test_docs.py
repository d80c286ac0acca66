"""The course pages (docs/course/*.md) run as written and print what they state.

Each page runs at its small CI budget (its declared replacements applied) from a scratch copy
of the project root's layout (``../shared`` reachable, ``docs/course/figures`` writable), so the
figures in the repository are not touched. Blocks before a page's first reduced block must
print the page's numbers within its tolerance; later ones the same text with any numbers.
"""

import os
from pathlib import Path

import pytest

from ._scripts import load_script

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs" / "course").glob("*.md"))


run = load_script("docs/run.py")


def test_every_lab_has_a_page_linked_from_the_index():
    assert len(PAGES) >= 15
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    for page in PAGES:
        assert f"course/{page.name}" in index, page.name
    assert "docs/index.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_runner_compares_numbers_within_the_tolerance():
    assert run.compare("Dice 0.744\n", "Dice 0.7445\n", 0.001, True) is None
    assert run.compare("Dice 0.744\n", "Dice 0.750\n", 0.001, True) is not None
    assert run.compare("Dice 0.744\n", "Dice 0.750\n", 0.001, False) is None
    assert run.compare("Dice 0.744\n", "Score 0.744\n", 0.001, True) is not None
    # Timings are not results: a number with a unit of time, or in a timing column.
    assert run.compare("fitted in 0.1 s\n", "fitted in 2.4 s\n", 0.001, True) is None
    table = "method  score  fit_s  pred_ms\nrf      {}  {}  {}\n"
    assert run.compare(table.format(0.85, 1, 2), table.format(0.85, 7, 9), 0.001, True) is None
    assert run.compare(table.format(0.85, 1, 2), table.format(0.80, 1, 2), 0.001, True)
    # Tables pad columns to the widest number; the padding is not part of the text.
    assert run.compare("rf  9.7   ok\n", "rf  38.2  ok\n", 100, True) is None
    # After a CI reduction only the first line's text counts: other rows may appear.
    assert run.compare("head 1\nrow 2\n", "head 3\nrow 4\nrow 5\n", 0, False) is None
    assert run.compare("head 1\n", "tail 1\n", 0, False) is not None


def test_runner_applies_replacements_and_refuses_stale_ones(tmp_path):
    page = tmp_path / "p.md"
    page.write_text(
        "<!-- ci: n = 5 => n = 2 -->\n```python\nn = 5\nprint(n)\n```\n\n```output\n5\n```\n",
        encoding="utf-8",
    )
    parsed = run.parse(page)
    assert run.run_page(parsed, tmp_path, small=True, write=False) == []  # text only
    assert parsed.blocks[0].code == "n = 2\nprint(n)\n"
    page.write_text("<!-- ci: m = 5 => m = 2 -->\n```python\nprint(1)\n```\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="matches no code block"):
        run.run_page(run.parse(page), tmp_path, small=True, write=False)
    page.write_text("```python\nprint(3)\n```\n\n```output\n4\n```\n", encoding="utf-8")
    assert run.run_page(run.parse(page), tmp_path, small=False, write=False)


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_page_runs_and_prints_what_it_states(page, tmp_path, shared_data):
    root = tmp_path / "project"
    (root / "docs" / "course" / "figures").mkdir(parents=True)
    os.symlink(shared_data.parent, tmp_path / "shared")
    parsed = run.parse(page)
    assert parsed.blocks, f"{page.name} has no code"
    problems = run.run_page(parsed, root, small=True, write=False)
    assert not problems, "\n".join(problems)
    figures = {
        line.split("(figures/")[1].split(")")[0]
        for line in parsed.text.splitlines()
        if "](figures/" in line
    }
    for name in figures:
        assert (root / "docs" / "course" / "figures" / name).stat().st_size > 1000, name
