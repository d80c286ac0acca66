"""Soak: thousands of small files, some of them corrupt, through `seglab predict --keep-going
--nc`; every good file written, every bad one listed, and the process's memory flat.

Writes N synthetic cell images (64 x 64 PNG) to a scratch folder, 5% of them replaced by
garbage, trains a small `rf` on other synthetic cells, runs the command in a child process and
reads its resident memory (/proc, Linux) as the masks appear. Usage, from the project root:

    .venv/bin/python benchmarks/soak.py [--files 2000] [--corrupt 0.05]
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import seglab
from seglab.bench import run_header
from seglab.io import save_image


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--corrupt", type=float, default=0.05)
    args = parser.parse_args()
    print(run_header())
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="seglab-soak-") as scratch:
        root = Path(scratch)
        cells = seglab.synthetic_cells(8, size=64, random_state=0)
        bad = set(rng.choice(args.files, round(args.corrupt * args.files), replace=False))
        for i in range(args.files):
            path = root / "in" / f"{i:05d}.png"
            if i in bad:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(rng.bytes(int(rng.integers(10, 3000))))
            else:
                save_image(path, cells.image(i % len(cells)))
        train = seglab.synthetic_cells(4, size=128, random_state=1)
        model = seglab.make_segmenter("rf", n_estimators=10, n_jobs=1).fit(
            [train.image(i) for i in range(4)], [train.mask(i) for i in range(4)]
        )
        seglab.save(model, root / "rf.seglab")
        out = root / "out"
        command = ["seglab", "predict", "rf.seglab", "in", "--keep-going", "--nc", "nc.csv",
                   "-o", "out"]  # fmt: skip
        start = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-m", "seglab.cli", *command[1:]],
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        marks = {200: None, args.files // 2: None, args.files: None}
        last = float("nan")
        good = args.files - len(bad)
        while child.poll() is None:
            written = sum(1 for _ in out.glob("*.png")) if out.is_dir() else 0
            done = written * args.files / good  # files gone through, the bad ones included
            for mark in marks:
                if marks[mark] is None and done >= mark:
                    marks[mark] = resident_mb(child.pid)
            if marks[args.files] is None:
                last = resident_mb(child.pid)
            time.sleep(0.2)
        seconds = time.perf_counter() - start
        stderr = child.stderr.read()
        marks[args.files] = marks[args.files] or last
        masks = sorted(p.stem for p in out.glob("*.png"))
        with open(root / "nc.csv", newline="") as file:
            rows = list(csv.DictReader(file))
        listed = sum(1 for line in stderr.splitlines() if line.startswith("seglab: error: "))
        expected = sorted(f"{i:05d}" for i in range(args.files) if i not in bad)
    print(f"command: {' '.join(command)}")
    print(
        f"{args.files} files ({len(bad)} corrupt), 64 x 64, rf (10 trees): {seconds:.0f} s,"
        f" {1000 * seconds / args.files:.0f} ms per file; exit code {child.returncode}"
    )
    print(
        f"masks written {len(masks)} of {good} good files (all: {masks == expected}),"
        f" N/C rows {len(rows)}, bad files listed {listed} of {len(bad)}"
    )
    at = ", ".join(f"file {k}: {v:.0f} MB" for k, v in sorted(marks.items()))
    growth = marks[args.files] - marks[200]
    print(f"resident memory at {at}; growth from file 200 on: {growth:+.1f} MB")
    return 0 if masks == expected and listed == len(bad) and child.returncode == 2 else 1


if __name__ == "__main__":
    sys.exit(main())
