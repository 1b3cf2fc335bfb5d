"""Solve a physics-informed problem: check the settings, train, evaluate, write the run directory.

``DIR/report.json`` (``rel_l2`` on held-out points against the exact or reference solution,
``train_seconds``, ``steps``, ``stop_reason``, ``optimizer``, ``dim``, ``parameters``, the recovered
unknowns of inverse problems, ...), ``DIR/metrics.jsonl`` (loss per step, damping or learning rate), ``DIR/prediction.npz`` (``points`` ``(N, D)`` with time last, ``u`` ``(N,)``,
the exact solution's ``coefficients`` where it has random ones), ``DIR/checkpoint.pt`` (resume
with ``resume=True``: the same result, bit for bit, as an uninterrupted run), and figures:
``loss.png`` always, ``solution.png`` for problems on two coordinates. Every file is written
atomically, and nothing is written before every setting is checked.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from oplearn.errors import DataFileError, InvalidInputError, TrainingDivergedError
from oplearn.pinn import problem as registry
from oplearn.pinn.objective import Objective, build_model, build_terms
from oplearn.pinn.optimizers import GaussNewton, lbfgs_stop_reason
from oplearn.pinn.output_fit import fit_output_layer
from oplearn.pinn.problem import Problem
from oplearn.train.io import previous_checkpoint

OPTIMIZERS = ("gauss-newton", "lbfgs", "adam")
DTYPES = {"float64": torch.float64, "float32": torch.float32}
RESAMPLING = ("none", "fresh", "rad")
SCHEDULES = ("constant", "cosine")
MAX_SEED = 2 ** 62
LBFGS_CHUNK = 50  # L-BFGS iterations per call between checkpoints and resampling
RAD_CANDIDATES = 8  # residual-based resampling draws from this many times more candidates
EVAL_CHUNK_ENTRIES = 2 ** 24  # points x coordinates evaluated at once (memory of d = 10^5..10^6)
SAVED_ENTRIES = 2 ** 22  # prediction.npz keeps at most this many point coordinates (32 MB)


@dataclass(frozen=True)
class PinnSettings:
    """Everything a solve depends on besides the problem. ``None``: the problem's default (its
    best measured setting, ``oplearn info --pinn NAME``), else the generic default below."""

    optimizer: str | None = None  # gauss-newton | lbfgs | adam
    steps: int | None = None
    points: int | None = None  # PDE collocation points (per step when resampled)
    eval_points: int | None = None  # held-out points (problems with an exact solution)
    width: int | None = None
    depth: int | None = None
    lr: float | None = None  # Adam's learning rate
    schedule: str | None = None  # Adam's learning rate over the steps: constant | cosine (to lr / 100)
    dtype: str | None = None
    seed: int = 0
    sampling: str | None = None  # sobol | uniform | radial (balls)
    resample: str | None = None  # none | fresh (new points) | rad (residual-based, Wu et al. 2023)
    resample_every: int | None = None
    causal: float | None = None  # causal weighting strength (0: off)
    causal_chunks: int = 16
    fit_output: bool | None = None  # least-squares fit of the output layer before training (output_fit)
    checkpoint_every: int | None = None  # steps between checkpoints (None: a tenth of the steps)
    device: str = "cpu"
    time_limit: float | None = None  # seconds of training (resumed runs count the earlier ones)


GENERIC = {"optimizer": "gauss-newton", "points": 1024, "eval_points": 4096, "width": 32, "depth": 2,
           "lr": 1e-3, "dtype": "float64", "sampling": "sobol", "resample": "none",
           "resample_every": 0, "causal": 0.0,
           "schedule": "constant", "fit_output": False}
ADDED_SETTINGS = ("time_limit",)  # absent from older checkpoints, which then resume with the default
DEFAULT_STEPS = {"gauss-newton": 300, "lbfgs": 2000, "adam": 5000}


def _positive_int(name: str, value: Any, zero: bool = False) -> None:
    low = 0 if zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidInputError(f"{name} must be an integer >= {low}, got {value!r}")


def resolve_settings(settings: PinnSettings, defaults: dict[str, Any]) -> PinnSettings:
    """Fill every ``None`` (problem defaults, then generic ones) and check every value;
    :class:`InvalidInputError` for a bad one."""
    if not isinstance(settings, PinnSettings):
        raise InvalidInputError(f"settings must be PinnSettings, got {type(settings).__name__}")
    values = asdict(settings)
    explicit_optimizer = values["optimizer"] is not None
    for key, value in values.items():
        if value is None:
            default = defaults.get(key, GENERIC.get(key))
            if key == "steps" and (explicit_optimizer and values["optimizer"] != defaults.get("optimizer")
                                   or default is None):
                default = DEFAULT_STEPS.get(values["optimizer"])
            values[key] = default
    s = PinnSettings(**values)
    if s.optimizer not in OPTIMIZERS:
        raise InvalidInputError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {s.optimizer!r}")
    if s.dtype not in DTYPES:
        raise InvalidInputError(f"--dtype must be one of {', '.join(DTYPES)}, got {s.dtype!r}")
    if s.resample not in RESAMPLING:
        raise InvalidInputError(f"resample must be one of {', '.join(RESAMPLING)}, got {s.resample!r}")
    if s.schedule not in SCHEDULES:
        raise InvalidInputError(f"--schedule must be one of {', '.join(SCHEDULES)}, got {s.schedule!r}")
    for key in ("steps", "points", "eval_points", "width", "depth", "causal_chunks"):
        _positive_int(f"--{key.replace('_', '-')}", getattr(s, key))
    _positive_int("resample_every", s.resample_every, zero=True)
    if s.checkpoint_every is not None:
        _positive_int("checkpoint_every", s.checkpoint_every)
    if isinstance(s.seed, bool) or not isinstance(s.seed, int) or not 0 <= s.seed <= MAX_SEED:
        raise InvalidInputError(f"--seed must be an integer from 0 to 2^62, got {s.seed!r}")
    for key in ("lr", "causal"):
        value = getattr(s, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or \
                value < 0 or (key == "lr" and value == 0):
            raise InvalidInputError(f"--{key} must be a finite number {'> 0' if key == 'lr' else '>= 0'}, got {value!r}")
    if s.time_limit is not None and (isinstance(s.time_limit, bool) or not isinstance(s.time_limit, (int, float))
                                     or not math.isfinite(s.time_limit) or s.time_limit <= 0):
        raise InvalidInputError(f"--time-limit must be a number of seconds > 0, got {s.time_limit!r}")
    if not isinstance(s.fit_output, bool):
        raise InvalidInputError(f"fit_output must be true or false, got {s.fit_output!r}")
    if s.resample != "none" and s.resample_every == 0:
        raise InvalidInputError(f"resample={s.resample} needs resample_every >= 1")
    _check_device(s.device)
    return s


def _check_device(device: str) -> None:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InvalidInputError(f"--device must be cpu, cuda or cuda:N, got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError(f"--device {device}: no CUDA device is available here")
    if dev.type not in ("cpu", "cuda"):
        raise InvalidInputError(f"--device must be cpu, cuda or cuda:N, got {device!r}")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise InvalidInputError(f"--device {device}: only {torch.cuda.device_count()} CUDA devices")


def _check_out_dir(out: Path, resume: bool) -> None:
    """Refuse an earlier run's directory (unless resuming it) or one that cannot be created."""
    if resume:
        if not (out / "checkpoint.pt").is_file() and not previous_checkpoint(out / "checkpoint.pt").is_file():
            raise InvalidInputError(f"{out}: nothing to resume (no checkpoint.pt)")
        if (out / "report.json").exists():
            raise InvalidInputError(f"{out}: this run already finished (report.json exists)")
        return
    if (out / "report.json").exists() or (out / "checkpoint.pt").exists():
        raise InvalidInputError(f"{out} already holds a run; choose another --out (or --resume it)")
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise InvalidInputError(f"{out}: cannot write there ({existing} is not a writable directory)")


# --------------------------------------------------------------------------- the run
@dataclass
class _State:
    theta: torch.Tensor
    step: int
    history: list[dict[str, Any]]
    seconds: float
    optimizer: Any  # GaussNewton, torch.optim.Adam or torch.optim.LBFGS
    stop_reason: str | None = None
    output_fit: dict[str, Any] | None = None  # what the output layer's least-squares fit did


def solve(problem: str | Problem, out_dir: str | Path | None = None, settings: PinnSettings | None = None,
          progress: bool = True, dim: int | None = None, resume: bool = False) -> dict[str, Any]:
    """Train a network on ``problem`` (a shipped name or a :class:`Problem`) without data; return
    (and write to ``out_dir``) the report.

    Args:
        dim: the dimension of problems that take one (``oplearn info --pinn``).
        resume: continue the run in ``out_dir`` from its checkpoint (same settings).
    Raises :class:`InvalidInputError` for a bad problem or setting (before anything is written)
    and :class:`TrainingDivergedError` if the loss becomes non-finite (the last checkpoint stays).
    """
    settings = settings or PinnSettings()
    name = problem if isinstance(problem, str) else problem.name
    if isinstance(problem, str):
        spec = registry.spec(problem)
        settings = resolve_settings(settings, spec.defaults)
        problem = spec.make(dim, settings.seed)
    else:
        if not isinstance(problem, Problem):
            raise InvalidInputError(f"problem must be a name or a Problem, got {type(problem).__name__}")
        if dim is not None:
            raise InvalidInputError("dim applies to shipped problems only")
        settings = resolve_settings(settings, {})
    if problem.stochastic and settings.optimizer != "adam":
        raise InvalidInputError(f"{name}'s residual is a random (STDE) estimate: use --optimizer adam")
    out = None if out_dir is None else Path(out_dir)
    if out is not None:
        _check_out_dir(out, resume)
    elif resume:
        raise InvalidInputError("resume needs the run directory")
    device, dtype = torch.device(settings.device), DTYPES[settings.dtype]
    torch.manual_seed(settings.seed)
    model = build_model(problem, settings.width, settings.depth).to(dtype=dtype, device=device)
    terms = build_terms(problem, settings.points, settings.sampling, settings.seed, dtype)
    for term in terms:
        term.points, term.data = term.points.to(device), term.data.to(device)
    objective = Objective(problem, model, terms, settings.causal, settings.causal_chunks)
    if problem.stochastic:
        objective.generator = torch.Generator(device=device).manual_seed(settings.seed + 1)
    state = _State(objective.initial_theta(), 0, [], 0.0, None)
    _check_once(objective, state.theta)
    if resume:
        state = _restore(out, name, settings, objective)
    elif settings.fit_output:
        _fit_output(objective, state, settings, progress)
    record = {"problem": name, "settings": asdict(settings), "dim": problem.spatial_dim}
    every = settings.checkpoint_every or max(1, settings.steps // 10)
    bar = tqdm(total=settings.steps, initial=state.step, disable=not progress,
               desc=f"pinn {name} {settings.optimizer}")
    try:
        _train(objective, state, settings, bar, out, record, every)
    finally:
        bar.close()
    report = _evaluate(problem, objective, state, settings, name)
    saved = report.pop("_saved")
    if out is not None:
        _write_run(out, report, saved, state, problem)
    return report


def _check_once(objective: Objective, theta: torch.Tensor) -> None:
    """Evaluate every term once before training (outside ``vmap``, where the Taylor engine can
    compare its traced graph with the eager function): a residual with the wrong shape fails here."""
    for term in objective.terms:
        with torch.no_grad():
            values = objective.term_values(theta, term, term.points[:4], term.data[:4])
        if values.shape != (min(4, term.points.shape[0]),):
            raise InvalidInputError(f"the {term.name} term must return (N,) values, got {tuple(values.shape)}")
    problem = objective.problem
    if problem.exact is not None:
        x = problem.domain.sample(4, problem.evaluation_sampling, 0, theta.dtype)
        values = problem.exact(x)
        if not isinstance(values, torch.Tensor) or values.shape != (4,):
            raise InvalidInputError(f"exact must map (N, D) points to (N,) values, got "
                                    f"{tuple(getattr(values, 'shape', ()))}")
    else:
        points, values = problem.reference()
        if points.ndim != 2 or points.shape[1] != problem.dim or values.shape != (points.shape[0],):
            raise InvalidInputError(f"reference must give points (M, {problem.dim}) and values (M,), got "
                                    f"{tuple(points.shape)} and {tuple(values.shape)}")


def _fit_output(objective: Objective, state: _State, settings: PinnSettings, progress: bool) -> None:
    """Least-squares fit of the output layer (:mod:`.output_fit`) on ``8 (width + 1)`` points (at
    least the training points); its time counts as training time."""
    start = time.perf_counter()
    term = objective.terms[0]
    n = max(settings.points, 8 * (settings.width + 1))
    points = objective.problem.domain.sample(n, settings.sampling, settings.seed + 4241, term.points.dtype)
    if progress:
        print(f"fitting the output layer by least squares on {n} points ...", file=sys.stderr, flush=True)
    state.theta, fit = fit_output_layer(objective, state.theta, points.to(term.points.device))
    state.seconds = time.perf_counter() - start
    _diverged(fit.loss_after, 0)
    state.output_fit = {"loss_before": fit.loss_before, "loss_after": fit.loss_after,
                        "gauss_newton_steps": fit.steps, "points": n, "seconds": round(state.seconds, 3)}


def _train(objective: Objective, state: _State, settings: PinnSettings, bar, out, record, every) -> None:
    start = time.perf_counter() - state.seconds
    if state.optimizer is None:
        state.optimizer = _new_optimizer(settings, state.theta)
    while state.step < settings.steps and state.stop_reason is None:
        _maybe_resample(objective, state, settings)
        causal_min = objective.update_causal(state.theta)
        if settings.optimizer == "lbfgs":
            taken, row = _lbfgs_chunk(objective, state, settings)
        else:
            taken, row = _one_step(objective, state, settings)
        state.step += taken
        state.seconds = time.perf_counter() - start
        row.update(step=state.step, seconds=round(state.seconds, 4))
        if settings.causal:
            row["causal_min_weight"] = causal_min
        state.history.append(row)
        bar.update(taken)
        bar.set_postfix(loss=f"{row['loss']:.3g}")
        if settings.time_limit is not None and state.seconds >= settings.time_limit and state.stop_reason is None \
                and state.step < settings.steps:
            state.stop_reason = f"reached the time limit ({settings.time_limit:g} s)"
        if out is not None and (state.step % every < taken or state.step >= settings.steps or state.stop_reason):
            _save_checkpoint(out, record, state, objective)
    if state.stop_reason is None:
        unit = "iterations" if settings.optimizer == "lbfgs" else "steps"
        state.stop_reason = f"reached the step limit ({settings.steps} {unit})"


def _new_optimizer(settings: PinnSettings, theta: torch.Tensor):
    if settings.optimizer == "gauss-newton":
        return GaussNewton()
    param = theta.clone().requires_grad_(True)
    if settings.optimizer == "adam":
        return torch.optim.Adam([param], lr=settings.lr)
    return torch.optim.LBFGS([param], lr=1.0, max_iter=LBFGS_CHUNK, max_eval=int(LBFGS_CHUNK * 1.25),
                             tolerance_grad=1e-12, tolerance_change=1e-15, history_size=50,
                             line_search_fn="strong_wolfe")


def _diverged(loss: float, step: int) -> None:
    if not math.isfinite(loss):
        raise TrainingDivergedError(f"the physics-informed loss became {loss} at step {step}; try float64, "
                                    "a smaller learning rate or another optimiser (the last checkpoint is kept)")


def _one_step(objective: Objective, state: _State, settings: PinnSettings) -> tuple[int, dict]:
    if settings.optimizer == "gauss-newton":
        result = state.optimizer.step(objective.residuals, objective.jacobian, state.theta)
        _diverged(result.loss_before, state.step)
        state.theta = result.theta
        if not result.accepted:
            state.stop_reason = (f"no damping up to {result.damping:.3g} decreased the loss "
                                 f"(converged at loss {result.loss_after:.3g})")
        return 1, {"loss": result.loss_after, "damping": result.damping}
    optimizer = state.optimizer
    param = optimizer.param_groups[0]["params"][0]
    if settings.schedule == "cosine":  # from lr to lr / 100, a function of the step (exact resume)
        fraction = state.step / max(1, settings.steps - 1)
        optimizer.param_groups[0]["lr"] = settings.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * fraction)))
    optimizer.zero_grad()
    loss = objective.loss(param)
    loss.backward()
    value = float(loss.detach())
    _diverged(value, state.step)
    optimizer.step()
    state.theta = param.detach().clone()
    return 1, {"loss": value, "lr": optimizer.param_groups[0]["lr"]}


def _lbfgs_chunk(objective: Objective, state: _State, settings: PinnSettings) -> tuple[int, dict]:
    optimizer = state.optimizer
    param = optimizer.param_groups[0]["params"][0]
    group = optimizer.param_groups[0]
    chunk = min(LBFGS_CHUNK, settings.steps - state.step)
    evals_left = int(settings.steps * 1.25) - optimizer.state[param].get("func_evals", 0)
    group["max_iter"], group["max_eval"] = chunk, max(1, min(int(chunk * 1.25), evals_left))
    inner = optimizer.state[param]
    iter_before, evals_before = inner.get("n_iter", 0), inner.get("func_evals", 0)
    evaluations = []

    def closure():
        optimizer.zero_grad()
        loss = objective.loss(param)
        loss.backward()
        value = float(loss.detach())
        _diverged(value, state.step)
        evaluations.append(value)
        return loss

    optimizer.step(closure)
    inner = optimizer.state[param]
    taken = inner.get("n_iter", 0) - iter_before
    param.grad = None
    loss = objective.loss(param)  # the gradient and loss where L-BFGS returned
    (grad,) = torch.autograd.grad(loss, param)
    value = float(loss.detach())
    total_evals = int(settings.steps * 1.25)
    if inner.get("func_evals", 0) >= total_evals:
        state.stop_reason = f"reached the evaluation limit ({total_evals} evaluations)"
    elif taken < chunk:  # not this chunk's own limits: a tolerance stopped it; say which
        reason = lbfgs_stop_reason(optimizer, iter_before + chunk, evals_before + int(chunk * 1.25), grad, value)
        if not reason.startswith("reached the"):
            state.stop_reason = reason
    state.theta = param.detach().clone()
    return taken, {"loss": value, "evaluations": len(evaluations)}


def _maybe_resample(objective: Objective, state: _State, settings: PinnSettings) -> None:
    """New PDE collocation points every ``resample_every`` steps: ``fresh`` draws new ones,
    ``rad`` draws them from ``8x`` candidates with probability ``|r| / mean|r| + 1`` (residual-
    based adaptive distribution, Wu et al. 2023). Seeds follow from the step, so a resumed run
    draws the same points."""
    if settings.resample == "none" or state.step == 0 or state.step % settings.resample_every:
        return
    problem, term = objective.problem, objective.terms[0]
    seed = settings.seed + 7919 * (state.step // settings.resample_every)
    dtype, device = term.points.dtype, term.points.device
    if settings.resample == "fresh":
        points = problem.domain.sample(settings.points, settings.sampling, seed, dtype).to(device)
    else:
        candidates = problem.domain.sample(RAD_CANDIDATES * settings.points, "uniform", seed, dtype).to(device)
        with torch.no_grad():
            r = objective.term_values(state.theta, term, candidates, candidates.new_zeros(candidates.shape[0], 0)).abs()
        weights = r / r.mean().clamp(min=1e-300) + 1.0
        gen = torch.Generator().manual_seed(seed)
        pick = torch.multinomial(weights.cpu(), settings.points, replacement=False, generator=gen)
        points = candidates[pick.to(device)]
    objective.set_points(points)
    if settings.optimizer == "lbfgs":  # curvature pairs of another objective would mislead it
        state.optimizer = _new_optimizer(settings, state.theta)


# --------------------------------------------------------------------------- checkpoints
def _save_checkpoint(out: Path, record: dict, state: _State, objective: Objective) -> None:
    from oplearn.train.io import save_checkpoint, save_jsonl

    opt = state.optimizer
    optimizer_state = ({"damping": opt.damping} if isinstance(opt, GaussNewton) else opt.state_dict())
    ckpt = {**record, "theta": state.theta.cpu(), "step": state.step, "seconds": state.seconds,
            "history": state.history, "optimizer_state": optimizer_state,
            "points": objective.terms[0].points.cpu(), "stop_reason": state.stop_reason,
            "output_fit": state.output_fit}
    if objective.generator is not None:
        ckpt["generator"] = objective.generator.get_state()
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(ckpt, out / "checkpoint.pt")
    save_jsonl(state.history, out / "metrics.jsonl")


def _restore(out: Path, name: str, settings: PinnSettings, objective: Objective) -> _State:
    from oplearn.train.io import load_checkpoint

    try:
        ckpt = load_checkpoint(out / "checkpoint.pt", fall_back=True)
    except DataFileError as exc:
        raise InvalidInputError(str(exc)) from None
    if not isinstance(ckpt, dict) or "theta" not in ckpt:
        raise InvalidInputError(f"{out}/checkpoint.pt is not a physics-informed checkpoint")
    saved = ckpt.get("settings")
    if isinstance(saved, dict):  # settings added since the checkpoint was written take their defaults
        saved = {**{k: v for k, v in asdict(PinnSettings()).items() if k not in saved and k in ADDED_SETTINGS}, **saved}
    if ckpt.get("problem") != name or saved != asdict(settings) or \
            ckpt.get("dim") != objective.problem.spatial_dim or \
            tuple(ckpt["theta"].shape) != (objective.flat.size + len(objective.names),):
        raise InvalidInputError(f"{out}: the checkpoint was written with other settings, another --dim or "
                                "another problem; resume with the same command")
    device = objective.terms[0].points.device
    theta = ckpt["theta"].to(device)
    objective.set_points(ckpt["points"].to(device))
    optimizer = _new_optimizer(settings, theta)
    if isinstance(optimizer, GaussNewton):
        optimizer.damping = ckpt["optimizer_state"]["damping"]
    else:
        optimizer.load_state_dict(ckpt["optimizer_state"])
    if "generator" in ckpt and objective.generator is not None:
        objective.generator.set_state(ckpt["generator"])
    return _State(theta, ckpt["step"], list(ckpt["history"]), ckpt["seconds"], optimizer, ckpt["stop_reason"],
                  ckpt.get("output_fit"))


# --------------------------------------------------------------------------- evaluation
def _evaluation_points(problem: Problem, settings: PinnSettings, dtype):
    """Chunks of ``(points, exact values)``: the reference's points, or held-out points drawn
    with ``evaluation_sampling`` (seed ``seed + 10000``), in chunks that bound memory."""
    if problem.exact is None:
        points, values = problem.reference()
        yield points.to(dtype), values.to(dtype)
        return
    per_chunk = max(1, EVAL_CHUNK_ENTRIES // problem.dim)
    for start in range(0, settings.eval_points, per_chunk):
        n = min(per_chunk, settings.eval_points - start)
        x = problem.domain.sample(n, problem.evaluation_sampling, settings.seed + 10_000 + start, dtype)
        yield x, problem.exact(x)


def _evaluate(problem: Problem, objective: Objective, state: _State, settings: PinnSettings, name: str):
    dtype, device = DTYPES[settings.dtype], torch.device(settings.device)
    squared_error = squared_norm = 0.0
    saved_points, saved_u, saved_exact, evaluated = [], [], [], 0
    budget = max(1, SAVED_ENTRIES // problem.dim)
    for x, exact in _evaluation_points(problem, settings, dtype):
        u = objective.solution(state.theta, x.to(device)).cpu()
        exact = exact.to(u.dtype).cpu()
        squared_error += float(((u - exact).double() ** 2).sum())
        squared_norm += float((exact.double() ** 2).sum())
        evaluated += x.shape[0]
        keep = max(0, min(x.shape[0], budget - sum(p.shape[0] for p in saved_points)))
        if keep:
            saved_points.append(x[:keep].cpu())
            saved_u.append(u[:keep])
            saved_exact.append(exact[:keep])
    final_loss = float(objective.loss(state.theta).detach()) if not problem.stochastic else \
        state.history[-1]["loss"] if state.history else float("nan")
    report: dict[str, Any] = {
        "problem": name, "dim": problem.spatial_dim, "time_dependent": problem.time_dependent,
        "rel_l2": math.sqrt(squared_error / squared_norm) if squared_norm > 0 else float("nan"),
        "evaluation_points": evaluated, "train_seconds": state.seconds, "steps": state.step,
        "stop_reason": state.stop_reason, "optimizer": settings.optimizer,
        "parameters": int(objective.flat.size), "final_loss": final_loss,
        "settings": asdict(settings), "device": str(torch.device(settings.device)),
    }
    if state.output_fit is not None:
        report["output_fit"] = state.output_fit
    if problem.unknowns:
        values = {k: float(v) for k, v in objective.unknowns(state.theta).items()}
        report["unknowns"] = values
        if problem.true_unknowns:
            report["unknowns_true"] = dict(problem.true_unknowns)
            report["unknowns_rel_error"] = {k: abs(values[k] - t) / abs(t) for k, t in problem.true_unknowns.items()}
    report["_saved"] = (torch.cat(saved_points), torch.cat(saved_u), torch.cat(saved_exact))
    return report


# --------------------------------------------------------------------------- files
def _write_run(out: Path, report: dict, saved: tuple, state: _State, problem: Problem) -> None:
    from oplearn.train.io import save_json, save_jsonl

    points, u, exact = saved
    out.mkdir(parents=True, exist_ok=True)
    save_jsonl(state.history, out / "metrics.jsonl")
    arrays = {"points": points.numpy(), "u": u.numpy(), "reference": exact.numpy()}
    if problem.coefficients is not None:
        arrays["coefficients"] = np.asarray(problem.coefficients)
    tmp = out / ".prediction.tmp.npz"
    np.savez(tmp, **arrays)
    tmp.replace(out / "prediction.npz")
    report["prediction_points"] = int(points.shape[0])
    from oplearn.pinn.figures import plot_loss, plot_solution

    plot_loss(out / "loss.png", state.history, report["problem"])
    if problem.dim == 2:
        plot_solution(out / "solution.png", points.numpy(), u.numpy(), exact.numpy(), report["problem"],
                      time_dependent=problem.time_dependent)
    save_json(report, out / "report.json")
