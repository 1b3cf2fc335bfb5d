"""Fourier Neural Operator (Li et al., 2021) in 1, 2 or 3 dimensions."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from oplearn.models.layers import (
    ChannelLinear,
    ChannelMLP,
    DomainPadding,
    GridEmbedding,
    SpectralConv,
)
from oplearn.models.registry import register


class FNO(nn.Module):
    """``(B, C_in, *S) -> (B, C_out, *S)`` at any resolution ``S``.

    Lifting (a pointwise linear map of the input and its grid coordinates to ``width`` channels),
    ``n_layers`` Fourier layers ``v <- gelu(K v + W v)`` with ``K`` a :class:`SpectralConv` and
    ``W`` a pointwise linear map (the skip connection; no GELU after the last layer), and a
    two-layer pointwise projection to ``C_out``.

    Args:
        in_channels, out_channels: channels of input and output fields.
        ndim: spatial dimensions (1, 2 or 3).
        modes: Fourier modes kept per axis.
        width: channels of the Fourier layers.
        n_layers: number of Fourier layers.
        projection_channels: hidden channels of the projection.
        padding: fraction of each axis zero-padded before the Fourier layers (0 for periodic data).
        grid: ``"node"`` or ``"periodic"``, the coordinates of the positional embedding.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        *,
        ndim: int = 2,
        modes: int | Sequence[int] = 12,
        width: int = 32,
        n_layers: int = 4,
        projection_channels: int = 128,
        padding: float = 0.0,
        grid: str = "node",
        positional_embedding: bool = True,
    ):
        super().__init__()
        if ndim not in (1, 2, 3):
            raise ValueError(f"ndim must be 1, 2 or 3, got {ndim}")
        self.in_channels, self.out_channels, self.ndim = in_channels, out_channels, ndim
        self.embedding = GridEmbedding(ndim, grid) if positional_embedding else None
        lifted_in = in_channels + (ndim if positional_embedding else 0)
        self.lifting = ChannelLinear(lifted_in, width)
        self.padding = DomainPadding(padding)
        self.spectral = nn.ModuleList(SpectralConv(width, width, modes, ndim) for _ in range(n_layers))
        self.skips = nn.ModuleList(ChannelLinear(width, width) for _ in range(n_layers))
        self.projection = ChannelMLP(width, projection_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != self.ndim + 2 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"expected input (B, {self.in_channels}, {', '.join('S' * self.ndim)}), got {tuple(x.shape)}"
            )
        spatial = tuple(x.shape[2:])
        if self.embedding is not None:
            x = self.embedding(x)
        v = self.padding.pad(self.lifting(x))
        last = len(self.spectral) - 1
        for i, (spectral, skip) in enumerate(zip(self.spectral, self.skips, strict=False)):
            v = spectral(v) + skip(v)
            if i < last:
                v = F.gelu(v)
        return self.projection(self.padding.unpad(v, spatial))


register("fno", FNO, "Fourier Neural Operator (Li et al. 2021): spectral convolutions on truncated modes")
