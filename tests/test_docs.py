"""The documentation runs as written and prints what it states, and its generated parts are current.

The course pages (docs/course), the user guide (docs/guide) and the README's tour run. Each page
runs at its small CI budget (its declared replacements applied) from a scratch copy
of the project root's layout (``data/`` the data folder, ``docs/course/figures`` writable), so the
figures in the repository are not touched. Blocks before a page's first reduced block must
print the page's numbers within its tolerance; later ones the same text with any numbers.
"""

import os
from pathlib import Path

import pytest

from ._scripts import load_script

ROOT = Path(__file__).resolve().parents[1]
# data sets that pages read besides the course data, found only in a local copy (SEGLAB_DATA)
_DATA_SETS = ("bacteria", "oasis-brain", "qbi-em", "herlev")
run = load_script("docs/run.py")
PAGES = run.PAGES


def _text(relative: str) -> str:
    return (ROOT / relative).read_text(encoding="utf-8")


def test_every_page_is_linked_and_in_the_site():
    course = sorted((ROOT / "docs" / "course").glob("[0-9]*.md"))
    guide = sorted((ROOT / "docs" / "guide").glob("*.md"))
    assert len(course) >= 15 and len(guide) >= 6
    assert all(page in PAGES for page in [*course, *guide, ROOT / "README.md"])
    for page in course:
        assert f"]({page.name})" in _text("docs/course/index.md"), page.name
    for page in guide:
        assert f"](guide/{page.name})" in _text("docs/index.md"), page.name
    assert "](docs/index.md)" in _text("README.md")
    nav = _text("mkdocs.yml")
    for page in (ROOT / "docs").rglob("*.md"):
        relative = page.relative_to(ROOT / "docs").as_posix()
        assert relative in nav, f"{relative} is not in mkdocs.yml's nav"


def test_readme_and_benchmarks_stay_short():
    assert len(_text("README.md").encode()) <= 8 * 1024
    assert len(_text("BENCHMARKS.md").encode()) <= 25 * 1024
    first = _text("README.md").split("## ", 2)[1]  # the set-up section comes first
    assert "make demo" in first and "make test" in first


def test_the_cli_reference_is_what_the_parser_generates():
    reference = load_script("docs/cli_reference.py")
    assert _text("docs/reference/cli.md") == reference.render(), (
        "docs/reference/cli.md is stale: run .venv/bin/python docs/cli_reference.py"
    )
    # Independently of the generator: every command and each of its options is on the page.
    import argparse

    from seglab.cli import build_parser

    page = _text("docs/reference/cli.md")
    (commands,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(commands.choices) >= 9
    for name, parser in commands.choices.items():
        section = page.split(f"## seglab {name}\n")[1].split("\n## ")[0]
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue  # said once at the top of the page
            for option in action.option_strings:
                assert f"`{option}`" in section, (name, option)


def test_the_benchmarks_page_of_the_site_is_benchmarks_md():
    hooks = load_script("docs/hooks.py")
    page = hooks.benchmarks_page()
    assert page.splitlines()[0] == _text("BENCHMARKS.md").splitlines()[0]
    assert "](docs/" not in page and "](research/index.md)" in page


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


@pytest.mark.parametrize("page", PAGES, ids=[f"{p.parent.name}/{p.stem}" for p in PAGES])
def test_page_runs_and_prints_what_it_states(page, tmp_path, data_sets):
    root = tmp_path / "project"
    (root / "docs" / "course" / "figures").mkdir(parents=True)
    os.symlink(data_sets, root / "data")  # the pages read data/NAME, as `seglab data` lays it
    parsed = run.parse(page)
    needed = {name for name in _DATA_SETS if f"data/{name}" in parsed.text}
    missing = sorted(name for name in needed if not (data_sets / name).is_dir())
    if missing:
        pytest.skip(f"{page.name} reads data/{missing[0]}: set SEGLAB_DATA to a folder holding it")
    assert parsed.blocks, f"{page.name} has no code"
    problems = run.run_page(parsed, root, small=True, write=False)
    assert not problems, "\n".join(problems)
    figures = {
        line.split("(figures/")[1].split(")")[0]
        for line in parsed.text.splitlines()
        if "](figures/" in line
    }
    # a course page's code draws its figures; the guide's are screenshots that napari's test
    # makes (`make docs`), kept beside the page
    drawn = root / "docs" / "course" / "figures" if page.parent.name == "course" else None
    for name in figures:
        path = (drawn or page.parent / "figures") / name
        assert path.stat().st_size > 1000, name
