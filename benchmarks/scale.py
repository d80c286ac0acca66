"""Tiled prediction of an 8192 x 8192 RGB tiled TIFF: megapixels per second and peak memory.

Builds the slide from the real course images (a 32 x 32 mosaic of 256 x 256 urothelial cell
images, written tile by tile to a temporary tiled TIFF, never whole in memory), trains `rf` on
40 course training images, then runs `seglab predict --chunk 1024` with the threads scheduler,
the processes scheduler and a 2-worker `dask.distributed` LocalCluster, each as its own
process tree (the cluster's time is the predict job's on the running cluster; its start and
stop are printed beside it). Peak memory is the largest sum of resident memory over that tree
(sampled every 0.1 s; shared pages are counted once per process, so it over-counts). The three
masks must be identical. Usage, from the project root:

    .venv/bin/python benchmarks/scale.py [--size 8192] [--chunk 1024]
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import tifffile

from seglab.bench import run_header
from seglab.data import course_data_path
from seglab.datasets import course_split, open_dataset
from seglab.io import read_array
from seglab.modelfile import save
from seglab.segmenters import make_segmenter

DATA = course_data_path()  # `seglab data` fetches it
SEGLAB = [str(Path(sys.executable).parent / "seglab")]
# Times the cluster's start, the predict job on it, and its stop, apart: a cluster is a
# service started once for many jobs, and its start and stop (about 20 s here) are not the
# job's. The process tree's peak memory still counts the workers.
CLUSTER_RUNNER = """
import subprocess, sys, time
from distributed import LocalCluster
start = time.perf_counter()
cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None)
up = time.perf_counter()
code = subprocess.call(sys.argv[1:] + ["--scheduler", cluster.scheduler_address])
done = time.perf_counter()
cluster.close()
print(f"cluster-timing {up - start:.1f} {done - up:.1f} {time.perf_counter() - done:.1f}")
sys.exit(code)
"""


def write_slide(path: Path, size: int) -> None:
    """A size x size RGB tiled TIFF whose 256 x 256 tiles are the course images, in turn."""
    files = sorted((DATA / "images").glob("*.png"))
    n_tiles = (size // 256) ** 2

    def tiles():
        for k in range(n_tiles):
            yield read_array(files[k % len(files)])[..., :3]

    tifffile.imwrite(
        path,
        data=tiles(),
        shape=(size, size, 3),
        dtype=np.uint8,
        tile=(256, 256),
        photometric="rgb",
        compression="zlib",
    )


def fit_course_rf(path: Path):
    """The benchmarks' model: `rf` (defaults) fitted on 40 course training images, saved."""
    dataset = open_dataset(DATA)
    train, _ = course_split(dataset)
    pairs = [dataset.pair(int(i)) for i in train[:40]]
    model = make_segmenter("rf").fit([p[0] for p in pairs], [p[1] for p in pairs])
    save(model, path)
    return model


def peak_rss_of(command: list[str]) -> tuple[float, float, int, tuple[float, ...] | None]:
    """Run ``command``; its wall seconds, peak resident bytes of its process tree, exit code,
    and the cluster runner's own timings (start, job, stop) where it prints them."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    root = psutil.Process(process.pid)
    peak = 0
    stop = threading.Event()

    def sample():
        nonlocal peak
        while not stop.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                total = 0
                for p in tree:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                peak = max(peak, total)
            except psutil.Error:
                pass
            time.sleep(0.1)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    output, _ = process.communicate()
    code = process.returncode
    stop.set()
    thread.join()
    timing = None
    for line in output.splitlines():
        if line.startswith("cluster-timing "):
            timing = tuple(float(v) for v in line.split()[1:])
        else:
            print(line)
    return time.perf_counter() - start, peak, code, timing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--chunk", type=int, default=1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="seglab-scale-") as tmp:
        tmp = Path(tmp)
        slide = tmp / "slide.tif"
        start = time.perf_counter()
        write_slide(slide, args.size)
        print(
            f"wrote a {args.size}x{args.size} RGB tiled TIFF in {time.perf_counter() - start:.0f} s"
        )
        fit_course_rf(tmp / "rf.seglab")
        megapixels = args.size * args.size / 1e6
        predict = [*SEGLAB, "predict", str(tmp / "rf.seglab"), str(slide), "--chunk"]
        predict.append(str(args.chunk))
        runs = {
            "threads": [*predict, "--scheduler", "threads", "-o", str(tmp / "threads")],
            "processes": [*predict, "--scheduler", "processes", "-o", str(tmp / "processes")],
            # the runner appends --scheduler with its cluster's address
            "LocalCluster (2 workers)": [
                sys.executable,
                "-c",
                CLUSTER_RUNNER,
                *predict,
                "-o",
                str(tmp / "cluster"),
            ],
        }
        print(run_header())
        print(
            f"rf (defaults, trained on 40 course images), --chunk {args.chunk},"
            f" {megapixels:.1f} Mpx"
        )
        digests = {}
        for name, command in runs.items():
            seconds, peak, code, timing = peak_rss_of(command)
            note = ""
            if timing:  # the cluster's job alone; its start, stop and whole tree beside it
                started, job, stopped = timing
                note = (
                    f"  (the job on the running cluster; cluster start {started:.1f} s, stop"
                    f" {stopped:.1f} s, the runner's whole process tree {seconds:.1f} s)"
                )
                seconds = job
            if code != 0:
                print(f"{name}: FAILED with exit code {code}")
                continue
            out = next((tmp / command[command.index("-o") + 1]).glob("*.tif"))
            digests[name] = hashlib.sha256(tifffile.imread(out).tobytes()).hexdigest()[:16]
            print(
                f"{name:26s} {seconds:6.1f} s  {megapixels / seconds:5.2f} Mpx/s  "
                f"peak memory {peak / 2**30:.2f} GiB  mask sha256 {digests[name]}{note}"
            )
        same = len(set(digests.values())) == 1 and len(digests) == len(runs)
        print("masks identical across schedulers:", same)


if __name__ == "__main__":
    main()
