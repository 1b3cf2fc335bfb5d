"""What a benchmark ran on: processor, GPU and library versions, stored with its results."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

import torch

LIBRARIES = ("torch", "numpy", "scipy", "pyamg")


def cpu_model() -> str:
    """The processor's model name from /proc/cpuinfo (Linux), else :func:`platform.processor`."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def describe(device: str = "cpu") -> dict:
    """Processor, core count, GPU (for a CUDA ``device``) and versions of the numerical libraries."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "gpu": torch.cuda.get_device_name(device) if device.startswith("cuda") else None,
            "versions": versions}
