"""Neural operators with local kernels (Liu-Schiaffini et al., ICML 2024).

Two registered models: ``"local-no"``, a neural operator built from local kernels only
(:class:`LocalNO`), and ``"local-fno"``, the FNO with a differential and a local integral kernel
added to every Fourier layer (the paper's main architecture; :func:`local_fno`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from oplearn.models.fno import FNO
from oplearn.models.layers.embedding import GridEmbedding, embeds_coordinates
from oplearn.models.layers.grid import check_field, check_grid, check_ndim
from oplearn.models.layers.local_kernels import LocalKernels
from oplearn.models.layers.pointwise import ChannelLinear, ChannelMLP
from oplearn.models.registry import register


class LocalNO(nn.Module):
    """``(B, C_in, *S) -> (B, C_out, *S)`` at any resolution ``S``, from local kernels only.

    Lifting (pointwise linear map of the input and its grid coordinates to ``width`` channels),
    ``n_layers`` layers ``v <- gelu(D v + I v + W v)`` with ``D`` a differential kernel
    (:class:`~oplearn.models.layers.differential.DifferentialConv`), ``I`` a local integral kernel
    of physical radius ``radius`` (:class:`~oplearn.models.layers.local_integral.LocalIntegralConv`)
    and ``W`` pointwise (no GELU after the last layer), and a two-layer pointwise projection.

    Every layer sees a ball of radius ``radius`` (the differential kernel's stencil shrinks to a
    point as the grid refines), so the model's domain of dependence is ``n_layers * radius``
    whatever the resolution. The default ``4 x 0.25`` spans the unit domain twice, which a global
    solution operator such as Poisson's needs: on the zoo's periodic Poisson problem (400 steps,
    64 points) radius ``0.125`` (reach exactly 0.5) ended at relative error 0.039, ``0.25`` at
    0.012-0.021 over three seeds. The integral kernels are evaluated by FFT once their stencil is
    large (in 2D from 17 points per axis with the default radius), so their cost hardly grows with
    the radius.

    Args:
        in_channels, out_channels: channels of input and output fields.
        ndim: spatial dimensions (1 or 2).
        grid: ``"node"`` or ``"periodic"``.
        width: channels of the local layers.
        n_layers: number of local layers.
        kernels: local kernels of each layer, names among ``"differential"`` and ``"integral"``.
        radius: support radius of the integral kernels, in physical units.
        n_radial, n_angular: piecewise-linear basis of the integral kernels.
        kernel_size: stencil width of the differential kernels.
        centred: odd differential stencils
            (see :class:`~oplearn.models.layers.local_kernels.LocalKernels`).
        projection_channels: hidden channels of the projection.
        positional_embedding: append grid coordinates to the input; ``None``: yes, except on
            periodic grids with differential kernels
            (:func:`~oplearn.models.layers.embedding.embeds_coordinates`).
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        *,
        ndim: int = 2,
        grid: str = "node",
        width: int = 32,
        n_layers: int = 4,
        kernels: Sequence[str] = ("differential", "integral"),
        radius: float = 0.25,
        n_radial: int = 4,
        n_angular: int = 4,
        kernel_size: int = 3,
        centred: bool = True,
        projection_channels: int = 128,
        positional_embedding: bool | None = None,
    ):
        super().__init__()
        check_ndim(ndim, (1, 2))
        self.in_channels, self.out_channels, self.ndim = in_channels, out_channels, ndim
        self.grid = check_grid(grid)
        positional_embedding = embeds_coordinates(grid, positional_embedding,
                                                  differential_kernels="differential" in kernels)
        self.embedding = GridEmbedding(ndim, grid) if positional_embedding else None
        self.lifting = ChannelLinear(in_channels + (ndim if positional_embedding else 0), width)
        self.local = nn.ModuleList(
            LocalKernels(width, width, ndim, grid, kernels, kernel_size=kernel_size, radius=radius,
                         n_radial=n_radial, n_angular=n_angular, centred=centred)
            for _ in range(n_layers))
        self.skips = nn.ModuleList(ChannelLinear(width, width) for _ in range(n_layers))
        self.projection = ChannelMLP(width, projection_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_field(x, self.in_channels, self.ndim)
        if self.embedding is not None:
            x = self.embedding(x)
        v = self.lifting(x)
        for i, (local, skip) in enumerate(zip(self.local, self.skips, strict=True)):
            v = local(v) + skip(v)
            if i < len(self.local) - 1:
                v = F.gelu(v)
        return self.projection(v)


def local_fno(in_channels: int = 1, out_channels: int = 1, *, grid: str = "node",
              local_kernels: Sequence[str] = ("differential", "integral"),
              positional_embedding: bool | None = None, **kwargs) -> FNO:
    """The FNO with local kernels in every Fourier layer, ``v <- gelu(K v + W v + D v + I v)``
    (Liu-Schiaffini et al. 2024), with the kernels' defaults of
    :class:`~oplearn.models.layers.local_kernels.LocalKernels`. ``positional_embedding=None``
    appends coordinates except on periodic grids with differential kernels, as for the FNO
    (:func:`~oplearn.models.layers.embedding.embeds_coordinates`); ``kwargs`` are the other options
    of :class:`~oplearn.models.fno.FNO`."""
    return FNO(in_channels, out_channels, grid=grid, local_kernels=local_kernels,
               positional_embedding=positional_embedding, **kwargs)


register("local-no", LocalNO,
         "Local neural operator (Liu-Schiaffini et al. 2024): differential + local integral "
         "kernels only",
         ndims=(1, 2))
register("local-fno", local_fno,
         "FNO + differential and local integral kernels (Liu-Schiaffini et al. 2024)",
         ndims=(1, 2), extends=(FNO,))
