"""Training data read from HDF5 files as it is needed, never loaded whole: for datasets larger
than memory (``oplearn train --stream``).

:class:`StreamedDataset` has the in-memory :class:`~oplearn.data.dataset.FieldDataset`'s
interface (``len``, ``resolution``, ``grid``, ``provenance``, ``split``, ``take``) with
``inputs`` and ``outputs`` that are :class:`LazyFields`: indexing one with sample indices reads
those samples (sorted, one read per file), and :meth:`LazyFields.blocks` walks it in blocks of
about 64 MB for the one-pass statistics (the normaliser, the data's fingerprint). Files are opened
lazily in each process, so a ``DataLoader``'s workers each read for themselves.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from oplearn.data.dataset import PairedFields, check_subsample
from oplearn.data.shards import _inspect
from oplearn.errors import DataFileError, InvalidInputError

BLOCK_BYTES = 16 * 2 ** 20  # one pass reads blocks of about this size (a few copies live at once)


class LazyFields:
    """``(N, C, *S)`` float32 fields of dataset ``name`` in shard files, read on demand.

    Args:
        paths: shard files in sample order; counts: samples in each.
        name: ``"inputs"`` or ``"outputs"``; sample_shape: one stored sample, ``(C, *S)``, or
            ``(T, C, *S)`` with ``merge_time`` (read as ``T * C`` channels, time-major).
        factor: keep every ``factor``-th grid point.
        first, last: the samples ``[first, last)`` of the concatenated files this view shows.
    """

    def __init__(self, paths: Sequence[Path], counts: Sequence[int], name: str, sample_shape: tuple[int, ...],
                 merge_time: bool = False, factor: int = 1, first: int = 0, last: int | None = None):
        self.paths, self.counts, self.name = tuple(paths), tuple(counts), name
        self.sample_shape, self.merge_time, self.factor = tuple(sample_shape), merge_time, factor
        self.offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.first, self.last = first, int(self.offsets[-1]) if last is None else last
        spatial_dims = len(sample_shape) - 1 - int(merge_time)
        channels = int(np.prod(sample_shape[:len(sample_shape) - spatial_dims]))
        spatial = tuple(len(range(0, n, factor)) for n in sample_shape[len(sample_shape) - spatial_dims:])
        self.shape = (self.last - self.first, channels, *spatial)
        self._files: dict[int, h5py.File] = {}
        self._pid = os.getpid()

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def view(self, first: int, last: int) -> LazyFields:
        """Samples ``[first, last)`` of this view, still unread."""
        return LazyFields(self.paths, self.counts, self.name, self.sample_shape, self.merge_time, self.factor,
                          self.first + first, self.first + last)

    def __getitem__(self, key: Any) -> torch.Tensor:
        """The samples ``key`` (indices, a tensor of them, or a slice) as a tensor ``(B, C, *S)``."""
        if isinstance(key, slice):
            indices = np.arange(len(self))[key]
        else:
            indices = np.asarray(key.cpu() if isinstance(key, torch.Tensor) else key, dtype=np.int64).reshape(-1)
        if len(indices) and (indices.min() < 0 or indices.max() >= len(self)):
            raise IndexError(f"sample index out of range for {len(self)} samples")
        return torch.from_numpy(self._read(indices + self.first))

    def blocks(self, block_bytes: int = BLOCK_BYTES) -> Iterator[torch.Tensor]:
        """The view's samples in order, in blocks of about ``block_bytes``."""
        per_sample = max(1, int(np.prod(self.shape[1:])) * 4)
        step = max(1, block_bytes // per_sample)
        for start in range(0, len(self), step):
            yield self[slice(start, min(start + step, len(self)))]

    def _read(self, indices: np.ndarray) -> np.ndarray:
        out = np.empty((len(indices), *self.shape[1:]), dtype=np.float32)
        order = np.argsort(indices, kind="stable")
        which = np.searchsorted(self.offsets, indices[order], side="right") - 1
        for f in np.unique(which):
            picked = order[which == f]
            local = indices[picked] - self.offsets[f]
            unique, inverse = np.unique(local, return_inverse=True)  # h5py reads increasing indices
            try:
                raw = self._file(int(f))[self.name][unique]
            except (OSError, KeyError) as exc:
                raise DataFileError(f"{self.paths[f]}: cannot read {self.name} ({exc})") from None
            if self.merge_time:
                raw = raw.reshape(len(unique), -1, *raw.shape[3:])
            if self.factor > 1:
                raw = raw[(slice(None), slice(None)) + (slice(None, None, self.factor),) * (self.ndim - 2)]
            out[picked] = raw if len(unique) == len(local) else raw[inverse]  # (local is sorted)
        return out

    def _file(self, index: int) -> h5py.File:
        if self._pid != os.getpid():  # a DataLoader worker: its own handles
            self._files, self._pid = {}, os.getpid()
        if index not in self._files:
            self._files[index] = h5py.File(self.paths[index], "r")
        return self._files[index]

    def close(self) -> None:
        """Close this process's file handles (they reopen when read again)."""
        for handle in self._files.values():
            handle.close()
        self._files = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_files": {}}


class StreamedDataset(PairedFields):
    """Pairs of fields in HDF5 shard files, read on demand (see the module docstring)."""

    def __init__(self, inputs: LazyFields, outputs: LazyFields, provenance: dict[str, Any]):
        self.inputs, self.outputs, self.provenance = inputs, outputs, provenance

    def _slice(self, first: int, last: int) -> StreamedDataset:
        return StreamedDataset(self.inputs.view(first, last), self.outputs.view(first, last), self.provenance)

    def load(self) -> Any:
        """The samples in memory, as a :class:`~oplearn.data.dataset.FieldDataset` (a test set)."""
        from oplearn.data.dataset import FieldDataset

        data = FieldDataset(self.inputs[:], self.outputs[:], self.provenance)
        for name, arr in (("inputs", data.inputs), ("outputs", data.outputs)):
            if not torch.isfinite(arr).all():
                raise DataFileError(f"{self.inputs.paths[0]}: {name} contain NaN or inf")
        return data


def open_streamed(paths: str | os.PathLike | Sequence[str | os.PathLike], subsample_factor: int = 1) -> StreamedDataset:
    """The shards ``paths`` of one complete dataset (checked as :func:`oplearn.data.load` checks
    them, headers only), to be read on demand. NaN and inf are found as the samples are read
    (the normaliser's pass reads them all first)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if any(p.suffix == ".pt" for p in paths):
        raise InvalidInputError("--stream reads oplearn HDF5 files; neuraloperator .pt files are loaded whole")
    shards = _inspect(paths)
    counts = [b - a for a, b in shards.ranges]
    provenance = dict(shards.provenance)  # as load() builds it: the same fingerprint
    in_shape, out_shape = shards.shapes["inputs"], shards.shapes["outputs"]
    merge_time = len(out_shape) == len(in_shape) + 1  # (T, C, *S): time steps become channels
    if merge_time:
        provenance["time_steps"] = int(out_shape[0])
    if len(shards.paths) > 1 or shards.ranges[0] != (0, provenance.get("samples_total", shards.ranges[0][1])):
        provenance["shard"] = {"files": len(shards.paths), "ranges": [list(r) for r in shards.ranges]}
    if subsample_factor != 1:
        check_subsample(provenance.get("grid", "node"), in_shape[-1], subsample_factor)
        provenance["subsample"] = subsample_factor
    inputs = LazyFields(shards.paths, counts, "inputs", in_shape, False, subsample_factor)
    outputs = LazyFields(shards.paths, counts, "outputs", out_shape, merge_time, subsample_factor)
    return StreamedDataset(inputs, outputs, provenance)
