"""Per-channel normalisation fitted on the training set and saved with the model."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


class ChannelNormalizer(nn.Module):
    """``encode(x) = (x - mean_c) / std_c`` per channel ``c`` of ``(B, C, *S)`` fields.

    Scalars per channel (not per grid point) so that the same normaliser serves every resolution.
    """

    def __init__(self, channels: int, ndim: int):
        super().__init__()
        shape = (1, channels) + (1,) * ndim
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("std", torch.ones(shape))

    @classmethod
    def fit(cls, data: torch.Tensor, eps: float = 1e-8) -> ChannelNormalizer:
        """Fit on ``(N, C, *S)`` data."""
        norm = cls(data.shape[1], data.ndim - 2)
        dims = [0] + list(range(2, data.ndim))
        norm.mean.copy_(data.mean(dim=dims, keepdim=True))
        norm.std.copy_(data.std(dim=dims, keepdim=True).clamp_min(eps))
        return norm

    @classmethod
    def fit_blocks(cls, blocks: Iterable[torch.Tensor], eps: float = 1e-8) -> ChannelNormalizer:
        """Fit in one pass over blocks ``(B_k, C, *S)`` of the data, never all of it in memory:
        per-channel sums accumulated in float64, shifted by the first block's mean (the same statistics as
        :meth:`fit`, to rounding). Raises ``ValueError`` on NaN or inf."""
        count, shift, total, squares, norm = 0, None, 0.0, 0.0, None
        for block in blocks:
            if not torch.isfinite(block).all():
                raise ValueError("the data contain NaN or inf")
            dims = [0] + list(range(2, block.ndim))
            if norm is None:
                norm = cls(block.shape[1], block.ndim - 2)
                shift = block.mean(dim=dims, keepdim=True)
            x = block - shift
            total = total + x.sum(dim=dims, keepdim=True, dtype=torch.float64)
            squares = squares + (x * x).sum(dim=dims, keepdim=True, dtype=torch.float64)
            count += block.numel() // block.shape[1]
        if norm is None or count < 2:
            raise ValueError("need at least two values per channel")
        mean = total / count
        var = (squares - count * mean * mean) / (count - 1)
        norm.mean.copy_((mean + shift.double()).float())
        norm.std.copy_(var.clamp_min(0).sqrt().float().clamp_min(eps))
        return norm

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean
