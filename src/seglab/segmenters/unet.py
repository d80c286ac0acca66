"""U-Net segmenter: nnU-Net's recipe, sized to train on two CPU cores.

torch is imported only when a U-Net is fitted, loaded or used (``pip install seglab[deep]``).
What carries over from nnU-Net: CE + soft Dice, heavy augmentation (flips, 90-degree turns,
small affine and elastic warps, stain, brightness, contrast, gamma, blur, noise), patch sampling
that favours foreground, a warm-up + cosine learning-rate schedule, sliding-window inference
with Gaussian blending, and test-time flips. What is ours: the network works at the scale the
images actually carry (``scale="auto"``, as the pixel classifiers do), which on the course data
(upsampled from small originals) makes each epoch four times cheaper, and the checkpoint with
the best score on a validation part of the training images is kept.
"""

from __future__ import annotations

import copy
import math
import sys
import time

import numpy as np

from ..errors import DataSetError, ModelFileError, ParameterError
from ..metrics import image_score
from .base import Segmenter, register
from .pixel import choose_scale, downscale, labels_at_scale, upsample

__all__ = ["UNetSegmenter"]

WEIGHTS_MEMBER = "weights.safetensors"
#: RMS round-trip change over the image's range (about 4 grey levels of 8 bits) that
#: `scale="auto"` accepts. Looser than the pixel classifiers': on the course data the network
#: trained at 1/3 scale for 180 epochs beat the same compute spent at 1/2 scale for 100 (test
#: Dice 0.858 against 0.830). Medians over the course images: 0.013-0.015 at 1/3, 0.020-0.021
#: at 1/4, so this picks 1/3 on every cross-validation fold (0.012 with a 10-image sample
#: picked 1/3, 1/2 or 1/1).
UNET_SCALE_TOLERANCE = 0.017
#: Epochs timed before `max_minutes` shortens the schedule to what fits (inside the default
#: schedule's warm-up of 18 epochs).
PLAN_AFTER_EPOCHS = 10


def _torch():
    import torch

    from . import _torch_unet

    return torch, _torch_unet


def _device(name: str):
    torch, _ = _torch()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ParameterError(f"device={name!r}: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(f"device={name!r}: no CUDA device here; use device='cpu' or 'auto'")
    return device


def _class_fractions(index: np.ndarray, n_classes: int, factor: int, shape) -> np.ndarray:
    """Each work pixel's share of its ``factor`` x ``factor`` block in each class, (H, W, K).

    ``index`` holds class indices, -1 for unlabelled pixels, which count in no class: a
    block's fractions then sum to its labelled share, the weight its pixel gets in the loss.
    Blocks are those of :func:`downscale`, so the fractions line up with the work image.
    """
    onehot = (index[..., None] == np.arange(n_classes)).astype(np.float32)
    small = downscale(onehot, factor)
    out = np.zeros((*shape, n_classes), np.float32)
    out[: small.shape[0], : small.shape[1]] = small[: shape[0], : shape[1]]
    return out


@register
class UNetSegmenter(Segmenter):
    """U-Net trained with nnU-Net's recipe (Dice + CE, heavy augmentation, sliding window).

    Parameters
    ----------
    depth : int
        Resolution levels (``depth - 1`` poolings).
    width : int
        Channels at the top level; doubled at each level down, up to 256.
    norm : {"batch", "instance", "group", "none"}
        Normalisation after each convolution.
    scale : "auto" or int
        Work at 1/scale resolution; "auto" picks the largest factor whose round trip changes
        the training images by at most about 4 grey levels RMS of their range (median over
        the images; see :func:`seglab.segmenters.pixel.choose_scale`).
    patch_size : int
        Training patch and inference window side, in working-scale pixels; a multiple of
        ``2 ** (depth - 1)``. Fitting lowers it to the smallest such multiple that covers the
        largest training image at the working scale (``patch_size_``): at 1/4 scale the
        course's 256-px images are 64 px, and a 96-px patch would be more than half padding.
    batch_size : int
        Patches per optimisation step.
    max_epochs : int
        Epochs; the learning-rate schedule spans them. An epoch draws one patch per
        ``patch_size_``-square of each training image at the working scale (at least one per
        image, so about one per image on small images, many on one large slice), and at least
        one full batch. 360 (since 2026-12-01; 180 before): on the course data's 5-fold
        cross-validation twice the training gave Dice 0.867 against 0.861, N/C MAE 0.189
        against 0.202 and 41% of ratios within ±0.05 against 36%, for about 18 minutes of
        fitting on 2 CPU cores (docs/research/2026-12-04-unet.md).
    max_minutes : float or None
        Bound on the training time. After the tenth epoch the schedule is shortened to the
        epochs that fit at the median pace of epochs 2-10, so that a slow machine still ends
        inside it, and training stops at the bound in any case (training then depends on
        the machine's speed too). The default, 20, binds only where an epoch takes longer
        than about ``60 * 20 / max_epochs`` seconds (3.3 s at 360; 2.9-3.2 s on
        the machine the figures above come from; 3.0-3.7 s on another, from hour to hour,
        where at 3.7 s it shortened a cross-validation fold's run to about 320 epochs). None
        never shortens; the fit's ``training_summary()`` (printed by ``seglab train``) says
        what happened.
    learning_rate, weight_decay : float
        AdamW's; the rate warms up linearly over the first 5% of steps, then follows a cosine.
    dice_weight : float
        Weight of the soft Dice term added to the cross-entropy (0 = cross-entropy only).
    dice_background : bool
        Whether the soft Dice term averages over the background class too (nnU-Net's
        ``do_bg``). False (the default, as in nnU-Net) leaves the background to the
        cross-entropy only, so the Dice term pulls on the small classes alone; on the course
        data's 5-fold cross-validation this raised Dice from 0.825 to 0.850 and cut the N/C
        ratio's mean error from 0.286 to 0.221 (docs/research/2026-12-04-unet.md).
    batch_dice : bool
        Whether the soft Dice term pools each class over the whole batch (nnU-Net's
        ``batch_dice``), or scores each patch on its own and averages (False, the default:
        every patch's class areas are pulled towards its own truth; on the course data's
        5-fold cross-validation this raised Dice from 0.848 to 0.861 and cut the N/C ratio's
        mean error from 0.224 to 0.202, docs/research/2026-12-04-unet.md).
    deep_supervision : bool
        Also score the decoder's lower levels, through 1x1 heads used only in training
        (nnU-Net's deep supervision: every decoder level but the top and the lowest, levels 1
        and 2 at depth 5, weighted 1/2 and 1/4 of the top and scored against the labels at
        every 2nd and 4th pixel). Off by default: on three of the course data's five
        cross-validation folds it was level with the default (Dice 0.867 against 0.863, N/C
        MAE 0.180 against 0.193, 41% of ratios within ±0.05 against 42%;
        docs/research/2026-12-04-unet.md).
    ema_decay : float
        Decay of an exponential moving average of the weights (batch-norm statistics
        included), updated after every step; the averaged network is the one validated,
        kept and saved. 0 turns it off (the raw weights are used). The average smooths the
        epoch-to-epoch swing of the weights that a small, noisy validation part would
        otherwise pick from; 0.99 averages over about the last 100 steps. Off by default: on
        the course data's 5-fold cross-validation 0.99 gave Dice 0.859 against 0.861 and N/C
        MAE 0.209 against 0.202, with 40% of ratios within ±0.05 against 36%
        (docs/research/2026-12-04-unet.md).
    soft_labels : bool
        When the network works below full resolution, train it on each work pixel's class
        fractions over its block of full-resolution pixels (soft cross-entropy and soft
        Dice) instead of the label at the block's centre pixel. The fractions tell the
        network where inside a work pixel a border runs, which the centre's label alone
        does not; the output's bilinear upsampling can then place the border between work
        pixels. Equal to the hard labels at full resolution (``scale=1``). Off by default:
        on the course data's 5-fold cross-validation (``groupkfold``) at the default 1/3
        scale it gave Dice 0.853 against 0.859 and N/C MAE 0.233 against 0.220. At 1/4
        (``scale=4``, where a work pixel is a 4x4 block) it gave 0.861 / 0.198 against
        0.855 / 0.219 with hard labels at 1/4 (N/C error lower, paired p 0.045) and 0.859 /
        0.220 for the default, in half the default's training time; the share of ratios
        within ±0.05 did not move (35%, 37%, 36%; docs/research/2026-12-04-unet.md).
    augment : float
        Strength of the augmentation, 0 (none) to 1 (the default recipe). Half strength was
        no better on the course data's 5-fold cross-validation (Dice 0.863 against 0.865, N/C
        within ±0.05 on 40% of images against 43%; docs/research/2026-12-04-unet.md).
    val_fraction : float
        Part of the training images held out to choose the best epoch (none with fewer than
        five images). 0 trains on every image and keeps the epoch of lowest training loss:
        20% faster, and level with the default on the course data's 5-fold
        cross-validation (Dice 0.864 against 0.861, N/C MAE 0.194 against 0.202), but with no
        validation score to watch.
    patience : int or None
        Stop when the validation score has not improved for this many epochs.
    test_flips : bool
        Average predictions over x, y and xy flips (four network passes per window).
    test_turns : bool
        Also average over the window turned by 90 degrees: with ``test_flips``, all eight
        symmetries of the square (twice the passes). Off by default: in 5-fold
        cross-validation over the course's 191 images the same five models scored 0.861 / N/C
        MAE 0.206 / 37% within ±0.05 with it and 0.861 / 0.202 / 36% without, for twice the
        prediction time (docs/research/2026-12-04-unet.md).
    device : str
        "auto" (GPU when present), "cpu", "cuda", "cuda:1", ...
    random_state : int
        Seeds initialisation, sampling and augmentation. Repeatable to the bit on one CPU
        machine with one torch build; another CPU or build sums in another order and the
        run drifts apart (seed 0 on the course split: 46% of N/C ratios within ±0.05 on one
        machine, 38% on another, same code; docs/research/2026-12-04-unet.md).
    verbose : bool
        Progress bar per epoch (training loss and validation score).
    """

    name = "unet"
    supervised = True
    slow = True
    extras = ("deep",)
    requires = ("torch", "safetensors")
    search_space = {
        "width": ("categorical", [8, 16, 24, 32]),
        "depth": ("int", 3, 5),
        "learning_rate": ("log", 3e-4, 1e-2),
        "dice_weight": ("float", 0.0, 2.0),
        "augment": ("float", 0.0, 1.0),
    }

    def __init__(
        self,
        depth: int = 5,
        width: int = 16,
        norm: str = "batch",
        scale="auto",
        patch_size: int = 96,
        batch_size: int = 8,
        max_epochs: int = 360,
        max_minutes: float | None = 20.0,
        learning_rate: float = 2e-3,
        weight_decay: float = 1e-4,
        dice_weight: float = 1.0,
        dice_background: bool = False,
        batch_dice: bool = False,
        deep_supervision: bool = False,
        ema_decay: float = 0.0,
        soft_labels: bool = False,
        augment: float = 1.0,
        val_fraction: float = 0.15,
        patience: int | None = None,
        test_flips: bool = True,
        test_turns: bool = False,
        device: str = "auto",
        random_state: int = 0,
        verbose: bool = True,
        pre=None,
        post=None,
    ):
        self.depth = depth
        self.width = width
        self.norm = norm
        self.scale = scale
        self.patch_size = patch_size
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.max_minutes = max_minutes
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.dice_weight = dice_weight
        self.dice_background = dice_background
        self.batch_dice = batch_dice
        self.deep_supervision = deep_supervision
        self.ema_decay = ema_decay
        self.soft_labels = soft_labels
        self.augment = augment
        self.val_fraction = val_fraction
        self.patience = patience
        self.test_flips = test_flips
        self.test_turns = test_turns
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.pre = pre
        self.post = post

    # ------------------------------------------------------------------ validation
    def _check_params(self) -> None:
        _, tu = _torch()
        ints = {"depth": 1, "width": 1, "patch_size": 1, "batch_size": 1, "max_epochs": 1}
        for key, low in ints.items():
            value = getattr(self, key)
            if not isinstance(value, (int, np.integer)) or value < low:
                raise ParameterError(f"{key}={value!r}: expected an integer >= {low}")
        if self.depth > 8:
            raise ParameterError(f"depth={self.depth}: at most 8 levels")
        if self.norm not in tu.NORMS:
            raise ParameterError(f"norm={self.norm!r}: use one of {', '.join(tu.NORMS)}")
        multiple = 2 ** (self.depth - 1)
        if self.patch_size % multiple:
            raise ParameterError(
                f"patch_size={self.patch_size}: must be a multiple of 2**(depth-1) = {multiple}"
            )
        if self.scale != "auto" and (
            not isinstance(self.scale, (int, np.integer)) or self.scale < 1
        ):
            raise ParameterError(f"scale={self.scale!r}: use 'auto' or an integer >= 1")
        if not 0 <= self.val_fraction < 1:
            raise ParameterError(f"val_fraction={self.val_fraction}: expected 0 <= value < 1")
        if not 0 <= self.ema_decay < 1:
            raise ParameterError(f"ema_decay={self.ema_decay}: expected 0 <= value < 1")
        if not 0 <= self.augment <= 1:
            raise ParameterError(f"augment={self.augment}: expected a value in [0, 1]")
        if self.learning_rate <= 0 or self.weight_decay < 0 or self.dice_weight < 0:
            raise ParameterError("learning_rate must be > 0, weight_decay and dice_weight >= 0")
        for key in (
            "dice_background",
            "batch_dice",
            "deep_supervision",
            "soft_labels",
            "test_turns",
        ):
            if not isinstance(getattr(self, key), (bool, np.bool_)):
                raise ParameterError(f"{key}={getattr(self, key)!r}: expected True/False")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ParameterError(f"max_minutes={self.max_minutes}: expected a positive number")
        if self.patience is not None and self.patience < 1:
            raise ParameterError(f"patience={self.patience}: expected None or an integer >= 1")

    # ------------------------------------------------------------------ fit
    def _fit(self, images, masks):
        torch, tu = _torch()
        self._check_params()
        device = _device(self.device)
        rng = np.random.default_rng(self.random_state)
        torch.manual_seed(self.random_state)
        gen = torch.Generator().manual_seed(self.random_state)

        classes = np.unique(np.concatenate([np.unique(m) for m in masks]))
        classes = classes[classes >= 0]
        if classes.size < 2:
            raise DataSetError("unet: the training masks hold fewer than two classes")
        self.classes_ = classes
        if self.scale == "auto":
            factor = choose_scale(images, tolerance=UNET_SCALE_TOLERANCE)
        else:
            factor = int(self.scale)
        self.factor_ = int(factor)
        lookup = np.full(int(classes.max()) + 2, -1, np.int64)
        lookup[classes] = np.arange(classes.size)
        small = [downscale(im, factor) for im in images]
        if self.soft_labels and factor > 1:
            targets = [
                _class_fractions(lookup[np.asarray(m, np.int64)], classes.size, factor, s.shape[:2])
                for m, s in zip(masks, small, strict=True)
            ]
        else:
            targets = [
                lookup[labels_at_scale(np.asarray(m, np.int64), factor, s.shape[:2])]
                for m, s in zip(masks, small, strict=True)
            ]
        # A patch no larger than the largest work image needs (rounded up to the network's
        # multiple): padding beyond it is reflected content the loss ignores, paid for in
        # every step (at 1/4 scale a 96-px patch on the course's 64-px images is 2.25x the
        # work of a 64-px one).
        multiple = 2 ** (int(self.depth) - 1)
        largest = max(max(s.shape[:2]) for s in small)
        self.patch_size_ = int(min(int(self.patch_size), -(-largest // multiple) * multiple))
        pixels = np.concatenate([s.reshape(-1, s.shape[-1]) for s in small])
        self.channel_mean_ = pixels.mean(axis=0).astype(np.float32)
        self.channel_std_ = np.maximum(pixels.std(axis=0), 1e-3).astype(np.float32)

        n = len(images)
        n_val = round(self.val_fraction * n) if n >= 5 else 0
        order = rng.permutation(n)
        val_ids, train_ids = order[:n_val], order[n_val:]

        network = tu.UNet(
            small[0].shape[-1],
            classes.size,
            self.depth,
            self.width,
            self.norm,
            deep_supervision=self.deep_supervision,
        ).to(device)
        optimizer = torch.optim.AdamW(
            network.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        batch = int(self.batch_size)
        # An epoch sees each training pixel about once: an image larger than a patch gives
        # several patches (a single large EM slice is a whole training set), and an epoch
        # holds at least one full batch, however few the images.
        patch_area = float(self.patch_size_) ** 2
        patches_per_image = np.array(
            [max(1, round(small[i].shape[0] * small[i].shape[1] / patch_area)) for i in train_ids]
        )
        epoch_ids = np.repeat(train_ids, patches_per_image)
        epoch_size = max(epoch_ids.size, batch)
        steps_per_epoch = math.ceil(epoch_size / batch)
        plan = {"epochs": int(self.max_epochs)}

        def rate(step: int) -> float:
            total = plan["epochs"] * steps_per_epoch
            warmup = max(1, total // 20)
            if step < warmup:
                return (step + 1) / warmup
            return 0.5 * (
                1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup)))
            )

        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
        averaged = None
        if self.ema_decay > 0:
            from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

            averaged = AveragedModel(
                network, multi_avg_fn=get_ema_multi_avg_fn(self.ema_decay), use_buffers=True
            )
        mean = torch.from_numpy(self.channel_mean_).view(1, -1, 1, 1).to(device)
        std = torch.from_numpy(self.channel_std_).view(1, -1, 1, 1).to(device)

        from tqdm.auto import tqdm

        history, best_score, best_state, best_epoch = [], -np.inf, None, -1
        start = time.perf_counter()
        bar = tqdm(
            total=plan["epochs"],
            desc="unet",
            unit="epoch",
            file=sys.stderr,
            disable=None if self.verbose else True,
        )
        epoch, stopped_by = 0, None
        while epoch < plan["epochs"]:
            network.train()
            shuffled = rng.permutation(epoch_ids)
            if shuffled.size < epoch_size:  # fewer patches than a batch: draw with replacement
                shuffled = np.concatenate(
                    [shuffled, rng.choice(epoch_ids, epoch_size - shuffled.size)]
                )
            losses = []
            for first in range(0, shuffled.size, batch):
                ids = shuffled[first : first + batch]
                if ids.size < 2 and self.norm == "batch":
                    continue  # batch norm needs more than one sample
                x, y = self._patches([small[i] for i in ids], [targets[i] for i in ids], rng)
                x, y = torch.from_numpy(x), torch.from_numpy(y)
                x, y = tu.augment_spatial(x, y, gen, self.augment)
                x = tu.augment_intensity(x, gen, self.augment)
                x, y = x.to(device), y.to(device)
                logits = network((x - mean) / std)
                loss_args = {
                    "dice_weight": self.dice_weight,
                    "dice_background": self.dice_background,
                    "batch_dice": self.batch_dice,
                }
                if isinstance(logits, list):
                    loss = tu.deep_supervision_loss(logits, y, **loss_args)
                else:
                    loss = tu.dice_ce_loss(logits, y, **loss_args)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                if averaged is not None:
                    averaged.update_parameters(network)
                losses.append(float(loss.detach()))
            network.eval()
            self.network_ = network if averaged is None else averaged.module.eval()
            if val_ids.size:
                score = float(
                    np.mean(
                        [
                            image_score(
                                masks[i],
                                self._predict(images[i], flips=False),
                                n_classes=int(classes.max()) + 1,
                            )
                            for i in val_ids
                        ]
                    )
                )
            else:
                score = -float(np.mean(losses)) if losses else 0.0
            seconds = time.perf_counter() - start
            history.append(
                {
                    "epoch": epoch + 1,
                    "loss": float(np.mean(losses)) if losses else float("nan"),
                    "val_score": score if val_ids.size else None,
                    "lr": float(optimizer.param_groups[0]["lr"]),
                    "seconds": round(seconds, 2),
                }
            )
            if score > best_score:
                best_score, best_epoch = score, epoch + 1
                best_state = copy.deepcopy(self.network_.state_dict())
            bar.update(1)
            bar.set_postfix(loss=f"{history[-1]['loss']:.3f}", val=f"{score:.3f}", best=best_epoch)
            if self.max_minutes is not None and epoch + 1 == PLAN_AFTER_EPOCHS:
                # The first epoch carries start-up costs (about 15% more on the course data)
                # and any one epoch can be slowed by other work on the machine, so the median
                # of the epochs after the first sets the pace; until then the schedule is the
                # whole one, so a run the bound does not shorten is the unbounded run exactly.
                times = np.diff([h["seconds"] for h in history])
                pace = max(float(np.median(times)), 1e-6)
                fits = PLAN_AFTER_EPOCHS + int((self.max_minutes * 60 - seconds) / pace)
                if fits < plan["epochs"]:
                    plan["epochs"] = max(PLAN_AFTER_EPOCHS, fits)
                    bar.total = plan["epochs"]
                    bar.refresh()
            epoch += 1
            if epoch == plan["epochs"]:
                break
            if self.patience is not None and epoch - best_epoch >= self.patience:
                stopped_by = f"patience={self.patience}"
                break
            if self.max_minutes is not None and seconds > self.max_minutes * 60:
                stopped_by = f"max_minutes={self.max_minutes:g}"
                break
        bar.close()
        network.load_state_dict(best_state)
        network.drop_auxiliary_heads()
        self.network_ = network.eval()
        self.history_ = history
        self.schedule_epochs_ = int(plan["epochs"])
        self.stopped_by_ = stopped_by
        self.best_epoch_ = int(best_epoch)
        self.val_score_ = float(best_score) if val_ids.size else None
        self.training_seconds_ = round(time.perf_counter() - start, 2)

    def training_summary(self) -> str:
        """One line on how training went: epochs run, what cut them short, the kept epoch.

        Examples
        --------
        >>> seg = UNetSegmenter(max_epochs=360, max_minutes=20)
        >>> # what a fit on a slow machine leaves: the schedule planned down to 300 epochs
        >>> seg.history_, seg.schedule_epochs_, seg.stopped_by_ = [{}] * 300, 300, None
        >>> seg.best_epoch_, seg.val_score_ = 281, 0.891
        >>> for part in seg.training_summary().split("; "):
        ...     print(part)
        300 of 360 epochs (max_minutes=20 shortened the schedule)
        kept epoch 281, validation score 0.891
        """
        if not hasattr(self, "history_"):
            raise ParameterError("method 'unet' is not fitted yet: call fit first")
        run, asked = len(self.history_), int(self.max_epochs)
        stopped_by = getattr(self, "stopped_by_", None)  # model files before 2026-12-02
        if stopped_by is not None:
            epochs = f"{run} of {asked} epochs (stopped by {stopped_by})"
        elif getattr(self, "schedule_epochs_", run) < asked:
            epochs = (
                f"{run} of {asked} epochs (max_minutes={self.max_minutes:g} shortened the schedule)"
            )
        else:
            epochs = f"{run} epochs"
        if self.val_score_ is None:
            return f"{epochs}; kept epoch {self.best_epoch_}, of lowest training loss"
        return f"{epochs}; kept epoch {self.best_epoch_}, validation score {self.val_score_:.3f}"

    def _patches(self, images, targets, rng) -> tuple[np.ndarray, np.ndarray]:
        """One patch per image, channels first: random crops (a third centred on foreground),
        images smaller than the patch padded by reflection with unlabelled targets (-1, or
        no class's fraction with soft labels, whose patches come channels first too)."""
        size = self._patch()
        xs, ys = [], []
        soft = targets[0].ndim == 3
        for image, target in zip(images, targets, strict=True):
            h, w = target.shape[:2]
            ph, pw = max(0, size - h), max(0, size - w)
            if ph or pw:
                mode = "reflect" if min(h, w) > 1 else "edge"
                image = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode=mode)
                pad = ((0, ph), (0, pw)) + (((0, 0),) if soft else ())
                target = np.pad(target, pad, constant_values=0 if soft else -1)
                h, w = target.shape[:2]
            labelled_foreground = target[..., 1:].sum(-1) > 0.5 if soft else target > 0
            foreground = np.flatnonzero(labelled_foreground.ravel())
            if foreground.size and rng.random() < 1 / 3:
                cy, cx = divmod(int(rng.choice(foreground)), w)
                y0 = int(np.clip(cy - size // 2, 0, h - size))
                x0 = int(np.clip(cx - size // 2, 0, w - size))
            else:
                y0, x0 = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
            xs.append(image[y0 : y0 + size, x0 : x0 + size].transpose(2, 0, 1))
            y = target[y0 : y0 + size, x0 : x0 + size]
            ys.append(y.transpose(2, 0, 1) if soft else y)
        return np.ascontiguousarray(xs, np.float32), np.ascontiguousarray(
            ys, np.float32 if soft else np.int64
        )

    # ------------------------------------------------------------------ predict
    def _small_proba(self, image: np.ndarray, flips: bool, turns: bool = False) -> np.ndarray:
        _, tu = _torch()
        network = self.network_
        device = next(network.parameters()).device
        wanted = _device(self.device)
        if device != wanted:
            network = network.to(wanted)
            device = wanted
        small = (downscale(image, self._factor()) - self.channel_mean_) / self.channel_std_
        return tu.sliding_window_proba(
            network,
            small.astype(np.float32),
            window=self._patch(),
            multiple=2 ** (int(self.depth) - 1),
            flips=flips,
            device=device,
            turns=turns,
        )

    def _factor(self) -> int:
        return int(getattr(self, "factor_", 1))

    def _patch(self) -> int:
        # Models saved before `patch_size_` was fitted used `patch_size` itself.
        return int(getattr(self, "patch_size_", self.patch_size))

    def _predict_proba(self, image: np.ndarray) -> np.ndarray:
        small = self._small_proba(image, self.test_flips, self._turns())
        return upsample(small, self._factor(), image.shape[:2])

    def _turns(self) -> bool:
        return bool(getattr(self, "test_turns", False))  # models saved before it: off

    def _predict(self, image: np.ndarray, flips: bool | None = None) -> np.ndarray:
        """Labels; ``flips=False`` (validation during training) turns every test-time
        augmentation off, None uses the configured ones."""
        if flips is None:
            flips, turns = self.test_flips, self._turns()
        else:
            turns = False
        proba = upsample(self._small_proba(image, flips, turns), self._factor(), image.shape[:2])
        return np.asarray(self.classes_)[proba.argmax(-1)]

    def _own_halo(self) -> int:
        # An output pixel depends on every window that covers it: up to one window away.
        factor = self._factor()
        return self._patch() * factor + factor

    @property
    def tile_alignment(self) -> int:
        # Windows sit at multiples of the step (half a window) from the image's origin.
        _, tu = _torch()
        _, step, _, _ = tu.window_geometry(0, 0, self._patch(), 2 ** (int(self.depth) - 1))
        return step * self._factor()

    # ------------------------------------------------------------------ model file
    def _state_to_bytes(self, key: str, value) -> dict[str, bytes]:
        if key != "network_":
            raise ModelFileError(f"cannot save {key} of type {type(value).__name__}")
        from safetensors.torch import save as save_tensors

        state = {k: v.detach().cpu().contiguous() for k, v in value.state_dict().items()}
        return {WEIGHTS_MEMBER: save_tensors(state)}

    def _state_from_bytes(self, name: str, data: bytes) -> None:
        if name != WEIGHTS_MEMBER:
            raise ModelFileError(f"member {name!r} is not used by {self.name!r}")
        _, tu = _torch()
        from safetensors.torch import load as load_tensors

        try:
            state = load_tensors(bytes(data))
            self.network_ = tu.network_from_state(state, self.depth, self.width, self.norm)
        except Exception as exc:  # safetensors never runs code; anything wrong is a bad file
            raise ModelFileError(f"{WEIGHTS_MEMBER}: unreadable U-Net weights ({exc})") from exc

    def __getstate__(self):
        # Pickling (for process pools) carries the weights as safetensors bytes.
        state = dict(super().__getstate__())
        if "network_" in state:
            state["network_"] = self._state_to_bytes("network_", state["network_"])[WEIGHTS_MEMBER]
        return state

    def __setstate__(self, state):
        weights = state.pop("network_", None)
        super().__setstate__(state)
        if weights is not None:
            self._state_from_bytes(WEIGHTS_MEMBER, weights)
