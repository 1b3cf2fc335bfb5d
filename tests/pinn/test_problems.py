"""Shipped and user-written problems: exact solutions satisfy their PDEs, and each problem converges
on a small setting (the benchmark's settings reach far lower errors: benchmarks/pinn.py)."""

import math

import pytest
import torch

from oplearn.autodiff import laplacian, mixed_partial
from oplearn.pinn import (
    Box,
    Dirichlet,
    Neumann,
    Periodic,
    PinnSettings,
    Problem,
    available,
    get,
    solve,
)

PI = math.pi


@pytest.mark.parametrize("name", ["poisson2d", "helmholtz2d", "poisson-twobody", "allen-cahn-twobody",
                                  "sine-gordon-twobody"])
def test_exact_solutions_satisfy_their_pde(name):
    problem = get(name, dim=None if name.endswith("2d") else 12, seed=3)
    x = problem.domain.sample(32, "uniform", seed=1)
    if problem.stochastic:  # an unbiased STDE estimate: its mean over draws is zero within its error
        gen = torch.Generator().manual_seed(0)
        draws = torch.stack([problem.residual(problem.exact, x, {"generator": gen}) for _ in range(400)])
        assert (draws.mean(0).abs() < 5 * draws.std(0) / math.sqrt(400) + 1e-12).all(), name
        return
    assert problem.residual(problem.exact, x).abs().max() < 1e-9, name


def test_two_body_residual_with_every_coordinate_is_exact():
    """With V = d sparse coordinates drawn... the estimator is unbiased; with the exact Laplacian the
    residual of the exact solution vanishes to rounding (checked through the closed form)."""
    from oplearn.pinn.problems import TWO_BODY_NONLINEARITY, two_body_solution

    problem = get("allen-cahn-twobody", dim=9, seed=0)
    c = torch.as_tensor(problem.coefficients)
    x = problem.domain.sample(16, "radial", seed=2)
    u, lap = two_body_solution(x, c)
    exact_lap = laplacian(lambda p: two_body_solution(p, c)[0], x)
    torch.testing.assert_close(exact_lap, lap, rtol=1e-10, atol=1e-10)
    nonlinearity = TWO_BODY_NONLINEARITY["allen-cahn-twobody"][1]
    assert torch.allclose(nonlinearity(u), u - u ** 3)


@pytest.mark.parametrize("name, settings, tolerance", [
    ("poisson2d", PinnSettings(steps=40, points=256, width=16), 1e-3),
    ("helmholtz2d", PinnSettings(steps=40, points=512), 1e-1),
    ("poisson-twobody", PinnSettings(steps=150, points=64, width=32, eval_points=1000, schedule="constant"), 5e-2),
])
def test_shipped_problems_converge_on_a_small_setting(name, settings, tolerance):
    report = solve(name, None, settings, progress=False, dim=None if name.endswith("2d") else 50)
    assert report["rel_l2"] < tolerance, report


@pytest.mark.parametrize("name, tolerance", [("burgers", 0.1), ("allen-cahn", 0.2)])
def test_time_dependent_problems_converge_on_a_small_setting(name, tolerance):
    report = solve(name, None, PinnSettings(steps=60, points=500, width=16), progress=False)
    assert report["rel_l2"] < tolerance, report


def test_burgers_viscosity_moves_from_its_guess_to_the_true_value_on_a_small_setting():
    """From 0.05 (15.7x the true 0.01/pi) to within a factor of two in 200 small steps; the
    benchmark's 1500 default steps reach 1.7% (docs/pinn.md)."""
    report = solve("burgers-viscosity", None, PinnSettings(steps=200, points=500, width=16), progress=False)
    assert report["unknowns_rel_error"]["nu"] < 1.0 and report["rel_l2"] < 0.1, report


def test_a_user_problem_with_penalty_conditions_neumann_and_periodic():
    """-Laplacian u + u = f with u = cos(pi x) cos(2 pi y): Neumann (zero flux) in x as a penalty,
    periodic in y as a penalty: both conditions are learned, not built in."""
    exact = lambda x: torch.cos(PI * x[:, 0]) * torch.cos(2 * PI * x[:, 1])  # noqa: E731
    problem = Problem(
        domain=Box((0, 0), (1, 1)),
        residual=lambda u, x: -laplacian(u, x) + u(x) - (5 * PI ** 2 + 1) * exact(x),
        conditions=[Neumann(0.0, axes=(0,), points=64), Periodic((1,), hard=False, points=64)],
        exact=exact)
    report = solve(problem, None, PinnSettings(steps=100, points=256, width=16), progress=False)
    assert report["rel_l2"] < 1e-2, report  # measured 1.9e-3


def test_a_soft_dirichlet_condition_converges_like_the_hard_one():
    exact = lambda x: torch.sin(PI * x[:, 0]) * torch.sin(PI * x[:, 1])  # noqa: E731
    problem = Problem(domain=Box((0, 0), (1, 1)),
                      residual=lambda u, x: -laplacian(u, x) - 2 * PI ** 2 * exact(x),
                      conditions=[Dirichlet(0.0, hard=False, points=128, weight=10.0)], exact=exact)
    report = solve(problem, None, PinnSettings(steps=40, points=256, width=16), progress=False)
    assert report["rel_l2"] < 1e-2, report


def test_an_inverse_problem_recovers_a_coefficient_from_noisy_observations():
    """-k u'' = pi^2 sin(pi x) has u = sin(pi x) / k; 40 observations (1% noise) of k = 0.5."""
    gen = torch.Generator().manual_seed(0)
    xo = torch.rand(40, 1, generator=gen, dtype=torch.float64)
    values = torch.sin(PI * xo[:, 0]) / 0.5
    values = values + 0.01 * values.pow(2).mean().sqrt() * torch.randn(40, generator=gen, dtype=torch.float64)
    from oplearn.pinn import Unknown

    problem = Problem(domain=Box((0,), (1,)),
                      residual=lambda u, x, p: -p["k"] * mixed_partial(u, x, (0, 0)) - PI ** 2 * torch.sin(PI * x[:, 0]),
                      conditions=[Dirichlet(0.0)], exact=lambda x: torch.sin(PI * x[:, 0]) / 0.5,
                      unknowns={"k": Unknown(2.0)}, observations=(xo, values), true_unknowns={"k": 0.5})
    report = solve(problem, None, PinnSettings(steps=40, points=128, width=16), progress=False)
    assert report["unknowns_rel_error"]["k"] < 0.01, report


def test_every_shipped_problem_is_listed_and_builds():
    assert {"poisson2d", "burgers", "allen-cahn", "helmholtz2d", "poisson-twobody", "allen-cahn-twobody",
            "sine-gordon-twobody", "burgers-viscosity"} <= set(available())
