"""The torch side of the U-Net: network, augmentation, loss, sliding-window inference.

Kept apart from :mod:`seglab.segmenters.unet` so that importing seglab never imports torch;
this module is imported only when a U-Net is fitted or used.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

NORMS = ("batch", "instance", "group", "none")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "group":
        return nn.GroupNorm(min(8, channels), channels)
    return nn.Identity()


class ConvBlock(nn.Sequential):
    """Two 3x3 convolutions, each followed by normalisation and a leaky ReLU (nnU-Net's)."""

    def __init__(self, n_in: int, n_out: int, norm: str):
        bias = norm == "none"
        super().__init__(
            nn.Conv2d(n_in, n_out, 3, padding=1, bias=bias),
            _norm(norm, n_out),
            nn.LeakyReLU(0.01, inplace=True),
            nn.Conv2d(n_out, n_out, 3, padding=1, bias=bias),
            _norm(norm, n_out),
            nn.LeakyReLU(0.01, inplace=True),
        )


class UNet(nn.Module):
    """A plain 2-D U-Net: ``depth`` resolution levels, ``width`` channels at the top, doubling
    at each level down to ``max_width``; max-pooling down, transposed convolutions up."""

    def __init__(
        self,
        in_channels: int,
        n_classes: int,
        depth: int = 5,
        width: int = 16,
        norm: str = "batch",
        max_width: int = 256,
        deep_supervision: bool = False,
    ):
        super().__init__()
        widths = [min(width * 2**level, max_width) for level in range(depth)]
        self.encoders = nn.ModuleList(
            ConvBlock(in_channels if level == 0 else widths[level - 1], widths[level], norm)
            for level in range(depth)
        )
        self.upsamplers = nn.ModuleList(
            nn.ConvTranspose2d(widths[level + 1], widths[level], 2, stride=2)
            for level in range(depth - 1)
        )
        self.decoders = nn.ModuleList(
            ConvBlock(2 * widths[level], widths[level], norm) for level in range(depth - 1)
        )
        self.head = nn.Conv2d(widths[0], n_classes, 1)
        # nnU-Net's deep supervision: 1x1 heads on the decoder levels below the top, trained
        # only; its lowest decoder level has weight 0, so it gets no head here.
        self.aux_heads = nn.ModuleList(
            nn.Conv2d(widths[level], n_classes, 1)
            for level in range(1, depth - 2 if deep_supervision else 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """Logits at the input's size; while training with auxiliary heads, a list of them,
        the full-size logits first, then one per level down (half the size each)."""
        skips = []
        for level, encoder in enumerate(self.encoders):
            x = encoder(x)
            if level < len(self.encoders) - 1:
                skips.append(x)
                x = F.max_pool2d(x, 2)
        auxiliary = []
        for level in reversed(range(len(self.upsamplers))):
            x = self.decoders[level](torch.cat([self.upsamplers[level](x), skips[level]], 1))
            if self.training and 0 < level <= len(self.aux_heads):
                auxiliary.insert(0, self.aux_heads[level - 1](x))
        if auxiliary:
            return [self.head(x), *auxiliary]
        return self.head(x)

    def drop_auxiliary_heads(self) -> None:
        """Remove the training-only heads, so that the weights are those inference needs."""
        self.aux_heads = nn.ModuleList()


def network_from_state(state: dict, depth: int, width: int, norm: str) -> UNet:
    """Rebuild a network from its weights (channel and class counts read off the tensors)."""
    in_channels = int(state["encoders.0.0.weight"].shape[1])
    n_classes = int(state["head.weight"].shape[0])
    network = UNet(in_channels, n_classes, depth, width, norm)
    network.load_state_dict(state, strict=True)
    return network.eval()


# ---------------------------------------------------------------------- augmentation
#: Optical densities of haematoxylin, eosin and DAB (Ruifrok & Johnston), rows normalised.
_HED = torch.tensor([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]])
_HED = _HED / _HED.norm(dim=1, keepdim=True)


def _uniform(gen: torch.Generator, n: int, low: float, high: float) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=gen)


def _chance(gen: torch.Generator, n: int, p: float) -> torch.Tensor:
    return torch.rand(n, generator=gen) < p


def augment_spatial(
    images: torch.Tensor, labels: torch.Tensor, gen: torch.Generator, strength: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flips, 90-degree rotations, and (with probability) a small affine + elastic warp.

    ``labels`` are class indices (N, H, W), -1 unlabelled, or class fractions (N, K, H, W),
    which the warp interpolates linearly.
    """
    if strength <= 0:
        return images, labels
    n = images.shape[0]
    soft = labels.is_floating_point()
    plane = (1, 2) if soft else (0, 1)  # the label's spatial axes, per sample
    out_i, out_l = [], []
    for k in range(n):
        im, lb = images[k], labels[k]
        turns = int(torch.randint(4, (1,), generator=gen))
        im, lb = torch.rot90(im, turns, (1, 2)), torch.rot90(lb, turns, plane)
        if bool(_chance(gen, 1, 0.5)):
            im, lb = im.flip(2), lb.flip(plane[1])
        out_i.append(im)
        out_l.append(lb)
    images, labels = torch.stack(out_i), torch.stack(out_l)
    warp = _chance(gen, n, 0.5 * strength)
    if not bool(warp.any()):
        return images, labels
    h, w = images.shape[-2:]
    angle = _uniform(gen, n, -math.pi / 12, math.pi / 12) * strength
    scale = 1 + _uniform(gen, n, -0.15, 0.15) * strength
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, 0 * cos], 1), torch.stack([sin, cos, 0 * cos], 1)], 1
    )
    grid = F.affine_grid(theta, (n, 1, h, w), align_corners=False)
    # Elastic: a smooth random displacement of up to ~2 % of the patch.
    coarse = (torch.rand(n, 2, 5, 5, generator=gen) - 0.5) * 0.08 * strength
    field = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True)
    grid = grid + field.permute(0, 2, 3, 1)
    keep = ~warp
    if bool(keep.any()):
        n_keep = int(keep.sum())
        identity = torch.eye(2, 3).expand(n_keep, 2, 3)
        grid[keep] = F.affine_grid(identity, (n_keep, 1, h, w), align_corners=False)
    images = F.grid_sample(
        images, grid, mode="bilinear", padding_mode="reflection", align_corners=False
    )
    if soft:
        labels = F.grid_sample(
            labels, grid, mode="bilinear", padding_mode="reflection", align_corners=False
        )
        return images, labels
    shifted = (labels + 1).unsqueeze(1).float()  # -1 (unlabelled) -> 0, kept through the warp
    shifted = F.grid_sample(
        shifted, grid, mode="nearest", padding_mode="reflection", align_corners=False
    )
    return images, shifted.squeeze(1).long() - 1


def augment_intensity(images: torch.Tensor, gen: torch.Generator, strength: float) -> torch.Tensor:
    """Stain (HED) jitter for RGB, brightness, contrast, gamma, blur and noise; values in [0, 1].

    Each transform is applied to a sample with a probability (nnU-Net's, scaled by
    ``strength``), not to every sample: darkness is the main cue between nucleus and
    cytoplasm, and changing it on every sample teaches the network to distrust it.
    """
    if strength <= 0:
        return images
    n, c = images.shape[:2]
    one = (n, 1, 1, 1)

    def sometimes(p: float, values: torch.Tensor, neutral: float) -> torch.Tensor:
        return torch.where(_chance(gen, n, p * strength).view(one), values.view(one), neutral)

    if c == 3:
        od = -torch.log(images.clamp(min=1 / 255))
        hed = torch.einsum("nchw,dc->ndhw", od, torch.linalg.pinv(_HED).T)
        stained = _chance(gen, n, 0.3 * strength).float().view(n, 1, 1, 1)
        alpha = 1 + stained * _uniform(gen, n * 3, -0.05, 0.05).view(n, 3, 1, 1)
        beta = stained * _uniform(gen, n * 3, -0.02, 0.02).view(n, 3, 1, 1)
        od = torch.einsum("ndhw,dc->nchw", hed * alpha + beta, _HED)
        images = torch.exp(-od).clamp(0, 1)
    images = images * sometimes(0.15, _uniform(gen, n, 0.85, 1.15), 1.0)
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    images = (images - mean) * sometimes(0.15, _uniform(gen, n, 0.8, 1.2), 1.0) + mean
    gamma = sometimes(0.3, torch.exp(_uniform(gen, n, -0.3, 0.3)), 1.0)
    images = images.clamp(0, 1) ** gamma
    blur = _chance(gen, n, 0.2 * strength)
    if bool(blur.any()):
        sigma = float(_uniform(gen, 1, 0.5, 1.0))
        x = torch.arange(-2, 3, dtype=torch.float32)
        kernel = torch.exp(-(x**2) / (2 * sigma**2))
        kernel = kernel / kernel.sum()
        blurred = images[blur]
        padded = F.pad(blurred, (2, 2, 2, 2), mode="reflect")
        k = blurred.shape[1]
        padded = F.conv2d(padded, kernel.view(1, 1, 1, 5).expand(k, 1, 1, 5), groups=k)
        images[blur] = F.conv2d(padded, kernel.view(1, 1, 5, 1).expand(k, 1, 5, 1), groups=k)
    noise = _chance(gen, n, 0.15 * strength).float().view(one)
    sd = _uniform(gen, n, 0, 0.03).view(one) * strength
    images = images + noise * sd * torch.randn(images.shape, generator=gen)
    return images.clamp(0, 1)


# ---------------------------------------------------------------------- loss
def dice_ce_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    dice_weight: float,
    dice_background: bool = False,
    batch_dice: bool = False,
) -> torch.Tensor:
    """Cross-entropy + soft Dice (nnU-Net's), ignoring labels of -1.

    ``labels`` are class indices (N, H, W) or class fractions (N, K, H, W); fractions that
    sum to less than one weigh their pixel by that sum (0: unlabelled).

    With ``dice_background=False`` (the default) the Dice term averages over the foreground
    classes only (nnU-Net's ``do_bg=False``): the background, which dominates the pixels, then
    no longer dilutes the gradient of the small classes. With ``batch_dice`` (nnU-Net's name)
    each class's Dice pools the pixels of the whole batch; without it (the default), each
    sample has its own Dice per class and the term averages them, so every patch's class areas
    are pulled towards its own truth.
    """
    if labels.is_floating_point():  # class fractions, (N, K, H, W); they sum to the weight
        valid = labels.sum(1, keepdim=True)
        ce = -(labels * F.log_softmax(logits, 1)).sum() / valid.sum().clamp(min=1e-6)
        onehot = labels
    else:
        ce = F.cross_entropy(logits, labels, ignore_index=-1)
        valid = (labels >= 0).unsqueeze(1).float()
        onehot = F.one_hot(labels.clamp(min=0), logits.shape[1]).permute(0, 3, 1, 2).float()
        onehot = onehot * valid
    if dice_weight <= 0:
        return ce
    proba = torch.softmax(logits, 1) * valid
    dims = (0, 2, 3) if batch_dice else (2, 3)
    intersection = (proba * onehot).sum(dim=dims)
    total = proba.sum(dim=dims) + onehot.sum(dim=dims)
    dice = (2 * intersection + 1e-5) / (total + 1e-5)  # (classes,) or (samples, classes)
    if not dice_background and dice.shape[-1] > 1:
        dice = dice[..., 1:]
    return ce + dice_weight * (1 - dice.mean())


def deep_supervision_loss(
    outputs: list[torch.Tensor], labels: torch.Tensor, **loss_args
) -> torch.Tensor:
    """:func:`dice_ce_loss` at each output's scale, weighted 1, 1/2, 1/4, ... and normalised
    (nnU-Net's); the labels are taken at every 2**k-th pixel for the k-th output."""
    weights = [0.5**k for k in range(len(outputs))]
    total = 0.0
    for k, (logits, weight) in enumerate(zip(outputs, weights, strict=True)):
        step = 2**k
        total = total + weight * dice_ce_loss(logits, labels[..., ::step, ::step], **loss_args)
    return total / sum(weights)


# ---------------------------------------------------------------------- inference
def gaussian_window(size: int) -> torch.Tensor:
    """nnU-Net's importance map: a Gaussian of sigma size/8, floored so that no pixel is 0."""
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * (size / 8) ** 2))
    window = torch.outer(g, g)
    window = window / window.max()
    return window.clamp(min=1e-3)


def window_starts(length: int, window: int, step: int) -> list[int]:
    """Window origins at multiples of ``step`` covering ``length`` (padded) pixels."""
    if length <= window:
        return [0]
    n = math.ceil((length - window) / step) + 1
    return [i * step for i in range(n)]


def window_geometry(h: int, w: int, window: int, multiple: int) -> tuple[int, int, int, int]:
    """Sliding-window layout of an ``h`` x ``w`` image: the window side (a multiple of
    ``multiple``), the step (half a window, a multiple too) and the padded height and width
    (a whole number of steps)."""
    window = max(multiple, window - window % multiple)
    step = max(multiple, (window // 2) // multiple * multiple)
    padded_h = max(window, window + math.ceil(max(h - window, 0) / step) * step)
    padded_w = max(window, window + math.ceil(max(w - window, 0) / step) * step)
    return window, step, padded_h, padded_w


@torch.no_grad()
def sliding_window_proba(
    network: UNet,
    image: np.ndarray,
    window: int,
    multiple: int,
    flips: bool,
    device: torch.device,
    batch_size: int = 4,
    turns: bool = False,
) -> np.ndarray:
    """Softmax probabilities (h, w, K) of a normalised (h, w, C) image.

    Windows of ``window`` pixels at a step of half a window, each weighted by a Gaussian
    (so that window borders, where the network sees least context, count least); the image
    is padded by reflection to a whole number of steps and to a size the network accepts.
    With ``flips``, each window is also predicted flipped in x, y and both, and averaged;
    with ``turns``, also turned by 90 degrees (with ``flips``: the square's 8 symmetries).
    """
    h, w = image.shape[:2]
    window, step, padded_h, padded_w = window_geometry(h, w, window, multiple)
    x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
    x = _pad_reflect(x, padded_h - h, padded_w - w)
    channels_last = device.type == "cpu"
    if channels_last:
        # oneDNN's convolutions on channels-last tensors: 1.2-1.6x faster on 2 cores; batching
        # more windows or the flips together gained nothing
        # (docs/research/2026-12-06-unet-cpu-inference.md). The weights are converted in
        # place (saving makes them contiguous again).
        network.to(memory_format=torch.channels_last)
    weight = gaussian_window(window).to(device)
    starts = [
        (y0, x0)
        for y0 in window_starts(padded_h, window, step)
        for x0 in window_starts(padded_w, window, step)
    ]
    out = None
    total = torch.zeros((padded_h, padded_w), device=device)
    for first in range(0, len(starts), batch_size):
        chunk = starts[first : first + batch_size]
        tiles = torch.cat([x[..., y0 : y0 + window, x0 : x0 + window] for y0, x0 in chunk]).to(
            device
        )
        if channels_last:
            tiles = tiles.contiguous(memory_format=torch.channels_last)
        proba = _predict_tiles(network, tiles, flips, turns, channels_last)
        if out is None:
            out = torch.zeros((proba.shape[1], padded_h, padded_w), device=device)
        for (y0, x0), p in zip(chunk, proba, strict=True):
            out[:, y0 : y0 + window, x0 : x0 + window] += p * weight
            total[y0 : y0 + window, x0 : x0 + window] += weight
    out = out / total
    return out[:, :h, :w].permute(1, 2, 0).cpu().numpy().astype(np.float32)


def _pad_reflect(x: torch.Tensor, ph: int, pw: int) -> torch.Tensor:
    """Reflect-pad at the bottom and right; repeats the reflection when the pad is wider than
    the image (torch's reflect pad alone refuses that)."""
    while ph > 0 or pw > 0:
        step_h = min(ph, x.shape[-2] - 1)
        step_w = min(pw, x.shape[-1] - 1)
        if step_h <= 0 and step_w <= 0:  # a one-pixel line: replicate instead
            return F.pad(x, (0, pw, 0, ph), mode="replicate")
        x = F.pad(x, (0, max(step_w, 0), 0, max(step_h, 0)), mode="reflect")
        ph -= max(step_h, 0)
        pw -= max(step_w, 0)
    return x


def _predict_tiles(
    network, tiles: torch.Tensor, flips: bool, turns: bool = False, channels_last: bool = False
) -> torch.Tensor:
    proba = _flip_average(network, tiles, flips, channels_last)
    if not turns:
        return proba
    turned = _flip_average(network, torch.rot90(tiles, 1, (2, 3)), flips, channels_last)
    return (proba + torch.rot90(turned, -1, (2, 3))) / 2


def _flip_average(network, tiles: torch.Tensor, flips: bool, channels_last: bool) -> torch.Tensor:
    proba = torch.softmax(network(tiles), 1)
    if not flips:
        return proba
    for dims in ((3,), (2,), (2, 3)):
        flipped = tiles.flip(dims)
        if channels_last:
            flipped = flipped.contiguous(memory_format=torch.channels_last)
        proba += torch.softmax(network(flipped), 1).flip(dims)
    return proba / 4
