"""Darcy solver against mathematics: manufactured solutions and observed convergence order."""

import numpy as np
import pytest

from oplearn.errors import InvalidInputError
from oplearn.pdes import darcy
from tests.pdes.manufactured import manufactured, observed_orders


def _manufactured(s: int):
    """u = sin(pi x) sin(2 pi y) x, a = 1 + 0.5 sin(2 pi x) cos(pi y) + 0.3 y; f = -div(a grad u)."""
    m = manufactured(s)
    x, y, pi, u = m.x, m.y, np.pi, m.u
    ux, uy, uxx, uyy = m.ux, m.uy, m.uxx, m.uyy
    a = 1 + 0.5 * np.sin(2 * pi * x) * np.cos(pi * y) + 0.3 * y
    ax = pi * np.cos(2 * pi * x) * np.cos(pi * y)
    ay = -0.5 * pi * np.sin(2 * pi * x) * np.sin(pi * y) + 0.3
    f = -(a * (uxx + uyy) + ax * ux + ay * uy)
    return a, f, u


@pytest.mark.parametrize("face_mean", ["harmonic", "arithmetic"])
def test_manufactured_solution_converges_at_second_order(face_mean):
    sizes = [17, 33, 65, 129]
    errors = []
    for s in sizes:
        a, f, u = _manufactured(s)
        u_h = darcy.solve(a, f, face_mean=face_mean)
        h = 1.0 / (s - 1)
        errors.append(np.sqrt(np.sum((u_h - u) ** 2) * h * h))
    orders = observed_orders(errors)
    assert errors[-1] < 1e-3
    assert orders.min() >= 1.9, orders


def test_direct_and_amg_agree_and_boundary_is_zero():
    rng = np.random.default_rng(0)
    a = darcy.sample_coefficient(rng, 65)
    u_direct = darcy.solve(a, solver="direct")
    u_amg = darcy.solve(a, solver="amg", tol=1e-11)
    assert np.max(np.abs(u_direct - u_amg)) < 1e-9 * np.max(np.abs(u_direct))
    for edge in (u_direct[0], u_direct[-1], u_direct[:, 0], u_direct[:, -1]):
        assert np.all(edge == 0.0)
    assert u_direct[1:-1, 1:-1].min() > 0  # maximum principle for f = 1 > 0


def test_batched_solve_matches_single_solves():
    rng = np.random.default_rng(1)
    a = np.stack([darcy.sample_coefficient(rng, 17) for _ in range(3)])
    u = darcy.solve(a)
    assert u.shape == a.shape
    for i in range(3):
        np.testing.assert_allclose(u[i], darcy.solve(a[i]), rtol=0, atol=1e-15)


def test_constant_coefficient_scales_inversely():
    a = np.full((33, 33), 2.0)
    np.testing.assert_allclose(darcy.solve(a), darcy.solve(a / 2.0) / 2.0, rtol=1e-12)


def test_coefficient_takes_the_two_paper_values():
    a = darcy.sample_coefficient(np.random.default_rng(3), 65)
    assert set(np.unique(a)) == {3.0, 12.0}
    a_again = darcy.sample_coefficient(np.random.default_rng(3), 65)
    np.testing.assert_array_equal(a, a_again)


@pytest.mark.parametrize(
    "a, message",
    [
        (np.ones((5, 6)), "must be"),
        (np.ones(5), "must be"),
        (np.full((5, 5), np.nan), "NaN"),
        (np.zeros((5, 5)), "positive"),
    ],
)
def test_bad_coefficients_raise(a, message):
    with pytest.raises(InvalidInputError, match=message):
        darcy.solve(a)


def test_unknown_solver_raises():
    with pytest.raises(InvalidInputError, match="solver"):
        darcy.solve(np.ones((9, 9)), solver="magic")
