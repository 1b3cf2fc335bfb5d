"""Laplacian of an MLP in d = 10 .. 1,000,000 dimensions: ours against the usual ways, one run.

    python benchmarks/laplacian.py [--dims 10 100 1000 10000 100000 1000000] [--quick]

Network: 4 hidden layers of 128 tanh units, float32, 64 points, one CPU thread; stochastic
methods use V = 16 directions. Each (method, d) runs in its own process so that its peak memory
(resident set growth beyond the model and points) is its own. Timings are the median of three
calls after one warm-up (one call, no warm-up, where a call takes over 20 s). "step" is a full
training step: the operator, the loss mean(lap^2) and the backward pass to the parameters.
Writes benchmarks/results/laplacian.json and prints a table with ratios to nested autograd.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BATCH, WIDTH, DEPTH, SAMPLES = 64, 128, 4, 16

# method -> largest d it is run at (beyond it the cost or memory is out of reach here)
METHODS = {
    "nested autograd": 10_000,
    "torch.func hessian trace": 1_000,
    "SDGD (first-order AD)": 1_000_000,
    "STDE via nested jvp": 1_000_000,
    "ours exact": 10_000,
    "ours STDE dense": 100_000,
    "ours STDE shared": 1_000_000,
    "ours STDE sparse": 1_000_000,
}
# the training step of nested autograd keeps d second-order graphs: over 23 GB at d = 10,000
STEP_LIMITS = {"nested autograd": 1_000}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(method: str, dim: int, step: bool) -> dict:
    import torch
    from torch import nn

    from oplearn.autodiff import laplacian
    from oplearn.autodiff.laplacian import sample_directions, second_directional

    torch.set_num_threads(1)
    torch.manual_seed(0)
    layers, fan_in = [], dim
    for _ in range(DEPTH):
        layers += [nn.Linear(fan_in, WIDTH), nn.Tanh()]
        fan_in = WIDTH
    f = nn.Sequential(*layers, nn.Linear(fan_in, 1))
    x = torch.randn(BATCH, dim)
    gen = torch.Generator().manual_seed(0)
    plain = lambda z: f(z)  # noqa: E731  (a plain function: no Taylor fast path)

    def operator() -> torch.Tensor:
        if method == "nested autograd":
            xr = x.clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(f(xr).sum(), xr, create_graph=True)
            return sum(torch.autograd.grad(grad[:, i].sum(), xr, create_graph=step, retain_graph=True)[0][:, i]
                       for i in range(dim))
        if method == "torch.func hessian trace":
            hess = torch.func.vmap(torch.func.hessian(lambda p: f(p[None])[0, 0]))(x)
            return hess.diagonal(dim1=1, dim2=2).sum(1)
        if method == "SDGD (first-order AD)":
            return laplacian(f, x, "sdgd", SAMPLES, gen)
        if method == "STDE via nested jvp":
            v = sample_directions("shared", BATCH, dim, SAMPLES, generator=gen)
            return second_directional(plain, x, v).mean(1)
        if method == "ours exact":
            return laplacian(f, x, "exact", chunk_size=max(1, 2_000_000 // (BATCH * WIDTH)))
        estimator = method.rsplit(" ", 1)[1]
        return laplacian(f, x, "stde", SAMPLES, gen, estimator)

    def call() -> None:
        lap = operator()
        if step:
            loss = lap.square().mean()
            loss.backward()
            f.zero_grad(set_to_none=True)

    base = _peak_mb()
    start = time.perf_counter()
    call()
    first = time.perf_counter() - start
    if first > 20:
        seconds = first
    else:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        seconds = sorted(times)[1]
    return {"seconds": seconds, "peak_mb": max(0.0, _peak_mb() - base)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[10, 100, 1000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--case", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "laplacian.json")
    parser.add_argument("--table-only", action="store_true", help="print the table of --out and exit")
    parser.add_argument("--append", action="store_true",
                        help="keep the rows of --out for other dimensions (to run the dims in parts)")
    args = parser.parse_args()
    if args.case:
        method, dim, step = args.case
        print(json.dumps(run_case(method, int(dim), step == "step")))
        return
    if args.table_only:
        print_table(json.loads(args.out.read_text())["rows"])
        return
    rows = []
    if args.append and args.out.exists():
        rows = [r for r in json.loads(args.out.read_text())["rows"] if r["d"] not in args.dims]
    for dim in args.dims:
        for method, max_dim in METHODS.items():
            if dim > max_dim:
                continue
            row = {"d": dim, "method": method}
            for kind in ("operator", "step"):
                if kind == "step" and (method == "torch.func hessian trace"
                                       or dim > STEP_LIMITS.get(method, dim)):
                    continue
                proc = subprocess.run([sys.executable, __file__, "--case", method, str(dim), kind],
                                      capture_output=True, text=True, timeout=900)
                if proc.returncode != 0:
                    lines = proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"]
                    row[kind] = {"error": lines[-1][:200]}
                else:
                    row[kind] = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(json.dumps(row), flush=True)
    args.out.write_text(json.dumps({"batch": BATCH, "width": WIDTH, "depth": DEPTH,
                                    "samples": SAMPLES, "threads": 1, "rows": rows}, indent=2) + "\n")
    print_table(rows)


def print_table(rows: list[dict]) -> None:
    rows = sorted(rows, key=lambda r: (r["d"], list(METHODS).index(r["method"])))
    print("\n| d | method | operator s | vs nested autograd | operator MB | step s | step MB |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        ref = next((r for r in rows if r["d"] == row["d"] and r["method"] == "nested autograd"), None)
        op, st = row.get("operator", {}), row.get("step", {})

        def fmt(cell, key, spec):
            return format(cell[key], spec) if key in cell else cell.get("error", "-")[:30]

        ratio = (f"{ref['operator']['seconds'] / op['seconds']:.3g}x"
                 if ref and "seconds" in ref.get("operator", {}) and "seconds" in op else "-")
        print(f"| {row['d']:,} | {row['method']} | {fmt(op, 'seconds', '.4f')} | {ratio} | "
              f"{fmt(op, 'peak_mb', '.0f')} | {fmt(st, 'seconds', '.4f') if st else '-'} | "
              f"{fmt(st, 'peak_mb', '.0f') if st else '-'} |")


if __name__ == "__main__":
    main()
