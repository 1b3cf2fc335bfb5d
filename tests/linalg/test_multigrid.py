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
from oplearn.pdes.stencils import diffusion_stencil


def coefficients(s, count=2, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([darcy.sample_coefficient(rng, s) for _ in range(count)])


def bilinear_prolongation(n):
    """Interpolation from grid nodes 0, 2, 4, ... (n // 2 interior coarse nodes) to the n interior
    nodes; for even n the last coarse node is the last interior node."""
    m = n // 2
    p = sp.lil_matrix((n, m))
    for i in range(m):
        p[2 * i + 1, i] = 1.0
        p[2 * i, i] += 0.5
        if 2 * i + 2 < n:
            p[2 * i + 2, i] += 0.5
    return sp.kron(p, p).tocsr()


def test_stencil_applies_the_assembled_matrix():
    a = coefficients(17)
    u = np.random.default_rng(1).standard_normal((2, 15, 15))
    applied = multigrid.apply_stencil(diffusion_stencil(a), torch.from_numpy(u)).numpy()
    for b in range(2):
        np.testing.assert_allclose(applied[b].ravel(), darcy.assemble(a[b]) @ u[b].ravel(), rtol=1e-14, atol=1e-9)
        dense = multigrid.dense_matrix(diffusion_stencil(a))[b].numpy()
        np.testing.assert_array_equal(dense, darcy.assemble(a[b]).toarray())


@pytest.mark.parametrize("n", [15, 14])
def test_transfer_operators_are_bilinear_and_transposed(n):
    coarse = np.random.default_rng(2).standard_normal((1, n // 2, n // 2))
    fine = np.random.default_rng(3).standard_normal((1, n, n))
    p = bilinear_prolongation(n)
    np.testing.assert_allclose(multigrid.prolong(torch.from_numpy(coarse), n).numpy().ravel(), p @ coarse.ravel(),
                               atol=1e-15)
    np.testing.assert_allclose(multigrid.restrict(torch.from_numpy(fine)).numpy().ravel(), p.T @ fine.ravel(),
                               atol=1e-14)


@pytest.mark.parametrize("s", [33, 32])
def test_galerkin_coarse_operator_equals_ptap(s):
    a = coefficients(s)
    coarse = multigrid.dense_matrix(multigrid.galerkin(diffusion_stencil(a))).numpy()
    p = bilinear_prolongation(s - 2)
    for b in range(2):
        expected = (p.T @ darcy.assemble(a[b]) @ p).toarray()
        assert np.abs(coarse[b] - expected).max() < 1e-12 * np.abs(expected).max()


def test_solution_matches_direct_solver_with_grid_independent_iterations():
    iterations = []
    for s in (33, 65, 129):
        a = coefficients(s, seed=s)
        result = multigrid.solve(diffusion_stencil(a), torch.ones(2, s - 2, s - 2, dtype=torch.float64), tol=1e-10)
        for b in range(2):
            direct = spla.spsolve(darcy.assemble(a[b]).tocsc(), np.ones((s - 2) ** 2))
            assert np.abs(result.solution[b].numpy().ravel() - direct).max() < 1e-8 * np.abs(direct).max()
        assert float(result.residuals.max()) <= 1e-10
        iterations.append(result.iterations)
    assert max(iterations) <= 15 and iterations[-1] <= iterations[0] + 3, iterations


def test_grids_that_are_not_powers_of_two_coarsen_with_the_same_iterations():
    """s - 1 = 99 and 210 (the FNO paper's 421 halved) coarsen unevenly at the boundary; the
    Galerkin hierarchy keeps CG's iteration count that of the 2^L + 1 grids above."""
    for s in (100, 211):
        a = coefficients(s, seed=s)
        result = multigrid.solve(diffusion_stencil(a), torch.ones(2, s - 2, s - 2, dtype=torch.float64), tol=1e-10)
        direct = spla.spsolve(darcy.assemble(a[0]).tocsc(), np.ones((s - 2) ** 2))
        assert np.abs(result.solution[0].numpy().ravel() - direct).max() < 1e-8 * np.abs(direct).max()
        assert result.iterations <= 15, (s, result.iterations)


def test_darcy_solve_with_multigrid_matches_direct():
    a = coefficients(65, count=3, seed=7)
    np.testing.assert_allclose(darcy.solve(a, solver="mg"), darcy.solve(a, solver="direct"), rtol=0, atol=1e-11)


def test_unreached_tolerance_and_bad_sizes_fail_loudly():
    a = coefficients(65)
    with pytest.raises(SolverError, match="residual"):
        multigrid.solve(diffusion_stencil(a), torch.ones(2, 63, 63, dtype=torch.float64), tol=1e-14, max_iterations=2)
    with pytest.raises(InvalidInputError, match="rhs must be"):
        multigrid.solve(diffusion_stencil(a), torch.ones(2, 62, 62, dtype=torch.float64))


def test_weighted_residual_is_checked_and_restarts_from_the_true_residual():
    """Contrast 1e6 across an interface: the CG-updated residual drifts below the true one; the
    solve still returns a true Jacobi-weighted residual below tol, and wrong weights are refused."""
    from oplearn.pdes import high_contrast as hc

    a = np.stack([hc.sample_coefficient(np.random.default_rng([129, i]), 129, distribution="binary",
                                        contrast=1e6) for i in range(8)])
    operator = diffusion_stencil(a)
    weight = operator[:, 1, 1].rsqrt()
    result = multigrid.solve(operator, torch.ones_like(weight), tol=1e-10, residual_weight=weight)
    true = weight * (1.0 - multigrid.apply_stencil(operator, result.solution))
    assert float((true.flatten(1).norm(dim=1) / weight.flatten(1).norm(dim=1)).max()) <= 1.01e-10
    with pytest.raises(InvalidInputError, match="residual_weight must be"):
        multigrid.solve(operator, torch.ones_like(weight), residual_weight=weight[:, :-1])


def test_rhs_on_another_device_is_refused():
    a = coefficients(17)
    with pytest.raises(InvalidInputError, match="rhs is on meta"):
        multigrid.solve(diffusion_stencil(a), torch.ones(2, 15, 15, dtype=torch.float64, device="meta"))


def test_auto_picks_multigrid_by_size_and_batch_as_measured():
    """datagen.py --part darcy-batch: one sample at a time multigrid wins from about 100^2
    unknowns, in batches of 4 or more from 50^2; a GPU always gets multigrid."""
    from oplearn.linalg.solve import choose_spd_solver

    assert [choose_spd_solver(s, batch=1) for s in (65, 97, 129)] == ["direct", "direct", "mg"]
    assert [choose_spd_solver(s, batch=8) for s in (33, 65)] == ["direct", "mg"]
    assert choose_spd_solver(65, batch=2) == "direct" and choose_spd_solver(17, "cuda") == "mg"
    a = darcy.sample_coefficient(np.random.default_rng(0), 65)
    np.testing.assert_array_equal(darcy.solve(a), darcy.solve(a, solver="direct"))  # one sample: direct


def test_generation_picks_the_solver_of_its_chunk_size_whatever_the_chunk_length(monkeypatch, tmp_path):
    """Generation resolves ``auto`` once for its chunk size (pdes.choose_solver), so the short last
    chunk of a shard keeps multigrid; solving one sample on its own takes the direct solver."""
    from oplearn.data import generate
    from oplearn.pdes import choose_solver
    from oplearn.pdes import darcy as darcy_module

    calls = []
    real = darcy_module.solve_diffusion_multigrid
    monkeypatch.setattr(darcy_module, "solve_diffusion_multigrid",
                        lambda *args, **kwargs: calls.append(len(args[0])) or real(*args, **kwargs))
    generate("darcy", samples=9, resolution=65, seed=0, out=tmp_path / "d.h5", progress=False)
    assert calls == [8, 1]
    assert choose_solver("darcy", 65, batch=8) == "mg" and choose_solver("darcy", 65, batch=1) == "direct"
    a = darcy.sample_coefficient(np.random.default_rng(0), 65)[None, None]
    darcy_module.PROBLEM.solve_one(a[0], darcy_module.PROBLEM.params())
    assert calls == [8, 1]
