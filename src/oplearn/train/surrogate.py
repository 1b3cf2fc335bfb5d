"""A trained model with its normalisers, and fast inference with it.

On CPUs, :meth:`Surrogate.predict` runs the model on chunks of at most :data:`CPU_CHUNK_POINTS`
grid points (all samples of a chunk together), whatever ``batch_size`` asks for. A model's
activations are a few times ``width x points`` floats; for a chunk that size they stay in the
core's cache, where for a batch of 100 samples at 65 x 65 they are streamed through memory once
per operation. Without chunks the demo's FNO at 65 x 65 on one thread took three times as long per
sample at batch 100 as at batch 1 (``benchmarks/scaling.py --only inference`` measures both).
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from torch import nn

from oplearn.errors import InvalidInputError
from oplearn.train.normalizer import ChannelNormalizer

CPU_CHUNK_POINTS = 16384  # grid points per float32 model call on CPUs (65 x 65: 3 samples; 33 x 33: 15)
PRECISIONS = ("float32", "bfloat16")


def chunk_size(spatial: tuple[int, ...], batch_size: int, device: torch.device,
               precision: str = "float32") -> int:
    """Samples per model call: ``batch_size``, and on CPUs at most ``CPU_CHUNK_POINTS`` grid
    points (twice as many in bfloat16, whose activations take half the bytes), at least one
    sample."""
    if device.type != "cpu":
        return batch_size
    points = CPU_CHUNK_POINTS * (2 if precision == "bfloat16" else 1)
    return max(1, min(batch_size, points // max(1, math.prod(spatial))))


@dataclass
class Surrogate:
    """A trained model with its normalisers: maps physical inputs to physical outputs."""

    model: nn.Module
    normalizer_in: ChannelNormalizer
    normalizer_out: ChannelNormalizer

    def apply(self, inputs: torch.Tensor, model: nn.Module | None = None) -> torch.Tensor:
        """``(B, C_in, *S) -> (B, C_out, *S)`` in physical units through ``model`` (default: its
        own; training passes its data-parallel wrapper), keeping the model's mode and gradients:
        the training step's forward pass. :meth:`predict` is inference."""
        return self.normalizer_out.decode((model or self.model)(self.normalizer_in.encode(inputs)))

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, batch_size: int = 16, precision: str = "float32",
                chunked: bool = True) -> torch.Tensor:
        """``(N, C_in, *S) -> (N, C_out, *S)`` in physical units, in evaluation mode, computed
        on the model's device and returned on the inputs' device (float32).

        Args:
            batch_size: samples moved to the device and run at once; on CPUs, with ``chunked``,
                further split into chunks of at most :data:`CPU_CHUNK_POINTS` grid points.
            precision: ``"float32"``, or ``"bfloat16"``: matrix products in bfloat16 under
                ``torch.autocast`` (faster on CPUs with AVX-512 BF16 and on GPUs; the error it
                adds is measured by ``benchmarks/scaling.py --only inference``).
        """
        if precision not in PRECISIONS:
            raise InvalidInputError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.model.eval()
        device = self.normalizer_in.mean.device
        step = chunk_size(tuple(inputs.shape[2:]), batch_size, device, precision) if chunked else batch_size
        reduced = torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bfloat16" else nullcontext()
        outs = []
        for batch in inputs.split(batch_size):
            batch = self.normalizer_in.encode(batch.to(device))
            with reduced:
                parts = [self.model(x) for x in batch.split(step)]
            outs.append(self.normalizer_out.decode(torch.cat(parts).float()).to(inputs.device))
        return torch.cat(outs)

    def to(self, device: torch.device | str) -> Surrogate:
        for module in (self.model, self.normalizer_in, self.normalizer_out):
            module.to(device)
        return self
