"""DeepXDE (PyTorch backend) side of the PINN comparison, set up as DeepXDE's own examples do.

    python benchmarks/pinn_deepxde.py {poisson2d,burgers} --points IN.npz --out OUT.json [--quick]

Runs in `benchmarks/.envs/deepxde` (see `deepxde_env.py`; re-executes itself there when deepxde is
not importable). This script never imports oplearn.

IN.npz holds ``points`` (N, 2) float64; for burgers the columns are (x, t). Writes OUT.json (run
facts, timings, L-BFGS iteration accounting) and the predictions ``u`` (N,) float64 (the float32
network output, widened) to OUT.npz next to it, both atomically.

Set-up, copied from the examples in github.com/lululxvi/deepxde (examples/pinn_forward/, v1.15.0):

* poisson2d: -Lap u = 2 pi^2 sin(pi x) sin(pi y) on [0,1]^2, u = 0 on the boundary.
  ``dde.geometry.Rectangle([0, 0], [1, 1])``, ``dde.icbc.DirichletBC(geom, lambda x: 0, on_boundary)``,
  ``dde.data.PDE(geom, pde, bc, num_domain=1200, num_boundary=120, num_test=1500)`` (the counts of
  Poisson_Lshape.py, the 2-D Dirichlet Poisson example), FNN [2] + [50]*3 + [1], tanh,
  "Glorot uniform" (Poisson_Dirichlet_1d.py), Adam lr 1e-3 for 10000 iterations
  (Poisson_Dirichlet_1d.py), then ``model.compile("L-BFGS"); model.train()`` (Poisson_Lshape.py).
* burgers: Burgers.py verbatim: Interval(-1, 1) x TimeDomain(0, 0.99) (sic: the example's time
  domain ends at 0.99), DirichletBC 0, IC -sin(pi x), TimePDE num_domain=2540, num_boundary=80,
  num_initial=160, FNN [2] + [20]*3 + [1] tanh "Glorot normal", Adam lr 1e-3 for 15000
  iterations, then L-BFGS. The example's reference-data download/comparison is skipped.

DeepXDE defaults everywhere else: float32, L-BFGS options maxcor=100, ftol=0, gtol=1e-8,
maxiter=15000, maxls=50 (torch.optim.LBFGS, strong Wolfe, called in chunks of 1000 iterations),
no random seed (as in the examples) unless --seed is given. One torch CPU thread by default
(--threads), like the other benchmarks here.
"""

from __future__ import annotations

import time

_T_START = time.perf_counter()  # total_seconds counts from here (after any environment re-exec)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

PROBLEMS = ("poisson2d", "burgers")
QUICK_ADAM, QUICK_LBFGS = 200, 20


def _parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("problem", choices=PROBLEMS)
    p.add_argument("--points", required=True, type=Path, help="npz with `points` (N, 2)")
    p.add_argument("--out", required=True, type=Path, help="output json; predictions go to .npz")
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke test: {QUICK_ADAM} Adam iterations, L-BFGS maxiter {QUICK_LBFGS}",
    )
    p.add_argument("--adam-iterations", type=int, default=None, help="override the example's count")
    p.add_argument("--lbfgs-maxiter", type=int, default=None, help="override DeepXDE's 15000")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1, the benchmarks' convention; 0: torch's default)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="dde.config.set_random_seed(SEED); default: unseeded, like the examples",
    )
    return p.parse_args(argv)


def _atomic_write_bytes(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _setup(dde, np, problem: str):
    """Data + net exactly as in the DeepXDE examples; returns (model, adam_iterations, notes)."""
    if problem == "poisson2d":
        sin = dde.backend.sin

        def pde(x, y):
            dy_xx = dde.grad.hessian(y, x, i=0, j=0)
            dy_yy = dde.grad.hessian(y, x, i=1, j=1)
            f = 2 * np.pi**2 * sin(np.pi * x[:, 0:1]) * sin(np.pi * x[:, 1:2])
            return -dy_xx - dy_yy - f

        def boundary(_, on_boundary):
            return on_boundary

        geom = dde.geometry.Rectangle([0, 0], [1, 1])
        bc = dde.icbc.DirichletBC(geom, lambda x: 0, boundary)
        data = dde.data.PDE(geom, pde, bc, num_domain=1200, num_boundary=120, num_test=1500)
        net = dde.nn.FNN([2] + [50] * 3 + [1], "tanh", "Glorot uniform")
        settings = {
            "geometry": "Rectangle([0, 0], [1, 1])",
            "bcs": ["DirichletBC(0, on_boundary)"],
            "data": "PDE(num_domain=1200, num_boundary=120, num_test=1500)",
            "net": "FNN([2] + [50]*3 + [1], 'tanh', 'Glorot uniform')",
            "adam_lr": 1e-3,
            "examples": [
                "examples/pinn_forward/Poisson_Lshape.py (counts, Adam then L-BFGS)",
                "examples/pinn_forward/Poisson_Dirichlet_1d.py (net, 10000 Adam its)",
            ],
        }
        return dde.Model(data, net), 10000, settings

    def pde(x, y):
        dy_x = dde.grad.jacobian(y, x, i=0, j=0)
        dy_t = dde.grad.jacobian(y, x, i=0, j=1)
        dy_xx = dde.grad.hessian(y, x, i=0, j=0)
        return dy_t + y * dy_x - 0.01 / np.pi * dy_xx

    geom = dde.geometry.Interval(-1, 1)
    timedomain = dde.geometry.TimeDomain(0, 0.99)
    geomtime = dde.geometry.GeometryXTime(geom, timedomain)
    bc = dde.icbc.DirichletBC(geomtime, lambda x: 0, lambda _, on_boundary: on_boundary)
    ic = dde.icbc.IC(
        geomtime, lambda x: -np.sin(np.pi * x[:, 0:1]), lambda _, on_initial: on_initial
    )
    data = dde.data.TimePDE(
        geomtime, pde, [bc, ic], num_domain=2540, num_boundary=80, num_initial=160
    )
    net = dde.nn.FNN([2] + [20] * 3 + [1], "tanh", "Glorot normal")
    settings = {
        "geometry": "GeometryXTime(Interval(-1, 1), TimeDomain(0, 0.99))",
        "bcs": ["DirichletBC(0, on_boundary)", "IC(-sin(pi x), on_initial)"],
        "data": "TimePDE(num_domain=2540, num_boundary=80, num_initial=160)",
        "net": "FNN([2] + [20]*3 + [1], 'tanh', 'Glorot normal')",
        "adam_lr": 1e-3,
        "examples": ["examples/pinn_forward/Burgers.py (verbatim, data download skipped)"],
    }
    return dde.Model(data, net), 15000, settings


def _lbfgs_state(model) -> dict:
    """n_iter / func_evals and the stopping quantities of the torch.optim.LBFGS inside DeepXDE."""
    try:
        state = model.opt.state_dict()["state"][0]
    except Exception:  # noqa: BLE001
        return {}
    out = {k: int(state[k]) for k in ("n_iter", "func_evals") if k in state}
    for key, name in (("prev_flat_grad", "max_abs_grad"),):
        if state.get(key) is not None:
            out[name] = float(state[key].abs().max())
    if state.get("d") is not None and state.get("t") is not None:
        out["max_abs_last_step"] = float((state["d"] * state["t"]).abs().max())
    return out


def main(argv=None) -> int:
    args = _parse(argv)
    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    from deepxde_env import ensure_environment  # noqa: PLC0415

    ensure_environment(__file__)

    os.environ["DDE_BACKEND"] = "pytorch"
    if args.threads > 0:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    os.environ.setdefault("MPLBACKEND", "Agg")
    import numpy as np  # noqa: PLC0415

    points = np.load(args.points)["points"]
    if points.ndim != 2 or points.shape[1] != 2:
        raise SystemExit(f"{args.points}: `points` must be (N, 2), got {points.shape}")

    import deepxde as dde  # noqa: PLC0415
    import torch  # noqa: PLC0415
    from deepxde.optimizers.config import LBFGS_options as LBFGS_OPTIONS  # noqa: PLC0415

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.seed is not None:
        dde.config.set_random_seed(args.seed)
    model, adam_iterations, settings = _setup(dde, np, args.problem)
    if args.quick:
        adam_iterations = QUICK_ADAM
    if args.adam_iterations is not None:
        adam_iterations = args.adam_iterations
    lbfgs_maxiter = QUICK_LBFGS if args.quick else None
    if args.lbfgs_maxiter is not None:
        lbfgs_maxiter = args.lbfgs_maxiter
    if lbfgs_maxiter is not None:
        dde.optimizers.set_LBFGS_options(maxiter=lbfgs_maxiter)
        # DeepXDE 1.15 computes the PyTorch chunk size (iter_per_step = min(1000, maxiter)) only
        # at import time, so set_LBFGS_options(maxiter<1000) alone would still run a
        # 1000-iteration chunk. Redo its import-time computation.
        opts = LBFGS_OPTIONS
        opts["iter_per_step"] = min(1000, opts["maxiter"])
        opts["fun_per_step"] = opts["maxfun"] * opts["iter_per_step"] // opts["maxiter"]
    lbfgs_options = dict(LBFGS_OPTIONS)

    # Per-chunk record of the L-BFGS optimizer's counters (each on_epoch_end is after one
    # DeepXDE L-BFGS "step", i.e. one torch LBFGS.step call of up to iter_per_step iterations).
    chunks: list[dict] = []

    class _Chunks(dde.callbacks.Callback):
        def on_epoch_end(self):
            chunks.append(_lbfgs_state(self.model))

    train_seconds = 0.0
    model.compile("adam", lr=settings["adam_lr"])
    t = time.perf_counter()
    model.train(iterations=adam_iterations)
    train_seconds += time.perf_counter() - t
    adam_done = int(model.train_state.step)

    model.compile("L-BFGS")
    t = time.perf_counter()
    losshistory, train_state = model.train(callbacks=[_Chunks()])
    lbfgs_seconds = time.perf_counter() - t
    train_seconds += lbfgs_seconds

    final = _lbfgs_state(model)
    counted = int(train_state.step) - adam_done  # what DeepXDE's own counters say
    maxiter = int(lbfgs_options["maxiter"])
    n_iter = final.get("n_iter", counted)
    if n_iter >= maxiter:
        stop = f"maxiter ({maxiter}) reached"
    elif final.get("max_abs_grad", 1.0) <= lbfgs_options["gtol"]:
        stop = f"gradient tolerance gtol={lbfgs_options['gtol']} reached"
    else:
        zero_step = [c for c in chunks if c.get("max_abs_last_step") == 0.0]
        why = (
            f"a torch LBFGS.step call ended at iteration {zero_step[0]['n_iter']} because its "
            "step d*t was exactly zero in float32 (torch stops when max|d*t| <= "
            f"tolerance_change = ftol = {lbfgs_options['ftol']})"
            if zero_step
            else "a torch LBFGS.step call quit early (tolerance_change / no progress)"
        )
        stop = (
            f"{why}; the next call advanced only one iteration, which DeepXDE's loop "
            "(_train_pytorch_lbfgs) takes as 'converged' and stops silently, not counting "
            "that last iteration in train_state"
        )

    # Loss at the final parameters (DeepXDE's last displayed loss can be one iteration stale:
    # it does not re-test after the final, "converged", L-BFGS call).
    reported = [float(v) for v in np.ravel(train_state.loss_train)]
    try:
        _, losses = model._outputs_losses(
            True, train_state.X_train, train_state.y_train, train_state.train_aux_vars
        )
        final_terms = [float(v) for v in np.ravel(losses)]
    except Exception:  # noqa: BLE001 - private API; fall back to DeepXDE's report
        final_terms = reported

    u = np.asarray(model.predict(points), dtype=np.float64).reshape(-1)
    total_seconds = time.perf_counter() - _T_START

    out = args.out.resolve()
    pred = out.with_suffix(".npz")
    _atomic_write_bytes(pred, lambda f: np.savez(f, u=u))
    record = {
        "problem": args.problem,
        "deepxde_version": dde.__version__,
        "torch_version": torch.__version__,
        "backend": dde.backend.backend_name,
        "float": str(dde.config.real.precision) if hasattr(dde.config.real, "precision") else None,
        "train_seconds": train_seconds,
        "adam_seconds": train_seconds - lbfgs_seconds,
        "lbfgs_seconds": lbfgs_seconds,
        "total_seconds": total_seconds,
        "adam_iterations": adam_done,
        "lbfgs_iterations": int(n_iter),
        "lbfgs_iterations_counted_by_deepxde": counted,
        "lbfgs_function_evaluations": final.get("func_evals"),
        "lbfgs_stop": stop,
        "lbfgs_final_max_abs_grad": final.get("max_abs_grad"),
        "lbfgs_final_max_abs_step": final.get("max_abs_last_step"),
        "lbfgs_chunks": chunks,
        "lbfgs_options": {k: lbfgs_options[k] for k in sorted(lbfgs_options)},
        "final_loss": float(sum(final_terms)),
        "final_loss_terms": final_terms,
        "final_loss_reported_by_deepxde": float(sum(reported)),
        "best_step": int(train_state.best_step),
        "best_loss_train": float(np.sum(train_state.best_loss_train)),
        "loss_history_steps": [int(s) for s in losshistory.steps],
        "loss_history_train": [float(np.sum(v)) for v in losshistory.loss_train],
        "n_points": int(points.shape[0]),
        "quick": bool(args.quick),
        "seed": args.seed,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_at_end": list(os.getloadavg()),
        "settings": settings,
        "prediction_file": str(pred),
    }
    assert "oplearn" not in sys.modules, "the DeepXDE side must not import oplearn"
    _atomic_write_bytes(out, lambda f: f.write((json.dumps(record, indent=2) + "\n").encode()))
    print(
        f"{args.problem}: train {train_seconds:.1f}s total {total_seconds:.1f}s, "
        f"Adam {adam_done} + L-BFGS {n_iter} its ({stop.split(':')[0]}), "
        f"final loss {record['final_loss']:.3e} -> {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
