"""In-memory datasets of fields on regular grids, loaded from oplearn or neuraloperator files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from oplearn.data.hdf5 import first_difference, read_file
from oplearn.errors import DataFileError, InvalidInputError

# neuraloperator's Darcy files store the coefficient as a 0/1 mask; the FNO paper's values.
NEURALOPERATOR_DARCY_VALUES = (3.0, 12.0)


class PairedFields:
    """What a set of input/output field pairs offers, in memory or read on demand: its length,
    grid, resolution, and the first samples or a split (subclasses give ``_slice``)."""

    inputs: Any
    outputs: Any
    provenance: dict[str, Any]

    def __len__(self) -> int:
        return self.inputs.shape[0]

    @property
    def resolution(self) -> int:
        return int(self.inputs.shape[-1])

    @property
    def grid(self) -> str:
        return self.provenance.get("grid", "node")

    def split(self, n_first: int) -> tuple[Any, Any]:
        """The first ``n_first`` samples and the rest."""
        if not 0 < n_first < len(self):
            raise InvalidInputError(f"cannot split {len(self)} samples at {n_first}")
        return self._slice(0, n_first), self._slice(n_first, len(self))

    def take(self, n: int) -> Any:
        """The first ``n`` samples (all if ``n`` is larger)."""
        return self._slice(0, min(n, len(self)))

    def _slice(self, first: int, last: int) -> Any:
        raise NotImplementedError


@dataclass
class FieldDataset(PairedFields):
    """Pairs of input and output fields.

    Attributes:
        inputs: ``(N, C_in, *S)`` float32 tensor.
        outputs: ``(N, C_out, *S)`` float32 tensor; a time series stored as ``(N, T, C, *S)`` is
            loaded as ``(N, T * C, *S)`` (time-major channels, ``provenance["time_steps"] = T``).
        provenance: where the data came from (PDE, parameters, grid, seed, ...).
    """

    inputs: torch.Tensor
    outputs: torch.Tensor
    provenance: dict[str, Any]

    def _slice(self, first: int, last: int) -> FieldDataset:
        return FieldDataset(self.inputs[first:last], self.outputs[first:last], self.provenance)


def check_subsample(grid: str, s: int, factor: int) -> None:
    """Refuse a ``factor`` that does not take every ``factor``-th point of ``s`` to a grid of the
    same kind (rule in :func:`subsample`)."""
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise InvalidInputError(f"subsample factor must be an integer >= 1, got {factor!r}")
    divisible = (s - 1) % factor == 0 if grid == "node" else s % factor == 0
    if not divisible:
        raise InvalidInputError(f"cannot subsample a {grid} grid of {s} points by {factor}")


def subsample(data: FieldDataset, factor: int) -> FieldDataset:
    """Every ``factor``-th grid point along each spatial axis.

    Node-centred grids need ``(s - 1) % factor == 0`` (421 -> 211 -> 141 -> 106 -> 85);
    periodic grids need ``s % factor == 0``.
    """
    if factor == 1:
        return data
    check_subsample(data.grid, data.resolution, factor)
    ndim = data.inputs.ndim - 2
    index = (slice(None), slice(None)) + (slice(None, None, factor),) * ndim
    return FieldDataset(data.inputs[index].contiguous(), data.outputs[index].contiguous(),
                        {**data.provenance, "subsample": factor})


def _load_neuraloperator_pt(path: Path) -> FieldDataset:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt pickle/zip
        raise DataFileError(f"{path}: not a readable PyTorch file ({type(exc).__name__})") from None
    if not isinstance(obj, dict) or "x" not in obj or "y" not in obj:
        raise DataFileError(f"{path}: expected a dict with tensors 'x' and 'y' (neuraloperator format)")
    x, y = torch.as_tensor(obj["x"]).double(), torch.as_tensor(obj["y"]).double()
    if x.ndim != 3 or x.shape != y.shape:
        raise DataFileError(f"{path}: 'x' {tuple(x.shape)} and 'y' {tuple(y.shape)} must both be (N, s, s)")
    low, high = NEURALOPERATOR_DARCY_VALUES
    is_mask = bool(((x == 0) | (x == 1)).all())
    a = low + (high - low) * x if is_mask else x
    provenance = {"pde": "darcy", "grid": "node", "ndim": 2, "resolution": int(x.shape[-1]),
                  "source": f"neuraloperator file {path.name}",
                  "coefficient": f"mask mapped to {low}/{high}" if is_mask else "as stored"}
    return FieldDataset(a[:, None].float(), y[:, None].float(), provenance)


def _shard_range(provenance: dict[str, Any], samples: int) -> tuple[int, int, int]:
    """``(start, stop, total)`` of the samples a file holds; a file without a shard record is a
    whole dataset of its own ``samples``."""
    shard = provenance.get("shard") or {}
    try:
        start = int(shard.get("start", 0))
        stop = int(shard.get("stop", start + samples))
        total = int(provenance.get("samples_total", stop))
    except (AttributeError, TypeError, ValueError):
        raise DataFileError(f"malformed shard record {shard!r} in a dataset file") from None
    return start, stop, total


def _check_shards(paths: Sequence[Path], provenances: list[dict[str, Any]], counts: list[int],
                  allow_partial: bool) -> list[int]:
    """The order that puts the shards ``paths`` back together; refuses (one line) files of
    different datasets, files whose sample count contradicts their shard record, overlaps and,
    unless ``allow_partial``, a gap or a missing start or end."""
    ranges = [_shard_range(prov, n) for prov, n in zip(provenances, counts, strict=True)]
    order = sorted(range(len(paths)), key=lambda i: ranges[i][:2])
    first = order[0]
    reference = {k: v for k, v in provenances[first].items() if k != "shard"}
    for i in order:
        other = {k: v for k, v in provenances[i].items() if k != "shard"}
        key = first_difference(reference, other)
        if key is not None:
            raise DataFileError(f"{paths[i]}: {key} differs from {paths[first]}; not shards of one dataset")
        start, stop, _ = ranges[i]
        if stop - start != counts[i]:
            raise DataFileError(f"{paths[i]}: holds {counts[i]} samples but its record says "
                                f"samples {start}..{stop - 1}")
    total = ranges[first][2]
    expected = 0
    for i in order:
        start, stop, _ = ranges[i]
        if start < expected:
            raise DataFileError(f"{paths[i]}: samples {start}..{min(stop, expected) - 1} overlap "
                                "another shard; give each shard once")
        if start > expected and not allow_partial:
            raise DataFileError(f"samples {expected}..{start - 1} of {total} are missing: no file "
                                "given holds them (generate or add the missing shard)")
        expected = stop
    if expected < total and not allow_partial:
        raise DataFileError(f"samples {expected}..{total - 1} of {total} are missing: no file given "
                            "holds them (generate or add the missing shard)")
    return order


def _load_oplearn_h5(paths: Sequence[Path], allow_partial: bool = False) -> FieldDataset:
    pieces = [read_file(p) for p in paths]
    order = _check_shards(paths, [piece[2] for piece in pieces], [len(piece[0]) for piece in pieces],
                          allow_partial)
    inputs = np.concatenate([pieces[i][0] for i in order])
    outputs = np.concatenate([pieces[i][1] for i in order])
    provenance = dict(pieces[order[0]][2])
    if outputs.ndim == inputs.ndim + 1:  # (N, T, C, *S): time steps become channels
        provenance["time_steps"] = int(outputs.shape[1])
        outputs = outputs.reshape(outputs.shape[0], -1, *outputs.shape[3:])
    ranges = [_shard_range(pieces[i][2], len(pieces[i][0]))[:2] for i in order]
    if len(paths) > 1 or ranges[0] != (0, provenance.get("samples_total", ranges[0][1])):
        provenance["shard"] = {"files": len(paths), "ranges": [list(r) for r in ranges]}
    return FieldDataset(torch.from_numpy(inputs), torch.from_numpy(outputs), provenance)


def load(paths: str | os.PathLike | Sequence[str | os.PathLike], subsample_factor: int = 1, *,
         allow_partial: bool = False) -> FieldDataset:
    """Load one dataset from an oplearn HDF5 file, several shards of one, or a neuraloperator
    ``.pt`` file; optionally subsample it.

    Shards must make up the whole dataset: contiguous, from sample 0 to the dataset's total, one
    provenance. ``allow_partial=True`` accepts a subset (gaps or missing ends, never overlaps);
    the provenance's ``shard`` then lists the sample ranges loaded. Raises
    :class:`DataFileError` for missing, corrupt, mismatched, incomplete or non-finite data."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise InvalidInputError("no data file given")
    for p in paths:
        if not p.is_file():
            raise DataFileError(f"{p}: no such file")
    if paths[0].suffix == ".pt":
        if len(paths) > 1:
            raise InvalidInputError("neuraloperator .pt files are loaded one at a time")
        data = _load_neuraloperator_pt(paths[0])
    else:
        data = _load_oplearn_h5(paths, allow_partial)
    if len(data) == 0:
        raise DataFileError(f"{paths[0]}: holds no samples")
    for name, arr in (("inputs", data.inputs), ("outputs", data.outputs)):
        if not torch.isfinite(arr).all():
            raise DataFileError(f"{paths[0]}: {name} contain NaN or inf")
    return subsample(data, subsample_factor)
