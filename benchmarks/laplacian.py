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

from pathlib import Path

from operator_cases import BATCH, SAMPLES, main, measure, network  # this folder is on sys.path

ROOT = Path(__file__).resolve().parent.parent

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


def run_case(method: str, dim: int, step: bool) -> dict:
    import torch

    from oplearn.autodiff import laplacian
    from oplearn.autodiff.laplacian import sample_directions, second_directional

    f, x = network(dim)
    gen = torch.Generator().manual_seed(0)
    plain = lambda z: f(z)  # noqa: E731

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
            return second_directional(plain, x, v, engine="jvp").mean(1)
        if method == "ours exact":
            return laplacian(f, x, "exact", chunk_size=max(1, 2_000_000 // (BATCH * 128)))
        estimator = method.rsplit(" ", 1)[1]
        return laplacian(f, x, "stde", SAMPLES, gen, estimator)

    return measure(operator, f, step)


if __name__ == "__main__":
    main(__file__, __doc__, METHODS, run_case, ROOT / "benchmarks" / "results" / "laplacian.json",
         lambda m, d: m == "torch.func hessian trace" or d > STEP_LIMITS.get(m, d))
