"""Convolutions in 1, 2 or 3 dimensions: the U-Net's double-convolution block and its resampling."""

from __future__ import annotations

import math

import torch
from torch import nn

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_CONV_TRANSPOSE = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
_MAX_POOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}


def _check_ndim(ndim: int) -> None:
    if ndim not in _CONV:
        raise ValueError(f"ndim must be 1, 2 or 3, got {ndim}")


class ConvBlock(nn.Module):
    """``(B, C_in, *S) -> (B, C_out, *S)``: twice ``conv 3 -> GroupNorm -> GELU``.

    The block of Ronneberger et al.'s U-Net with PDEArena's changes (GroupNorm for BatchNorm,
    GELU for ReLU) and "same" padding, so the grid size is kept.

    Args:
        in_channels, out_channels: channel counts.
        ndim: spatial dimensions (1, 2 or 3).
        padding_mode: ``"zeros"`` or ``"circular"`` (periodic data), as :class:`torch.nn.Conv2d`.
        groups: GroupNorm groups (reduced to a divisor of ``out_channels``).
    """

    def __init__(self, in_channels: int, out_channels: int, ndim: int, *,
                 padding_mode: str = "zeros", groups: int = 8):
        super().__init__()
        _check_ndim(ndim)
        groups = math.gcd(groups, out_channels)
        layers: list[nn.Module] = []
        for c_in in (in_channels, out_channels):
            layers += [_CONV[ndim](c_in, out_channels, 3, padding=1, padding_mode=padding_mode),
                       nn.GroupNorm(groups, out_channels), nn.GELU()]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def downsample(ndim: int) -> nn.Module:
    """``(B, C, *S) -> (B, C, *S // 2)``: 2x max pooling (Ronneberger et al.)."""
    _check_ndim(ndim)
    return _MAX_POOL[ndim](2)


def upsample(in_channels: int, out_channels: int, ndim: int) -> nn.Module:
    """``(B, C_in, *S) -> (B, C_out, *2S)``: the 2x "up-convolution" (transposed, kernel 2)."""
    _check_ndim(ndim)
    return _CONV_TRANSPOSE[ndim](in_channels, out_channels, 2, stride=2)
