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
from oplearn.models.layers.embedding import embeds_coordinates
from oplearn.models.layers.grid import check_field, check_ndim, grid_spacing
from oplearn.models.layers.local_kernels import LocalKernels
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
        positional_embedding: append the grid coordinates to the input; ``None``: yes, except on
            periodic grids with differential local kernels
            (:func:`~oplearn.models.layers.embedding.embeds_coordinates`).
        local_kernels: names among ``"differential"`` and ``"integral"``: local kernels
            (:class:`~oplearn.models.layers.local_kernels.LocalKernels`, Liu-Schiaffini et al.
            2024) added to every Fourier layer, ``v <- gelu(K v + W v + D v + I v)``.
        factorization: ``None`` (dense spectral weights) or ``"tucker"``, ``"cp"``, ``"tt"``: each
            spectral weight stored as low-rank factors, the tensorized FNO (registered as ``"tfno"``).
        rank: rank of the factorisation, a ``float`` fraction of the dense weight's parameter count
            or explicit ranks (:mod:`oplearn.models.layers.factorized`); unused when dense.
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
        positional_embedding: bool | None = None,
        local_kernels: Sequence[str] = (),
        factorization: str | None = None,
        rank: float | int | Sequence[int] = 0.1,
    ):
        super().__init__()
        check_ndim(ndim)
        self.in_channels, self.out_channels, self.ndim = in_channels, out_channels, ndim
        positional_embedding = embeds_coordinates(grid, positional_embedding,
                                                  differential_kernels="differential" in local_kernels)
        self.embedding = GridEmbedding(ndim, grid) if positional_embedding else None
        lifted_in = in_channels + (ndim if positional_embedding else 0)
        self.lifting = ChannelLinear(lifted_in, width)
        self.padding = DomainPadding(padding)
        self.spectral = nn.ModuleList(
            SpectralConv(width, width, modes, ndim, factorization=factorization, rank=rank)
            for _ in range(n_layers))
        self.skips = nn.ModuleList(ChannelLinear(width, width) for _ in range(n_layers))
        self.grid = grid
        self.local = nn.ModuleList(LocalKernels(width, width, ndim, grid, local_kernels)
                                   for _ in range(n_layers)) if local_kernels else None
        self.projection = ChannelMLP(width, projection_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_field(x, self.in_channels, self.ndim)
        spatial = tuple(x.shape[2:])
        if self.embedding is not None:
            x = self.embedding(x)
        v = self.padding.pad(self.lifting(x))
        last = len(self.spectral) - 1
        for i, (spectral, skip) in enumerate(zip(self.spectral, self.skips, strict=False)):
            out = spectral(v) + skip(v)
            if self.local is not None:  # local kernels act on the grid itself, not the padding
                local = self.local[i](self.padding.unpad(v, spatial), grid_spacing(spatial, self.grid))
                out = out + self.padding.pad(local)
            v = out
            if i < last:
                v = F.gelu(v)
        return self.projection(self.padding.unpad(v, spatial))


register("fno", FNO, "Fourier Neural Operator (Li et al. 2021): spectral convolutions on truncated modes",
         ndims=(1, 2, 3))
