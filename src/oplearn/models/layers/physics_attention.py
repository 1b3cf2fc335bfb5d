"""Physics-Attention (Wu et al., "Transolver", ICML 2024): attention among learned slices of a point set.

Each point is softly assigned to ``M`` slices by a softmax over a learned projection of its
features; each slice's token is the weighted average of the points' features; the tokens attend to
each other (ordinary multi-head softmax attention among ``M`` tokens); each point receives the
weighted combination of the updated tokens with its own slice weights. The cost is linear in the
number of points, and the layer depends on the points only through weighted averages, so it is
equivariant to permutations of the points and sees a field, not a grid.
"""

from __future__ import annotations

import math

import torch
from torch import nn

# smallest temperature: keeps the slice softmax finite when a learned temperature drifts to zero
MIN_TEMPERATURE = 1e-2


class PhysicsAttention(nn.Module):
    """``(B, N, C) -> (B, N, C)`` on ``N`` points (channels last).

    Per head ``h`` (features split in ``heads`` groups of ``dim_head``):

    - slice weights ``w_im = softmax_m(x'_i W_s / tau_h)``, ``x' = x W_x`` (:meth:`slice_weights`),
    - slice tokens ``z_m = sum_i w_im f_i / sum_i w_im``, ``f = x W_f``,
    - ``z <- softmax(q k^T / sqrt(dim_head)) v`` with ``q, k, v`` linear maps of ``z``,
    - output ``y_i = sum_m w_im z_m``, heads concatenated and mapped back to ``C`` features.

    ``W_s`` (``dim_head x M``) is shared by the heads, ``tau_h`` is a learned temperature per head
    initialised to 0.5, as in the paper's code.

    Args:
        dim: features per point ``C``.
        heads: attention heads.
        slices: slices ``M`` per head.
        dim_head: features per head (default ``dim // heads``).
    """

    def __init__(self, dim: int, heads: int = 4, slices: int = 32, dim_head: int | None = None):
        super().__init__()
        dim_head = dim_head or dim // heads
        if dim_head < 1 or slices < 1:
            raise ValueError(f"need dim_head >= 1 and slices >= 1, got {dim_head}, {slices}")
        self.heads, self.dim_head, self.slices = heads, dim_head, slices
        inner = heads * dim_head
        self.project_x = nn.Linear(dim, inner)
        self.project_f = nn.Linear(dim, inner)
        self.project_slice = nn.Linear(dim_head, slices)
        self.temperature = nn.Parameter(torch.full((heads, 1, 1), 0.5))
        self.query = nn.Linear(dim_head, dim_head, bias=False)
        self.key = nn.Linear(dim_head, dim_head, bias=False)
        self.value = nn.Linear(dim_head, dim_head, bias=False)
        self.out = nn.Linear(inner, dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, N, H * D) -> (B, H, N, D)``."""
        return x.unflatten(-1, (self.heads, self.dim_head)).transpose(1, 2)

    def slice_weights(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, N, C) -> (B, H, N, M)``: each point's soft assignment to the slices (sums to one)."""
        logits = self.project_slice(self._split(self.project_x(x)))
        return torch.softmax(logits / self.temperature.clamp_min(MIN_TEMPERATURE), dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.slice_weights(x)  # (B, H, N, M)
        features = self._split(self.project_f(x))  # (B, H, N, D)
        mass = weights.sum(dim=2)  # (B, H, M); positive: softmax weights are
        tokens = torch.einsum("bhnm,bhnd->bhmd", weights, features)
        tokens = tokens / mass.clamp_min(torch.finfo(x.dtype).tiny)[..., None]
        q, k, v = self.query(tokens), self.key(tokens), self.value(tokens)
        attention = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.dim_head), dim=-1)
        tokens = attention @ v  # (B, H, M, D)
        y = torch.einsum("bhnm,bhmd->bhnd", weights, tokens)
        return self.out(y.transpose(1, 2).flatten(2))

    def extra_repr(self) -> str:
        return f"heads={self.heads}, dim_head={self.dim_head}, slices={self.slices}"
