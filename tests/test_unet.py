"""The U-Net: trains in seconds on synthetic cells, sliding-window inference, exact save/load."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import seglab
from seglab.errors import ModelFileError, ParameterError

torch = pytest.importorskip("torch")
tu = pytest.importorskip("seglab.segmenters._torch_unet")

TINY = {
    "depth": 3,
    "width": 4,
    "patch_size": 32,
    "batch_size": 4,
    "max_epochs": 3,
    "verbose": False,
    "test_flips": False,
}


@pytest.fixture(scope="module")
def cells():
    ds = seglab.synthetic_cells(10, size=48, random_state=1)
    return [ds.image(i) for i in range(10)], [ds.mask(i) for i in range(10)]


@pytest.fixture(scope="module")
def fitted(cells):
    images, masks = cells
    return seglab.make_segmenter("unet", **TINY).fit(images[:8], masks[:8])


def test_import_seglab_does_not_import_torch():
    code = "import seglab, sys; seglab.list_segmenters(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_torch_names_the_extra(monkeypatch):
    from seglab.segmenters import base

    real = base.importlib.util.find_spec
    monkeypatch.setattr(
        base.importlib.util, "find_spec", lambda name: None if name == "torch" else real(name)
    )
    with pytest.raises(ParameterError, match=r"seglab\[deep\]"):
        seglab.make_segmenter("unet")


def test_loss_falls_on_synthetic_cells(cells):
    images, masks = cells
    seg = seglab.make_segmenter(
        "unet",
        **{
            **TINY,
            "width": 8,
            "learning_rate": 3e-2,
            "max_epochs": 12,
            "augment": 0.0,
            "val_fraction": 0.0,
        },
    )
    seg.fit(images, masks)
    losses = [row["loss"] for row in seg.history_]
    assert len(losses) == 12
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3])


def test_one_large_image_is_a_training_set(monkeypatch):
    # A single 96x96 slice holds nine 32-px patches: every epoch must train on about that
    # many (it once trained on none: one patch, and batch norm skips batches of one).
    ds = seglab.synthetic_cells(1, size=96, random_state=2)
    seg = seglab.make_segmenter(
        "unet",
        **{**TINY, "scale": 1, "max_epochs": 12, "learning_rate": 3e-2, "augment": 0.0},
    )
    drawn = []
    real_patches = type(seg)._patches

    def counting(self, images, targets, rng):
        drawn.append(len(images))
        return real_patches(self, images, targets, rng)

    monkeypatch.setattr(type(seg), "_patches", counting)
    seg.fit([ds.image(0)], [ds.mask(0)])
    # (96 / 32) ** 2 = 9 patches an epoch, in batches of 4, 4 and 1; batch norm skips the 1
    assert drawn == [4, 4] * 12
    losses = [row["loss"] for row in seg.history_]
    assert np.isfinite(losses).all()
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3])


def test_patch_shrinks_to_the_largest_work_image(cells, monkeypatch, tmp_path):
    # 48-px images at scale 2 are 24 px: a 32-px patch would be padding beyond them, so
    # fitting draws 24-px patches (the multiple of 2 ** (3 - 1) = 4 that covers 24) and
    # predicts with 24-px windows, halo included; at full scale the 32-px patch stays.
    images, masks = cells
    seg = seglab.make_segmenter("unet", **{**TINY, "scale": 2, "max_epochs": 1})
    sides = []
    real_patches = type(seg)._patches

    def recording(self, images, targets, rng):
        x, y = real_patches(self, images, targets, rng)
        sides.append(x.shape[-2:])
        return x, y

    monkeypatch.setattr(type(seg), "_patches", recording)
    seg.fit(images[:8], masks[:8])
    assert seg.patch_size == 32 and seg.patch_size_ == 24
    assert sides and set(sides) == {(24, 24)}
    assert seg.halo == 24 * 2 + 2
    big = np.concatenate([images[9], images[8]], axis=1)  # wider than any training image
    assert seg.predict(big).shape == big.shape[:2]
    loaded = seglab.load(seglab.save(seg, tmp_path / "p.seglab"))
    assert loaded.patch_size_ == 24
    np.testing.assert_array_equal(loaded.predict_proba(big), seg.predict_proba(big))
    full = seglab.make_segmenter("unet", **{**TINY, "scale": 1, "max_epochs": 1})
    assert full.fit(images[:8], masks[:8]).patch_size_ == 32


def test_shapes_classes_and_probabilities(fitted, cells):
    images, _ = cells
    assert fitted.n_channels_ == 3
    assert list(fitted.classes_) == [0, 1, 2]
    odd = images[9][:37, :45]  # not a multiple of anything the network uses
    labels = fitted.predict(odd)
    proba = fitted.predict_proba(odd)
    assert labels.shape == (37, 45) and labels.dtype == np.uint8
    assert proba.shape == (37, 45, 3) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(-1), 1, atol=1e-5)
    np.testing.assert_array_equal(labels, proba.argmax(-1))


def test_channels_and_labels_come_from_the_data():
    rng = np.random.default_rng(0)
    images = [rng.random((32, 32, 1), dtype=np.float32) for _ in range(4)]
    masks = [np.where(im[..., 0] > 0.5, 5, 3).astype(np.int64) for im in images]
    seg = seglab.make_segmenter("unet", **{**TINY, "max_epochs": 1}).fit(images, masks)
    assert list(seg.classes_) == [3, 5]
    assert set(np.unique(seg.predict(images[0]))) <= {3, 5}
    assert seg.predict_proba(images[0]).shape == (32, 32, 2)


def test_training_is_repeatable(cells):
    images, masks = cells
    a = seglab.make_segmenter("unet", **{**TINY, "max_epochs": 2}).fit(images[:6], masks[:6])
    b = seglab.make_segmenter("unet", **{**TINY, "max_epochs": 2}).fit(images[:6], masks[:6])
    for (name, x), (_, y) in zip(
        a.network_.state_dict().items(), b.network_.state_dict().items(), strict=True
    ):
        assert torch.equal(x, y), name


def test_best_checkpoint_is_the_one_kept(cells):
    images, masks = cells
    seg = seglab.make_segmenter("unet", **{**TINY, "max_epochs": 5, "val_fraction": 0.3})
    seg.fit(images, masks)
    scores = [row["val_score"] for row in seg.history_]
    assert seg.best_epoch_ == int(np.argmax(scores)) + 1
    # The restored network reproduces the best epoch's validation score.
    rng = np.random.default_rng(seg.random_state)
    val = rng.permutation(len(images))[: round(0.3 * len(images))]
    again = np.mean(
        [seglab.image_score(masks[i], seg._predict(images[i], flips=False)) for i in val]
    )
    assert again == pytest.approx(max(scores))


def test_weight_average_is_the_exponential_moving_average_of_the_steps(cells, monkeypatch):
    images, masks = cells
    after_each_step = []
    real_step = torch.optim.AdamW.step

    def recording_step(self, *args, **kwargs):
        out = real_step(self, *args, **kwargs)
        after_each_step.append([p.detach().clone() for p in self.param_groups[0]["params"]])
        return out

    monkeypatch.setattr(torch.optim.AdamW, "step", recording_step)
    decay = 0.8
    seg = seglab.make_segmenter(
        "unet", **{**TINY, "max_epochs": 1, "val_fraction": 0.0, "ema_decay": decay}
    ).fit(images[:8], masks[:8])
    assert len(after_each_step) >= 2
    # By hand: the first step's weights, then average = decay * average + (1 - decay) * new.
    average = after_each_step[0]
    for weights in after_each_step[1:]:
        average = [decay * a + (1 - decay) * w for a, w in zip(average, weights, strict=True)]
    kept = list(seg.network_.parameters())
    for a, k in zip(average, kept, strict=True):
        torch.testing.assert_close(k, a, rtol=1e-5, atol=1e-6)
    # ...and it is not simply the last step's weights.
    assert not all(torch.equal(k, w) for k, w in zip(kept, after_each_step[-1], strict=True))


def test_max_minutes_bounds_training(cells):
    images, masks = cells
    seg = seglab.make_segmenter("unet", **{**TINY, "max_epochs": 50, "max_minutes": 1e-4})
    seg.fit(images[:6], masks[:6])
    assert len(seg.history_) == 1
    assert seg.stopped_by_ == "max_minutes=0.0001"
    assert seg.training_summary().startswith("1 of 50 epochs (stopped by max_minutes=0.0001); ")


def test_max_minutes_plans_at_the_median_pace_after_the_first_epoch(cells, monkeypatch):
    # A clock that reads 0 at the start, 5 s after the first epoch (start-up costs), 10 s
    # more for the third (a blip), then 1 s per epoch. After the tenth epoch (23 s) the
    # median pace of epochs 2-10 is 1 s, so with a 40 s budget 17 more fit: 27 in all, the
    # cosine run out by the last one.
    from seglab.segmenters import unet as unet_module

    readings = iter([0.0, 5.0, 6.0, *np.arange(16.0, 200.0)])
    monkeypatch.setattr(unet_module.time, "perf_counter", lambda: float(next(readings)))
    seg = seglab.make_segmenter(
        "unet", **{**TINY, "max_epochs": 60, "max_minutes": 40 / 60, "val_fraction": 0.0}
    )
    images, masks = cells
    seg.fit(images[:6], masks[:6])
    assert [h["seconds"] for h in seg.history_[:4]] == [5.0, 6.0, 16.0, 17.0]
    assert len(seg.history_) == 27
    assert seg.history_[-1]["lr"] < 0.05 * seg.learning_rate
    # the schedule was shortened, not cut: no stop, and the summary says which bound did it
    assert seg.stopped_by_ is None and seg.schedule_epochs_ == 27
    losses = [h["loss"] for h in seg.history_]
    kept = 1 + int(np.argmin(losses))  # without a validation part, the lowest training loss
    assert seg.training_summary() == (
        f"27 of 60 epochs (max_minutes=0.666667 shortened the schedule); kept epoch {kept}, "
        "of lowest training loss"
    )


def test_training_summary_of_a_whole_run_names_the_kept_epoch(fitted):
    scores = [h["val_score"] for h in fitted.history_]
    best = 1 + int(np.argmax(scores))  # the first epoch of the highest validation score
    assert len(scores) == 3 and fitted.stopped_by_ is None
    assert fitted.training_summary() == (
        f"3 epochs; kept epoch {best}, validation score {max(scores):.3f}"
    )
    with pytest.raises(ParameterError, match="not fitted"):
        seglab.make_segmenter("unet").training_summary()


def test_save_load_round_trip_is_exact(fitted, cells, tmp_path):
    images, _ = cells
    path = seglab.save(fitted, tmp_path / "u.seglab")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    assert "weights.safetensors" in names
    assert not any(name.endswith((".pt", ".pth", ".pkl")) for name in names)
    loaded = seglab.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(images[9]), fitted.predict_proba(images[9]))
    # Saving the loaded model gives the same weights bytes (deterministic file).
    again = seglab.save(loaded, tmp_path / "v.seglab")
    with zipfile.ZipFile(path) as a, zipfile.ZipFile(again) as b:
        assert a.read("weights.safetensors") == b.read("weights.safetensors")


def test_pickle_round_trip_for_process_pools(fitted, cells):
    images, _ = cells
    copy = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(copy.predict(images[9]), fitted.predict(images[9]))


def test_corrupt_weights_are_refused(fitted, tmp_path):
    seg = seglab.load(seglab.save(fitted, tmp_path / "u.seglab"))
    with pytest.raises(ModelFileError, match="unreadable U-Net weights"):
        seg._state_from_bytes("weights.safetensors", b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")


def test_sliding_window_of_one_window_is_the_network_itself(fitted):
    rng = np.random.default_rng(3)
    image = rng.normal(size=(32, 32, 3)).astype(np.float32)
    got = tu.sliding_window_proba(
        fitted.network_, image, 32, 4, flips=False, device=torch.device("cpu")
    )
    with torch.no_grad():
        direct = torch.softmax(fitted.network_(torch.from_numpy(image.transpose(2, 0, 1))[None]), 1)
    np.testing.assert_allclose(got, direct[0].permute(1, 2, 0).numpy(), atol=1e-6)


def test_sliding_window_blends_a_pointwise_network_exactly():
    # A 1x1-convolution network's output does not depend on the window, so blending
    # overlapping Gaussian-weighted windows must give back the pointwise softmax.
    class Pointwise(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 1)

        def forward(self, x):
            return self.conv(x)

    torch.manual_seed(0)
    net = Pointwise().eval()
    image = np.random.default_rng(0).normal(size=(70, 53, 3)).astype(np.float32)
    got = tu.sliding_window_proba(net, image, 32, 4, flips=True, device=torch.device("cpu"))
    weight, bias = net.conv.weight[:, :, 0, 0].detach().numpy(), net.conv.bias.detach().numpy()
    logits = image @ weight.T + bias
    expected = np.exp(logits - logits.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_test_time_flips_make_the_prediction_flip_equivariant(fitted, cells):
    images, masks = cells
    seg = seglab.make_segmenter("unet", **{**TINY, "test_flips": True, "scale": 1})
    seg.fit(images[:4], masks[:4])
    image = images[9][:32, :32]  # exactly one window: no padding breaks the symmetry
    proba = seg.predict_proba(image)
    np.testing.assert_allclose(seg.predict_proba(image[:, ::-1])[:, ::-1], proba, atol=1e-5)
    np.testing.assert_allclose(seg.predict_proba(image[::-1])[::-1], proba, atol=1e-5)


def test_test_time_turns_make_the_prediction_turn_equivariant(cells):
    images, masks = cells
    seg = seglab.make_segmenter(
        "unet", **{**TINY, "test_flips": True, "test_turns": True, "scale": 1}
    ).fit(images[:4], masks[:4])
    image = images[9][:32, :32]  # exactly one window: no padding breaks the symmetry
    proba = seg.predict_proba(image)
    for k in (1, 2, 3):
        turned = seg.predict_proba(np.ascontiguousarray(np.rot90(image, k)))
        np.testing.assert_allclose(np.rot90(turned, -k), proba, atol=1e-5)
    np.testing.assert_allclose(
        seg.predict_proba(image.transpose(1, 0, 2)).transpose(1, 0, 2), proba, atol=1e-5
    )
    # By hand: the mean of the network's softmax over the square's 8 symmetries.
    small = ((image - seg.channel_mean_) / seg.channel_std_).astype(np.float32)
    x = torch.from_numpy(np.ascontiguousarray(small.transpose(2, 0, 1)))[None]
    total = 0
    with torch.no_grad():
        for k in range(4):
            for mirrored in (False, True):
                t = torch.rot90(x, k, (2, 3))
                t = t.flip(3) if mirrored else t
                p = torch.softmax(seg.network_(t), 1)
                p = p.flip(3) if mirrored else p
                total = total + torch.rot90(p, -k, (2, 3))
    expected = (total / 8)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(proba, expected, atol=1e-5)
    # Off, the turned prediction is not simply the turned one (the network is not symmetric).
    seg.test_flips = seg.test_turns = False
    again = seg.predict_proba(np.ascontiguousarray(np.rot90(image, 1)))
    assert not np.allclose(np.rot90(again, -1), seg.predict_proba(image), atol=1e-5)


def test_loss_is_small_for_confident_right_answers_and_ignores_unlabelled():
    labels = torch.tensor([[[0, 1], [2, -1]]])
    logits = torch.nn.functional.one_hot(labels.clamp(min=0), 3).permute(0, 3, 1, 2).float() * 50
    assert float(tu.dice_ce_loss(logits, labels, 1.0)) < 1e-3
    wrong = logits.clone()
    wrong[0, :, 1, 1] = torch.tensor([0.0, 50.0, 0.0])  # the unlabelled pixel, changed
    assert float(tu.dice_ce_loss(wrong, labels, 1.0)) < 1e-3


def test_dice_term_by_default_averages_the_foreground_classes_only():
    # Uniform logits give every class probability 1/3 on each of the four pixels. By hand:
    # class 0 (3 pixels): Dice 2*1 / (4/3 + 3) = 6/13; class 1 (1 pixel): 2*(1/3) / (4/3 + 1)
    # = 2/7; class 2 (absent): 0. Cross-entropy is ln 3 on every pixel.
    labels = torch.tensor([[[0, 0], [0, 1]]])
    logits = torch.zeros(1, 3, 2, 2)
    with_bg = float(tu.dice_ce_loss(logits, labels, 1.0, dice_background=True))
    without_bg = float(tu.dice_ce_loss(logits, labels, 1.0))
    assert with_bg == pytest.approx(math.log(3) + 1 - (6 / 13 + 2 / 7 + 0) / 3, abs=1e-4)
    assert without_bg == pytest.approx(math.log(3) + 1 - (2 / 7 + 0) / 2, abs=1e-4)


def test_dice_term_by_default_averages_each_samples_own_dice():
    # Two samples of two pixels, uniform logits (1/3 per class). Sample 1: labels 1 1; sample
    # 2: labels 2 0. Per sample, by hand: sample 1, class 1: 2*(2/3) / (2/3 + 2) = 1/2, class
    # 2 (absent): 0; sample 2, class 1 (absent): 0, class 2: 2*(1/3) / (2/3 + 1) = 2/5.
    # Pooled over the batch: class 1: 2*(2/3) / (4/3 + 2) = 2/5; class 2: 2*(1/3) / (4/3 + 1)
    # = 2/7.
    labels = torch.tensor([[[1, 1]], [[2, 0]]])
    logits = torch.zeros(2, 3, 1, 2)
    per_sample = float(tu.dice_ce_loss(logits, labels, 1.0))
    pooled = float(tu.dice_ce_loss(logits, labels, 1.0, batch_dice=True))
    assert per_sample == pytest.approx(math.log(3) + 1 - (1 / 2 + 0 + 0 + 2 / 5) / 4, abs=1e-4)
    assert pooled == pytest.approx(math.log(3) + 1 - (2 / 5 + 2 / 7) / 2, abs=1e-4)


def test_deep_supervision_loss_weights_the_levels_one_half_one_quarter():
    # Three outputs, 4x4, 2x2 and 1x1, with uniform logits: at every scale the cross-entropy
    # is ln 3. By hand, per-sample Dice over classes 1 and 2 with probability 1/3 per pixel:
    # 4x4 labels (rows 0 0 1 1 / 0 0 1 1 / 2 2 2 2 / 2 2 2 2): class 1, 4 pixels: 2*(4/3) /
    # (16/3 + 4) = 2/7; class 2, 8 pixels: 2*(8/3) / (16/3 + 8) = 2/5. Every 2nd pixel
    # (rows 0 1 / 2 2): class 1: 2*(1/3) / (4/3 + 1) = 2/7; class 2: 2*(2/3) / (4/3 + 2) =
    # 2/5. Every 4th (0): classes 1 and 2 absent, Dice 0.
    labels = torch.tensor([[[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 2, 2], [2, 2, 2, 2]]])
    outputs = [torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 1, 1)]
    top = math.log(3) + 1 - (2 / 7 + 2 / 5) / 2
    bottom = math.log(3) + 1
    expected = (1 * top + 0.5 * top + 0.25 * bottom) / 1.75
    assert float(tu.deep_supervision_loss(outputs, labels, dice_weight=1.0)) == pytest.approx(
        expected, abs=1e-4
    )
    # One output is the plain loss.
    assert float(tu.deep_supervision_loss(outputs[:1], labels, dice_weight=1.0)) == (
        pytest.approx(float(tu.dice_ce_loss(outputs[0], labels, 1.0)))
    )


def test_deep_supervision_heads_train_and_are_not_saved(cells, tmp_path):
    network = tu.UNet(3, 3, depth=5, width=4, deep_supervision=True).train()
    shapes = [tuple(o.shape) for o in network(torch.zeros(2, 3, 32, 32))]
    assert shapes == [(2, 3, 32, 32), (2, 3, 16, 16), (2, 3, 8, 8)]  # levels 0-2, not 3
    assert tuple(network.eval()(torch.zeros(1, 3, 32, 32)).shape) == (1, 3, 32, 32)

    images, masks = cells
    seg = seglab.make_segmenter("unet", **{**TINY, "depth": 4, "deep_supervision": True})
    seg.fit(images[:8], masks[:8])
    assert not any(key.startswith("aux_heads") for key in seg.network_.state_dict())
    loaded = seglab.load(seglab.save(seg, tmp_path / "ds.seglab"))
    assert loaded.deep_supervision is True
    np.testing.assert_array_equal(loaded.predict_proba(images[9]), seg.predict_proba(images[9]))


def test_augmentation_keeps_labels_valid_and_values_in_range():
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(6, 3, 32, 32, generator=gen)
    labels = torch.randint(-1, 3, (6, 32, 32), generator=gen)
    x, y = tu.augment_spatial(images, labels, gen, 1.0)
    x = tu.augment_intensity(x, gen, 1.0)
    assert x.shape == images.shape and y.shape == labels.shape
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    assert set(torch.unique(y).tolist()) <= {-1, 0, 1, 2}
    same_x, same_y = tu.augment_spatial(images, labels, gen, 0.0)
    assert torch.equal(same_x, images) and torch.equal(same_y, labels)


def test_class_fractions_are_each_blocks_share_of_each_class():
    from seglab.segmenters.unet import _class_fractions

    # 2x2 blocks of a 4x4 mask, -1 unlabelled. By hand, top-left block (0 0 / 0 2): 3/4 of
    # class 0, 1/4 of class 2; top-right (1 1 / 2 1): 3/4 class 1, 1/4 class 2; bottom-left
    # (-1 -1 / -1 0): 1/4 class 0, labelled share 1/4; bottom-right (2 2 / 0 0): 1/2, 0, 1/2.
    index = np.array([[0, 0, 1, 1], [0, 2, 2, 1], [-1, -1, 2, 2], [-1, 0, 0, 0]])
    expected = np.array(
        [[[0.75, 0, 0.25], [0, 0.75, 0.25]], [[0.25, 0, 0], [0.5, 0, 0.5]]], np.float32
    )
    np.testing.assert_array_equal(_class_fractions(index, 3, 2, (2, 2)), expected)
    # A 5x5 mask at factor 2 pads by replication, as the images are downscaled.
    odd = _class_fractions(np.ones((5, 5), np.int64), 3, 2, (3, 3))
    np.testing.assert_array_equal(odd[..., 1], np.ones((3, 3)))


def test_soft_loss_of_whole_classes_equals_the_loss_of_their_labels():
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 3, 5, 5, generator=gen)
    labels = torch.randint(-1, 3, (2, 5, 5), generator=gen)
    fractions = (labels.unsqueeze(1) == torch.arange(3).view(1, 3, 1, 1)).float()
    for batch_dice in (False, True):
        assert float(
            tu.dice_ce_loss(logits, fractions, 1.0, batch_dice=batch_dice)
        ) == pytest.approx(float(tu.dice_ce_loss(logits, labels, 1.0, batch_dice=batch_dice)))


def test_soft_loss_of_a_mixed_pixel_by_hand():
    # One pixel, half class 1, half class 2, uniform logits (1/3 each): cross-entropy
    # -(0.5 ln 1/3 + 0.5 ln 1/3) = ln 3. Dice of class 1: 2 * (1/3 * 1/2) / (1/3 + 1/2) = 2/5,
    # the same for class 2; background is left out of the Dice term.
    fractions = torch.tensor([0.0, 0.5, 0.5]).view(1, 3, 1, 1)
    loss = float(tu.dice_ce_loss(torch.zeros(1, 3, 1, 1), fractions, 1.0))
    assert loss == pytest.approx(math.log(3) + 1 - 2 / 5, abs=1e-5)
    # Weighted by its labelled share: of two pixels whose logits both favour class 1 (2, 0
    # against 0), the first is all class 1, the second only half labelled, as class 2. Its
    # cross-entropy counts half: (1 * -ln p1 + 0.5 * -ln p2) / (1 + 0.5).
    two = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 0.5]]).view(1, 3, 1, 2)
    logits = torch.tensor([[0.0, 0.0], [2.0, 2.0], [0.0, 0.0]]).view(1, 3, 1, 2)
    p1, p2 = math.exp(2) / (math.exp(2) + 2), 1 / (math.exp(2) + 2)
    expected = (-math.log(p1) - 0.5 * math.log(p2)) / 1.5
    assert float(tu.dice_ce_loss(logits, two, 0.0)) == pytest.approx(expected, abs=1e-5)


def test_soft_labels_turn_and_flip_with_their_images():
    # With the warp switched off (tiny strength), the fractions of hard labels must come out of
    # the turns and flips as the fractions of the labels that came out of the same draws.
    images = torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    labels = torch.randint(-1, 3, (6, 16, 16), generator=torch.Generator().manual_seed(2))
    fractions = (labels.unsqueeze(1) == torch.arange(3).view(1, 3, 1, 1)).float()
    x_hard, y_hard = tu.augment_spatial(images, labels, torch.Generator().manual_seed(5), 1e-12)
    x_soft, y_soft = tu.augment_spatial(images, fractions, torch.Generator().manual_seed(5), 1e-12)
    assert torch.equal(x_hard, x_soft)
    expected = (y_hard.unsqueeze(1) == torch.arange(3).view(1, 3, 1, 1)).float()
    assert torch.equal(y_soft, expected)
    # With the warp, fractions stay fractions.
    _, warped = tu.augment_spatial(images, fractions, torch.Generator().manual_seed(5), 1.0)
    assert float(warped.min()) >= 0 and float(warped.sum(1).max()) <= 1 + 1e-5


def test_soft_labels_train_below_full_resolution_and_change_nothing_at_it(cells):
    images, masks = cells
    soft = seglab.make_segmenter("unet", **{**TINY, "scale": 2, "soft_labels": True})
    soft.fit(images[:8], masks[:8])
    hard = seglab.make_segmenter("unet", **{**TINY, "scale": 2}).fit(images[:8], masks[:8])
    assert [r["loss"] for r in soft.history_] != [r["loss"] for r in hard.history_]
    assert soft.predict(images[9]).shape == masks[9].shape
    full = {**TINY, "scale": 1, "max_epochs": 1}
    a = seglab.make_segmenter("unet", **full, soft_labels=True).fit(images[:8], masks[:8])
    b = seglab.make_segmenter("unet", **full).fit(images[:8], masks[:8])
    np.testing.assert_array_equal(a.predict_proba(images[9]), b.predict_proba(images[9]))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"patch_size": 30}, "multiple of"),
        ({"norm": "layer"}, "norm"),
        ({"augment": 2.0}, "augment"),
        ({"dice_background": "no"}, "dice_background"),
        ({"batch_dice": 1}, "batch_dice"),
        ({"deep_supervision": "yes"}, "deep_supervision"),
        ({"ema_decay": 1.0}, "ema_decay"),
        ({"test_turns": "yes"}, "test_turns"),
        ({"soft_labels": "yes"}, "soft_labels"),
        ({"device": "cuda:7"} if not torch.cuda.is_available() else {"depth": 0}, "."),
    ],
)
def test_bad_parameters_give_one_line_errors(cells, params, match):
    images, masks = cells
    with pytest.raises(ParameterError, match=match):
        seglab.make_segmenter("unet", **{**TINY, **params}).fit(images[:2], masks[:2])
