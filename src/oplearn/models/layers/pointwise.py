"""Pointwise (per grid point) linear maps on the channels of ``(B, C, *S)`` fields."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ChannelLinear(nn.Module):
    """``(B, C_in, *S) -> (B, C_out, *S)``: the same affine map of the channels at every point.

    Equivalent to a 1x1 convolution, in any number of dimensions, computed as a matrix product.
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True):
        super().__init__()
        self.linear = nn.Linear(in_channels, out_channels, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.einsum("oi,bi...->bo...", self.linear.weight, x)
        if self.linear.bias is not None:
            y = y + self.linear.bias.view(1, -1, *([1] * (x.ndim - 2)))
        return y


class ChannelMLP(nn.Module):
    """``(B, C_in, *S) -> (B, C_out, *S)``: pointwise ``Linear -> GELU -> Linear``.

    Applied channels-last as matrix products (the hidden layer is wide, so the layout change pays).
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int):
        super().__init__()
        self.hidden = nn.Linear(in_channels, hidden_channels)
        self.out = nn.Linear(hidden_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(F.gelu(self.hidden(x.movedim(1, -1)))).movedim(-1, 1)
