"""The U-Net's forward pass through ONNX Runtime, for prediction on the CPU.

ONNX Runtime runs the network's convolutions faster than PyTorch on this project's 2-core
machines (docs/research/2026-12-06-unet-cpu-inference.md). Nothing executable is stored in a
model file: the ONNX graph is exported from the network's weights when a model first
predicts, kept with the model in memory only, and rebuilt after loading. Where onnx or
onnxruntime is not installed, or the export fails, prediction stays with PyTorch.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable

import torch

from ._torch_unet import UNet


def onnx_forward(network: UNet, in_channels: int, threads: int) -> Callable | None:
    """A function ``tiles -> logits`` (torch tensors, N x C x H x W) that runs ``network``
    through ONNX Runtime on ``threads`` threads, or None where that is not available."""
    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
        import onnxruntime
    except ImportError:
        return None
    example = torch.zeros((1, in_channels, 32, 32))
    sizes = {0: "n", 2: "h", 3: "w"}  # any batch and window size
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's deprecation notices
            torch.onnx.export(
                network.eval(),
                (example,),
                buffer,
                input_names=["tiles"],
                output_names=["logits"],
                dynamic_axes={"tiles": sizes, "logits": sizes},
                dynamo=False,
            )
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(
            buffer.getvalue(), options, providers=["CPUExecutionProvider"]
        )
    except Exception:  # an exporter or runtime that cannot take this network: stay in torch
        return None

    def forward(tiles: torch.Tensor) -> torch.Tensor:
        (logits,) = session.run(None, {"tiles": tiles.contiguous().numpy()})
        return torch.from_numpy(logits)

    return forward
