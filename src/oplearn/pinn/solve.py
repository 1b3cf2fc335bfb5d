"""Solve a physics-informed problem: check the settings, train, evaluate, write the run directory.

``DIR/report.json`` (``rel_l2`` on held-out points against the exact solution, ``train_seconds``,
``steps``, ``stop_reason``, ``optimizer``, ``dim``, ``parameters``, ...), ``DIR/metrics.jsonl``
(loss and step length per step), ``DIR/prediction.npz`` (``points`` ``(N, d)``, ``u`` ``(N,)``)
and, for 2D problems, ``DIR/solution.png``; every file written atomically.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.func import jacrev, vmap
from tqdm.auto import tqdm

from oplearn.errors import InvalidInputError, TrainingDivergedError
from oplearn.pinn import problem as registry
from oplearn.pinn.network import MLP, FlatParameters
from oplearn.pinn.optimizers import GaussNewton, lbfgs_stop_reason, loss_of
from oplearn.pinn.problem import PinnProblem

OPTIMIZERS = ("gauss-newton", "lbfgs", "adam")
DTYPES = {"float64": torch.float64, "float32": torch.float32}
DEFAULT_STEPS = {"gauss-newton": 300, "lbfgs": 2000, "adam": 5000}  # benchmarks/pinn.py's settings
MAX_SEED = 2 ** 62


@dataclass(frozen=True)
class PinnSettings:
    """Everything a solve depends on besides the problem (validated by :func:`check_settings`)."""

    optimizer: str = "gauss-newton"
    steps: int | None = None  # None: DEFAULT_STEPS[optimizer]
    points: int = 1024  # collocation points (scrambled Sobol)
    eval_points: int = 4096
    width: int = 32
    depth: int = 2
    lr: float = 1e-3  # Adam's learning rate
    dtype: str = "float64"
    seed: int = 0
    sampling: str = "sobol"


def check_settings(settings: PinnSettings) -> PinnSettings:
    """The settings with ``steps`` filled in; :class:`InvalidInputError` for any bad value."""
    if settings.optimizer not in OPTIMIZERS:
        raise InvalidInputError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {settings.optimizer!r}")
    if settings.dtype not in DTYPES:
        raise InvalidInputError(f"--dtype must be one of {', '.join(DTYPES)}, got {settings.dtype!r}")
    for key in ("points", "eval_points", "width", "depth"):
        value = getattr(settings, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidInputError(f"{key} must be a positive integer, got {value!r}")
    steps = DEFAULT_STEPS[settings.optimizer] if settings.steps is None else settings.steps
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise InvalidInputError(f"--steps must be a positive integer, got {steps!r}")
    if not isinstance(settings.seed, int) or not 0 <= settings.seed <= MAX_SEED:
        raise InvalidInputError(f"--seed must be an integer from 0 to 2^62, got {settings.seed!r}")
    if not (isinstance(settings.lr, (int, float)) and math.isfinite(settings.lr) and settings.lr > 0):
        raise InvalidInputError(f"--lr must be a finite number > 0, got {settings.lr!r}")
    if settings.sampling not in ("sobol", "uniform"):
        raise InvalidInputError(f"sampling must be sobol or uniform, got {settings.sampling!r}")
    return PinnSettings(**{**asdict(settings), "steps": steps})


class _Objective:
    """Residuals at the collocation points and their parameter Jacobian, as functions of theta."""

    def __init__(self, problem: PinnProblem, flat: FlatParameters, points: torch.Tensor):
        self.problem, self.flat, self.points = problem, flat, points

        def residual(theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            u = problem.constrained(flat.point_function(theta))
            return problem.residual(u, x)

        self._residuals = vmap(residual, in_dims=(None, 0))
        self._jacobian = vmap(jacrev(residual), in_dims=(None, 0))

    def residuals(self, theta: torch.Tensor) -> torch.Tensor:
        return self._residuals(theta, self.points)

    def jacobian(self, theta: torch.Tensor) -> torch.Tensor:
        return self._jacobian(theta, self.points)

    def solution(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        u = self.problem.constrained(self.flat.point_function(theta))
        return vmap(u)(x)


def solve(name: str, out_dir: str | Path | None = None, settings: PinnSettings | None = None,
          progress: bool = True) -> dict[str, Any]:
    """Train a network on problem ``name`` without data; return (and write) the report.

    Raises :class:`InvalidInputError` for a bad problem or setting (before anything is written)
    and :class:`TrainingDivergedError` if the loss becomes non-finite.
    """
    problem = registry.get(name)
    settings = check_settings(settings or PinnSettings())
    if out_dir is not None:
        _check_out_dir(Path(out_dir))
    dtype = DTYPES[settings.dtype]
    torch.manual_seed(settings.seed)
    module = MLP(problem.dim, settings.width, settings.depth).to(dtype)
    flat = FlatParameters(module)
    theta = flat.flatten()
    points = problem.domain.sample(settings.points, settings.sampling, settings.seed, dtype)
    objective = _Objective(problem, flat, points)
    history: list[dict[str, Any]] = []
    start = time.perf_counter()
    bar = tqdm(total=settings.steps, disable=not progress, desc=f"pinn {name} {settings.optimizer}")
    if settings.optimizer == "gauss-newton":
        theta, stop_reason, steps_taken = _gauss_newton(objective, theta, settings.steps, history, bar)
    elif settings.optimizer == "lbfgs":
        theta, stop_reason, steps_taken = _lbfgs(objective, theta, settings.steps, history, bar)
    else:
        theta, stop_reason, steps_taken = _adam(objective, theta, settings.steps, settings.lr, history, bar)
    bar.close()
    seconds = time.perf_counter() - start
    eval_points = problem.domain.sample(settings.eval_points, "uniform", settings.seed + 10_000, dtype)
    final_loss = float(loss_of(objective.residuals(theta)))  # at the parameters returned
    with torch.no_grad():
        predicted = objective.solution(theta, eval_points)
        exact = problem.exact(eval_points)
        rel_l2 = float((predicted - exact).norm() / exact.norm())
    report = {
        "problem": name, "dim": problem.dim, "rel_l2": rel_l2, "train_seconds": seconds,
        "steps": steps_taken, "loss_evaluations": len(history), "stop_reason": stop_reason, "optimizer": settings.optimizer,
        "parameters": int(theta.numel()), "final_loss": final_loss,
        "settings": asdict(settings), "device": "cpu",
    }
    if out_dir is not None:
        _write_run(Path(out_dir), report, history, eval_points, predicted, problem)
    return report


def _check_out_dir(out: Path) -> None:
    """Refuse an earlier run's directory or one that cannot be created, before any training."""
    if (out / "report.json").exists():
        raise InvalidInputError(f"{out} already holds a run; choose another --out")
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise InvalidInputError(f"{out}: cannot write there ({existing} is not a writable directory)")


def _check_finite(loss: float, step: int) -> None:
    if not math.isfinite(loss):
        raise TrainingDivergedError(f"the physics-informed loss became {loss} at step {step}; "
                                    "try another optimiser or float64")


def _gauss_newton(objective: _Objective, theta, steps, history, bar):
    optimizer = GaussNewton()
    for step in range(steps):
        result = optimizer.step(objective.residuals, objective.jacobian, theta)
        _check_finite(result.loss_before, step)
        theta = result.theta
        history.append({"step": step + 1, "loss": result.loss_after, "damping": result.damping})
        bar.update(1)
        bar.set_postfix(loss=f"{result.loss_after:.3g}")
        if not result.accepted:
            return theta, (f"no damping up to {result.damping:.3g} decreased the loss "
                           f"(converged at loss {result.loss_after:.3g})"), step
    return theta, f"reached the step limit ({steps} steps)", steps


def _lbfgs(objective: _Objective, theta, steps, history, bar):
    theta = theta.clone().requires_grad_(True)
    max_eval = int(steps * 1.25)
    optimizer = torch.optim.LBFGS([theta], lr=1.0, max_iter=steps, max_eval=max_eval,
                                  tolerance_grad=1e-12, tolerance_change=1e-15, history_size=50,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = loss_of(objective.residuals(theta))
        loss.backward()
        value = float(loss.detach())
        _check_finite(value, len(history))
        history.append({"evaluation": len(history) + 1, "loss": value})  # line-search trials too
        bar.update(0)
        return loss

    optimizer.step(closure)
    n_iter = optimizer.state[theta].get("n_iter", 0)
    bar.update(n_iter)
    theta.grad = None
    loss = loss_of(objective.residuals(theta))  # the gradient and loss where L-BFGS returned
    (grad,) = torch.autograd.grad(loss, theta)
    reason = lbfgs_stop_reason(optimizer, steps, max_eval, grad, float(loss.detach()))
    return theta.detach(), reason, n_iter


def _adam(objective: _Objective, theta, steps, lr, history, bar):
    theta = theta.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([theta], lr=lr)
    for step in range(steps):
        optimizer.zero_grad()
        loss = loss_of(objective.residuals(theta))
        loss.backward()
        value = float(loss.detach())
        _check_finite(value, step)
        optimizer.step()
        history.append({"step": step + 1, "loss": value})
        bar.update(1)
    return theta.detach(), f"reached the step limit ({steps} steps)", steps


def _write_run(out: Path, report, history, points, predicted, problem) -> None:
    from oplearn.train.io import save_json, save_jsonl

    out.mkdir(parents=True, exist_ok=True)
    save_jsonl(history, out / "metrics.jsonl")
    tmp = out / ".prediction.tmp.npz"
    np.savez(tmp, points=points.numpy(), u=predicted.numpy())
    tmp.replace(out / "prediction.npz")
    if problem.dim == 2:
        _plot_2d(out / "solution.png", problem, predicted.dtype)
    save_json(report, out / "report.json")


def _plot_2d(path: Path, problem: PinnProblem, dtype) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with np.load(path.with_name("prediction.npz")) as data:
        points, u = data["points"], data["u"]
    exact = problem.exact(torch.as_tensor(points, dtype=dtype)).numpy()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, values, title in ((axes[0], u, "network"), (axes[1], np.abs(u - exact), "|error|")):
        im = ax.tricontourf(points[:, 0], points[:, 1], values, levels=30)
        ax.set_title(f"{problem.name}: {title}")
        ax.set_aspect("equal")
        fig.colorbar(im, ax=ax)
    fig.tight_layout()
    tmp = path.with_name("." + path.name + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
