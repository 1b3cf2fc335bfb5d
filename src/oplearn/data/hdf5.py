"""The oplearn dataset file: HDF5 with ``inputs``, ``outputs`` and a provenance record.

Layout::

    /inputs   (N, C_in, *S)   float32
    /outputs  (N, C_out, *S)  float32, or (N, T, C_out, *S) for time series
    attrs: format = "oplearn-dataset/1", provenance = JSON (PDE, parameters, grid, seed,
           solver, tolerance, library version, shard)

Files are written to a temporary name and renamed when complete, and contain no timestamps,
so the same data always gives the same bytes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from oplearn.errors import DataFileError

FORMAT = "oplearn-dataset/1"


def write_file(path: str | os.PathLike, inputs: np.ndarray, outputs: np.ndarray,
               provenance: dict[str, Any]) -> None:
    """Write a complete dataset file atomically (``path.tmp`` then rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w", track_order=False) as h5:
        h5.attrs["format"] = FORMAT
        h5.attrs["provenance"] = json.dumps(provenance, sort_keys=True)
        for name, arr in (("inputs", inputs), ("outputs", outputs)):
            h5.create_dataset(name, data=np.asarray(arr, dtype=np.float32), track_times=False)
    os.replace(tmp, path)


def first_difference(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    """The first key (sorted) whose value differs between two provenance records, or ``None``."""
    return min((k for k in set(a) | set(b) if a.get(k) != b.get(k)), default=None)


def read_provenance(path: str | os.PathLike) -> dict[str, Any]:
    """The provenance record of a dataset file, without reading its arrays."""
    with _open(path) as h5:
        return json.loads(h5.attrs["provenance"])


def read_file(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """``(inputs, outputs, provenance)`` of a dataset file; raises :class:`DataFileError`."""
    with _open(path) as h5:
        try:
            inputs = h5["inputs"][()]
            outputs = h5["outputs"][()]
        except (KeyError, OSError) as exc:
            raise DataFileError(f"{path}: corrupt dataset file ({exc})") from None
        provenance = json.loads(h5.attrs["provenance"])
    ndim = int(provenance.get("ndim", inputs.ndim - 2))
    if (inputs.shape[0] != outputs.shape[0] or inputs.ndim != ndim + 2
            or outputs.ndim not in (ndim + 2, ndim + 3) or inputs.shape[2:] != outputs.shape[-ndim:]):
        raise DataFileError(
            f"{path}: inputs {inputs.shape} and outputs {outputs.shape} do not match"
        )
    return inputs, outputs, provenance


class _open:
    """Open a file as an oplearn dataset, turning every failure into :class:`DataFileError`."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __enter__(self) -> h5py.File:
        if not self.path.is_file():
            raise DataFileError(f"{self.path}: no such file")
        try:
            self.h5 = h5py.File(self.path, "r")
        except OSError:
            raise DataFileError(f"{self.path}: not a readable HDF5 file (corrupt or truncated)") from None
        if self.h5.attrs.get("format") != FORMAT or "provenance" not in self.h5.attrs:
            self.h5.close()
            raise DataFileError(f"{self.path}: not an oplearn dataset (no '{FORMAT}' header)")
        return self.h5

    def __exit__(self, *exc: object) -> None:
        self.h5.close()
