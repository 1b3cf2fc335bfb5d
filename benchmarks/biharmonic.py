"""Biharmonic (order 4) of an MLP in d = 10 .. 1,000,000 dimensions: ours against nested autograd.

    python benchmarks/biharmonic.py [--dims 10 100 1000 10000 100000 1000000]

Same network, points, thread and timing rules as benchmarks/laplacian.py (4 x 128 tanh, float32,
64 points, one thread, each case in its own process; stochastic methods use V = 16 directions).
"nested autograd" is the Laplacian of the Laplacian by reverse mode (2 d + 2 backward passes);
"STDE via nested jvp" pushes 16 Gaussian directions through four nested torch.func.jvp (the
generic way to get fourth directional derivatives). Ours: "exact (Hessian propagation)", the
MLP path of biharmonic(method="exact"); "exact (4th-order directions)", the path any traced
function takes (d^2 directions); STDE with Gaussian per-point ("dense"), Gaussian shared
("shared") and random coordinate pairs ("sparse") directions.
Writes benchmarks/results/biharmonic.json and prints the table with ratios to nested autograd.
"""

from __future__ import annotations

from pathlib import Path

from operator_cases import SAMPLES, main, measure, network  # this folder is on sys.path

ROOT = Path(__file__).resolve().parent.parent
METHODS = {
    "nested autograd": 100,
    "STDE via nested jvp": 10_000,
    "ours exact (Hessian propagation)": 100,
    "ours exact (4th-order directions)": 100,
    "ours STDE dense": 100_000,
    "ours STDE shared": 1_000_000,
    "ours STDE sparse": 1_000_000,
}


def run_case(method: str, dim: int, step: bool) -> dict:
    import torch

    from oplearn.autodiff import biharmonic, directional_derivative

    f, x = network(dim)
    gen = torch.Generator().manual_seed(0)

    def operator() -> torch.Tensor:
        if method == "nested autograd":
            xr = x.clone().requires_grad_(True)

            def lap(u: torch.Tensor, keep: bool) -> torch.Tensor:
                (grad,) = torch.autograd.grad(u.sum(), xr, create_graph=True)
                return sum(torch.autograd.grad(grad[:, i].sum(), xr, create_graph=keep, retain_graph=True)[0][:, i]
                           for i in range(dim))

            return lap(lap(f(xr)[:, 0], True), step)  # the last level keeps its graph for a step only
        if method == "STDE via nested jvp":
            v = torch.randn(SAMPLES, dim, generator=gen)
            fourth = directional_derivative(f, x, v, 4, engine="jvp")
            return fourth[..., 0].mean(1) / 3
        if method == "ours exact (Hessian propagation)":
            return biharmonic(f, x)
        if method == "ours exact (4th-order directions)":
            return biharmonic(lambda z: f(z), x, chunk_size=256)
        estimator = method.rsplit(" ", 1)[1]
        return biharmonic(f, x, "stde", SAMPLES, gen, estimator)

    return measure(operator, f, step)


if __name__ == "__main__":
    main(__file__, __doc__, METHODS, run_case, ROOT / "benchmarks" / "results" / "biharmonic.json",
         lambda m, d: False)
