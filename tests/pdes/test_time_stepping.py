"""The time steppers against mathematics: observed orders on an exactly solvable nonlinear problem,
exactness of the exponential integrator and Crank-Nicolson's amplification factor on linear ones,
and one step of each scheme against its published formulas."""

import math

import numpy as np
import pytest
import torch

from oplearn.pdes.time_stepping import (
    CRANK_NICOLSON_EULER,
    CRANK_NICOLSON_HEUN,
    ETDRK4,
    ExponentialRungeKutta,
    IMEXRungeKutta,
    SemilinearTerms,
    integrate,
    step,
    trajectory,
)
from tests.pdes.manufactured import observed_orders

SCHEMES = [CRANK_NICOLSON_EULER, CRANK_NICOLSON_HEUN, ETDRK4]


def zero(v):
    return torch.zeros_like(v)


def phi1(z):
    return np.where(z == 0, 1.0, np.expm1(z) / np.where(z == 0, 1.0, z))


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.name)
def test_observed_order_on_a_bernoulli_equation(scheme, dtype):
    """``v' = lam v - v^2``: ``v(t) = lam v0 e^{lam t} / (lam + v0 (e^{lam t} - 1))``."""
    lam = torch.tensor([-2.0, -0.5, 1.0], dtype=torch.float64)
    v0, t = 0.5, 1.0
    exact = lam * v0 * torch.exp(lam * t) / (lam + v0 * torch.expm1(lam * t))
    terms = SemilinearTerms(linear=lam, nonlinear=lambda v: -v * v)
    start = torch.full((2, 3), v0, dtype=dtype)  # a batch of two, broadcast against L
    errors = []
    for steps in (8, 16, 32, 64):
        v = integrate(start, terms, scheme, t / steps, steps)
        assert v.dtype == dtype and v.shape == (2, 3)
        errors.append(float((v - exact).abs().max()))
    orders = observed_orders(errors)
    assert np.all(np.abs(orders - scheme.order) < 0.15), (errors, orders)


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.name)
def test_constant_forcing_steady_state_is_kept(scheme):
    """``v' = L v + f`` from its steady state ``-f / L``: every scheme keeps it, stiff or not."""
    lam = torch.tensor([-1e-3, -1.0, -1e3, -1e7], dtype=torch.float64)
    f = torch.tensor([1.0, -2.0, 3.0, 0.5], dtype=torch.complex128)
    steady = -f / lam
    terms = SemilinearTerms(linear=lam, nonlinear=zero, forcing=f)
    v = integrate(steady, terms, scheme, 0.1, 10)
    assert float(((v - steady) / steady).abs().max()) < 1e-13


def test_etdrk4_is_exact_for_linear_problems():
    """``v' = L v + f`` has ``v(t) = e^{Lt} v0 + t phi_1(Lt) f``: ETDRK4 reproduces it for any step,
    from ``L = 0`` through stiff damping to pure oscillation (complex ``L``)."""
    lam = torch.tensor([0.0, -1e-9, -0.7, -40.0, -1e6, 25j, -3 + 8j], dtype=torch.complex128)
    f = torch.tensor([1.0, 2.0, -1.0, 0.5, 3.0, 1j, 1 - 1j], dtype=torch.complex128)
    v0 = torch.tensor([1.0, -1.0, 2.0, 1.0, 4.0, 1 + 1j, -2j], dtype=torch.complex128)
    t, steps = 0.9, 3
    lt = lam.numpy() * t
    with np.errstate(all="ignore"):
        exact = np.exp(lt) * v0.numpy() + t * phi1(lt) * f.numpy()
    terms = SemilinearTerms(linear=lam, nonlinear=zero, forcing=f)
    v = integrate(v0, terms, ETDRK4, t / steps, steps).numpy()
    assert np.abs(v - exact).max() < 1e-13 * np.abs(exact).max()


def test_etdrk4_stages_are_exact_at_their_nodes():
    """For ``v' = L v + f`` stage ``i`` of ETDRK4 is the exact solution at time ``c_i dt``."""
    lam = torch.tensor([0.0, -0.3, -5.0, -1e4], dtype=torch.float64)
    f = torch.tensor([1.0, -1.0, 2.0, 3.0], dtype=torch.complex128)
    v0 = torch.tensor([1.0, 2.0, -1.0, 0.5], dtype=torch.complex128)
    dt = 0.4
    plan = ETDRK4.plan(dt * lam, dt).to(torch.complex128)
    stages = []

    def rate(y):
        stages.append(y)
        return f.clone()

    step(v0, plan, rate)
    assert len(stages) == len(ETDRK4.c)
    for c, y in zip(ETDRK4.c, stages, strict=True):
        z = lam.numpy() * c * dt
        exact = np.exp(z) * v0.numpy() + c * dt * phi1(z) * f.numpy()
        assert np.abs(y.numpy() - exact).max() < 1e-14 * np.abs(exact).max(), c


@pytest.mark.parametrize("scheme", [CRANK_NICOLSON_EULER, CRANK_NICOLSON_HEUN], ids=lambda s: s.name)
def test_crank_nicolson_amplification_factor(scheme):
    """With ``N = 0`` both IMEX schemes are Crank-Nicolson: ``v_n = ((1 + z/2) / (1 - z/2))^n v0``,
    ``z = dt L``, which tends to -1 for stiff modes (A-stable, not L-stable)."""
    lam = torch.tensor([0.0, -0.5, -30.0, -1e8], dtype=torch.float64)
    dt, steps = 0.05, 20
    z = dt * lam.numpy()
    v0 = np.array([1.0, -2.0, 0.5, 1.0])
    exact = ((1 + z / 2) / (1 - z / 2)) ** steps * v0
    v = integrate(torch.tensor(v0), SemilinearTerms(linear=lam, nonlinear=zero), scheme, dt, steps)
    assert np.abs(v.numpy() - exact).max() < 1e-13
    assert exact[-1] > 0.99  # the stiff mode flips sign every step and is hardly damped


def test_one_step_matches_the_published_formulas():
    """Crank-Nicolson-Euler/-Heun as in the FNO data generator, ETDRK4 as in Cox and Matthews with
    the Kassam-Trefethen coefficients (evaluated here in closed form, away from ``z = 0``)."""
    lam = torch.tensor([-0.6, -2.0, -9.0], dtype=torch.float64)
    f = torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64)
    v = torch.tensor([[1.0, -0.5, 2.0], [0.2, 0.4, -1.0]], dtype=torch.float64)
    dt = 0.5

    def n(y):
        return torch.sin(y) * y

    def r(y):
        return n(y) + f

    terms = SemilinearTerms(linear=lam, nonlinear=n, forcing=f)
    e, inv = 1 + dt / 2 * lam, 1 / (1 - dt / 2 * lam)
    euler = (e * v + dt * r(v)) * inv
    heun = (e * v + dt * 0.5 * (r(v) + r(euler))) * inv
    assert torch.allclose(integrate(v, terms, CRANK_NICOLSON_EULER, dt, 1), euler, rtol=1e-14, atol=0)
    assert torch.allclose(integrate(v, terms, CRANK_NICOLSON_HEUN, dt, 1), heun, rtol=1e-14, atol=0)

    z = dt * lam
    e, e2 = torch.exp(z), torch.exp(z / 2)
    q = dt * torch.expm1(z / 2) / z
    f1 = dt * (-4 - z + e * (4 - 3 * z + z ** 2)) / z ** 3
    f2 = dt * (2 + z + e * (z - 2)) / z ** 3
    f3 = dt * (-4 - 3 * z - z ** 2 + e * (4 - z)) / z ** 3
    nv = r(v)
    a = e2 * v + q * nv
    na = r(a)
    b = e2 * v + q * na
    nb = r(b)
    c = e2 * a + q * (2 * nb - nv)
    expected = e * v + f1 * nv + 2 * f2 * (na + nb) + f3 * r(c)
    assert torch.allclose(integrate(v, terms, ETDRK4, dt, 1), expected, rtol=1e-12, atol=0)


def test_trajectory_yields_every_block():
    lam = torch.tensor([-1.0, -3.0], dtype=torch.float64)
    terms = SemilinearTerms(linear=lam, nonlinear=lambda v: -v ** 3)
    v0 = torch.tensor([1.0, 0.5], dtype=torch.float64)
    frames = list(trajectory(v0, terms, CRANK_NICOLSON_HEUN, 0.01, 3, count=4))
    assert len(frames) == 4
    assert torch.equal(frames[1], integrate(v0, terms, CRANK_NICOLSON_HEUN, 0.01, 6))
    assert torch.equal(frames[-1], integrate(v0, terms, CRANK_NICOLSON_HEUN, 0.01, 12))
    assert all(torch.equal(v, v0) for v in trajectory(v0, terms, ETDRK4, 0.0, 0, count=2))


def test_bad_schemes_and_states_are_refused():
    with pytest.raises(ValueError, match="strictly lower"):
        IMEXRungeKutta("bad", 1, ((1.0,),), ((0.0,),), (1.0,), (1.0,))
    with pytest.raises(ValueError, match="tableaux must be"):
        IMEXRungeKutta("bad", 1, ((0.0,),), ((0.0, 0.0),), (1.0,), (1.0,))
    with pytest.raises(ValueError, match="c != 0"):
        ExponentialRungeKutta("bad", 1, (0.0,), ((),), (((1.0, 1, 0.0),),))
    terms = SemilinearTerms(linear=torch.tensor([1j]), nonlinear=zero)
    with pytest.raises(ValueError, match="complex state"):
        integrate(torch.ones(1, dtype=torch.float64), terms, ETDRK4, 0.1, 1)
    assert math.isclose(sum(CRANK_NICOLSON_HEUN.explicit_weights), 1.0)
