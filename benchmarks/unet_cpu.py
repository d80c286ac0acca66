"""The U-Net's prediction on the CPU: before and after issue 53's changes, in one run.

"before" is the sliding-window loop as it was until 2026-12-06 (contiguous tensors); "after"
is seglab's (channels-last tensors and weights, which oneDNN's convolutions run faster).
The network is the default architecture trained for two epochs on 20 course images: the
time per image does not depend on the weights. Reports the median time per 256 x 256 course
test image (both paths in turns on each image), whether the masks are identical and the
largest difference in probability, then the throughput on a 1024 x 1024 mosaic of course
images predicted tile by tile (``predict_lazy``, 512-pixel tiles, threads). Usage, from the
project root:

    .venv/bin/python benchmarks/unet_cpu.py
"""

from __future__ import annotations

import contextlib
import time
from unittest import mock

import numpy as np
import torch

from seglab.bench import run_header
from seglab.data import course_data_path
from seglab.datasets import make_splits, open_dataset
from seglab.segmenters import _torch_unet as tu
from seglab.segmenters import make_segmenter
from seglab.tiling import predict_lazy

DATA = course_data_path()  # `seglab data` fetches it


@torch.no_grad()
def sliding_window_before(
    network, image, window, multiple, flips, device, batch_size=4, turns=False
) -> np.ndarray:
    """The loop as it was: 4 windows a pass, each flip its own pass, contiguous tensors."""
    network.to(memory_format=torch.contiguous_format)
    h, w = image.shape[:2]
    window, step, padded_h, padded_w = tu.window_geometry(h, w, window, multiple)
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


@contextlib.contextmanager
def mode(name: str):
    """Predict as ``before`` (the old loop) or ``after`` (seglab's)."""
    if name == "before":
        with mock.patch.object(tu, "sliding_window_proba", sliding_window_before):
            yield
    else:
        yield


MODES = ("before", "after")


def main() -> None:
    dataset = open_dataset(DATA)
    ((train, test),) = make_splits(dataset, "course")
    images, masks = zip(*(dataset.pair(int(i)) for i in train[:20]), strict=True)
    model = make_segmenter("unet", max_epochs=2, verbose=False).fit(list(images), list(masks))
    tests = [dataset.pair(int(i))[0] for i in test]
    print(run_header())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; unet (defaults,")
    print(f"  test flips on), work scale 1/{model._factor()}, {model._patch()}-pixel windows")
    seconds = {name: [] for name in MODES}
    same = {name: 0 for name in MODES}
    pixels = {name: 0 for name in MODES}
    largest = {name: 0.0 for name in MODES}
    for image in tests:
        proba = {}
        for name in MODES:
            with mode(name):
                start = time.perf_counter()
                proba[name] = model.predict_proba(image)
                seconds[name].append(time.perf_counter() - start)
            differ = int((proba[name].argmax(-1) != proba["before"].argmax(-1)).sum())
            same[name] += differ == 0
            pixels[name] += differ
            largest[name] = max(largest[name], float(np.abs(proba[name] - proba["before"]).max()))
    ms = {k: 1000 * float(np.median(v)) for k, v in seconds.items()}
    print(f"per 256 x 256 course image (median of {len(tests)}), against the old loop:")
    for name in MODES:
        print(
            f"  {name:<7} {ms[name]:6.0f} ms  {65536 / ms[name] / 1000:.3f} Mpx/s  "
            f"{ms['before'] / ms[name]:.2f}x  masks identical {same[name]}/{len(tests)} "
            f"({pixels[name]} px differ; probabilities within {largest[name]:.0e})"
        )
    mosaic = np.concatenate([np.concatenate(tests[4 * r : 4 * r + 4], 1) for r in range(4)], 0)
    print(f"1024 x 1024 mosaic, 512-pixel tiles, threads (halo {model.halo} px):")
    labels = {}
    for name in MODES:
        with mode(name):
            start = time.perf_counter()
            labels[name] = predict_lazy(model, mosaic, chunk=512).compute(scheduler="threads")
            took = time.perf_counter() - start
        print(f"  {name:<7} {took:6.1f} s  {mosaic.size // 3 / took / 1e6:.3f} Mpx/s")
    print(
        "  masks identical to the old loop's:",
        {name: bool((labels[name] == labels["before"]).all()) for name in MODES[1:]},
    )


if __name__ == "__main__":
    main()
