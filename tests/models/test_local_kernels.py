"""Local kernels (Liu-Schiaffini et al., ICML 2024): the differential kernel converges to the
directional derivatives its stencil defines, the local integral kernel to the continuous integral
of its kernel, at every resolution with the same physical support; the two local models."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from oplearn.models import build
from oplearn.models.layers.differential import DifferentialConv
from oplearn.models.layers.local_integral import LocalIntegralConv

TWO_PI = 2 * math.pi


def _order(sizes, errors) -> float:
    """Least-squares slope of ``log error`` against ``log h``."""
    return -np.polyfit(np.log(np.asarray(sizes, float)), np.log(np.asarray(errors)), 1)[0]


def _coords(s: int, grid: str, ndim: int) -> list[torch.Tensor]:
    t = torch.arange(s, dtype=torch.float64) / (s - 1 if grid == "node" else s)
    return list(torch.meshgrid(*([t] * ndim), indexing="ij"))


def _field_and_gradient(grid: str, ndim: int, s: int):
    """Two smooth channels (periodic ones on periodic grids) and their exact gradients."""
    x = _coords(s, grid, ndim)
    if ndim == 1:
        (a,) = x
        if grid == "periodic":
            u = [torch.sin(TWO_PI * a + 0.3), torch.cos(2 * TWO_PI * a)]
            g = [[TWO_PI * torch.cos(TWO_PI * a + 0.3)], [-2 * TWO_PI * torch.sin(2 * TWO_PI * a)]]
        else:
            u = [torch.exp(a), torch.sin(3 * a)]
            g = [[torch.exp(a)], [3 * torch.cos(3 * a)]]
    else:
        a, b = x
        if grid == "periodic":
            u = [torch.sin(TWO_PI * a) * torch.cos(TWO_PI * b), torch.cos(TWO_PI * (a + 2 * b))]
            g = [[TWO_PI * torch.cos(TWO_PI * a) * torch.cos(TWO_PI * b),
                  -TWO_PI * torch.sin(TWO_PI * a) * torch.sin(TWO_PI * b)],
                 [-TWO_PI * torch.sin(TWO_PI * (a + 2 * b)),
                  -2 * TWO_PI * torch.sin(TWO_PI * (a + 2 * b))]]
        else:
            u = [torch.exp(a) * torch.sin(b + 0.3), a * a * b + torch.cos(2 * b)]
            g = [[torch.exp(a) * torch.sin(b + 0.3), torch.exp(a) * torch.cos(b + 0.3)],
                 [2 * a * b, a * a - 2 * torch.sin(2 * b)]]
    return torch.stack(u)[None], torch.stack([torch.stack(gi) for gi in g])  # (1,C,*S), (C,d,*S)


def _derivative_limit(weight: torch.Tensor, centred: bool, grad: torch.Tensor) -> torch.Tensor:
    """``sum_i sum_a b_oia d_a u_i`` with ``b_oia = sum_m K_oi[m] m_a``, ``K`` the mean-free
    (and, if ``centred``, odd) part of ``weight``; offsets ``m`` run over ``-k//2 .. k//2``."""
    ndim = weight.ndim - 2
    k = weight.shape[-1]
    kernel = weight - weight.mean(dim=tuple(range(2, 2 + ndim)), keepdim=True)
    if centred:
        kernel = 0.5 * (kernel - kernel.flip(tuple(range(2, 2 + ndim))))
    offsets = torch.arange(k, dtype=torch.float64) - k // 2
    stencil_dims = tuple(range(2, 2 + ndim))
    b = torch.stack([(kernel * offsets.view([-1] + [1] * (ndim - 1 - a))).sum(stencil_dims)
                     for a in range(ndim)], dim=-1)  # (O, I, d)
    return torch.einsum("oia,ia...->o...", b, grad)[None]


@pytest.mark.parametrize("ndim", [1, 2])
@pytest.mark.parametrize("grid", ["node", "periodic"])
def test_differential_kernel_converges_at_first_order_to_its_directional_derivatives(ndim, grid):
    torch.manual_seed(0)
    layer = DifferentialConv(2, 3, ndim, grid=grid, kernel_size=3, init_scale=1.0).double()
    sizes = [17, 33, 65, 129]
    errors = []
    for s in sizes:
        u, grad = _field_and_gradient(grid, ndim, s)
        with torch.no_grad():
            limit = _derivative_limit(layer.weight, False, grad)
            errors.append((layer(u) - limit).abs().max().item())
    # max norm over all points, boundary rows included (linear extrapolation on node grids)
    order = _order(sizes, errors)
    assert order > 0.9, (errors, order)  # observed: 0.98 - 1.08
    assert errors[-1] < 0.15 * errors[0]


@pytest.mark.parametrize("ndim", [1, 2])
def test_centred_differential_kernel_converges_at_second_order(ndim):
    torch.manual_seed(1)
    layer = DifferentialConv(2, 3, ndim, grid="periodic", kernel_size=5, init_scale=1.0,
                             centred=True).double()
    sizes = [32, 64, 128, 256]
    errors = []
    for s in sizes:
        u, grad = _field_and_gradient("periodic", ndim, s)
        with torch.no_grad():
            limit = _derivative_limit(layer.weight, True, grad)
            errors.append((layer(u) - limit).abs().max().item())
    assert _order(sizes, errors) > 1.9, errors  # observed: 1.96 - 2.0


@pytest.mark.parametrize("padding", ["circular", "linear", "replicate"])
@pytest.mark.parametrize("ndim", [1, 2])
def test_differential_kernel_annihilates_constants(ndim, padding):
    torch.manual_seed(0)
    grid = "periodic" if padding == "circular" else "node"
    layer = DifferentialConv(3, 4, ndim, grid=grid, padding=padding, init_scale=1.0).double()
    c = torch.randn(2, 3, *([1] * ndim), dtype=torch.float64) * 10
    y = layer(c.expand(2, 3, *([33] * ndim)))
    assert y.abs().max().item() < 1e-11


def _hat(t: float, centre: float, width: float) -> float:
    return max(0.0, 1.0 - abs(t - centre) / width)


def _kernel_2d(w, radius, n_radial, n_angular, rho, theta) -> float:
    """The documented basis, written out: ``w_0 psi_0 + sum_{j>=1, l} w_jl psi_j chi_l``."""
    step, arc = radius / n_radial, TWO_PI / n_angular
    value, k = w[0] * _hat(rho, 0.0, step), 1
    for j in range(1, n_radial):
        for lo in range(n_angular):
            gap = (theta - lo * arc + math.pi) % TWO_PI - math.pi
            value += w[k] * _hat(rho, j * step, step) * max(0.0, 1 - abs(gap) / arc)
            k += 1
    return value


def _kernel_1d(w, radius, n_radial, z) -> float:
    """1D: hats at the signed nodes ``0, +D, -D, +2D, -2D, ...`` (``D = radius / n_radial``)."""
    step = radius / n_radial
    nodes = [0.0] + [sign * j * step for j in range(1, n_radial) for sign in (1, -1)]
    return sum(wk * _hat(z, c, step) for wk, c in zip(w, nodes, strict=True))


def _gauss(a: float, b: float, n: int = 10):
    x, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (b - a) * x + 0.5 * (a + b), 0.5 * (b - a) * w


def test_local_integral_converges_to_the_continuous_integral_2d_periodic():
    radius, n_radial, n_angular = 0.2, 3, 4
    torch.manual_seed(0)
    layer = LocalIntegralConv(1, 1, 2, grid="periodic", radius=radius, n_radial=n_radial,
                              n_angular=n_angular).double()
    w = layer.weight.detach()[0, 0].tolist()

    def u(a, b):
        return np.sin(TWO_PI * a + 0.3) * np.cos(TWO_PI * b) + np.cos(2 * TWO_PI * (a - b))

    x0, y0 = 0.25, 0.5
    exact = 0.0  # Gauss-Legendre on the polar cells, inside which the kernel is smooth
    for j in range(n_radial):
        rho, w_rho = _gauss(j * radius / n_radial, (j + 1) * radius / n_radial)
        for lo in range(n_angular):
            theta, w_theta = _gauss(lo * TWO_PI / n_angular, (lo + 1) * TWO_PI / n_angular)
            for r, wr in zip(rho, w_rho, strict=True):
                for t, wt in zip(theta, w_theta, strict=True):
                    kern = _kernel_2d(w, radius, n_radial, n_angular, r, t)
                    exact += wr * wt * r * kern * u(x0 + r * math.cos(t), y0 + r * math.sin(t))
    sizes, errors = [16, 32, 64, 128, 256], []
    for s in sizes:
        a, b = _coords(s, "periodic", 2)
        with torch.no_grad():
            y = layer(torch.from_numpy(u(a.numpy(), b.numpy()))[None, None])
        errors.append(abs(y[0, 0, s // 4, s // 2].item() - exact))
    order = _order(sizes, errors)
    assert order > 1.5, (errors, order)  # observed 2.1 (kinks of the basis make it erratic)
    assert errors[-1] < 1e-3 * abs(exact) + 1e-6


@pytest.mark.parametrize("x0", [0.0, 0.5])
def test_local_integral_converges_on_node_grids_up_to_the_boundary(x0):
    # the default basis: kinks of the kernel at multiples of 1/16, on the points of the Darcy-type
    # grids (2^k + 1 points), so the trapezoidal rule has its clean second order
    radius, n_radial = 0.125, 2
    torch.manual_seed(0)
    layer = LocalIntegralConv(1, 1, 1, grid="node", radius=radius, n_radial=n_radial).double()
    w = layer.weight.detach()[0, 0].tolist()

    def u(a):
        return np.exp(a) * np.cos(3 * a)

    step = radius / n_radial
    cuts = sorted({max(-radius, -x0), min(radius, 1 - x0)}
                  | {j * step for j in range(-n_radial, n_radial + 1) if -x0 < j * step < 1 - x0})
    cuts = [c for c in cuts if -radius <= c <= radius]
    exact = 0.0  # the integral over the part of the ball inside [0, 1]
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        z, wz = _gauss(lo, hi)
        exact += sum(wi * _kernel_1d(w, radius, n_radial, zi) * u(x0 + zi)
                     for zi, wi in zip(z, wz, strict=True))
    sizes, errors = [17, 33, 65, 129, 257], []
    for s in sizes:
        (a,) = _coords(s, "node", 1)
        with torch.no_grad():
            y = layer(torch.from_numpy(u(a.numpy()))[None, None])
        errors.append(abs(y[0, 0, round(x0 * (s - 1))].item() - exact))
    order = _order(sizes, errors)
    assert order > 1.9, (errors, order)  # trapezoidal rule: observed 2.0


def test_local_integral_support_is_the_same_physical_ball_at_two_resolutions():
    radius = 0.15
    torch.manual_seed(0)
    layer = LocalIntegralConv(1, 1, 2, grid="node", radius=radius, n_radial=3).double()
    responses = {}
    for s in (33, 65):
        h = 1.0 / (s - 1)
        delta = torch.zeros(1, 1, s, s, dtype=torch.float64)
        delta[..., s // 2, s // 2] = 1.0 / h**2  # unit mass at (1/2, 1/2)
        with torch.no_grad():
            y = layer(delta)[0, 0]
        a, b = _coords(s, "node", 2)
        dist = ((a - 0.5) ** 2 + (b - 0.5) ** 2).sqrt()
        nonzero = y.abs() > 1e-12 * y.abs().max()  # (FFT evaluation: rounding elsewhere)
        assert dist[nonzero].max().item() < radius
        assert dist[nonzero].max().item() > radius - 2 * h  # reaches the edge of the ball
        responses[s] = y
    # the response to a unit mass is the kernel itself, kappa(x0 - x): equal on common points
    torch.testing.assert_close(responses[65][::2, ::2], responses[33], rtol=0, atol=1e-10)


@pytest.mark.parametrize("ndim, size", [(1, 50), (2, 29)])
@pytest.mark.parametrize("grid", ["node", "periodic"])
def test_local_integral_direct_and_fft_evaluations_agree(ndim, size, grid):
    torch.manual_seed(0)
    layer = LocalIntegralConv(3, 2, ndim, grid=grid, radius=0.3, n_radial=3, n_angular=3).double()
    x = torch.randn(2, 3, *(size,) * ndim, dtype=torch.float64)
    outs, grads = [], []
    for method in ("direct", "fft"):
        layer.method = method
        y = layer(x)
        (g,) = torch.autograd.grad(y.square().sum(), layer.weight)
        outs.append(y)
        grads.append(g)
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-10, atol=1e-10)


def test_fno_with_zero_local_kernels_is_the_fno():
    torch.manual_seed(0)
    fno = build("fno", in_channels=2, out_channels=1, ndim=2, modes=4, width=8, n_layers=2).double()
    local = build("local-fno", in_channels=2, out_channels=1, ndim=2, modes=4, width=8,
                  n_layers=2).double()
    missing, unexpected = local.load_state_dict(fno.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("local.") for k in missing)
    x = torch.randn(3, 2, 17, 17, dtype=torch.float64)
    assert (local(x) - fno(x)).abs().max() > 1e-6  # the local kernels contribute
    with torch.no_grad():
        for name, p in local.named_parameters():
            if name.startswith("local."):
                p.zero_()
    torch.testing.assert_close(local(x), fno(x), rtol=1e-12, atol=1e-12)


def test_local_kernels_in_a_padded_fno_see_the_grid_not_the_padding():
    """With the spectral weights zeroed every remaining operation is pointwise or local, so the
    domain padding of the Fourier layers must not change the output at all."""
    torch.manual_seed(0)
    options = dict(in_channels=1, out_channels=1, ndim=2, modes=4, width=8, n_layers=3)
    padded = build("local-fno", padding=0.25, **options).double()
    plain = build("local-fno", padding=0.0, **options).double()
    plain.load_state_dict(padded.state_dict())
    with torch.no_grad():
        for model in (padded, plain):
            for layer in model.spectral:
                layer.weight.zero_()
    x = torch.randn(2, 1, 17, 17, dtype=torch.float64)
    torch.testing.assert_close(padded(x), plain(x), rtol=1e-12, atol=1e-12)


def test_positional_embedding_defaults_to_node_grids_only():
    for name in ("local-fno", "local-no"):
        assert build(name, ndim=1, grid="node").embedding is not None
        assert build(name, ndim=1, grid="periodic").embedding is None
        assert build(name, ndim=1, grid="periodic", positional_embedding=True).embedding is not None


def test_local_no_discretises_one_operator():
    """An (untrained) local neural operator applied to one smooth periodic input at refining
    resolutions: its outputs at the common points converge (the model has a continuum limit)."""
    torch.manual_seed(0)
    model = build("local-no", ndim=1, grid="periodic", width=8, n_layers=2).double()

    def run(s):
        t = torch.arange(s, dtype=torch.float64) / s
        f = torch.sin(TWO_PI * t) + 0.5 * torch.cos(3 * TWO_PI * t + 1)
        with torch.no_grad():
            return model(f[None, None])[0, 0]

    finest = run(1024)
    gaps = [(run(s) - finest[:: 1024 // s]).abs().max().item() for s in (64, 128, 256)]
    assert gaps[0] > 2.5 * gaps[1] > 6 * gaps[2], gaps


def test_models_run_in_float64():
    for name in ("local-fno", "local-no"):
        model = build(name, ndim=2, width=8, n_layers=2).double()
        y = model(torch.randn(2, 1, 17, 17, dtype=torch.float64))
        assert y.dtype == torch.float64 and torch.isfinite(y).all()
