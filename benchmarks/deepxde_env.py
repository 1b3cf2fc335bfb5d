"""The benchmark environment with DeepXDE (PyTorch backend), for the DeepXDE side of the PINN comparison.

`ensure_environment(__file__)` re-executes the calling script inside `benchmarks/.envs/deepxde`
when `deepxde` is not importable in the running interpreter. The environment is created on first
use, "as a new user would": a plain venv, the same PyTorch release as the running interpreter
(CPU build), then DeepXDE from PyPI with its own dependencies. oplearn is deliberately NOT
installed there, so the DeepXDE side cannot import it.

Run `python benchmarks/deepxde_env.py` to create (or repair) the environment and print its versions.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = ROOT / "benchmarks" / ".envs" / "deepxde"
PYTHON = ENV / "bin" / "python"
DEEPXDE = "deepxde==1.15.0"  # the newest release on PyPI when this was written
_DONE = ENV / ".complete"  # written last, so a half-built environment is finished on next use
_REEXEC_MARK = "OPLEARN_DEEPXDE_ENV_REEXEC"


def _torch_pin() -> str:
    """``torch==X.Y.Z`` for the PyTorch of the running interpreter (local tag such as +cpu dropped)."""
    try:
        from importlib.metadata import version

        torch_version = version("torch")
    except Exception:  # noqa: BLE001 - no torch here: let pip choose
        return "torch"
    return f"torch=={torch_version.split('+')[0]}"


def create_environment(torch_pin: str | None = None) -> Path:
    """Create (or finish) the environment; return its python. Safe against concurrent callers."""
    ENV.mkdir(parents=True, exist_ok=True)
    with open(ENV / ".create.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _DONE.exists() and PYTHON.exists():
            return PYTHON
        torch_pin = torch_pin or _torch_pin()
        print(f"creating {ENV} ({torch_pin}, {DEEPXDE})", flush=True)
        if not PYTHON.exists():
            subprocess.run([sys.executable, "-m", "venv", str(ENV)], check=True)
        pip = [str(PYTHON), "-m", "pip", "install", "--quiet"]
        subprocess.run(pip + [torch_pin], check=True)
        # DeepXDE with its declared dependencies (matplotlib, numpy, scikit-learn,
        # scikit-optimize, scipy); torch is already there, pinned.
        subprocess.run(pip + [DEEPXDE, torch_pin], check=True)
        _DONE.write_text(f"{torch_pin}\n{DEEPXDE}\n")
    return PYTHON


def ensure_environment(script: str) -> None:
    """Return if DeepXDE is importable here; otherwise re-run ``script`` (same arguments) with
    the environment's python, creating that environment if needed."""
    if importlib.util.find_spec("deepxde") is not None:
        return
    if os.environ.get(_REEXEC_MARK):
        raise RuntimeError(
            f"deepxde is not importable even in {ENV}; delete that directory to rebuild it"
        )
    python = create_environment()
    os.environ[_REEXEC_MARK] = "1"
    os.execv(str(python), [str(python), str(script), *sys.argv[1:]])


if __name__ == "__main__":
    create_environment()
    subprocess.run(
        [
            str(PYTHON),
            "-c",
            "import importlib.metadata as m;"
            "print({p: m.version(p) for p in ('deepxde','torch','numpy','scipy','scikit-learn',"
            "'scikit-optimize','matplotlib')})",
        ],
        check=True,
    )
