"""Overhead per file of `seglab predict` on many small PNGs, beyond the method's own compute.

Writes 1,000 PNGs of 256 x 256 (the course images, in turn) to a temporary folder, saves a
`threshold` model, then runs `seglab predict` as a fresh process on 1 file and on 1,000 files.
The per-file cost is (time for 1,000 - time for 1) / 999; the method's own compute is its
`predict` time per image measured in-process; the overhead is the difference (reading,
writing, bookkeeping). Usage, from the project root:

    .venv/bin/python benchmarks/many_files.py [--n 1000] [--method threshold]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from seglab.bench import run_header
from seglab.data import course_data_path
from seglab.datasets import course_split, open_dataset
from seglab.io import load_image
from seglab.modelfile import save
from seglab.segmenters import make_segmenter

DATA = course_data_path()  # `seglab data` fetches it
SEGLAB = str(Path(sys.executable).parent / "seglab")


def timed_predict(model: Path, inputs: Path, out: Path) -> float:
    start = time.perf_counter()
    subprocess.run([SEGLAB, "predict", str(model), str(inputs), "-o", str(out)], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--method", default="threshold")
    args = parser.parse_args()
    dataset = open_dataset(DATA)
    train, _ = course_split(dataset)
    pairs = [dataset.pair(int(i)) for i in train[:40]]
    segmenter = make_segmenter(args.method).fit(
        [p[0] for p in pairs], [p[1] for p in pairs] if segmenter_supervised(args.method) else None
    )
    sources = sorted((DATA / "images").glob("*.png"))
    with tempfile.TemporaryDirectory(prefix="seglab-many-") as tmp:
        tmp = Path(tmp)
        model = save(segmenter, tmp / "m.seglab")
        one, many = tmp / "one", tmp / "many"
        one.mkdir()
        many.mkdir()
        shutil.copy(sources[0], one / "0.png")
        for k in range(args.n):
            shutil.copy(sources[k % len(sources)], many / f"{k}.png")
        # The method's own compute per image, in-process, on the same images.
        images = [load_image(p) for p in sources[:100]]
        start = time.perf_counter()
        for image in images:
            segmenter.predict(image)
        compute = (time.perf_counter() - start) / len(images)
        t_one = timed_predict(model, one, tmp / "out-one")
        t_many = timed_predict(model, many, tmp / "out-many")
    per_file = (t_many - t_one) / (args.n - 1)
    print(run_header())
    print(f"method {args.method}, 256 x 256 RGB PNGs")
    print(f"1 file:      {t_one:6.2f} s (start-up, model load, one image)")
    print(f"{args.n} files: {t_many:6.2f} s")
    print(
        f"per file: {1000 * per_file:.1f} ms, of which the method's predict "
        f"{1000 * compute:.1f} ms; overhead {1000 * (per_file - compute):.1f} ms per file"
    )


def segmenter_supervised(name: str) -> bool:
    from seglab.segmenters import get_segmenter_class

    return get_segmenter_class(name).supervised


if __name__ == "__main__":
    main()
