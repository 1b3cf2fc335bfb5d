"""Atomic file writes: a temporary file in the same folder, renamed when complete."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch


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
