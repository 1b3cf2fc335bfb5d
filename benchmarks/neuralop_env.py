"""The benchmark environment with the `neuraloperator` package, for scripts that compare with it.

`ensure_environment(__file__)` re-executes the calling script inside `benchmarks/.envs/neuraloperator`
(created on first use: the same PyTorch as the running interpreter, neuraloperator from PyPI and
oplearn installed editable), so our models and theirs run in one process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = ROOT / "benchmarks" / ".envs" / "neuraloperator"
NEURALOPERATOR = "neuraloperator==2.0.0"


def ensure_environment(script: str) -> None:
    """Return if neuraloperator imports here; otherwise re-run ``script`` (same arguments) in
    the environment that has it, creating that environment if needed."""
    try:
        import neuralop  # noqa: F401

        return
    except ImportError:
        pass
    import torch

    python = ENV / "bin" / "python"
    if not python.exists():
        torch_pin = f"torch=={torch.__version__.split('+')[0]}"
        print(f"creating {ENV} ({torch_pin}, {NEURALOPERATOR})", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(ENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet"]
        subprocess.run(pip + [torch_pin], check=True)
        subprocess.run(pip + [NEURALOPERATOR], check=True)
        subprocess.run(pip + ["-e", str(ROOT)], check=True)
    os.execv(str(python), [str(python), script, *sys.argv[1:]])
