"""Reference solutions of the PINN benchmarks against mathematics: Burgers' spectral solution against
the Cole-Hopf formula and Basdevant et al.'s published slope, resolution doubling, Allen-Cahn's
maximum principle and convergence."""

import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from oplearn.errors import InvalidInputError
from oplearn.pdes import burgers
from oplearn.pinn import references

NU = 0.01 / math.pi


def relative(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def cole_hopf_on(x, t):
    tt, xx = np.meshgrid(t, x, indexing="ij")
    return references.burgers_cole_hopf(xx, tt)


def test_burgers_reference_matches_cole_hopf():
    """Every 0.1 in time (the shock forms at t ~ 0.3 to 0.5) at 128 points; measured 7e-11."""
    x, t, u = references.burgers_reference(128, 11, solver_points=4096)
    exact = cole_hopf_on(x, t)
    assert relative(u, exact) < 1e-8
    assert relative(u[6:], exact[6:]) < 1e-8  # t >= 0.6, after the shock formed
    assert np.abs(u - exact).max() < 1e-7


def test_burgers_reference_resolution_and_step_doubling():
    x, t, coarse = references.burgers_reference(64, 11, solver_points=2048)
    _, _, fine = references.burgers_reference(64, 11, solver_points=4096, dt=2e-4)
    assert relative(coarse, fine) < 1e-9  # measured 7e-11


def test_burgers_reference_is_the_burgers_solver():
    """The snapshot stepping is :func:`oplearn.pdes.burgers.solve` with the same steps."""
    x, t, u = references.burgers_reference(64, 2, solver_points=1024, dt=4e-4)
    v0 = np.sin(2 * np.pi * np.arange(1024) / 1024)
    v = burgers.solve(v0, NU / 2, 0.5, dt=2e-4)
    assert np.abs(u[-1] - v[::16]).max() < 1e-12


def test_cole_hopf_published_slope():
    """Basdevant et al. (1986): the largest ``|u_x|``, at ``x = 0``, is 152.00516 at ``t = 1.6037 / pi``."""
    best = minimize_scalar(lambda t: references.burgers_cole_hopf(0.0, t, derivative=True)[1],
                           bracket=(0.45, 0.51, 0.6), tol=1e-10)
    assert abs(-best.fun - 152.00516) < 152.00516 * 1e-6, best.fun
    assert abs(best.x * math.pi - 1.6037) < 1e-4, best.x * math.pi
    # The analytic derivative against a central difference.
    h = 1e-6
    u, ux = references.burgers_cole_hopf(np.array([-0.3, 0.0, 0.01]), best.x, derivative=True)
    plus = references.burgers_cole_hopf(np.array([-0.3, 0.0, 0.01]) + h, best.x)
    minus = references.burgers_cole_hopf(np.array([-0.3, 0.0, 0.01]) - h, best.x)
    np.testing.assert_allclose(ux, (plus - minus) / (2 * h), rtol=1e-7)


def test_cole_hopf_initial_values_symmetry_boundary_and_quadrature():
    x = np.linspace(-1, 1, 41)
    np.testing.assert_allclose(references.burgers_cole_hopf(x, 0.0), -np.sin(np.pi * x), atol=1e-15)
    t = np.array([[0.2], [0.7], [1.0]])
    u = references.burgers_cole_hopf(x, t)
    assert u.shape == (3, 41)
    np.testing.assert_allclose(u, -u[:, ::-1], atol=1e-14)  # odd in x
    assert np.abs(u[:, [0, -1]]).max() < 1e-14  # u(+-1, t) = 0
    np.testing.assert_allclose(references.burgers_cole_hopf(x, t, nodes=100), u, atol=1e-12)


def test_allen_cahn_reference_converges_and_obeys_the_maximum_principle():
    x, t, u = references.allen_cahn_reference(128, 21, solver_points=1024)
    _, _, fine = references.allen_cahn_reference(128, 21, solver_points=2048, dt=5e-4)
    assert np.abs(u - fine).max() < 1e-9  # measured 3e-10
    assert np.abs(u).max() <= 1 + 1e-10
    np.testing.assert_array_equal(u[0], x ** 2 * np.cos(np.pi * x))
    np.testing.assert_allclose(u[:, 1:], u[:, :0:-1], atol=1e-12)  # even u0, even solution
    # Interfaces form: by t = 1 the solution sits at the stable states +-1 on most of the interval
    # (not near x = 0, where u0 ~ x^2 has grown only by e^{5 t}).
    assert np.mean(np.abs(np.abs(u[-1]) - 1) < 1e-2) > 0.5


def test_x2_cos_coefficients_are_the_fourier_series():
    n, fine = 64, 2 ** 16
    xf = -1 + 2 * np.arange(fine) / fine
    sampled = np.fft.rfft(xf ** 2 * np.cos(np.pi * xf))[: n // 2] / fine * n  # same x_0 = -1
    ours = references.x2_cos_coefficients(n)
    assert ours.shape == (n // 2 + 1,) and ours[-1] == 0
    np.testing.assert_allclose(ours[: n // 2], sampled, atol=1e-7)  # sampling aliases at O(fine^-2)
    assert ours[0] == pytest.approx(-2 / np.pi ** 2 * n)


def test_shapes_dtypes_caching_read_only():
    x, t, u = references.burgers_reference(32, 3, solver_points=512)
    assert x.shape == (32,) and t.shape == (3,) and u.shape == (3, 32)
    assert x.dtype == t.dtype == u.dtype == np.float64
    assert x[0] == -1.0 and x[-1] < 1.0 and t[0] == 0.0 and t[-1] == 1.0
    assert references.burgers_reference(32, 3, solver_points=512)[2] is u
    with pytest.raises(ValueError):
        u[0, 0] = 1.0
    x, t, u = references.allen_cahn_reference(16, 2, solver_points=64)
    assert u.shape == (2, 16) and not u.flags.writeable


@pytest.mark.parametrize("call", [
    lambda: references.burgers_reference(100, 11, solver_points=256),
    lambda: references.burgers_reference(1, 11),
    lambda: references.burgers_reference(64, 0),
    lambda: references.burgers_reference(64, 11, nu=0.0),
    lambda: references.burgers_reference(64, 11, dt=-1.0),
    lambda: references.allen_cahn_reference(64, 11, eps=-1.0),
    lambda: references.allen_cahn_reference(64, 11, solver_points=96),
    lambda: references.burgers_cole_hopf(0.0, -1.0),
    lambda: references.burgers_cole_hopf(np.zeros(3), np.zeros(2)),
    lambda: references.burgers_cole_hopf(0.0, 0.5, nodes=400),
    lambda: references.burgers_cole_hopf(np.nan, 0.5),
])
def test_invalid_input(call):
    with pytest.raises(InvalidInputError):
        call()


@pytest.mark.slow
def test_default_references():
    """The defaults the PINN problems use: Burgers against Cole-Hopf at every point (measured 1.2e-10
    relative), Allen-Cahn against twice the resolution and half the step (measured 1e-10)."""
    x, t, u = references.burgers_reference()
    assert relative(u, cole_hopf_on(x, t)) < 1e-8
    x, t, u = references.allen_cahn_reference()
    _, _, fine = references.allen_cahn_reference(solver_points=8192, dt=5e-4)
    assert np.abs(u - fine).max() < 1e-9 and np.abs(u).max() <= 1 + 1e-10
