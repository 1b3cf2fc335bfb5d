"""Transolver (Wu et al., ICML 2024): a Transformer whose attention runs among learned slices of the
domain (Physics-Attention) instead of among grid points."""

from __future__ import annotations

import torch
from torch import nn

from oplearn.models.layers.attention import tokens, untokens
from oplearn.models.layers.embedding import GridEmbedding
from oplearn.models.layers.grid import check_field, check_ndim
from oplearn.models.layers.mlp import MLP
from oplearn.models.layers.physics_attention import PhysicsAttention
from oplearn.models.registry import register


class TransolverBlock(nn.Module):
    """``(B, N, C) -> (B, N, C)``: pre-norm Transformer block with Physics-Attention,

    ``x <- x + PhysicsAttention(LayerNorm(x))``, then ``x <- x + MLP(LayerNorm(x))`` with a GELU
    MLP of ``mlp_ratio * C`` hidden features.
    """

    def __init__(self, dim: int, heads: int, slices: int, mlp_ratio: int):
        super().__init__()
        self.norm_attention = nn.LayerNorm(dim)
        self.attention = PhysicsAttention(dim, heads, slices)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = MLP([dim, mlp_ratio * dim, dim])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm_attention(x))
        return x + self.mlp(self.norm_mlp(x))


class Transolver(nn.Module):
    """``(B, C_in, *S) -> (B, C_out, *S)`` at any resolution ``S``.

    The grid points are a point set: each point's input values and coordinates (``GridEmbedding``)
    are lifted by a GELU MLP to ``width`` features, to which a learned vector is added (the
    paper's code calls it the placeholder); ``n_layers`` :class:`TransolverBlock` s follow, then
    ``LayerNorm`` and a linear map to ``C_out``. Slice tokens are weighted averages over points, so
    the model acts on the sampled field rather than on the grid and runs at any resolution; the
    paper's structured-mesh variant, which computes the slice projection with a convolution, is
    not used, to keep that property.

    The paper's benchmark settings are ``width=128, n_layers=8, heads=8, slices=64`` (32 for
    Navier-Stokes), ``mlp_ratio`` 1 or 2, trained with Adam at ``1e-3`` for 500 epochs; the defaults
    here are cut down to cost about twice a default FNO's step on a CPU.

    Args:
        in_channels, out_channels: channels of input and output fields.
        ndim: spatial dimensions (1, 2 or 3).
        grid: ``"node"`` or ``"periodic"``, the coordinates appended to the input.
        width: features per point.
        n_layers: Transolver blocks.
        heads: attention heads of Physics-Attention.
        slices: slices per head.
        mlp_ratio: hidden features of each block's MLP, as a multiple of ``width``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        *,
        ndim: int = 2,
        grid: str = "node",
        width: int = 64,
        n_layers: int = 3,
        heads: int = 4,
        slices: int = 32,
        mlp_ratio: int = 1,
    ):
        super().__init__()
        check_ndim(ndim)
        self.in_channels, self.out_channels, self.ndim = in_channels, out_channels, ndim
        self.embedding = GridEmbedding(ndim, grid)
        self.lifting = MLP([in_channels + ndim, 2 * width, width])
        self.placeholder = nn.Parameter(torch.rand(width) / width)
        self.blocks = nn.ModuleList(TransolverBlock(width, heads, slices, mlp_ratio)
                                    for _ in range(n_layers))
        self.norm = nn.LayerNorm(width)
        self.projection = nn.Linear(width, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_field(x, self.in_channels, self.ndim)
        spatial = tuple(x.shape[2:])
        points = tokens(self.embedding(x))  # (B, N, C_in + d)
        v = self.lifting(points) + self.placeholder
        for block in self.blocks:
            v = block(v)
        y = self.projection(self.norm(v))  # (B, N, C_out)
        return untokens(y, spatial)


register("transolver", Transolver,
         "Transolver (Wu et al. 2024): Physics-Attention among learned soft slices of the domain",
         ndims=(1, 2, 3), resolution_invariant=True)
