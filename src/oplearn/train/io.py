"""Atomic file writes (a temporary file in the same folder, flushed to disk and renamed when
complete), and checkpoints that detect their own corruption and keep the previous one."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch

from oplearn.errors import DataFileError


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")


def _save_synced(obj: Any, path: Path) -> None:
    """``torch.save`` to ``path``'s temporary name, flushed to disk (not yet renamed)."""
    with open(_tmp(path), "wb") as handle:
        torch.save(obj, handle)
        handle.flush()
        os.fsync(handle.fileno())


def save_torch(obj: Any, path: str | os.PathLike) -> None:
    path = Path(path)
    _save_synced(obj, path)
    os.replace(_tmp(path), path)


DIGEST = "content_sha256"  # the checkpoint record's own key for its digest


def previous_checkpoint(path: str | os.PathLike) -> Path:
    """Where :func:`save_checkpoint` keeps the checkpoint before ``path``: ``NAME.prev.pt``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def content_digest(obj: Any) -> str:
    """SHA-256 of a record of tensors and plain data (dict keys in sorted order), so that a
    checkpoint whose bytes changed after it was written is detected when read back."""
    digest = hashlib.sha256()

    def feed(value: Any) -> None:
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous().reshape(-1)
            digest.update(f"T{t.dtype}{tuple(t.shape)}".encode())
            digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        elif isinstance(value, dict):
            digest.update(b"D")
            for key in sorted(value, key=repr):
                digest.update(repr(key).encode())
                feed(value[key])
        elif isinstance(value, (list, tuple)):
            digest.update(f"L{len(value)}".encode())
            for item in value:
                feed(item)
        else:
            digest.update(repr(value).encode())

    feed(obj)
    return digest.hexdigest()


def save_checkpoint(record: dict[str, Any], path: str | os.PathLike) -> None:
    """Write ``record`` with its :func:`content_digest` atomically, keeping the checkpoint it
    replaces as :func:`previous_checkpoint` (the last two survive any kill)."""
    path = Path(path)
    _save_synced({**record, DIGEST: content_digest(record)}, path)
    if path.exists():  # path stays in place throughout: a hard link becomes the previous one
        previous, link = previous_checkpoint(path), _tmp(previous_checkpoint(path))
        try:
            link.unlink(missing_ok=True)
            os.link(path, link)
            os.replace(link, previous)
        except OSError:  # a file system without hard links
            os.replace(path, previous)
    os.replace(_tmp(path), path)


def load_checkpoint(path: str | os.PathLike, fall_back: bool = False) -> dict[str, Any]:
    """A checkpoint written by :func:`save_checkpoint`, checked against its digest. With
    ``fall_back``, a missing, corrupt or altered ``path`` gives way to the previous checkpoint,
    with a warning that says so. Raises :class:`DataFileError` when no good one is found."""
    path = Path(path)
    try:
        return _verified(path)
    except DataFileError as exc:
        previous = previous_checkpoint(path)
        if not fall_back or not previous.is_file():
            raise
        record = _verified(previous)
        warnings.warn(f"{exc}; using the previous checkpoint, {previous.name}", stacklevel=2)
        return record


def _verified(path: Path) -> dict[str, Any]:
    record = load_torch_data(path)
    if isinstance(record, dict) and DIGEST in record:
        stored = record.pop(DIGEST)
        if stored != content_digest(record):
            raise DataFileError(f"{path}: corrupt checkpoint (its content does not match its digest)")
    return record


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
    except Exception as exc:  # noqa: BLE001  (damaged bytes fail in many ways inside the unpickler)
        raise DataFileError(f"{path}: corrupt checkpoint ({type(exc).__name__})") from None
