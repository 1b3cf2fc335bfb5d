"""The constrained network: its Taylor expansion (through the ansatz, the box and ball factors and
periodic features) against exact derivatives in float64, and the hard constraints holding exactly."""

import math

import pytest
import torch
from torch.func import hessian

from oplearn.autodiff import laplacian, mixed_partial, time_derivative
from oplearn.pinn import Ball, Box, Dirichlet, Initial, Periodic, Problem, TimeDomain
from oplearn.pinn.objective import build_model
from oplearn.pinn.problems import two_body_solution


def _exact_laplacian(f, x, dims=None):
    dims = range(x.shape[1]) if dims is None else dims
    rows = []
    for xi in x:
        H = hessian(lambda p: f(p[None])[0])(xi)
        rows.append(sum(H[i, i] for i in dims))
    return torch.stack(rows)


def _model(domain, conditions, width=8):
    torch.manual_seed(0)
    problem = Problem(domain=domain, residual=lambda u, x: u(x), conditions=conditions, exact=lambda x: x[:, 0])
    return build_model(problem, width, 2).double()


@pytest.mark.parametrize("case", ["box", "ball", "space-time", "periodic"])
def test_taylor_mode_through_the_ansatz_equals_exact_second_derivatives(case):
    if case == "box":
        model = _model(Box((0, -1), (1, 2)), [Dirichlet(lambda x: torch.sin(x[:, 0]) * x[:, 1])])
        x = Box((0, -1), (1, 2)).sample(16)
    elif case == "ball":
        model = _model(Ball(5), [Dirichlet(0.0)])
        x = Ball(5).sample(16)
    elif case == "space-time":
        domain = TimeDomain(Box((-1,), (1,)), 0, 1)
        model = _model(domain, [Dirichlet(0.0), Initial(lambda x: -torch.sin(math.pi * x[:, 0]))])
        x = domain.sample(16)
    else:
        domain = TimeDomain(Box((-1,), (1,)), 0, 1)
        model = _model(domain, [Periodic((0,)), Initial(lambda x: x[:, 0] ** 2 * torch.cos(math.pi * x[:, 0]))])
        x = domain.sample(16)
    torch.testing.assert_close(laplacian(model, x), _exact_laplacian(model, x), rtol=1e-10, atol=1e-10)
    if case in ("space-time", "periodic"):
        spatial = laplacian(model, x, dims=[0])
        torch.testing.assert_close(spatial, _exact_laplacian(model, x, dims=[0]), rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(mixed_partial(model, x, (0, 0)), spatial, rtol=1e-10, atol=1e-10)
        grad = torch.func.vmap(torch.func.grad(lambda p: model(p[None])[0]))(x)
        torch.testing.assert_close(time_derivative(model, x), grad[:, -1], rtol=1e-10, atol=1e-12)


def test_the_sparse_stde_laplacian_of_the_ball_ansatz_is_unbiased_and_stays_sparse():
    """Coordinate directions through 1 - |x|^2 (its own Taylor rule: no dense (B, V, d) tensor)."""
    model = _model(Ball(40), [Dirichlet(0.0)])
    x = Ball(40).sample(4)
    exact = _exact_laplacian(model, x)
    gen = torch.Generator().manual_seed(0)
    estimates = torch.stack([laplacian(model, x, method="stde", num_samples=8, estimator="sparse",
                                       generator=gen) for _ in range(400)])
    every_coordinate = laplacian(model, x, method="stde", num_samples=40, estimator="sparse",
                                 generator=torch.Generator().manual_seed(1))
    assert (estimates.mean(0) - exact).abs().max() < 4 * estimates.std(0).max() / math.sqrt(400)
    assert torch.isfinite(every_coordinate).all()


def test_hard_constraints_hold_exactly():
    domain = TimeDomain(Box((-1,), (1,)), 0, 1)
    u0 = lambda x: -torch.sin(math.pi * x[:, 0])  # noqa: E731
    model = _model(domain, [Dirichlet(0.0), Initial(u0)])
    boundary, _ = domain.sample_boundary(64)
    initial = domain.sample_initial(64)
    assert model(boundary).abs().max() < 1e-15
    torch.testing.assert_close(model(initial), u0(initial), rtol=0, atol=1e-15)
    periodic = _model(domain, [Periodic((0,)), Initial(u0)])
    left = domain.sample(64)
    left[:, 0] = -1.0
    right = left.clone()
    right[:, 0] = 1.0
    torch.testing.assert_close(periodic(left), periodic(right), rtol=0, atol=1e-13)
    g = lambda x: x[:, 0] * x[:, 1] + 2  # noqa: E731
    box = _model(Box((0, 0), (1, 1)), [Dirichlet(g)])
    xb, _ = Box((0, 0), (1, 1)).sample_boundary(64)
    torch.testing.assert_close(box(xb), g(xb), rtol=0, atol=1e-14)
    ball = _model(Ball(7), [Dirichlet(0.0)])
    assert ball(Ball(7).sample_boundary(64)[0]).abs().max() < 1e-14


def test_incompatible_hard_initial_and_boundary_values_are_refused():
    from oplearn.errors import InvalidInputError

    domain = TimeDomain(Box((-1,), (1,)), 0, 1)
    with pytest.raises(InvalidInputError, match="differ where they meet"):
        _model(domain, [Dirichlet(0.0), Initial(lambda x: torch.cos(x[:, 0]))])


def test_two_body_solution_and_its_closed_form_laplacian():
    gen = torch.Generator().manual_seed(0)
    c = torch.randn(5, generator=gen, dtype=torch.float64)
    x = Ball(6).sample(8, "radial")
    u, lap = two_body_solution(x, c)
    torch.testing.assert_close(lap, _exact_laplacian(lambda p: two_body_solution(p, c)[0], x), rtol=1e-11, atol=1e-11)
    assert two_body_solution(Ball(6).sample_boundary(8)[0], c)[0].abs().max() < 1e-14


def test_domains_sample_where_they_say():
    assert Ball(50).sample(500).norm(dim=1).max() <= 1.0
    radial = Ball(50).sample(4000, "radial").norm(dim=1)
    assert abs(float(radial.mean()) - 0.5) < 0.02  # radius uniform in [0, 1]
    assert float(Ball(50).sample(4000).norm(dim=1).mean()) > 0.95  # uniform in volume: near the sphere
    points, normals = Box((0, 0), (2, 1)).sample_boundary(1000)
    on_face = ((points[:, 0] == 0) | (points[:, 0] == 2) | (points[:, 1] == 0) | (points[:, 1] == 1))
    assert on_face.all() and torch.allclose(normals.norm(dim=1), torch.ones(1000, dtype=torch.float64))
    assert Ball(4).sample(256, "sobol").norm(dim=1).max() <= 1.0
    x = TimeDomain(Ball(3), 0.5, 2.0).sample(100)
    assert x.shape == (100, 4) and x[:, -1].min() >= 0.5 and x[:, -1].max() <= 2.0


def test_hard_dirichlet_next_to_periodic_axes_checks_only_its_own_faces():
    domain = TimeDomain(Box((0, 0), (1, 1)), 0, 1)
    u0 = lambda x: torch.sin(math.pi * x[:, 0]) * torch.cos(2 * math.pi * x[:, 1])  # noqa: E731
    model = _model(domain, [Periodic((1,)), Dirichlet(0.0), Initial(u0)])  # accepted: faces x = 0, 1 only
    x = domain.sample(16)
    x[:, 0] = 1.0
    assert model(x).abs().max() < 1e-14
    from oplearn.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="both periodic and Dirichlet"):
        _model(domain, [Periodic((1,)), Dirichlet(0.0, axes=(1,))])
