"""The Burgers solver as a measurement: accuracy against Cole-Hopf, order in time, resolution,
time step and cost per sample.

    python benchmarks/burgers_solver.py

One CPU thread, float64. Writes benchmarks/results/burgers_solver.json and prints it.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from oplearn.pdes import burgers

ROOT = Path(__file__).resolve().parent.parent


def _orders(errors: list[float]) -> list[float]:
    return [math.log2(a / b) for a, b in zip(errors[:-1], errors[1:], strict=True)]


def main() -> None:
    torch.set_num_threads(1)
    result: dict = {"cole_hopf_max_error": {}}
    for nu, t, n in ((0.1, 1.0, 256), (0.1, 1.0, 1024), (0.02, 0.5, 1024)):
        u0, exact = burgers.cole_hopf_sine(n, nu, t)
        result["cole_hopf_max_error"][f"nu={nu} t={t} n={n}"] = float(np.abs(burgers.solve(u0, nu, t) - exact).max())

    dts = [0.02, 0.01, 0.005, 0.0025]
    u0, exact = burgers.cole_hopf_sine(256, 0.1, 1.0)
    smooth = [float(np.abs(burgers.solve(u0, 0.1, 1.0, dt=dt) - exact).max()) for dt in dts]
    random_u0 = np.stack([burgers.sample_initial(np.random.default_rng(i), 256) for i in range(4)])
    reference = burgers.solve(random_u0, 0.1, 1.0, dt=1e-4)
    rough = [float(np.abs(burgers.solve(random_u0, 0.1, 1.0, dt=dt) - reference).max()) for dt in dts]
    result["time_order"] = {"dt": dts, "smooth_errors": smooth, "smooth_orders": _orders(smooth),
                            "random_errors": rough, "random_orders": _orders(rough)}

    samples = np.stack([burgers.sample_initial(np.random.default_rng(i), 8192) for i in range(16)])
    result["auto_dt_nu_0.1"] = [burgers.auto_time_step(float(np.abs(u).max()), 8192, 0.1) for u in samples]
    coarse = samples[:, ::8]  # not band-limited at 1024: compare on the same band-limited data
    spectrum = np.zeros((16, 8192 // 2 + 1), complex)
    spectrum[:, :513] = np.fft.rfft(coarse, axis=1) * 8
    fine = burgers.solve(np.fft.irfft(spectrum, 8192, axis=1), 0.1, 1.0)[:, ::8]
    result["max_relative_difference_1024_vs_8192"] = float(
        np.abs(burgers.solve(coarse, 0.1, 1.0) - fine).max() / np.abs(fine).max())

    for n in (1024, 8192):
        batch = samples[:, :: 8192 // n]
        start = time.perf_counter()
        burgers.solve(batch, 0.1, 1.0)
        batched = (time.perf_counter() - start) / len(batch)
        start = time.perf_counter()
        for u in batch[:4]:
            burgers.solve(u, 0.1, 1.0)
        single = (time.perf_counter() - start) / 4
        result[f"seconds_per_sample_n{n}"] = {"batch_of_16": batched, "one_at_a_time": single}

    out = ROOT / "benchmarks" / "results" / "burgers_solver.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
