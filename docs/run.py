"""Run the documentation's code blocks in order and check (or rewrite) what they print.

A page is Markdown: a course page (docs/course), a guide page (docs/guide) or the README. Its
```python and ```bash blocks run in order, from the directory given by ``--root`` (the
project's root by default), Python blocks in one namespace per page, bash blocks in a shell
with ``.venv/bin`` first on PATH. The ```output block right after a code block holds what that
block prints. Checking compares it with what the block printed now: the same text, and every
number within the page's tolerance, stated on the page as
``<!-- tolerance: 0.01 -->`` (numbers within 1e-9 otherwise); timings are not compared.

Small budgets for CI: a page may declare replacements that shrink its slow parts,
``<!-- ci: n_trials=50 => n_trials=5 -->``. With ``--budget small`` each is applied to the
code (a replacement that matches nothing is an error, so a stale one fails), and the blocks
from the first changed one on are compared by their first line's text only, numbers masked.
A page that declares ``<!-- check-output: no -->`` (the README's tour) may print without
output blocks: its commands must run, what they print is not compared.

Usage, from the project root::

    .venv/bin/python docs/run.py                    # check every page at full budget
    .venv/bin/python docs/run.py --budget small     # what the tests run
    .venv/bin/python docs/run.py --write            # `make docs`: rewrite the output blocks
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
#: the pages whose code runs: the course companion, the user guide and the README's tour
PAGES = [
    *sorted((PROJECT / "docs" / "course").glob("[0-9]*.md")),
    *sorted((PROJECT / "docs" / "guide").glob("*.md")),
    PROJECT / "README.md",
]
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
TIME_UNIT = re.compile(r"\s?(?:s|ms|seconds|minutes)\b")
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)


@dataclass
class Block:
    language: str  # "python" or "bash"
    code: str
    expected: str | None  # the following output block, if any
    output_span: tuple[int, int] | None  # where that output block's body sits in the page
    changed: bool = False  # a CI replacement applied to this block


@dataclass
class Page:
    path: Path
    text: str
    blocks: list[Block] = field(default_factory=list)
    tolerance: float = 1e-9
    replacements: list[tuple[str, str]] = field(default_factory=list)
    check_output: bool = True  # False: blocks may print without an output block (a tour)


def parse(path: Path) -> Page:
    """The page's code blocks, each with the output block that follows it."""
    text = path.read_text(encoding="utf-8")
    page = Page(path, text)
    match = re.search(r"<!--\s*tolerance:\s*([0-9.eE+-]+)\s*-->", text)
    if match:
        page.tolerance = float(match.group(1))
    page.check_output = not re.search(r"<!--\s*check-output:\s*no\s*-->", text)
    for old, new in re.findall(r"<!--\s*ci:\s*(.*?)\s*=>\s*(.*?)\s*-->", text):
        page.replacements.append((old, new))
    fences = list(FENCE.finditer(text))
    for k, fence in enumerate(fences):
        language = fence.group(1)
        if language not in ("python", "bash"):
            continue
        expected, span = None, None
        if k + 1 < len(fences) and fences[k + 1].group(1) == "output":
            nxt = fences[k + 1]
            between = text[fence.end() : nxt.start()]
            if not between.strip():
                expected, span = nxt.group(2), nxt.span(2)
        page.blocks.append(Block(language, fence.group(2), expected, span))
    return page


def apply_ci_budget(page: Page) -> None:
    """Apply the page's CI replacements; each must change at least one block."""
    for old, new in page.replacements:
        hits = 0
        for block in page.blocks:
            if old in block.code:
                block.code = block.code.replace(old, new)
                block.changed = True
                hits += 1
        if not hits:
            raise SystemExit(f"{page.path.name}: CI replacement {old!r} matches no code block")


def run_block(block: Block, namespace: dict, root: Path) -> str:
    """Run one block from ``root`` and return what it printed."""
    if block.language == "bash":
        env = {**os.environ, "PATH": f"{PROJECT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"}
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block.code],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"bash block failed ({done.returncode}):\n{block.code}\n{done.stderr}"
            )
        return done.stdout
    buffer = io.StringIO()
    previous = Path.cwd()
    os.chdir(root)
    try:
        with contextlib.redirect_stdout(buffer):
            exec(compile(block.code, "<page block>", "exec"), namespace)
    finally:
        os.chdir(previous)
    return buffer.getvalue()


def checked_numbers(text: str) -> list[str]:
    """The numbers of an output that are results, not timings.

    Timings differ from run to run: a number followed by a unit of time ("0.3 s", "63 ms") is
    left out, and so are the last columns of a table whose header ends in timing columns
    (``fit_s  pred_ms``, as ``seglab evaluate`` and ``bench`` print them).
    """
    kept, timing_columns = [], 0
    for line in text.strip().splitlines():
        tokens = line.split()
        if not tokens:
            timing_columns = 0
            continue
        if tokens[-1].endswith(("_s", "_ms")):  # a table header ending in timing columns
            timing_columns = 0
            for name in reversed(tokens):
                if not name.endswith(("_s", "_ms")):
                    break
                timing_columns += 1
        numbers = [m.group(0) for m in NUMBER.finditer(line) if not TIME_UNIT.match(line, m.end())]
        if timing_columns and len(numbers) >= timing_columns:
            numbers = numbers[:-timing_columns]
        kept += numbers
    return kept


def _shape(text: str) -> list[str]:
    """The lines of an output with numbers masked and runs of blanks made one (tables pad
    their columns to the widest number)."""
    return [" ".join(NUMBER.sub("#", line).split()) for line in text.strip().splitlines()]


def compare(expected: str, got: str, tolerance: float, numbers: bool) -> str | None:
    """None if ``got`` matches ``expected``; otherwise a line saying where they differ.

    With ``numbers`` the text must match line for line and every result number be within
    ``tolerance``. Without (the blocks after a CI reduction, whose results differ), only the
    first line's text is compared: a smaller model may find other cells or rows.
    """
    want, have = _shape(expected), _shape(got)
    if not numbers:
        want, have = want[:1], have[:1]
    if want != have:
        return f"text differs:\n--- page\n{expected.strip()}\n--- now\n{got.strip()}"
    if not numbers:
        return None
    for a, b in zip(checked_numbers(expected), checked_numbers(got), strict=True):
        if abs(float(a) - float(b)) > tolerance + 1e-9:
            return f"{a} on the page, {b} now (tolerance {tolerance:g})\n--- now\n{got.strip()}"
    return None


def run_page(page: Page, root: Path, small: bool, write: bool) -> list[str]:
    """Run every block; return the problems found (empty when the page holds)."""
    if small:
        apply_ci_budget(page)
    namespace: dict = {"__name__": "__main__"}
    problems, outputs = [], []
    numbers = True
    for block in page.blocks:
        numbers = numbers and not block.changed
        try:
            got = run_block(block, namespace, root)
        except Exception:  # a failing block fails its page, not the run
            return [*problems, f"a block failed:\n{block.code}\n{traceback.format_exc()}"]
        outputs.append(got)
        if block.expected is None:
            if got.strip() and not write and page.check_output:
                problems.append(f"a block prints but has no output block:\n{got.strip()}")
            continue
        if not write:
            problem = compare(block.expected, got, page.tolerance, numbers)
            if problem:
                problems.append(problem)
    if write:
        text = page.text
        for block, got in sorted(
            zip(page.blocks, outputs, strict=True),
            key=lambda pair: -(pair[0].output_span or (0, 0))[0],
        ):
            if block.output_span:
                start, end = block.output_span
                text = text[:start] + got.rstrip("\n") + "\n" + text[end:]
        page.path.write_text(text, encoding="utf-8")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "pages", nargs="*", help="page files (default: the course pages, the guide, the README)"
    )
    parser.add_argument("--budget", choices=["full", "small"], default="full")
    parser.add_argument("--write", action="store_true", help="rewrite the output blocks")
    parser.add_argument("--root", type=Path, default=PROJECT, help="directory the code runs in")
    args = parser.parse_args(argv)
    if args.write and args.budget == "small":
        parser.error("--write records full-budget figures; drop --budget small")
    paths = [Path(p).resolve() for p in args.pages] or PAGES
    failed = 0
    for path in paths:
        start = time.perf_counter()
        problems = run_page(parse(path), args.root, args.budget == "small", args.write)
        seconds = time.perf_counter() - start
        print(f"{path.name}: {'ok' if not problems else 'FAILED'} ({seconds:.0f} s)")
        for problem in problems:
            print("  " + problem.replace("\n", "\n  "))
        failed += bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
