"""The U-Net's prediction on the CPU: before and after issue 53's changes, in one run.

"Before" is the sliding-window loop as it was until 2026-12-06 (``torch.no_grad``, 4 windows
per forward pass, each flip a pass of its own, contiguous tensors); "after" is seglab's
(16 windows and their flips in one forward pass, channels-last tensors).
The network is the default architecture trained for two epochs on 20 course images: the
time per image does not depend on the weights. Reports the median time per 256 x 256 course
test image (both paths in turns on each image), whether the masks are identical and the
largest difference in probability, then the throughput on a 1024 x 1024 mosaic of course
images predicted tile by tile (``predict_lazy``, 512-pixel tiles, threads). Usage, from the
project root:

    .venv/bin/python benchmarks/unet_cpu.py
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from unittest import mock

import numpy as np
import torch

from seglab.bench import run_header
from seglab.datasets import make_splits, open_dataset
from seglab.segmenters import _torch_unet as tu
from seglab.segmenters import make_segmenter
from seglab.tiled import predict_lazy

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "voced" / "imagedata"


@torch.no_grad()
def sliding_window_before(
    network, image, window, multiple, flips, device, batch_size=4, turns=False
) -> np.ndarray:
    """The loop as it was: 4 windows a pass, each flip its own pass, contiguous tensors."""
    network.to(memory_format=torch.contiguous_format)
    h, w = image.shape[:2]
    window = max(multiple, window - window % multiple)
    step = max(multiple, (window // 2) // multiple * multiple)
    padded_h = max(window, window + math.ceil(max(h - window, 0) / step) * step)
    padded_w = max(window, window + math.ceil(max(w - window, 0) / step) * step)
    x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
    x = tu._pad_reflect(x, padded_h - h, padded_w - w)
    weight = tu.gaussian_window(window)
    starts = [
        (y0, x0)
        for y0 in tu.window_starts(padded_h, window, step)
        for x0 in tu.window_starts(padded_w, window, step)
    ]
    out, total = None, torch.zeros((padded_h, padded_w))
    for first in range(0, len(starts), batch_size):
        chunk = starts[first : first + batch_size]
        tiles = torch.cat([x[..., y0 : y0 + window, x0 : x0 + window] for y0, x0 in chunk])
        proba = torch.softmax(network(tiles), 1)
        if flips:
            for dims in ((3,), (2,), (2, 3)):
                proba += torch.softmax(network(tiles.flip(dims)), 1).flip(dims)
            proba /= 4
        if out is None:
            out = torch.zeros((proba.shape[1], padded_h, padded_w))
        for (y0, x0), p in zip(chunk, proba, strict=True):
            out[:, y0 : y0 + window, x0 : x0 + window] += p * weight
            total[y0 : y0 + window, x0 : x0 + window] += weight
    out = out / total
    return out[:, :h, :w].permute(1, 2, 0).numpy().astype(np.float32)


def main() -> None:
    dataset = open_dataset(DATA)
    ((train, test),) = make_splits(dataset, "course")
    images, masks = zip(*(dataset.pair(int(i)) for i in train[:20]), strict=True)
    model = make_segmenter("unet", max_epochs=2, verbose=False).fit(list(images), list(masks))
    print(run_header())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; unet (defaults,")
    print(f"  test flips on), work scale 1/{model._factor()}, {model._patch()}-pixel windows")
    before = mock.patch.object(tu, "sliding_window_proba", sliding_window_before)
    seconds = {"before": [], "after": []}
    same, largest = 0, 0.0
    tests = [dataset.pair(int(i))[0] for i in test]
    for image in tests:
        start = time.perf_counter()
        with before:
            old = model.predict_proba(image)
        seconds["before"].append(time.perf_counter() - start)
        start = time.perf_counter()
        new = model.predict_proba(image)
        seconds["after"].append(time.perf_counter() - start)
        same += bool((old.argmax(-1) == new.argmax(-1)).all())
        largest = max(largest, float(np.abs(old - new).max()))
    ms = {k: 1000 * float(np.median(v)) for k, v in seconds.items()}
    print(f"per 256 x 256 course image (median of {len(tests)}):")
    for k in ("before", "after"):
        print(f"  {k:<7} {ms[k]:7.0f} ms  {65536 / ms[k] / 1000:.3f} Mpx/s")
    print(f"  speed-up {ms['before'] / ms['after']:.2f}x; masks identical on {same}/{len(tests)}")
    print(f"  largest difference in probability {largest:.1e}")
    mosaic = np.concatenate([np.concatenate(tests[4 * r : 4 * r + 4], 1) for r in range(4)], 0)
    print(f"1024 x 1024 mosaic, 512-pixel tiles, threads (halo {model.halo} px):")
    labels = {}
    for k in ("before", "after"):
        start = time.perf_counter()
        if k == "before":
            with before:
                labels[k] = predict_lazy(model, mosaic, chunk=512).compute(scheduler="threads")
        else:
            labels[k] = predict_lazy(model, mosaic, chunk=512).compute(scheduler="threads")
        took = time.perf_counter() - start
        print(f"  {k:<7} {took:6.1f} s  {mosaic.shape[0] * mosaic.shape[1] / took / 1e6:.3f} Mpx/s")
    print(f"  masks identical: {bool((labels['before'] == labels['after']).all())}")


if __name__ == "__main__":
    main()
