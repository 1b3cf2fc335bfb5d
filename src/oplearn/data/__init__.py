"""Datasets: the HDF5 file format, resumable sharded generation, loading and resampling.

Names are imported lazily so that generation workers do not pay for importing PyTorch.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "FORMAT": "oplearn.data.hdf5",
    "read_file": "oplearn.data.hdf5",
    "write_file": "oplearn.data.hdf5",
    "FieldDataset": "oplearn.data.dataset",
    "load": "oplearn.data.dataset",
    "subsample": "oplearn.data.dataset",
    "generate": "oplearn.data.generation",
    "GenerationResult": "oplearn.data.generation",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'oplearn.data' has no attribute {name!r}")
