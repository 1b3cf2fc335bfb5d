"""MgNO and its V-cycle: linearity, transfers as adjoints, exact classical multigrid, symmetry."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from oplearn.models import build, entry
from oplearn.models.layers.vcycle import VCycle

SIZES = {1: [(16,), (17,), (20,), (33,)], 2: [(16, 16), (17, 12), (9, 33)]}


def _random_vcycle(ndim: int, boundary: str, **kwargs) -> VCycle:
    torch.manual_seed(0)
    return VCycle(3, 4, ndim, boundary=boundary, **kwargs).double()


@pytest.mark.parametrize("ndim", [1, 2])
@pytest.mark.parametrize("boundary", ["zeros", "circular"])
def test_vcycle_is_linear_at_any_size(ndim, boundary):
    vc = _random_vcycle(ndim, boundary, levels=4, pre_smooth=2, post_smooth=1)
    for spatial in SIZES[ndim]:
        f, g = torch.randn(2, 2, 3, *spatial, dtype=torch.float64)
        a, b = 0.7, -1.9
        lhs = vc(a * f + b * g)
        assert lhs.shape == (2, 4, *spatial)
        torch.testing.assert_close(lhs, a * vc(f) + b * vc(g), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("ndim", [1, 2])
@pytest.mark.parametrize("boundary", ["zeros", "circular"])
def test_prolongation_is_the_adjoint_of_restriction(ndim, boundary):
    """With one kernel ``w``, ``<restrict(x, w), y> = <x, prolong(y, w)>`` for every grid size: the
    transposed convolution with its crop (zeros) or wrap-around (circular) is exactly the adjoint."""
    vc = _random_vcycle(ndim, boundary)
    w = torch.randn(3, 5, *(3,) * ndim, dtype=torch.float64)  # restrict: 5 -> 3 channels
    for spatial in SIZES[ndim] + [(2,) * ndim, (3,) * ndim]:
        x = torch.randn(2, 5, *spatial, dtype=torch.float64)
        rx = vc.restrict(x, w)
        assert rx.shape[2:] == tuple((s + 1) // 2 for s in spatial)
        y = torch.randn_like(rx)
        lhs = (rx * y).sum()
        rhs = (x * vc.prolong(y, w, spatial)).sum()
        torch.testing.assert_close(lhs, rhs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("ndim", [1, 2])
def test_periodic_vcycle_commutes_with_shifts_by_the_coarsest_spacing(ndim):
    """On ``2^k`` periodic points every level is a periodic grid nested in the finer one, so shifting
    the input by ``2^(levels-1)`` points (one coarsest-grid cell) shifts the output alike."""
    levels = 4
    vc = _random_vcycle(ndim, "circular", levels=levels, pre_smooth=1, post_smooth=1)
    dims = tuple(range(2, 2 + ndim))
    shift = (2 ** (levels - 1),) * ndim
    f = torch.randn(2, 3, *(32,) * ndim, dtype=torch.float64)
    torch.testing.assert_close(vc(torch.roll(f, shift, dims)), torch.roll(vc(f), shift, dims),
                               rtol=1e-12, atol=1e-12)


# --- the classical V-cycle ----------------------------------------------------------------------
# Periodic -u'' + c u = f (1D) and -lap u + c u = f (2D) on 2^k points, h = 1/n. Finite differences,
# damped Jacobi, full weighting, (bi)linear interpolation, rediscretised coarse operators and an
# exact solve on the coarsest (2-point) grid: the textbook V(1, 1)-cycle (Briggs, Henson &
# McCormick, "A Multigrid Tutorial", ch. 3-4).

SHIFT = 1.0


def _laplace_kernel(ndim: int, h: float) -> torch.Tensor:
    k = torch.zeros((3,) * ndim, dtype=torch.float64)
    centre = (1,) * ndim
    k[centre] = 2 * ndim / h**2 + SHIFT
    for axis, side in itertools.product(range(ndim), (0, 2)):
        idx = list(centre)
        idx[axis] = side
        k[tuple(idx)] = -1 / h**2
    return k[None, None]


def _textbook_vcycle(n: int, ndim: int, omega: float) -> VCycle:
    """A VCycle with kernels set by hand to the classical components; coarsest grid 2 points."""
    levels = int(np.log2(n))
    vc = VCycle(1, 1, ndim, levels=levels, pre_smooth=1, post_smooth=[1] * (levels - 1) + [0],
                boundary="circular").double()
    full_weighting = torch.tensor([0.25, 0.5, 0.25], dtype=torch.float64)
    if ndim == 2:
        full_weighting = torch.outer(full_weighting, full_weighting)
    with torch.no_grad():
        for level in range(levels):
            h = 2**level / n
            if level < len(vc.A):  # the coarsest level (one smoothing step) has no A
                vc.A[level].copy_(_laplace_kernel(ndim, h))
            jacobi = torch.zeros((1, 1) + (3,) * ndim, dtype=torch.float64)
            jacobi[(0, 0) + (1,) * ndim] = omega / (2 * ndim / h**2 + SHIFT)
            for smoother in list(vc.pre[level]) + list(vc.post[level]):
                smoother.copy_(jacobi)
        for level in range(levels - 1):
            vc.R[level].copy_(full_weighting[None, None])
            vc.P[level].copy_(2**ndim * full_weighting[None, None])  # linear interpolation
        # coarsest grid, 2 points per axis: its inverse is again a 3-point stencil (the +-1
        # neighbours coincide), so one "smoothing" step with it is the exact coarse solve
        coarsest = levels - 1
        units = torch.eye(2**ndim, dtype=torch.float64).reshape(2**ndim, 1, *(2,) * ndim)
        matrix = vc.conv(units, _laplace_kernel(ndim, 2**coarsest / n)).reshape(2**ndim, 2**ndim).T
        green = torch.linalg.inv(matrix)[:, 0].reshape((2,) * ndim)  # response to a unit source at 0
        inverse = torch.zeros((3,) * ndim, dtype=torch.float64)
        for offset in itertools.product((-1, 0, 1), repeat=ndim):
            taps = 2 ** sum(o != 0 for o in offset)  # kernel taps that land on the same point
            inverse[tuple(o + 1 for o in offset)] = green[tuple(o % 2 for o in offset)] / taps
        vc.pre[coarsest][0].copy_(inverse[None, None])
    return vc


def _periodic_matrices_1d(n: int, omega: float) -> tuple[list, list, list, list]:
    """Dense A_l, Jacobi S_l, restriction R_l (l -> l+1) and interpolation P_l for the 1D problem."""
    a_list, s_list, r_list, p_list = [], [], [], []
    size = n
    while size >= 2:
        h = 1.0 / size
        a = (np.diag(np.full(size, 2 / h**2 + SHIFT)) - np.roll(np.eye(size), 1, 1) / h**2
             - np.roll(np.eye(size), -1, 1) / h**2)
        a_list.append(a)
        s_list.append(omega * np.diag(1 / np.diag(a)))
        if size > 2:
            coarse = size // 2
            interp = np.zeros((size, coarse))
            for j in range(coarse):  # coarse j sits at fine 2j; linear in between
                interp[2 * j, j] = 1.0
                interp[(2 * j + 1) % size, j] += 0.5
                interp[(2 * j - 1) % size, j] += 0.5
            p_list.append(interp)
            r_list.append(interp.T / 2)
        size //= 2
    return a_list, s_list, r_list, p_list


def _classical_vcycle(level: int, f: np.ndarray, mats) -> np.ndarray:
    a, s, r, p = mats
    if level == len(a) - 1:
        return np.linalg.solve(a[level], f)
    u = s[level] @ f  # one pre-smoothing step from zero
    u = u + p[level] @ _classical_vcycle(level + 1, r[level] @ (f - a[level] @ u), mats)
    return u + s[level] @ (f - a[level] @ u)  # one post-smoothing step


def test_hand_set_vcycle_equals_the_classical_vcycle():
    n, omega = 64, 2 / 3
    vc = _textbook_vcycle(n, 1, omega)
    f = torch.randn(3, 1, n, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    mats = _periodic_matrices_1d(n, omega)
    expected = np.stack([_classical_vcycle(0, row, mats) for row in f[:, 0].numpy()])
    np.testing.assert_allclose(vc(f)[:, 0].detach().numpy(), expected, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("ndim, omega, sizes, bound", [(1, 2 / 3, [32, 128, 512], 0.25),
                                                       (2, 0.8, [16, 32, 64], 0.40)])
def test_hand_set_vcycle_converges_at_a_mesh_independent_rate(ndim, omega, sizes, bound):
    """Iterating ``u <- u + V(f - A u)`` contracts the error by a factor independent of ``h``
    (about 0.2 in 1D and 0.35 in 2D; local Fourier analysis predicts the smoothing factor squared,
    0.36 for 2D damped Jacobi with omega = 4/5), the defining property of multigrid."""
    rates = []
    for n in sizes:
        vc = _textbook_vcycle(n, ndim, omega)
        apply_a = _laplace_kernel(ndim, 1 / n)
        exact = torch.randn(1, 1, *(n,) * ndim, dtype=torch.float64,
                            generator=torch.Generator().manual_seed(n))
        f = vc.conv(exact, apply_a)
        u = torch.zeros_like(f)
        errors = []
        with torch.no_grad():
            for _ in range(8):
                u = u + vc(f - vc.conv(u, apply_a))
                errors.append((u - exact).norm().item())
        rates.append((errors[-1] / errors[2]) ** (1 / 5))
        assert errors[-1] < 1e-3 * errors[0]
    assert max(rates) < bound, rates
    assert max(rates) - min(rates) < 0.05, rates


# --- the model ----------------------------------------------------------------------------------


def test_every_kernel_is_used_and_old_checkpoints_load():
    """A coarsest level with one smoothing step forms no residual, so it has no A; a state dict
    that still holds one (written before it was dropped) loads."""
    vc = VCycle(2, 3, 2, levels=3)
    vc(torch.randn(2, 2, 17, 17)).square().sum().backward()
    assert len(vc.A) == 2 and all(p.grad is not None for p in vc.parameters())
    assert len(VCycle(2, 3, 2, levels=3, post_smooth=1).A) == 3
    old = {**vc.state_dict(), "A.2": torch.zeros(2, 3, 3, 3)}
    fresh = VCycle(2, 3, 2, levels=3)
    fresh.load_state_dict(old)
    torch.testing.assert_close(fresh.A[1], vc.A[1])
    model = build("mgno", in_channels=1, out_channels=1, ndim=2)
    model(torch.randn(2, 1, 17, 17)).square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_mgno_is_registered_as_tied_to_its_training_grid():
    assert not entry("mgno").resolution_invariant


@pytest.mark.parametrize("grid", ["node", "periodic"])
def test_mgno_layers_act_on_the_input_channels_without_lifting(grid):
    model = build("mgno", in_channels=2, out_channels=3, ndim=2, grid=grid, width=8, n_layers=2,
                  levels=3).double()
    assert model.cycles[0].in_channels == 2 and model.cycles[0].out_channels == 8
    assert model.cycles[0].boundary == ("circular" if grid == "periodic" else "zeros")
    y = model(torch.randn(2, 2, 17, 20, dtype=torch.float64))
    assert y.shape == (2, 3, 17, 20) and y.dtype == torch.float64


def test_periodic_mgno_is_equivariant_to_coarsest_grid_shifts():
    """No positional input and circular padding: the whole network commutes with shifts by
    ``2^(levels-1)`` points (exactly, since every layer does)."""
    torch.manual_seed(0)
    model = build("mgno", in_channels=1, out_channels=1, ndim=1, grid="periodic", width=8,
                  n_layers=2, levels=3).double()
    f = torch.randn(2, 1, 64, dtype=torch.float64)
    torch.testing.assert_close(model(torch.roll(f, 4, -1)), torch.roll(model(f), 4, -1),
                               rtol=1e-12, atol=1e-12)
