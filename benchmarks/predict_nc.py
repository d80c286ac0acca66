"""What `seglab predict --nc` costs beyond plain `predict`: the model runs once per image.

Trains the default `rf` on the course split's training part, copies the 39 test images to a
temporary folder, then runs, taking turns for ``--rounds`` rounds (so that a loaded machine
slows each alike), `seglab predict` as a fresh process: plain, with ``--nc``, and with
``--nc --proba --uncertainty``. Prints each one's median time and its ratio to plain predict.
In-process it also times the two ways to get labels and probabilities of an image: one run
(``predict_with_proba``, what `predict` does now) against ``predict_proba`` then ``predict``
(what it did before). Usage, from the project root:

    .venv/bin/python benchmarks/predict_nc.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from seglab.bench import fit_on, run_header
from seglab.data import course_data
from seglab.datasets import course_split, open_dataset
from seglab.modelfile import save
from seglab.segmenters import make_segmenter

SEGLAB = str(Path(sys.executable).parent / "seglab")


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    data = course_data()
    dataset = open_dataset(data)
    train, test = course_split(dataset)
    segmenter = make_segmenter("rf")
    fit_seconds = fit_on(segmenter, dataset, train)
    images = [dataset.image(int(i)) for i in test]
    with tempfile.TemporaryDirectory(prefix="seglab-nc-") as tmp:
        tmp = Path(tmp)
        model = save(segmenter, tmp / "rf.seglab")
        inputs = tmp / "images"
        inputs.mkdir()
        for i in test:
            shutil.copy(data / "images" / f"{dataset.ids[int(i)]}.png", inputs)
        variants = {
            "predict": [],
            "predict --nc": ["--nc", str(tmp / "nc.csv")],
            "predict --nc --proba --uncertainty": [
                "--nc",
                str(tmp / "nc.csv"),
                "--proba",
                "--uncertainty",
            ],
        }
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, extra in variants.items():
                out = tmp / "out"
                shutil.rmtree(out, ignore_errors=True)
                times[name].append(
                    timed([SEGLAB, "predict", str(model), str(inputs), "-o", str(out), *extra])
                )
        one_run, two_runs = [], []
        for _ in range(args.rounds):
            start = time.perf_counter()
            for image in images:
                segmenter.predict_with_proba(image)
            one_run.append(time.perf_counter() - start)
            start = time.perf_counter()
            for image in images:
                segmenter.predict_proba(image)
                segmenter.predict(image)
            two_runs.append(time.perf_counter() - start)
    print(run_header())
    print(f"default rf, trained in {fit_seconds:.0f} s; {len(test)} course test images, 256 x 256")
    print(f"seglab predict as a fresh process, median of {args.rounds} rounds taken in turns:")
    base = statistics.median(times["predict"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:36s} {median:6.2f} s  {median / base:5.2f}x plain predict")
    n = len(images)
    one, two = statistics.median(one_run) / n, statistics.median(two_runs) / n
    print("labels and probabilities of one image, in-process:")
    print(f"  one run (predict_with_proba)         {1000 * one:6.0f} ms")
    print(f"  predict_proba, then predict (before) {1000 * two:6.0f} ms  {two / one:5.2f}x")


if __name__ == "__main__":
    main()
