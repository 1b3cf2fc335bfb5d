"""Physics-informed solves of the shipped problems: relative L2 against the exact solution and
wall time, per optimiser, in one run on this machine's CPU (float64, the defaults: 1024 Sobol
collocation points, a tanh MLP of two hidden layers of 32, hard Dirichlet constraints).

    python benchmarks/pinn.py            # writes benchmarks/results/pinn.json

Rows: poisson2d with damped Gauss-Newton (300 steps), L-BFGS (2000 iterations) and Adam (5000
steps, lr 1e-3); helmholtz2d with Gauss-Newton (300 steps). `train_seconds` is the optimisation
alone (no start-up); the machine and library versions are recorded.
"""

from __future__ import annotations

import json
from pathlib import Path

from machine import describe

from oplearn.pinn import PinnSettings, solve

ROOT = Path(__file__).resolve().parent.parent
RUNS = [("poisson2d", "gauss-newton", 300), ("poisson2d", "lbfgs", 2000), ("poisson2d", "adam", 5000),
        ("helmholtz2d", "gauss-newton", 300)]


def main() -> None:
    rows = []
    for name, optimizer, steps in RUNS:
        report = solve(name, None, PinnSettings(optimizer=optimizer, steps=steps), progress=False)
        rows.append({k: report[k] for k in ("problem", "optimizer", "rel_l2", "train_seconds", "steps",
                                            "stop_reason", "parameters", "final_loss")})
        print(f"{name:<12} {optimizer:<13} rel. L2 {report['rel_l2']:.2e} in {report['train_seconds']:6.1f} s, "
              f"{report['steps']} steps ({report['stop_reason']})", flush=True)
    out = ROOT / "benchmarks" / "results" / "pinn.json"
    out.write_text(json.dumps({"rows": rows, "machine": describe("cpu")}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
