"""Images of any size: every method trains and predicts on images smaller than its filters'
reach (down to 16 pixels a side), as scikit-image's filters do (they mirror the image at its
borders), and tiled prediction still equals whole-image prediction."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import seglab
from seglab.io import load_image, load_mask
from seglab.segmenters import list_segmenters
from seglab.tiling import predict_lazy, tile_geometry

#: every method but those that train a network (their sizes are tested in test_unet.py) and
#: the pixel classifiers slower to fit than rf on the same filter-bank pipeline (their features
#: are rf's; hgb, logistic and mlp alone take 70 s here)
SAME_PIPELINE_AS_RF = {"extra-trees", "hgb", "knn", "logistic", "mlp"}
FAST = [
    m["name"]
    for m in list_segmenters()
    if not m["slow"] and m["name"] not in {"ensemble", *SAME_PIPELINE_AS_RF}
]


def _smallest(herlev: Path, n: int) -> list[str]:
    """The stems of the ``n`` crops of the Herlev set with the shortest side."""
    from PIL import Image

    sides = []
    for path in sorted((herlev / "images").glob("*.png")):
        with Image.open(path) as im:
            sides.append((min(im.size), path.stem))
    return [stem for _, stem in sorted(sides)[:n]]


@pytest.fixture(scope="module")
def crops(herlev):
    stems = _smallest(herlev, 8)
    images = [load_image(herlev / "images" / f"{s}.png") for s in stems]
    masks = [load_mask(herlev / "masks" / f"{s}.png") for s in stems]
    return stems, images, masks


@pytest.mark.parametrize("name", FAST)
def test_every_method_trains_and_predicts_on_the_smallest_crops(crops, name):
    _, images, masks = crops
    assert min(min(im.shape[:2]) for im in images) <= 40
    seg = seglab.make_segmenter(name)
    seg.fit(images[:6], masks[:6] if seg.supervised else None)
    tiny = images[7][:16, :16]
    assert seg.predict(tiny).shape == (16, 16)
    labels = seg.predict(images[6])
    assert labels.shape == images[6].shape[:2]
    if seg.halo < 10**6:  # tiled: an image smaller than the halo is one tile along that axis
        chunk, _ = tile_geometry(seg, max(16, seg.halo))
        for image in (tiny, images[6]):
            tiled = predict_lazy(seg, image, chunk=chunk).compute(scheduler="synchronous")
            np.testing.assert_array_equal(tiled, seg.predict(image))


def test_default_rf_tiled_across_a_strip_shorter_than_its_halo(crops):
    """Tiles along one axis, one tile along the other (shorter than the halo)."""
    _, images, masks = crops
    seg = seglab.make_segmenter("rf", n_estimators=5).fit(images[:6], masks[:6])
    strip = np.concatenate([images[6]] * 8, axis=1)  # e.g. 77 x 344
    chunk, halo = tile_geometry(seg, seg.halo)
    assert strip.shape[0] < halo < strip.shape[1] // 2
    lazy = predict_lazy(seg, strip, chunk=chunk)
    assert len(lazy.chunks[1]) > 1
    np.testing.assert_array_equal(lazy.compute(scheduler="synchronous"), seg.predict(strip))


def test_seglab_train_rf_on_the_smallest_herlev_crops(crops, herlev, tmp_path):
    """The command a user types, default settings: train, then predict a 16 x 16 image."""
    stems, _, _ = crops
    data = tmp_path / "small"
    for sub in ("images", "masks"):
        (data / sub).mkdir(parents=True)
        for stem in stems:  # links, not copies: the data set stays where it is
            os.symlink(herlev / sub / f"{stem}.png", data / sub / f"{stem}.png")
    model = tmp_path / "rf.seglab"
    run = [sys.executable, "-m", "seglab.cli"]
    trained = subprocess.run(
        [*run, "train", "rf", "--data", data, "--split", "all", "-o", model],
        capture_output=True,
        text=True,
    )
    assert trained.returncode == 0, trained.stderr
    tiny = tmp_path / "tiny.png"
    seglab.io.save_image(tiny, load_image(herlev / "images" / f"{stems[0]}.png")[:16, :16])
    predicted = subprocess.run(
        [*run, "predict", model, tiny, "-o", tmp_path / "out"], capture_output=True, text=True
    )
    assert predicted.returncode == 0, predicted.stderr
    assert load_mask(tmp_path / "out" / "tiny.png").shape == (16, 16)
