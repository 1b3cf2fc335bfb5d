"""Batched geometric multigrid: stencils against SciPy matrices, Galerkin products against P^T A P,
solutions against the direct solver, grid-independent iteration counts."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from oplearn.errors import InvalidInputError, SolverError
from oplearn.linalg import multigrid
from oplearn.pdes import darcy


def coefficients(s, count=2, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([darcy.sample_coefficient(rng, s) for _ in range(count)])


def bilinear_prolongation(n):
    m = (n - 1) // 2
    p = sp.lil_matrix((n, m))
    for i in range(m):
        p[2 * i + 1, i] = 1.0
        p[2 * i, i] += 0.5
        p[2 * i + 2, i] += 0.5
    return sp.kron(p, p).tocsr()


def test_stencil_applies_the_assembled_matrix():
    a = coefficients(17)
    u = np.random.default_rng(1).standard_normal((2, 15, 15))
    applied = multigrid.apply_stencil(darcy.stencil(a), torch.from_numpy(u)).numpy()
    for b in range(2):
        np.testing.assert_allclose(applied[b].ravel(), darcy.assemble(a[b]) @ u[b].ravel(), rtol=1e-14, atol=1e-9)
        dense = multigrid.dense_matrix(darcy.stencil(a))[b].numpy()
        np.testing.assert_array_equal(dense, darcy.assemble(a[b]).toarray())


def test_transfer_operators_are_bilinear_and_transposed():
    n = 15
    coarse = np.random.default_rng(2).standard_normal((1, 7, 7))
    fine = np.random.default_rng(3).standard_normal((1, n, n))
    p = bilinear_prolongation(n)
    np.testing.assert_allclose(multigrid.prolong(torch.from_numpy(coarse)).numpy().ravel(), p @ coarse.ravel(),
                               atol=1e-15)
    np.testing.assert_allclose(multigrid.restrict(torch.from_numpy(fine)).numpy().ravel(), p.T @ fine.ravel(),
                               atol=1e-14)


def test_galerkin_coarse_operator_equals_ptap():
    a = coefficients(33)
    coarse = multigrid.dense_matrix(multigrid.galerkin(darcy.stencil(a))).numpy()
    p = bilinear_prolongation(31)
    for b in range(2):
        expected = (p.T @ darcy.assemble(a[b]) @ p).toarray()
        assert np.abs(coarse[b] - expected).max() < 1e-12 * np.abs(expected).max()


def test_solution_matches_direct_solver_with_grid_independent_iterations():
    iterations = []
    for s in (33, 65, 129):
        a = coefficients(s, seed=s)
        result = multigrid.solve(darcy.stencil(a), torch.ones(2, s - 2, s - 2, dtype=torch.float64), tol=1e-10)
        for b in range(2):
            direct = spla.spsolve(darcy.assemble(a[b]).tocsc(), np.ones((s - 2) ** 2))
            assert np.abs(result.solution[b].numpy().ravel() - direct).max() < 1e-8 * np.abs(direct).max()
        assert float(result.residuals.max()) <= 1e-10
        iterations.append(result.iterations)
    assert max(iterations) <= 15 and iterations[-1] <= iterations[0] + 3, iterations


def test_darcy_solve_with_multigrid_matches_direct():
    a = coefficients(65, count=3, seed=7)
    np.testing.assert_allclose(darcy.solve(a, solver="mg"), darcy.solve(a, solver="direct"), rtol=0, atol=1e-11)


def test_unreached_tolerance_and_bad_sizes_fail_loudly():
    a = coefficients(65)
    with pytest.raises(SolverError, match="residual"):
        multigrid.solve(darcy.stencil(a), torch.ones(2, 63, 63, dtype=torch.float64), tol=1e-14, max_iterations=2)
    with pytest.raises(InvalidInputError, match="s - 1 = m 2"):
        multigrid.solve(darcy.stencil(coefficients(64)), torch.ones(2, 62, 62, dtype=torch.float64))
    with pytest.raises(InvalidInputError, match="rhs must be"):
        multigrid.solve(darcy.stencil(a), torch.ones(2, 62, 62, dtype=torch.float64))
    assert multigrid.levels_possible(419) is False and multigrid.levels_possible(511) is True
