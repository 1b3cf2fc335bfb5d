"""Whole-pipeline generation speed (`oplearn generate`) by device and chunk size.

    python benchmarks/generation_chunks.py --device cuda --chunk-sizes 8 32 128

For each problem, times :func:`oplearn.data.generate` end to end (sampling the inputs, the batched
solve, writing the parts and the HDF5 file): first on the CPU with one process and the CPU's
default chunk size (the baseline, on ``--cpu-samples`` samples), then on ``--device`` with each
chunk size (``--samples`` samples, each after an untimed warm-up run of one chunk of that size, so
that FFT plans and the CUDA context are built). One CPU thread. Prints a table and writes
``benchmarks/results/generation_<device>.json`` with the machine's description.

Problems, in settings of the FNO paper: Darcy at 421 points (multigrid), Navier-Stokes solved at
256 x 256 with the paper's scheme (dt = 1e-4, Euler; ``--ns-time`` simulated time units, stored at
64 x 64) and Burgers solved at 8192 points (stored at 1024).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import torch  # noqa: E402
from machine import describe  # noqa: E402

from oplearn.data.generation import CHUNK_SIZE, generate  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def problems(ns_time: float) -> dict[str, tuple[int, dict[str, Any]]]:
    """name -> (stored resolution, parameters)."""
    return {
        "darcy": (421, {"solver": "auto"}),
        "navier-stokes": (64, {"solver_resolution": 256, "dt": 1e-4, "scheme": "euler", "t": ns_time,
                               "snapshots": 1}),
        "burgers": (1024, {}),
    }


def timed_generation(name: str, resolution: int, params: dict[str, Any], samples: int, device: str,
                     chunk_size: int, seed: int) -> dict[str, Any]:
    """Generate ``samples`` samples into a temporary file: seconds per sample, wall and in the solver."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = generate(name, samples=samples, resolution=resolution, seed=seed, out=Path(tmp) / "d.h5",
                          params=params, progress=False, device=device, chunk_size=chunk_size)
        wall = time.perf_counter() - start
    return {"device": device, "chunk_size": chunk_size, "samples": samples,
            "wall_seconds_per_sample": wall / samples,
            "solver_seconds_per_sample": result.solver_seconds_per_sample}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--chunk-sizes", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--samples", type=int, default=128, help="samples per device row")
    parser.add_argument("--cpu-samples", type=int, default=8, help="samples of the CPU baseline row")
    parser.add_argument("--ns-time", type=float, default=0.2, help="simulated time of Navier-Stokes")
    parser.add_argument("--problems", nargs="+", default=["darcy", "navier-stokes", "burgers"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    table = problems(args.ns_time)
    results = {"device": torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else args.device,
               "cpu_threads": 1, "ns_time": args.ns_time, "machine": describe(args.device), "problems": {}}
    for name in args.problems:
        resolution, params = table[name]
        rows = [timed_generation(name, resolution, params, args.cpu_samples, "cpu", CHUNK_SIZE, seed=1)]
        for chunk in args.chunk_sizes:
            # warm-up, one chunk (a Navier-Stokes run of two steps): CUDA context, FFT plans
            warm = {**params, "t": 2 * params["dt"]} if name == "navier-stokes" else params
            timed_generation(name, resolution, warm, chunk, args.device, chunk, seed=2)
            rows.append(timed_generation(name, resolution, params, args.samples, args.device, chunk, seed=3))
        base = rows[0]["wall_seconds_per_sample"]
        for row in rows:
            row["speedup_vs_cpu"] = base / row["wall_seconds_per_sample"]
            print(f"{name:<14} {row['device']:<6} chunk {row['chunk_size']:>4}: "
                  f"{row['wall_seconds_per_sample']:.4f} s/sample wall, solver "
                  f"{row['solver_seconds_per_sample']:.4f} s ({row['speedup_vs_cpu']:.1f}x)", flush=True)
        results["problems"][name] = {"resolution": resolution, "params": params, "rows": rows}
    path = RESULTS / f"generation_{args.device.replace(':', '')}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
