"""PDEBench's HDF5 files (Takamoto et al. 2022): read both of its layouts, write the single-file one.

Single-file layout (1D advection, Burgers, diffusion-reaction)::

    /tensor        (N, T, X) float32       the solution, sample by time by space
    /x-coordinate  (X,)                    cell centres
    /t-coordinate  (T + 1,) or (T,)        PDEBench's generators store one time more than steps
    attrs: the PDE's parameters (e.g. beta for advection; Nu and rho for diffusion-reaction)

Per-sample layout (2D diffusion-reaction, diffusion-sorption, shallow water): groups ``"0000"``,
``"0001"``, ... each with ``data`` (T, X, C) or, in 2-D, (T, Ny, Nx, C), and ``grid/x``
(``grid/y``), ``grid/t``.

Both read into :class:`Trajectories`: ``fields`` (N, T, C, *S) float32, the coordinates and the
attributes. Bad files raise :class:`~oplearn.errors.DataFileError` naming what is wrong.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from oplearn.errors import DataFileError, InvalidInputError


@dataclass
class Trajectories:
    """Solutions over time: ``fields`` (N, T, C, *S), ``times`` (T,) of the stored steps, one
    coordinate array per spatial axis in ``coordinates``, the file's ``attrs``."""

    fields: torch.Tensor
    times: np.ndarray
    coordinates: tuple[np.ndarray, ...]
    attrs: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.fields.shape[0]


def read_pdebench(path: str | os.PathLike, *, samples: int | None = None, time_stride: int = 1,
                  space_stride: int = 1) -> Trajectories:
    """A PDEBench HDF5 file in either layout (module notes) as :class:`Trajectories`: its first
    ``samples`` trajectories (all by default), every ``time_stride``-th stored time and every
    ``space_stride``-th point of each axis, read as such (PDEBench's ``reduced_*`` options; a
    full advection file is 8 GB)."""
    for name, value in (("time_stride", time_stride), ("space_stride", space_stride)):
        if not isinstance(value, int) or value < 1:
            raise InvalidInputError(f"{name} must be an integer >= 1, got {value!r}")
    if samples is not None and (not isinstance(samples, int) or samples < 1):
        raise InvalidInputError(f"samples must be an integer >= 1, got {samples!r}")
    cut = _Cut(samples, time_stride, space_stride)
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    try:
        with h5py.File(path, "r") as h5:
            if "tensor" in h5:
                return _read_single(h5, path, cut)
            groups = sorted(name for name in h5 if isinstance(h5[name], h5py.Group) and "data" in h5[name])
            if groups:
                return _read_groups(h5, groups[: cut.samples], path, cut)
    except OSError as exc:
        raise DataFileError(f"{path}: not a readable HDF5 file ({exc})") from None
    raise DataFileError(f"{path}: neither PDEBench layout (no 'tensor' dataset, no groups with 'data')")


def pdebench_layout(path: str | os.PathLike) -> dict[str, Any] | None:
    """What a PDEBench file holds, from its metadata alone (nothing read): ``layout``
    (``"single"`` or ``"groups"``), ``shape`` (N, T, C, *S) and ``attrs``; ``None`` for any other
    file, or one that is not HDF5."""
    try:
        with h5py.File(path, "r") as h5:
            if "tensor" in h5:
                n, t, *space = h5["tensor"].shape
                return {"layout": "single", "shape": (n, t, 1, *space), "attrs": _attrs(h5)}
            groups = [name for name in h5 if isinstance(h5[name], h5py.Group) and "data" in h5[name]]
            if groups:
                t, *space, c = h5[groups[0]]["data"].shape
                return {"layout": "groups", "shape": (len(groups), t, c, *space), "attrs": _attrs(h5)}
    except (OSError, ValueError):  # not HDF5, or shapes no PDEBench file has
        return None
    return None


@dataclass(frozen=True)
class _Cut:
    samples: int | None
    time_stride: int
    space_stride: int


def _read_single(h5: h5py.File, path: Path, cut: _Cut) -> Trajectories:
    tensor = h5["tensor"]
    if tensor.ndim < 3:
        raise DataFileError(f"{path}: 'tensor' has shape {tensor.shape}; expected (N, T, X[, Y])")
    for name in ("x-coordinate", "t-coordinate"):
        if name not in h5:
            raise DataFileError(f"{path}: no '{name}' dataset")
    x, t = np.asarray(h5["x-coordinate"]), np.asarray(h5["t-coordinate"])
    n_time, n_x = tensor.shape[1], tensor.shape[2]
    if x.shape != (n_x,) or t.shape[0] not in (n_time, n_time + 1):
        raise DataFileError(f"{path}: coordinates {x.shape} and {t.shape} do not fit 'tensor' {tensor.shape}")
    space = (slice(None, None, cut.space_stride),) * (tensor.ndim - 2)
    values = tensor[(slice(0, cut.samples), slice(None, None, cut.time_stride), *space)]
    coords = tuple(np.asarray(h5[name])[:: cut.space_stride] for name in ("x-coordinate", "y-coordinate")
                   if name in h5)
    fields = _finite(torch.from_numpy(np.asarray(values, dtype=np.float32)).unsqueeze(2), path)
    return Trajectories(fields, t[:n_time][:: cut.time_stride], coords, _attrs(h5))


def _read_groups(h5: h5py.File, groups: list[str], path: Path, cut: _Cut) -> Trajectories:
    """PDEBench writes ``data`` as (T, X, C) in 1-D and (T, Ny, Nx, C) in 2-D: the coordinates come
    in the axes' order, ``(grid/y, grid/x)`` in 2-D."""
    first = h5[groups[0]]
    shape = first["data"].shape
    if len(shape) < 3:
        raise DataFileError(f"{path}: {groups[0]}/data has shape {shape}; expected (T, X, C) or (T, Ny, Nx, C)")
    index = (slice(None, None, cut.time_stride),) + (slice(None, None, cut.space_stride),) * (len(shape) - 2)
    samples = []
    for name in groups:
        data = h5[name]["data"]
        if data.shape != shape:
            raise DataFileError(f"{path}: {name}/data has shape {data.shape}, {groups[0]}/data {shape}")
        samples.append(np.asarray(data[index], dtype=np.float32))
    stacked = torch.from_numpy(np.stack(samples)).movedim(-1, 2)  # (N, T, *S, C) -> (N, T, C, *S)
    grid = first["grid"] if "grid" in first else {}
    axes = ("x",) if len(shape) == 3 else ("y", "x")
    coords = tuple(np.asarray(grid[a])[:: cut.space_stride] for a in axes if a in grid)
    if any(len(c) != n for c, n in zip(coords, stacked.shape[3:], strict=False)):
        raise DataFileError(f"{path}: grid coordinates of lengths {[len(c) for c in coords]} do not fit "
                            f"data {shape}")
    times = np.asarray(grid["t"]) if "t" in grid else np.arange(shape[0], dtype=np.float64)
    return Trajectories(_finite(stacked, path), times[: shape[0]][:: cut.time_stride], coords,
                        {**_attrs(h5), "groups": groups})


def _attrs(h5: h5py.File) -> dict[str, Any]:
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in h5.attrs.items()}


def _finite(fields: torch.Tensor, path: Path) -> torch.Tensor:
    if not bool(torch.isfinite(fields).all()):
        raise DataFileError(f"{path}: the fields hold NaN or infinite values")
    return fields


def write_pdebench(path: str | os.PathLike, solution: np.ndarray, x: np.ndarray, t: np.ndarray,
                   attrs: dict[str, Any] | None = None) -> None:
    """Write PDEBench's single-file layout atomically: ``solution`` (N, T, X) as ``tensor``,
    ``x`` (X,) and ``t`` (T + 1,) as its generators store it (or (T,))."""
    solution = np.asarray(solution, dtype=np.float32)
    if solution.ndim != 3 or x.shape != (solution.shape[2],) or t.shape[0] not in (solution.shape[1], solution.shape[1] + 1):
        raise InvalidInputError(f"solution {solution.shape}, x {x.shape} and t {t.shape} do not make "
                                "(N, T, X), (X,) and (T + 1,)")
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as h5:
        h5.create_dataset("tensor", data=solution)
        h5.create_dataset("x-coordinate", data=np.asarray(x, dtype=np.float32))
        h5.create_dataset("t-coordinate", data=np.asarray(t, dtype=np.float32))
        for key, value in (attrs or {}).items():
            h5.attrs[key] = value
    os.replace(tmp, path)
