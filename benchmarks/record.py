"""Run a benchmark script and record what it prints in its section of BENCHMARKS.md.

Every figure in BENCHMARKS.md sits between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``
and is the verbatim output of the command recorded there; `make bench` runs each one through
this script. The section is replaced only when the command succeeds, so a failed or interrupted
run leaves the figures it would have replaced. Usage, from the project root::

    .venv/bin/python benchmarks/record.py NAME [--keep REGEX] [--fence] -- SCRIPT.py [ARGS...]
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def section_pattern(name: str) -> re.Pattern:
    """The generated block of section NAME, markers included."""
    name = re.escape(name)
    return re.compile(rf"<!-- bench:{name} -->\n.*?<!-- /bench:{name} -->", re.DOTALL)


def render(name: str, output: str, keep: str | None = None, fence: bool = False) -> str:
    """The block for NAME holding OUTPUT (only the lines matching KEEP, if given)."""
    lines = output.rstrip("\n").splitlines()
    if keep is not None:
        pattern = re.compile(keep)
        lines = [line for line in lines if pattern.search(line)]
    body = "\n".join(lines)
    if fence:
        body = f"```text\n{body}\n```"
    return f"<!-- bench:{name} -->\n{body}\n<!-- /bench:{name} -->"


def replace_section(text: str, name: str, block: str) -> str:
    """TEXT with section NAME's block replaced; an error if the page has no such section."""
    pattern = section_pattern(name)
    if not pattern.search(text):
        raise SystemExit(f"record.py: BENCHMARKS.md has no section <!-- bench:{name} -->")
    return pattern.sub(lambda _: block, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the section's name in BENCHMARKS.md")
    parser.add_argument("--keep", metavar="REGEX", help="record only the lines matching REGEX")
    parser.add_argument("--fence", action="store_true", help="record the output as a text block")
    parser.add_argument("--benchmarks", type=Path, default=ROOT / "BENCHMARKS.md")
    argv = list(sys.argv[1:] if argv is None else argv)
    # Split at "--" by hand: argparse would take the script's own options for ours.
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    command = argv[split + 1 :]
    if not command:
        parser.error("give the script to run after --")
    page = args.benchmarks.read_text(encoding="utf-8")
    replace_section(page, args.name, "")  # refuse an unknown section before the long run
    print(f"record.py: {args.name}: {shlex.join(command)}", file=sys.stderr)
    done = subprocess.run([sys.executable, *command], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    sys.stdout.write(done.stdout)
    if done.returncode != 0:
        print(f"record.py: {args.name}: exit {done.returncode}, section kept", file=sys.stderr)
        return done.returncode
    block = render(args.name, done.stdout, args.keep, args.fence)
    # Read again: another section may have been recorded while this command ran.
    page = args.benchmarks.read_text(encoding="utf-8")
    args.benchmarks.write_text(replace_section(page, args.name, block), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
