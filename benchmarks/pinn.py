"""Physics-informed solves of the shipped problems, and DeepXDE on the same problems: relative L2
against the exact or reference solution and wall time, one run each on this machine's CPU.

    python benchmarks/pinn.py                       # every group; writes benchmarks/results/pinn.json
    python benchmarks/pinn.py --only burgers,deepxde  # some groups (rows merge into the file)

Groups: poisson (poisson2d with Gauss-Newton at its defaults, L-BFGS 2000 iterations, Adam 5000
steps), helmholtz, burgers (defaults, and 300 steps), allen-cahn,
inverse (Burgers' viscosity), inverse-oracle (how well its 200 noisy observations determine the
viscosity at all: the least-squares fit through the exact solution), twobody-1k and twobody-10k
(the three two-body problems at d = 1,000 and 10,000), twobody-10k-nofit (the same at 10,000
without the output layer's fit), twobody-100k (Allen-Cahn two-body at
d = 100,000), deepxde (DeepXDE's own example set-ups on poisson2d and burgers, in its own
environment: see benchmarks/pinn_deepxde.py; its error is computed here, against the same exact
or reference values as ours; then ours on each at its defaults with `time_limit` set to DeepXDE's
training seconds of the same run: equal wall time, rows marked `variant: deepxde-time`). Our rows use each problem's defaults (`oplearn info --pinn NAME`)
unless the row says otherwise. Two-body rows also give `radial_baseline_rel_l2`, the error of the
best multiple of the bubble ``1 - |x|^2`` on the same evaluation points: at large d the exact
solution is close to it (``S(x)`` is nearly the constant ``sin(1) sum c_i``), so an error is
meaningful only below it. `train_seconds` is the optimisation alone (with the output layer's
least-squares fit); `total_seconds` the whole solve call
(set-up, reference solution, evaluation). Each row records the torch threads it ran with.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from groups import chosen_groups
from machine import describe

from oplearn.pinn import PinnSettings, get, solve
from oplearn.pinn.training import _evaluation_points

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "pinn.json"
TWO_BODY_STEPS = {1000: 8000, 10_000: 3000, 100_000: 300}  # sized to fit 10 minutes per run here
GROUPS = {
    "poisson": [("poisson2d", {}, None), ("poisson2d", {"optimizer": "lbfgs", "steps": 2000}, None),
                ("poisson2d", {"optimizer": "adam", "steps": 5000}, None)],
    "helmholtz": [("helmholtz2d", {}, None)],
    "burgers": [("burgers", {}, None), ("burgers", {"steps": 300}, None)],  # the second: DeepXDE's time
    "allen-cahn": [("allen-cahn", {}, None)],
    "inverse": [("burgers-viscosity", {}, None)],
    **{f"twobody-{d // 1000}k": [(name, {"steps": TWO_BODY_STEPS[d]}, d)
                                 for name in ("poisson-twobody", "allen-cahn-twobody", "sine-gordon-twobody")]
       for d in (1000, 10_000)},
    "twobody-10k-nofit": [(name, {"steps": TWO_BODY_STEPS[10_000], "fit_output": False}, 10_000)
                          for name in ("poisson-twobody", "allen-cahn-twobody", "sine-gordon-twobody")],
    "twobody-100k": [("allen-cahn-twobody", {"steps": TWO_BODY_STEPS[100_000]}, 100_000)],
    "inverse-oracle": [],
    "deepxde": [],
}
KEYS = ("problem", "optimizer", "dim", "rel_l2", "train_seconds", "steps", "stop_reason", "parameters",
        "final_loss", "unknowns", "unknowns_rel_error", "evaluation_points")


def ours(name: str, overrides: dict, dim: int | None, variant: str | None = None) -> dict:
    start = time.perf_counter()
    report = solve(name, None, PinnSettings(**overrides), progress=False, dim=dim)
    row = {k: report[k] for k in KEYS if k in report}
    row.update(library="oplearn", total_seconds=time.perf_counter() - start, settings=report["settings"],
               threads=torch.get_num_threads())
    if overrides.get("fit_output") is False:
        row["variant"] = "no-output-fit"
    if variant:
        row["variant"] = variant
    if name.endswith("-twobody"):
        row["radial_baseline_rel_l2"] = radial_baseline(name, dim, report["settings"])
        row["output_fit"] = report.get("output_fit")
    extra = f" recovered {report['unknowns']}" if "unknowns" in report else ""
    extra += f" (bubble alone: {row['radial_baseline_rel_l2']:.2e})" if "radial_baseline_rel_l2" in row else ""
    print(f"oplearn {name:<20} d={row['dim']:<7} {row['optimizer']:<13} rel. L2 {row['rel_l2']:.2e} in "
          f"{row['train_seconds']:7.1f} s, {row['steps']} steps ({row['stop_reason']}){extra}", flush=True)
    return row


def radial_baseline(name: str, dim: int, settings: dict) -> float:
    """Relative L2 error of ``a (1 - |x|^2)`` with the best ``a`` (least squares) on the solve's
    own evaluation points."""
    problem = get(name, dim, settings["seed"])
    num = den = ff = 0.0  # the best a = <b, u> / <b, b>; error^2 = <u, u> - <b, u>^2 / <b, b>
    for x, exact in _evaluation_points(problem, PinnSettings(**settings), torch.float64):
        bubble = 1 - (x ** 2).sum(dim=1)
        num, den, ff = num + float(bubble @ exact), den + float(bubble @ bubble), ff + float(exact @ exact)
    return float(np.sqrt(max(ff - num ** 2 / den, 0.0) / ff))


def inverse_oracle(seeds: int = 6) -> dict:
    """What the observations of ``burgers-viscosity`` allow: the viscosity that fits them best in
    least squares through the exact solution (Cole-Hopf), for seeds 0..seeds-1 (seed 0 is the
    PINN row's)."""
    from scipy.optimize import minimize_scalar

    from oplearn.pinn.references import burgers_cole_hopf

    true = 0.01 / np.pi
    errors, excess = [], []  # excess: how much more the misfit is at the true nu than at the best
    for seed in range(seeds):
        points, observed = get("burgers-viscosity", None, seed).observations
        x, t, values = points[:, 0].numpy(), points[:, 1].numpy(), observed.numpy()

        def misfit(nu, x=x, t=t, values=values):
            return float(((burgers_cole_hopf(x, t, nu) - values) ** 2).sum())

        fit = minimize_scalar(misfit, bounds=(0.5 * true, 2 * true), method="bounded", options={"xatol": 1e-10})
        errors.append((fit.x - true) / true)
        excess.append(misfit(true) / fit.fun - 1)
    print(f"oracle burgers-viscosity: least-squares nu through the exact solution off by "
          f"{', '.join(f'{100 * e:+.2f}%' for e in errors)}; misfit at the true nu above its minimum by "
          f"{', '.join(f'{100 * e:.2f}%' for e in excess)} (seeds 0..{seeds - 1})", flush=True)
    return {"problem": "burgers-viscosity", "library": "exact-solution least squares", "optimizer": None,
            "dim": None, "steps": None, "unknowns_rel_error_by_seed": errors, "misfit_excess_at_true_by_seed": excess}


def deepxde(name: str) -> dict:
    """DeepXDE's example set-up on ``name``; its predictions scored against our values."""
    problem = get(name)
    if problem.exact is not None:
        points = problem.domain.sample(4096, "uniform", 10_000)  # the held-out points of our seed-0 run
        values = problem.exact(points)
    else:
        points, values = problem.reference()
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "points.npz", points=points.numpy())
        out = Path(tmp) / "deepxde.json"
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "pinn_deepxde.py"), name,
                        "--points", str(Path(tmp) / "points.npz"), "--out", str(out),
                        "--threads", str(torch.get_num_threads())], check=True)
        facts = json.loads(out.read_text())
        with np.load(out.with_suffix(".npz")) as data:
            u = torch.as_tensor(data["u"], dtype=torch.float64)
    rel_l2 = float((u - values).norm() / values.norm())
    facts.pop("prediction_file", None)
    row = {"problem": name, "library": "deepxde", "rel_l2": rel_l2, **facts, "threads": torch.get_num_threads()}
    print(f"deepxde {name:<20} rel. L2 {rel_l2:.2e} in {facts['train_seconds']:7.1f} s "
          f"(L-BFGS iterations: {facts.get('lbfgs_iterations')})", flush=True)
    return row


def main() -> None:
    for group in chosen_groups(__doc__.split("\n\n")[0], GROUPS):
        for name, overrides, dim in GROUPS[group]:
            _record({**ours(name, overrides, dim), "group": group})
        if group == "inverse-oracle":
            _record({**inverse_oracle(), "group": group})
        if group == "deepxde":
            for name in ("poisson2d", "burgers"):
                theirs = deepxde(name)
                _record({**theirs, "group": group})
                _record({**ours(name, {"time_limit": theirs["train_seconds"]}, None, "deepxde-time"), "group": group})
    print(f"wrote {OUT}")


def _record(row: dict) -> None:
    """Merge one row into the results file (read just before writing: groups may run at once)."""
    previous = json.loads(OUT.read_text()) if OUT.exists() else {}
    rows = {_key(r): r for r in previous.get("rows", []) if "library" in r}
    rows[_key(row)] = row
    OUT.write_text(json.dumps({"rows": list(rows.values()), "machine": describe("cpu")}, indent=2) + "\n")


def _key(row: dict) -> str:
    variant = f"|{row['variant']}" if row.get("variant") else ""
    return f"{row['library']}|{row['problem']}|{row.get('optimizer')}|{row.get('dim')}|{row.get('steps')}{variant}"


if __name__ == "__main__":
    main()
