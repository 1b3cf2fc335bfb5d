"""Atomic file writes: a temporary file in the same folder, renamed when complete."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import torch

from oplearn.errors import DataFileError


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")


def save_torch(obj: Any, path: str | os.PathLike) -> None:
    path = Path(path)
    torch.save(obj, _tmp(path))
    os.replace(_tmp(path), path)


def save_json(obj: Any, path: str | os.PathLike) -> None:
    path = Path(path)
    _tmp(path).write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    os.replace(_tmp(path), path)


def save_jsonl(rows: list[dict[str, Any]], path: str | os.PathLike) -> None:
    path = Path(path)
    _tmp(path).write_text("".join(json.dumps(row, sort_keys=True) + "\n" for row in rows))
    os.replace(_tmp(path), path)


def load_torch_data(path: str | os.PathLike) -> Any:
    """A ``torch.save`` file loaded as data only (``weights_only=True``): a file holding any other
    object is refused without running it. Raises :class:`DataFileError` (missing, corrupt, refused)."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path.parent}: no {path.name}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only" in str(exc).lower() or "weights_only" in str(exc):
            raise DataFileError(f"{path}: refused: it holds objects other than tensors and plain "
                                "data, which could run code when loaded") from None
        raise DataFileError(f"{path}: corrupt checkpoint (UnpicklingError)") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise DataFileError(f"{path}: corrupt checkpoint ({type(exc).__name__})") from None
