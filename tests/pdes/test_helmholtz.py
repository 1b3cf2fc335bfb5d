"""Helmholtz solver against mathematics: manufactured solution with a variable wave number."""

import numpy as np
import pytest

from oplearn.data.generation import generate
from oplearn.data.hdf5 import read_file
from oplearn.errors import InvalidInputError
from oplearn.pdes import helmholtz
from tests.pdes.manufactured import manufactured, observed_orders

SIZES = [17, 33, 65, 129]


def _manufactured(s: int):
    """u = x sin(pi x) sin(2 pi y), k = 6 (1 + 0.4 sin(2 pi x) cos(pi y)); f = -Lap u - k^2 u.

    k^2 reaches 70, above the first two Dirichlet eigenvalues 2 pi^2 and 5 pi^2: indefinite.
    """
    m = manufactured(s)
    k = 6.0 * (1.0 + 0.4 * np.sin(2 * np.pi * m.x) * np.cos(np.pi * m.y))
    return k, -m.laplacian - k**2 * m.u, m.u


def test_manufactured_solution_converges_at_second_order():
    errors = []
    for s in SIZES:
        k, f, u = _manufactured(s)
        u_h = helmholtz.solve(k, f, solver="direct")
        errors.append(np.linalg.norm(u_h - u) / np.linalg.norm(u))
    orders = observed_orders(errors)
    print(f"\nhelmholtz: relative L2 errors {np.array(errors)}, observed orders {orders}")
    assert errors[-1] < 1e-2
    assert orders.min() >= 1.9, orders


def test_wave_number_lies_in_the_stated_range():
    k0, contrast = 12.0, 0.3
    for seed in range(5):
        k = helmholtz.sample_wavenumber(np.random.default_rng(seed), 33, k0=k0, contrast=contrast)
        assert k.shape == (33, 33)
        assert k.min() >= k0 * (1 - contrast) - 1e-12 and k.max() <= k0 * (1 + contrast) + 1e-12
        assert abs(np.max(np.abs(k - k0)) - k0 * contrast) < 1e-12  # max|g| = 1 is attained
    x = helmholtz.sample_input(np.random.default_rng(0), 33)
    assert x.shape == (2, 33, 33) and np.all(x[0] > 0)


def test_default_sample_solves_and_direct_and_gmres_agree():
    x = helmholtz.sample_input(np.random.default_rng(0), 65)  # defaults: k in [5, 15]
    u_auto = helmholtz.solve(x[0], x[1])
    u_direct = helmholtz.solve(x[0], x[1], solver="direct")
    u_gmres = helmholtz.solve(x[0], x[1], solver="gmres", tol=1e-12)
    np.testing.assert_array_equal(u_auto, u_direct)  # auto is direct at this size
    assert np.max(np.abs(u_direct - u_gmres)) < 1e-8 * np.max(np.abs(u_direct))


def test_zero_wave_number_is_poisson():
    from oplearn.pdes import poisson

    f = np.random.default_rng(4).standard_normal((17, 17))
    np.testing.assert_allclose(helmholtz.solve(np.zeros((17, 17)), f), poisson.solve(f),
                               rtol=0, atol=1e-13)


def test_batched_solve_matches_single_solves():
    rng = np.random.default_rng(2)
    x = np.stack([helmholtz.sample_input(rng, 33) for _ in range(3)])
    u = helmholtz.solve(x[:, 0], x[:, 1])
    assert u.shape == (3, 33, 33)
    for i in range(3):
        np.testing.assert_allclose(u[i], helmholtz.solve(x[i, 0], x[i, 1]), rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    "k, f, message",
    [
        (np.ones((5, 6)), 1.0, r"k must be \(s, s\) or \(batch, s, s\) with s >= 3, got shape \(5, 6\)"),
        (np.ones((5, 5)), np.ones((4, 4)), r"f must be a scalar or of shape \(5, 5\), got shape \(4, 4\)"),
        (np.full((5, 5), np.nan), 1.0, "k contains NaN or inf"),
        (np.ones((5, 5)), np.full((5, 5), np.inf), "f contains NaN or inf"),
        (-np.ones((5, 5)), 1.0, "k must be >= 0"),
        (np.full((17, 17), 11.0), 1.0,
         r"resolution s=17 gives 9.1 points per wavelength at the largest wave number k=11; "
         r"need >= 10: use s >= 19"),
    ],
)
def test_bad_input_raises(k, f, message):
    with pytest.raises(InvalidInputError, match=message):
        helmholtz.solve(k, f)


def test_unknown_solver_raises():
    with pytest.raises(InvalidInputError, match="solver must be"):
        helmholtz.solve(np.ones((9, 9)), solver="amg")


@pytest.mark.parametrize("params, resolution, message", [
    ({}, 17, r"s=17 gives 6.7 points per wavelength at the largest wave number "
             r"k=15 = k0 \* \(1 \+ contrast\); need >= 10: use s >= 25 or a smaller k"),
    ({"contrast": 1.0}, 65, "contrast must be >= 0 and < 1, got 1.0"),
    ({"k0": 0.0}, 65, "k0 must be > 0, got 0.0"),
    ({"k0": "ten"}, 65, "k0 must be a number, got 'ten'"),
])
def test_bad_parameters_raise_before_writing(params, resolution, message, tmp_path):
    with pytest.raises(InvalidInputError, match=message):
        generate("helmholtz", samples=2, resolution=resolution, seed=0, out=tmp_path / "x.h5",
                 params=params, progress=False)
    assert not list(tmp_path.iterdir())


def test_generation_stores_the_module_solution(tmp_path):
    params = {"k0": 5.0}  # the default k0 = 10 needs s >= 25
    path = generate("helmholtz", samples=2, resolution=17, seed=0, out=tmp_path / "x.h5",
                    params=params, progress=False).path
    inputs, outputs, provenance = read_file(path)
    assert inputs.shape == (2, 2, 17, 17) and outputs.shape == (2, 1, 17, 17)
    assert provenance["params"]["k0"] == 5.0
    for i in range(2):
        x = helmholtz.sample_input(np.random.default_rng([0, i]), 17, **params)
        np.testing.assert_allclose(inputs[i], x, rtol=1e-6, atol=1e-6 * np.abs(x).max())
        stored = inputs[i].astype(np.float64)
        u = helmholtz.solve(stored[0], stored[1])
        np.testing.assert_allclose(outputs[i, 0], u, rtol=0, atol=1e-5 * np.abs(u).max())
