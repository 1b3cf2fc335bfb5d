"""Softmax-free attention of the Fourier and Galerkin Transformers (Cao 2021).

Tokens are the ``n`` points of a grid, shaped ``(B, n, d)``. With per-head projections ``Q, K, V``
(``n x d_h``) and ``LN`` a layer normalisation over the ``d_h`` channels of each token,

- Fourier-type:  ``(LN(Q) LN(K)^T) V / n``, the kernel ``LN(q(x)) . LN(k(y))`` integrated against
  ``v(y)`` by the rectangle rule;
- Galerkin-type: ``Q (LN(K)^T LN(V)) / n``, a Petrov-Galerkin projection of ``Q``'s columns with
  coefficients ``(k_c, v_e)`` inner products computed by the same rule.

No softmax and no normalisation after the product (the paper's "scale-preserving" attention). The
``1 / n`` makes each layer a quadrature of an integral operator, so it means the same thing at
every resolution.

Cost: without a softmax both products associate, so both types are evaluated as ``Q' (K'^T V') / n``
whenever ``n`` exceeds a head's channels ``c`` (``O(n d^2)`` time and ``O(d^2)`` extra memory for
``d`` channels, never an ``n x n`` matrix; with up to ``FUSED_HEADS`` heads their ``c x c`` moment
matrices are computed together as one ``d x d`` product cut to its diagonal blocks, which on CPUs
is faster than ``heads`` skinny products), and as ``(Q' K'^T) V' / n`` otherwise. The two orders
agree to rounding; the Fourier type's quadratic cost in the paper comes from forming the score
matrix first, which is not needed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from oplearn.models.layers.mlp import MLP

ATTENTION_TYPES = ("galerkin", "fourier")
# up to this many heads their moment matrices are computed as one product (see forward)
FUSED_HEADS = 8


class HeadLayerNorm(nn.Module):
    """Layer normalisation over the last axis of ``(B, n, heads, d_h)``, with its own learned scale
    and shift per head (``(heads, d_h)`` each)."""

    def __init__(self, heads: int, head_dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(heads, head_dim))
        self.bias = nn.Parameter(torch.zeros(heads, head_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:], eps=self.eps) * self.weight + self.bias


class SoftmaxFreeAttention(nn.Module):
    """``(B, n, d) -> (B, n, d)``: multi-head Galerkin- or Fourier-type attention.

    Args:
        dim: token channels ``d``; split into ``heads`` heads of ``d_h = d / heads`` channels.
        heads: number of heads.
        kind: ``"galerkin"`` (layer norms on ``K`` and ``V``) or ``"fourier"`` (on ``Q`` and ``K``).
        pos_dim: channels of the positional features ``pos`` given to :meth:`forward`; as in the
            paper they are concatenated to every head's (normalised) ``q``, ``k`` and ``v``, so each
            head works with ``d_h + pos_dim`` channels. 0 for none.
        init_gain: gain of the Xavier-uniform initialisation of the ``Q, K, V`` projections.
        diagonal_weight: added to the diagonal of each ``Q, K, V`` projection matrix at
            initialisation (the paper's small-gain plus diagonal initialisation).
        eps: layer-norm epsilon.
    """

    def __init__(self, dim: int, heads: int = 4, kind: str = "galerkin", *, pos_dim: int = 0,
                 init_gain: float = 1e-2, diagonal_weight: float = 1e-2, eps: float = 1e-5):
        super().__init__()
        if kind not in ATTENTION_TYPES:
            raise ValueError(f"kind must be one of {ATTENTION_TYPES}, got {kind!r}")
        if dim % heads != 0:
            raise ValueError(f"dim ({dim}) must be a multiple of heads ({heads})")
        self.dim, self.heads, self.kind, self.pos_dim = dim, heads, kind, pos_dim
        self.head_dim = dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        # the two of q, k, v that are normalised
        normalised = ("k", "v") if kind == "galerkin" else ("q", "k")
        self.norms = nn.ModuleDict({name: HeadLayerNorm(heads, self.head_dim, eps) for name in normalised})
        self.out = nn.Linear(heads * (self.head_dim + pos_dim), dim)
        self._init_qkv(init_gain, diagonal_weight)

    def _init_qkv(self, gain: float, diagonal: float) -> None:
        with torch.no_grad():
            for block in self.qkv.weight.view(3, self.dim, self.dim):
                nn.init.xavier_uniform_(block, gain=gain)
                block.add_(diagonal * torch.eye(self.dim))
            self.qkv.bias.zero_()

    def forward(self, x: torch.Tensor, pos: torch.Tensor | None = None) -> torch.Tensor:
        """``x (B, n, d)``, ``pos (B, n, pos_dim)`` or None -> ``(B, n, d)``."""
        batch, n, _ = x.shape
        if (pos is None) != (self.pos_dim == 0) or (pos is not None and pos.shape[-1] != self.pos_dim):
            raise ValueError(f"attention built with pos_dim={self.pos_dim}, got pos "
                             f"{None if pos is None else tuple(pos.shape)}")
        # (B, n, 3 d) -> 3 x (B, n, heads, d_h), kept token-major (no transposes)
        q, k, v = self.qkv(x).view(batch, n, 3, self.heads, self.head_dim).unbind(2)
        parts = {"q": q, "k": k, "v": v}
        for name, norm in self.norms.items():
            parts[name] = norm(parts[name])
        q, k, v = parts["q"], parts["k"], parts["v"]
        if pos is not None:
            p = pos.unsqueeze(2).expand(batch, n, self.heads, self.pos_dim)
            q, k, v = (torch.cat([t, p], dim=-1) for t in (q, k, v))
        channels = q.shape[-1]
        if n > channels and self.heads <= FUSED_HEADS:
            # all heads at once: the (h c) x (h c) moment matrix K^T V / n, cut to its diagonal
            # blocks (one per head), applied to Q; heads-fold flops buy one large GEMM
            q, k, v = (t.reshape(batch, n, self.heads * channels) for t in (q, k, v))
            y = q @ ((k.transpose(1, 2) @ v) * self._block_mask(channels, x) / n)
        else:
            q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, heads, n, c)
            if n > channels:
                y = q @ (k.transpose(-2, -1) @ v / n)
            else:
                y = (q @ k.transpose(-2, -1) / n) @ v
            y = y.transpose(1, 2)
        return self.out(y.reshape(batch, n, self.heads * channels))

    def _block_mask(self, channels: int, like: torch.Tensor) -> torch.Tensor:
        """``(h c, h c)`` block-diagonal mask of ones, one ``c x c`` block per head."""
        eye = torch.eye(self.heads, dtype=like.dtype, device=like.device)
        return torch.kron(eye, torch.ones(channels, channels, dtype=like.dtype, device=like.device))

    def extra_repr(self) -> str:
        return f"{self.dim}, heads={self.heads}, kind={self.kind!r}, pos_dim={self.pos_dim}"


class AttentionBlock(nn.Module):
    """``(B, n, d) -> (B, n, d)``: one encoder layer ``z = x + Attn(x, pos)``, ``y = z + FFN(z)``.

    The feed-forward network is pointwise ``Linear(d, ffn) -> GELU -> Linear(ffn, d)``. No layer
    normalisation outside the attention (the paper's choice for its scale-preserving attention).
    Extra keyword arguments go to :class:`SoftmaxFreeAttention`.
    """

    def __init__(self, dim: int, heads: int = 4, kind: str = "galerkin", ffn_channels: int | None = None,
                 **attention_kwargs):
        super().__init__()
        self.attention = SoftmaxFreeAttention(dim, heads, kind, **attention_kwargs)
        hidden = ffn_channels or 2 * dim
        self.ffn = MLP([dim, hidden, dim])

    def forward(self, x: torch.Tensor, pos: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attention(x, pos)
        return x + self.ffn(x)


def tokens(field: torch.Tensor) -> torch.Tensor:
    """``(B, C, *S) -> (B, n, C)`` with ``n = prod(S)`` (row-major over the grid)."""
    return field.flatten(2).transpose(1, 2)


def untokens(x: torch.Tensor, spatial: tuple[int, ...]) -> torch.Tensor:
    """``(B, n, C) -> (B, C, *S)``, the inverse of :func:`tokens`."""
    if math.prod(spatial) != x.shape[1]:
        raise ValueError(f"{x.shape[1]} tokens do not fill a grid of shape {spatial}")
    return x.transpose(1, 2).unflatten(2, spatial)
