"""The shared finite-difference stencils against their defining formulas."""

import numpy as np
import pytest

from oplearn.errors import InvalidInputError
from oplearn.pdes import stencils


def _interior(u):
    return u[1:-1, 1:-1].ravel()


def test_operators_apply_their_difference_formulas():
    s = 9
    rng = np.random.default_rng(0)
    u = np.zeros((s, s))
    u[1:-1, 1:-1] = rng.standard_normal((s - 2, s - 2))
    b = rng.standard_normal((2, s, s))
    c = rng.standard_normal((s, s))
    h = 1.0 / (s - 1)
    c_ = slice(1, -1)
    lap = (u[2:, c_] + u[:-2, c_] + u[c_, 2:] + u[c_, :-2] - 4 * u[c_, c_]) / h**2
    np.testing.assert_allclose(stencils.neg_laplacian(s) @ _interior(u), -lap.ravel(), atol=1e-12)
    central = (b[0, c_, c_] * (u[2:, c_] - u[:-2, c_]) + b[1, c_, c_] * (u[c_, 2:] - u[c_, :-2])) / (2 * h)
    np.testing.assert_allclose(stencils.advection(b, "central") @ _interior(u), central.ravel(),
                               atol=1e-12)
    bx, by = b[0, c_, c_], b[1, c_, c_]
    upwind = (np.where(bx > 0, bx * (u[c_, c_] - u[:-2, c_]), bx * (u[2:, c_] - u[c_, c_]))
              + np.where(by > 0, by * (u[c_, c_] - u[c_, :-2]), by * (u[c_, 2:] - u[c_, c_]))) / h
    np.testing.assert_allclose(stencils.advection(b, "upwind") @ _interior(u), upwind.ravel(),
                               atol=1e-12)
    np.testing.assert_allclose(stencils.reaction(c) @ _interior(u), (c * u)[c_, c_].ravel())


def test_upwind_with_diffusion_is_an_m_matrix():
    b = np.random.default_rng(1).standard_normal((2, 17, 17)) * 100
    m = (1e-3 * stencils.neg_laplacian(17) + stencils.advection(b, "upwind")).toarray()
    off = m - np.diag(np.diag(m))
    assert off.max() <= 0 and np.all(np.diag(m) >= -off.sum(axis=1) - 1e-9)


def test_unknown_advection_scheme():
    with pytest.raises(InvalidInputError, match="unknown|scheme must be"):
        stencils.advection(np.zeros((2, 5, 5)), "lax")
