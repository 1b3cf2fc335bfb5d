"""Branch and trunk inputs of DeepONet-type models on regular grids.

A DeepONet's branch net reads the input function at a fixed set of sensor points, and its trunk
net reads the coordinates of the points where the output is wanted. On a grid of any resolution,
:class:`SensorSampler` interpolates the field to the same sensors, so the branch sees the same
numbers at every resolution, and :func:`grid_points` lists the output grid's coordinates.

Sensors are spaced ``1 / sensors`` along each axis of ``[0, 1]^d``, in the convention of the grid:
on node-centred grids ``sensors + 1`` points ``j / sensors`` including both ends, on periodic
grids ``sensors`` points ``j / sensors`` (``x = 1`` is ``x = 0``). A grid therefore contains the
sensors, and the sampler returns exact samples, whenever ``s - 1`` (node) or ``s`` (periodic) is
a multiple of ``sensors``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from oplearn.models.layers.grid import check_field, check_grid, grid_coordinates

_MODES = {1: "linear", 2: "bilinear", 3: "trilinear"}


class SensorSampler(nn.Module):
    """``(B, C, *S) -> (B, C, *M)``: the field at fixed sensor points, by multilinear interpolation.

    ``M = sensors + 1`` per axis on node-centred grids, ``M = sensors`` on periodic ones (see the
    module docstring). Interpolation is piecewise (multi)linear between the grid points; on
    periodic grids it wraps around, interpolating between the last point and the first.

    Args:
        ndim: spatial dimensions (1, 2 or 3).
        grid: ``"node"`` or ``"periodic"``.
        sensors: sensor intervals per axis (sensor spacing ``1 / sensors``).
    """

    def __init__(self, ndim: int, grid: str = "node", sensors: int = 32):
        super().__init__()
        if ndim not in _MODES:
            raise ValueError(f"ndim must be 1, 2 or 3, got {ndim}")
        if sensors < 1:
            raise ValueError(f"sensors must be a positive int, got {sensors}")
        self.ndim, self.grid, self.sensors = ndim, check_grid(grid), sensors

    @property
    def per_axis(self) -> int:
        """Sensor points per axis."""
        return self.sensors + 1 if self.grid == "node" else self.sensors

    @property
    def n_points(self) -> int:
        """Sensor points in all, per channel."""
        return self.per_axis**self.ndim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_field(x, None, self.ndim)
        if self.grid == "periodic":
            # close the periodic grid into a node grid of s + 1 points on [0, 1]: append x = 1 (= x = 0)
            for dim in range(2, x.ndim):
                x = torch.cat([x, x.narrow(dim, 0, 1)], dim=dim)
        # node grids: input points i / (s - 1) and sensors j / sensors both include the two ends,
        # which is what align_corners=True interpolates between
        y = F.interpolate(x, size=(self.sensors + 1,) * self.ndim, mode=_MODES[self.ndim],
                          align_corners=True)
        if self.grid == "periodic":
            y = y[(Ellipsis, *(slice(0, self.sensors) for _ in range(self.ndim)))]
        return y

    def extra_repr(self) -> str:
        return f"ndim={self.ndim}, grid={self.grid!r}, sensors={self.sensors}"


def grid_points(spatial: tuple[int, ...], grid: str, like: torch.Tensor) -> torch.Tensor:
    """``(N, d)`` coordinates of the points of a grid, ``N = prod(spatial)``, in row-major order
    (the order of ``x.flatten(2)`` for a field ``x`` of shape ``(B, C, *spatial)``).

    The coordinates are those of :class:`GridEmbedding`, on ``like``'s device and dtype.
    """
    coords = grid_coordinates(spatial, grid, dtype=like.dtype, device=like.device)
    return coords.reshape(len(spatial), math.prod(spatial)).T
