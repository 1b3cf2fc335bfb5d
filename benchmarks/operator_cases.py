"""Shared machinery of the operator benchmarks (laplacian.py, biharmonic.py): the network,
timing, peak memory, and running every (method, d, kind) case in its own process."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

BATCH, WIDTH, DEPTH, SAMPLES = 64, 128, 4, 16


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def network(dim: int):
    """4 hidden layers of 128 tanh units, float32, one thread; 64 points; seeded."""
    import torch
    from torch import nn

    torch.set_num_threads(1)
    torch.manual_seed(0)
    layers, fan_in = [], dim
    for _ in range(DEPTH):
        layers += [nn.Linear(fan_in, WIDTH), nn.Tanh()]
        fan_in = WIDTH
    return nn.Sequential(*layers, nn.Linear(fan_in, 1)), torch.randn(BATCH, dim)


def measure(operator: Callable, model, step: bool) -> dict:
    """Median of three calls after a warm-up (one call, no warm-up, past 20 s). With ``step``
    a call is a training step: the operator, the loss mean(op^2) and the backward pass."""

    def call() -> None:
        value = operator()
        if step:
            value.square().mean().backward()
            model.zero_grad(set_to_none=True)

    base = peak_mb()
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
    return {"seconds": seconds, "peak_mb": max(0.0, peak_mb() - base)}


def run_cases(script: str, dims: list[int], methods: dict[str, int], skip_step: Callable[[str, int], bool],
              rows: list[dict]) -> list[dict]:
    """Run ``script --case METHOD D KIND`` in a fresh process for every case; a case that fails
    (out of memory, killed) records its last error line and the run goes on."""
    for dim in dims:
        for method, max_dim in methods.items():
            if dim > max_dim:
                continue
            row = {"d": dim, "method": method}
            for kind in ("operator", "step"):
                if kind == "step" and skip_step(method, dim):
                    continue
                proc = subprocess.run([sys.executable, script, "--case", method, str(dim), kind],
                                      capture_output=True, text=True, timeout=900)
                if proc.returncode != 0:
                    lines = proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"]
                    row[kind] = {"error": lines[-1][:200]}
                else:
                    row[kind] = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def print_table(rows: list[dict], methods: list[str], reference: str) -> None:
    """Markdown table with each operator time's ratio to ``reference`` at the same d."""
    rows = sorted(rows, key=lambda r: (r["d"], methods.index(r["method"])))
    print(f"\n| d | method | operator s | vs {reference} | operator MB | step s | step MB |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        ref = next((r for r in rows if r["d"] == row["d"] and r["method"] == reference), None)
        op, st = row.get("operator", {}), row.get("step", {})

        def fmt(cell, key, spec):
            return format(cell[key], spec) if key in cell else cell.get("error", "-")[:30]

        ratio = (f"{ref['operator']['seconds'] / op['seconds']:.3g}x"
                 if ref and "seconds" in ref.get("operator", {}) and "seconds" in op else "-")
        print(f"| {row['d']:,} | {row['method']} | {fmt(op, 'seconds', '.4f')} | {ratio} | "
              f"{fmt(op, 'peak_mb', '.0f')} | {fmt(st, 'seconds', '.4f') if st else '-'} | "
              f"{fmt(st, 'peak_mb', '.0f') if st else '-'} |")


def write_results(path: Path, rows: list[dict]) -> None:
    path.write_text(json.dumps({"batch": BATCH, "width": WIDTH, "depth": DEPTH, "samples": SAMPLES,
                                "threads": 1, "rows": rows}, indent=2) + "\n")


def main(script: str, doc: str, methods: dict[str, int], run_case: Callable[[str, int, bool], dict],
         default_out: Path, skip_step: Callable[[str, int], bool], reference: str = "nested autograd") -> None:
    """The command line both operator benchmarks share (``--help`` lists it)."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[10, 100, 1000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--case", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=default_out)
    parser.add_argument("--table-only", action="store_true", help="print the table of --out and exit")
    parser.add_argument("--methods", nargs="+", choices=list(methods), help="run only these methods")
    parser.add_argument("--append", action="store_true",
                        help="keep the rows of --out that this invocation does not rerun")
    args = parser.parse_args()
    if args.case:
        method, dim, kind = args.case
        print(json.dumps(run_case(method, int(dim), kind == "step")))
        return
    if args.table_only:
        print_table(json.loads(args.out.read_text())["rows"], list(methods), reference)
        return
    chosen = {m: d for m, d in methods.items() if not args.methods or m in args.methods}
    rows = []
    if args.append and args.out.exists():
        rows = [r for r in json.loads(args.out.read_text())["rows"]
                if not (r["d"] in args.dims and r["method"] in chosen)]
    run_cases(script, args.dims, chosen, skip_step, rows)
    write_results(args.out, rows)
    print_table(rows, list(methods), reference)
