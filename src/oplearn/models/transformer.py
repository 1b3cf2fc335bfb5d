"""Galerkin and Fourier Transformers (Cao 2021, "Choose a Transformer: Fourier or Galerkin")."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from oplearn.models.layers.attention import ATTENTION_TYPES, AttentionBlock, tokens, untokens
from oplearn.models.layers.embedding import GridEmbedding
from oplearn.models.layers.grid import check_field, check_ndim
from oplearn.models.layers.pointwise import ChannelLinear, ChannelMLP
from oplearn.models.layers.spectral_conv import SpectralConv
from oplearn.models.registry import register

DECODERS = ("spectral", "pointwise")


class GalerkinTransformer(nn.Module):
    """``(B, C_in, *S) -> (B, C_out, *S)`` at any resolution ``S``, in 1 or 2 dimensions.

    The grid is flattened to ``n = prod(S)`` tokens. A pointwise linear lifting of the input and its
    coordinates to ``hidden`` channels; ``n_layers`` encoder layers ``z = x + Attn(x)``,
    ``x = z + FFN(z)`` with softmax-free attention (:mod:`oplearn.models.layers.attention`), the
    coordinates concatenated to every head's ``q, k, v``; then a decoder on the grid:

    - ``"spectral"`` (the paper's choice for smooth targets): a pointwise linear map of the latent
      field and the coordinates to ``decoder_width`` channels, ``decoder_layers`` layers
      ``v <- gelu(K v + W v)`` with ``K`` a :class:`SpectralConv` (no GELU after the last), and a
      two-layer pointwise projection;
    - ``"pointwise"``: the two-layer pointwise projection alone.

    Attention with ``1/n`` is a quadrature, layer norms and feed-forward layers act per token and the
    spectral convolution keeps fixed modes, so the model is meant to run at any resolution.

    Args:
        in_channels, out_channels: channels of input and output fields.
        ndim: spatial dimensions (1 or 2).
        grid: ``"node"`` or ``"periodic"``, the coordinates given to the model.
        attention: ``"galerkin"`` (Galerkin Transformer) or ``"fourier"`` (Fourier Transformer).
        hidden: token channels of the encoder.
        n_layers: number of encoder layers.
        heads: attention heads (``hidden`` must be a multiple).
        ffn_channels: hidden channels of the encoder's feed-forward networks (default ``2 hidden``).
        decoder: ``"spectral"`` or ``"pointwise"``.
        modes: Fourier modes kept per axis by the spectral decoder.
        decoder_width: channels of the spectral decoder.
        decoder_layers: spectral convolution layers of the decoder.
        projection_channels: hidden channels of the final pointwise projection.
        positional_embedding: give the coordinates to the lifting, the attention heads and the
            decoder (the model then sees where each token is; without them it is translation
            equivariant on periodic grids).
        init_gain, diagonal_weight: initialisation of the ``Q, K, V`` projections (see
            :class:`~oplearn.models.layers.attention.SoftmaxFreeAttention`).
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        *,
        ndim: int = 2,
        grid: str = "node",
        attention: str = "galerkin",
        hidden: int = 32,
        n_layers: int = 4,
        heads: int = 4,
        ffn_channels: int | None = None,
        decoder: str = "spectral",
        modes: int | Sequence[int] = 12,
        decoder_width: int = 32,
        decoder_layers: int = 2,
        projection_channels: int = 64,
        positional_embedding: bool = True,
        init_gain: float = 1e-2,
        diagonal_weight: float = 1e-2,
    ):
        super().__init__()
        check_ndim(ndim, (1, 2))
        if attention not in ATTENTION_TYPES:
            raise ValueError(f"attention must be one of {ATTENTION_TYPES}, got {attention!r}")
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {decoder!r}")
        self.in_channels, self.out_channels, self.ndim = in_channels, out_channels, ndim
        self.attention, self.decoder = attention, decoder
        self.embedding = GridEmbedding(ndim, grid) if positional_embedding else None
        pos_dim = ndim if positional_embedding else 0
        self.lifting = ChannelLinear(in_channels + pos_dim, hidden)
        self.encoder = nn.ModuleList(
            AttentionBlock(hidden, heads, attention, ffn_channels, pos_dim=pos_dim,
                           init_gain=init_gain, diagonal_weight=diagonal_weight)
            for _ in range(n_layers)
        )
        if decoder == "spectral":
            self.decoder_in = ChannelLinear(hidden + pos_dim, decoder_width)
            self.spectral = nn.ModuleList(
                SpectralConv(decoder_width, decoder_width, modes, ndim) for _ in range(decoder_layers))
            self.skips = nn.ModuleList(
                ChannelLinear(decoder_width, decoder_width) for _ in range(decoder_layers))
            self.projection = ChannelMLP(decoder_width, projection_channels, out_channels)
        else:
            self.projection = ChannelMLP(hidden, projection_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_field(x, self.in_channels, self.ndim)
        spatial = tuple(x.shape[2:])
        coords = None
        if self.embedding is not None:
            x = self.embedding(x)
            coords = x[:, self.in_channels:]
        pos = tokens(coords) if coords is not None else None
        h = tokens(self.lifting(x))  # (B, n, hidden)
        for block in self.encoder:
            h = block(h, pos)
        v = untokens(h, spatial)  # (B, hidden, *S)
        if self.decoder == "pointwise":
            return self.projection(v)
        if coords is not None:
            v = torch.cat([v, coords], dim=1)
        v = self.decoder_in(v)
        last = len(self.spectral) - 1
        for i, (spectral, skip) in enumerate(zip(self.spectral, self.skips, strict=True)):
            v = spectral(v) + skip(v)
            if i < last:
                v = F.gelu(v)
        return self.projection(v)

    def extra_repr(self) -> str:
        return f"attention={self.attention!r}, decoder={self.decoder!r}, ndim={self.ndim}"


def _with_attention(kind: str):
    """A factory of :class:`GalerkinTransformer` with ``attention=kind`` fixed (not overridable,
    so a registry name always means the attention it says)."""

    def make(*args, **kwargs) -> GalerkinTransformer:
        if "attention" in kwargs:
            raise TypeError(f"the attention of this model is {kind!r}; choose the other name")
        return GalerkinTransformer(*args, attention=kind, **kwargs)

    full = inspect.signature(GalerkinTransformer)
    make.__signature__ = full.replace(parameters=[p for p in full.parameters.values()
                                                  if p.name != "attention"])
    return make


register("galerkin-transformer", _with_attention("galerkin"),
         "Galerkin Transformer (Cao 2021): softmax-free attention Q (LN(K)^T LN(V)) / n, "
         "spectral decoder", ndims=(1, 2), resolution_invariant=True, aliases={"width": "hidden"})
register("fourier-transformer", _with_attention("fourier"),
         "Fourier Transformer (Cao 2021): softmax-free attention (LN(Q) LN(K)^T) V / n, "
         "spectral decoder", ndims=(1, 2), resolution_invariant=True, aliases={"width": "hidden"})
