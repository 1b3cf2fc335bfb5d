"""Per-channel normalisation fitted on the training set and saved with the model."""

from __future__ import annotations

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

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean
