"""Shards written by independent jobs (``oplearn generate --shard k/n``): verify that they make up
one whole dataset, and merge them into one file, streaming (never more than a block of samples
in memory, so a dataset larger than memory merges too).

A merged file is what ``oplearn generate --shard 0/1`` writes for the same settings: the same
arrays (generation does not depend on the sharding) and the same provenance, so ``oplearn
generate`` sees it as complete and training reads it like any dataset.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from oplearn.data.dataset import _check_shards, _shard_range
from oplearn.data.hdf5 import FORMAT, _open
from oplearn.errors import DataFileError, InvalidInputError

BLOCK_BYTES = 64 * 2 ** 20  # samples are read and checked in blocks of about this size


@dataclass(frozen=True)
class ShardSet:
    """Shards checked to make one whole dataset.

    Attributes:
        paths: the files in sample order; ranges: their ``(start, stop)`` sample ranges;
        samples: the dataset's total; shapes: per-sample shapes of ``inputs`` and ``outputs``;
        provenance: the first shard's provenance, its own shard record included.
    """

    paths: tuple[Path, ...]
    ranges: tuple[tuple[int, int], ...]
    samples: int
    shapes: dict[str, tuple[int, ...]]
    provenance: dict[str, Any]


def verify(paths: Sequence[str | os.PathLike]) -> ShardSet:
    """Check that ``paths`` are the shards of one complete dataset: readable oplearn files, one
    provenance, sample counts that agree with their shard records, contiguous from 0 to the total
    with no overlap, matching per-sample shapes, and no NaN or inf (read block by block). Raises
    :class:`DataFileError` (one line) for the first problem found."""
    shards = _inspect(paths)
    for path in shards.paths:
        with _open(path) as h5:
            for name in ("inputs", "outputs"):
                for block in _blocks(h5[name]):
                    if not np.isfinite(block).all():
                        raise DataFileError(f"{path}: {name} contain NaN or inf")
    return shards


def merge(paths: Sequence[str | os.PathLike], out: str | os.PathLike) -> ShardSet:
    """Verify ``paths`` (:func:`verify`, while copying) and write them as one dataset file
    ``out``, atomically (``out.tmp``, renamed when complete). ``out`` must not exist yet."""
    out = Path(out)
    if out.exists():
        raise InvalidInputError(f"{out} exists; remove it or choose another --out")
    if not out.parent.is_dir():
        raise DataFileError(f"{out.parent}: output directory does not exist")
    shards = _inspect(paths)
    if out.resolve() in {p.resolve() for p in shards.paths}:
        raise InvalidInputError(f"{out} is one of the shards; choose another --out")
    provenance = dict(shards.provenance)
    if "shard" in provenance:  # files of `oplearn generate`: the record of a --shard 0/1 run
        provenance["shard"] = {"index": 0, "count": 1, "start": 0, "stop": shards.samples}
    tmp = out.with_name(out.name + ".tmp")
    try:
        with h5py.File(tmp, "w", track_order=False) as target:
            target.attrs["format"] = FORMAT
            target.attrs["provenance"] = json.dumps(provenance, sort_keys=True)
            for name in ("inputs", "outputs"):
                dataset = target.create_dataset(name, shape=(shards.samples, *shards.shapes[name]),
                                                dtype=np.float32, track_times=False)
                for path, (start, _) in zip(shards.paths, shards.ranges, strict=True):
                    with _open(path) as h5:
                        offset = start
                        for block in _blocks(h5[name]):
                            if not np.isfinite(block).all():
                                raise DataFileError(f"{path}: {name} contain NaN or inf")
                            dataset[offset:offset + len(block)] = block
                            offset += len(block)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return shards


def _inspect(paths: Sequence[str | os.PathLike]) -> ShardSet:
    """Headers and shapes only (no arrays read): the checks of :func:`verify` but NaN."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise InvalidInputError("no data file given")
    if len(set(p.resolve() for p in paths)) != len(paths):
        raise InvalidInputError("a file is given twice; give each shard once")
    provenances, counts, shapes = [], [], []
    for path in paths:
        with _open(path) as h5:
            try:
                provenance = json.loads(h5.attrs["provenance"])
                inputs, outputs = h5["inputs"], h5["outputs"]
                shape = {"inputs": tuple(inputs.shape[1:]), "outputs": tuple(outputs.shape[1:])}
                count = inputs.shape[0]
            except (KeyError, OSError, TypeError, ValueError) as exc:
                raise DataFileError(f"{path}: corrupt dataset file ({exc})") from None
            _check_shapes(path, provenance, inputs.shape, outputs.shape)
        provenances.append(provenance)
        counts.append(count)
        shapes.append(shape)
    order = _check_shards(paths, provenances, counts, allow_partial=False)
    first = order[0]
    for i in order:
        if shapes[i] != shapes[first]:
            raise DataFileError(f"{paths[i]}: samples of shape {shapes[i]} differ from {paths[first]}'s "
                                f"{shapes[first]}")
    ranges = tuple(_shard_range(provenances[i], counts[i])[:2] for i in order)
    return ShardSet(tuple(paths[i] for i in order), ranges, ranges[-1][1], shapes[first], provenances[first])


def _check_shapes(path: Path, provenance: dict[str, Any], inputs: tuple[int, ...], outputs: tuple[int, ...]) -> None:
    """The checks :func:`oplearn.data.hdf5.read_file` makes, on the shapes alone."""
    ndim = int(provenance.get("ndim", len(inputs) - 2))
    if (inputs[0] != outputs[0] or len(inputs) != ndim + 2 or len(outputs) not in (ndim + 2, ndim + 3)
            or inputs[2:] != outputs[len(outputs) - ndim:]):
        raise DataFileError(f"{path}: inputs {inputs} and outputs {outputs} do not match")


def _blocks(dataset: h5py.Dataset):
    """The dataset's samples in blocks of about :data:`BLOCK_BYTES` (at least one sample)."""
    per_sample = max(1, int(np.prod(dataset.shape[1:])) * dataset.dtype.itemsize)
    step = max(1, BLOCK_BYTES // per_sample)
    for start in range(0, dataset.shape[0], step):
        try:
            yield dataset[start:start + step]
        except OSError as exc:
            raise DataFileError(f"{dataset.file.filename}: corrupt or truncated data ({exc})") from None
