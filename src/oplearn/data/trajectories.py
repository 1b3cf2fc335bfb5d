"""Trajectories ``(N, T, C, *S)`` from a file: a PDEBench file, or an oplearn time series whose
input is its first snapshot (``oplearn generate navier-stokes``: ``w0``, then the snapshots)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from oplearn.data.dataset import check_subsample, load
from oplearn.data.pdebench import pdebench_layout, read_pdebench
from oplearn.errors import InvalidInputError


def read_trajectories(path: str | os.PathLike, time_stride: int = 1,
                      space_stride: int = 1) -> tuple[torch.Tensor, str, str]:
    """The trajectories in ``path`` (every ``time_stride``-th time, every ``space_stride``-th
    point), their grid and their PDE's name. PDEBench's 1-D single files are periodic grids, its
    per-sample files are taken as node grids."""
    layout = pdebench_layout(path) if Path(path).is_file() else None
    if layout is not None:
        read = read_pdebench(path, time_stride=time_stride, space_stride=space_stride)
        return read.fields, "node" if layout["layout"] == "groups" else "periodic", "pdebench"
    data = load(path)
    steps = data.provenance.get("time_steps")
    channels = data.inputs.shape[1]
    if not steps or data.outputs.shape[1] != steps * channels:
        raise InvalidInputError(f"{path}: --rollout needs trajectories (a PDEBench file, or a time series whose "
                                f"input is its first snapshot); this file maps {channels} input channel(s) to "
                                f"{data.outputs.shape[1]} output channel(s)")
    fields = torch.cat([data.inputs.unsqueeze(1), data.outputs.unflatten(1, (steps, channels))], dim=1)
    for n in fields.shape[3:]:
        check_subsample(data.grid, n, space_stride)
    space = (slice(None, None, space_stride),) * (fields.ndim - 3)
    fields = fields[(slice(None), slice(None, None, time_stride), slice(None), *space)].contiguous()
    return fields, data.grid, str(data.provenance.get("pde", "unknown"))
