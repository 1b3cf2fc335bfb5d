"""U-Net (Ronneberger et al. 2015), the convolutional baseline of PDEArena (Gupta & Brandstetter
2022): GroupNorm and GELU in place of BatchNorm and ReLU."""

from __future__ import annotations

import torch
from torch import nn

from oplearn.models.layers.conv_block import ConvBlock, downsample, upsample
from oplearn.models.layers.embedding import GridEmbedding
from oplearn.models.layers.grid import check_field, check_grid, check_ndim
from oplearn.models.layers.padding import pad_to_multiple
from oplearn.models.layers.pointwise import ChannelLinear
from oplearn.models.registry import register


class UNet(nn.Module):
    """``(B, C_in, *S) -> (B, C_out, *S)`` for any ``S``, with the grid fixed by the kernels.

    An encoder of ``levels`` stages (:class:`ConvBlock`, then 2x max pooling, doubling the
    channels from ``width``), a bottleneck block, and a decoder that upsamples by transposed
    convolutions, concatenates the encoder's output of the same size (the skip connections) and
    applies a block; a pointwise linear map gives ``C_out`` channels. The input is padded to a
    multiple of ``2**levels`` (replicated edge values on node grids, wrapped on periodic ones)
    and the output cropped back.

    Not resolution invariant: a 3-point kernel spans ``2 h`` for grid spacing ``h``, so the
    learned map changes with the grid; evaluate at the training resolution.

    On periodic grids the convolutions pad circularly, so the model commutes with periodic
    shifts by multiples of ``2**levels`` points when the size is a multiple of ``2**levels``
    and there is no positional embedding.

    Args:
        in_channels, out_channels: channels of input and output fields.
        ndim: spatial dimensions (1, 2 or 3).
        grid: ``"node"`` or ``"periodic"``: the coordinates of the embedding, the convolutions'
            padding (zeros, or circular) and the padding to a multiple of ``2**levels``.
        width: channels of the first stage (stage ``l`` has ``width * 2**l``). The default 24
            (1.09M parameters in 2D) trains at about the default FNO's speed on 33x33 grids on a
            CPU; width 32 (1.93M) is about twice as slow there.
        levels: number of 2x downsamplings.
        groups: GroupNorm groups.
        positional_embedding: append grid coordinates to the input; ``None`` means on node grids
            only (periodic problems are translation invariant, coordinates would break that).
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        *,
        ndim: int = 2,
        grid: str = "node",
        width: int = 24,
        levels: int = 3,
        groups: int = 8,
        positional_embedding: bool | None = None,
    ):
        super().__init__()
        check_ndim(ndim)
        check_grid(grid)
        if levels < 1:
            raise ValueError(f"levels must be >= 1, got {levels}")
        self.in_channels, self.out_channels, self.ndim, self.levels = (
            in_channels, out_channels, ndim, levels)
        if positional_embedding is None:
            positional_embedding = grid == "node"
        self.embedding = GridEmbedding(ndim, grid) if positional_embedding else None
        self.pad_mode = "circular" if grid == "periodic" else "replicate"
        options = {"padding_mode": "circular" if grid == "periodic" else "zeros", "groups": groups}
        channels = [width * 2**level for level in range(levels + 1)]
        c_in = in_channels + (ndim if positional_embedding else 0)
        self.encoder = nn.ModuleList()
        for c in channels[:-1]:
            self.encoder.append(ConvBlock(c_in, c, ndim, **options))
            c_in = c
        self.down = downsample(ndim)
        self.bottleneck = ConvBlock(channels[-2], channels[-1], ndim, **options)
        pairs = zip(channels[:0:-1], channels[-2::-1], strict=True)  # (coarse, fine) channels
        self.up = nn.ModuleList(upsample(c_hi, c_lo, ndim) for c_hi, c_lo in pairs)
        self.decoder = nn.ModuleList(ConvBlock(2 * c, c, ndim, **options) for c in channels[-2::-1])
        self.output = ChannelLinear(width, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_field(x, self.in_channels, self.ndim)
        if self.embedding is not None:
            x = self.embedding(x)
        v, crop = pad_to_multiple(x, 2**self.levels, self.pad_mode)
        skips = []
        for block in self.encoder:
            v = block(v)
            skips.append(v)
            v = self.down(v)
        v = self.bottleneck(v)
        for up, block, skip in zip(self.up, self.decoder, reversed(skips), strict=True):
            v = block(torch.cat([up(v), skip], dim=1))
        return self.output(v[crop])


register("unet", UNet, "U-Net (Ronneberger et al. 2015; PDEArena variant with GroupNorm and GELU): "
         "convolutional baseline, tied to the training grid", ndims=(1, 2, 3),
         resolution_invariant=False)
