"""High-contrast diffusion against mathematics: a manufactured solution with contrast 1e3, the
sampler's exact contrast and covariance, and solver agreement up to contrast 1e6."""

import numpy as np
import pytest

from oplearn.data.generation import generate
from oplearn.data.hdf5 import read_file
from oplearn.errors import InvalidInputError
from oplearn.pdes import high_contrast as hc
from tests.pdes.manufactured import manufactured, observed_orders

SIZES = [17, 33, 65, 129]
C = 3.5  # a = exp(C (x + y - 1)): max / min = exp(2 C) = 1097


def _manufactured(s: int):
    """u = x sin(pi x) sin(2 pi y), a = exp(C (x + y - 1)); f = -div(a grad u)."""
    m = manufactured(s)
    a = np.exp(C * (m.x + m.y - 1.0))
    return a, -(a * m.laplacian + C * a * m.ux + C * a * m.uy), m.u


def test_manufactured_solution_with_contrast_1e3_converges_at_second_order():
    errors = []
    for s in SIZES:
        a, f, u = _manufactured(s)
        assert a.max() / a.min() > 1e3
        errors.append(np.linalg.norm(hc.solve(a, f) - u) / np.linalg.norm(u))
    orders = observed_orders(errors)
    print(f"\nhigh-contrast: relative L2 errors {np.array(errors)}, observed orders {orders}")
    assert errors[-1] < 5e-4
    assert orders.min() >= 1.9, orders


@pytest.mark.parametrize("distribution", hc.DISTRIBUTIONS)
@pytest.mark.parametrize("contrast", [1e4, 1e6])
def test_coefficient_has_exactly_the_requested_contrast(distribution, contrast):
    a = hc.sample_coefficient(np.random.default_rng(0), 65, distribution=distribution,
                              contrast=contrast, a_min=2.0)
    assert a.shape == (65, 65)
    assert abs(a.min() - 2.0) < 1e-14
    assert abs(a.max() / a.min() / contrast - 1.0) < 1e-8
    if distribution == "binary":
        np.testing.assert_allclose(np.unique(a), [2.0, 2.0 * contrast], rtol=1e-15)


@pytest.mark.parametrize("distribution", ["gaussian", "exponential", "matern", "cubic"])
def test_log_field_has_the_stated_covariance(distribution):
    """The field is stationary, so every pair of nodes at a lag estimates C(lag): each sample's
    mean of ``L(x) L(x + lag)`` over the grid is one draw, and their mean over ``n`` samples has
    a standard error (``se``, measured from the draws) of 0.003-0.01 here, against 0.1 for one
    pair of nodes. Asserted: every lag within 4 ``se`` of the stated covariance, and some lag
    more than 8 ``se`` from the covariance with length 0.25 instead of 0.2, so that the test
    tells the two apart (measured: 14 ``se`` for exponential to 63 for cubic; a sampler with
    length 0.25 misses the stated covariance by 10 to 50 ``se``)."""
    s, n, length, other = 17, 2000, 0.2, 0.25
    rng = np.random.default_rng(7)
    fields = np.stack([hc.sample_log_field(rng, s, distribution, length) for _ in range(n)])
    h = 1.0 / (s - 1)
    farthest_from_other = 0.0
    for di, dj in ((0, 0), (1, 0), (2, 0), (0, 3), (2, 2), (4, 0), (3, 3)):
        draws = np.mean(fields[:, : s - di, : s - dj] * fields[:, di:, dj:], axis=(1, 2))
        empirical, se = draws.mean(), draws.std(ddof=1) / np.sqrt(n)
        assert se < 0.0125, (di, dj, se)  # the resolution the test is designed for
        r = h * np.hypot(di, dj)
        exact = hc.covariance(r, distribution, length)
        assert abs(empirical - exact) < 4 * se, (di, dj, empirical, exact, se)
        farthest_from_other = max(farthest_from_other,
                                  abs(empirical - hc.covariance(r, distribution, other)) / se)
    assert farthest_from_other > 8, farthest_from_other


@pytest.mark.parametrize("contrast", [1e4, 1e6])
@pytest.mark.parametrize("solver", ["amg", "mg"])
def test_iterative_solvers_agree_with_the_direct_one(contrast, solver):
    """Binary coefficients (jumps of the full contrast across an interface) are the hard case for
    multigrid; the Jacobi-weighted residual 1e-10 still gives the direct solution to 1e-8."""
    a = np.stack([hc.sample_coefficient(np.random.default_rng([1, i]), 65, contrast=contrast,
                                        distribution="binary") for i in range(2)])
    u_direct = hc.solve(a, solver="direct")
    u = hc.solve(a, solver=solver)
    assert np.max(np.abs(u_direct - u)) < 1e-8 * np.max(np.abs(u_direct))
    assert u_direct[:, 1:-1, 1:-1].min() > 0  # maximum principle for f = 1 > 0


def test_batched_solve_matches_single_solves():
    rng = np.random.default_rng(2)
    a = np.stack([hc.sample_coefficient(rng, 17) for _ in range(3)])
    u = hc.solve(a)
    assert u.shape == a.shape
    for i in range(3):
        np.testing.assert_allclose(u[i], hc.solve(a[i]), rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    "a, f, message",
    [
        (np.ones((5, 6)), 1.0, r"a must be \(s, s\) or \(batch, s, s\) with s >= 3, got shape \(5, 6\)"),
        (np.ones((5, 5)), np.ones((5, 4)), r"f must be a scalar or of shape \(5, 5\)"),
        (np.full((5, 5), np.nan), 1.0, "a contains NaN or inf"),
        (np.zeros((5, 5)), 1.0, "a must be strictly positive"),
    ],
)
def test_bad_input_raises(a, f, message):
    with pytest.raises(InvalidInputError, match=message):
        hc.solve(a, f)


@pytest.mark.parametrize("params, message", [
    ({"distribution": "uniform"},
     "distribution must be one of gaussian, exponential, matern, cubic, binary, got 'uniform'"),
    ({"contrast": 0.5}, "contrast must be >= 1 and <= 1e[+]?08, got 0.5"),
    ({"contrast": 1e9}, "contrast must be >= 1 and <= 1e[+]?08, got 1000000000.0"),
    ({"length": 0.0}, "length must be > 0 and <= 1, got 0.0"),
    ({"a_min": -1.0}, "a_min must be > 0, got -1.0"),
    ({"distribution": "matern", "length": 1.0},
     "circulant embedding of the matern covariance with length 1 failed at s=33; choose a smaller"),
])
def test_bad_parameters_raise_before_writing(params, message, tmp_path):
    with pytest.raises(InvalidInputError, match=message):
        generate("high-contrast", samples=2, resolution=33, seed=0, out=tmp_path / "x.h5",
                 params=params, progress=False)
    assert not list(tmp_path.iterdir())


def test_generation_stores_the_module_solution(tmp_path):
    path = generate("high-contrast", samples=2, resolution=17, seed=0, out=tmp_path / "x.h5",
                    progress=False).path
    inputs, outputs, provenance = read_file(path)
    assert inputs.shape == (2, 1, 17, 17) and outputs.shape == (2, 1, 17, 17)
    assert provenance["params"]["contrast"] == 1e4
    for i in range(2):
        a = hc.sample_coefficient(np.random.default_rng([0, i]), 17)
        np.testing.assert_allclose(inputs[i, 0], a, rtol=1e-6)
        u = hc.solve(inputs[i, 0].astype(np.float64))
        np.testing.assert_allclose(outputs[i, 0], u, rtol=0, atol=1e-5 * np.abs(u).max())


def test_generation_with_batched_multigrid_matches_the_direct_solver(tmp_path):
    path = generate("high-contrast", samples=3, resolution=33, seed=0, out=tmp_path / "x.h5",
                    params={"solver": "mg"}, progress=False).path
    inputs, outputs, _ = read_file(path)
    u = hc.solve(inputs[:, 0].astype(np.float64), solver="direct")
    np.testing.assert_allclose(outputs[:, 0], u, rtol=0, atol=1e-5 * np.abs(u).max())
