"""Laplacians of networks against nested autograd (float64), closed forms and unbiasedness."""

import math

import pytest
import torch
from torch import nn

from oplearn.autodiff import Sine, estimator_variance, jet, laplacian, second_directional
from oplearn.errors import InvalidInputError
from tests.autodiff.reference import mlp

ACTIVATIONS = [nn.Tanh, nn.Sigmoid, nn.Softplus, nn.GELU, Sine, nn.SiLU]


def autograd_laplacian(f, x):
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(f(x).sum(), x, create_graph=True)
    return sum(torch.autograd.grad(grad[:, i].sum(), x, create_graph=True)[0][:, i]
               for i in range(x.shape[1]))


@pytest.mark.parametrize("dim", [2, 7, 20])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_exact_laplacian_of_mlps_matches_nested_autograd(dim, activation):
    f = mlp(dim, activation)
    x = torch.randn(5, dim, dtype=torch.float64)
    torch.testing.assert_close(laplacian(f, x), autograd_laplacian(f, x), rtol=1e-10, atol=1e-12)


def test_second_directional_derivatives_for_every_direction_layout():
    f = mlp(6)
    x = torch.randn(4, 6, dtype=torch.float64)
    x_req = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(f(x_req).sum(), x_req, create_graph=True)
    hess = torch.stack([torch.autograd.grad(grad[:, i].sum(), x_req, retain_graph=True)[0]
                        for i in range(6)], dim=1)  # (B, d, d)
    shared = torch.randn(3, 6, dtype=torch.float64)
    per_point = torch.randn(4, 3, 6, dtype=torch.float64)
    coords = torch.tensor([5, 0, 5])
    expect_shared = torch.einsum("vi,bij,vj->bv", shared, hess, shared)
    expect_point = torch.einsum("bvi,bij,bvj->bv", per_point, hess, per_point)
    expect_coords = hess[:, coords, coords]
    for directions, expected in ((shared, expect_shared), (per_point, expect_point), (coords, expect_coords)):
        torch.testing.assert_close(second_directional(f, x, directions), expected, rtol=1e-10, atol=1e-12)
        # a traced plain function and the generic nested-jvp path agree too
        for engine in ("taylor", "jvp"):
            torch.testing.assert_close(second_directional(lambda z: f(z), x, directions, engine=engine),
                                       expected, rtol=1e-10, atol=1e-12)


def test_first_order_coefficient_is_the_directional_derivative():
    f = mlp(5)
    x = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    v = torch.randn(2, 5, dtype=torch.float64)
    (grad,) = torch.autograd.grad(f(x).sum(), x)
    value, first = jet(f, x, [v], engine="taylor")
    torch.testing.assert_close(first[..., 0], grad @ v.T, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(value, f(x))


def test_closed_forms():
    x = torch.randn(8, 12, dtype=torch.float64)
    sum_sin = lambda z: torch.sin(z).sum(dim=1)  # noqa: E731
    torch.testing.assert_close(laplacian(sum_sin, x), -torch.sin(x).sum(dim=1), rtol=1e-12, atol=1e-12)
    gauss = lambda z: torch.exp(-0.5 * z.square().sum(dim=1))  # noqa: E731
    r2 = x.square().sum(dim=1)
    torch.testing.assert_close(laplacian(gauss, x), (r2 - 12) * torch.exp(-0.5 * r2), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("method, estimator", [("stde", "sparse"), ("stde", "shared"),
                                               ("stde", "dense"), ("sdgd", "auto")])
def test_estimators_are_unbiased(method, estimator):
    f = mlp(10, nn.Tanh, width=8, depth=2)
    x = torch.randn(3, 10, dtype=torch.float64)
    exact = laplacian(f, x).detach()
    gen = torch.Generator().manual_seed(0)
    draws = torch.stack([laplacian(f, x, method, 4, gen, estimator).detach() for _ in range(600)])
    stderr = draws.std(dim=0) / math.sqrt(len(draws))
    assert torch.all((draws.mean(dim=0) - exact).abs() < 4 * stderr + 1e-12), (draws.mean(0), exact)
    assert torch.all(draws.std(dim=0) > 0)


def test_variance_helper_matches_the_spread_of_estimates():
    f = mlp(10, nn.Tanh, width=8, depth=2)
    x = torch.randn(2, 10, dtype=torch.float64)
    gen = torch.Generator().manual_seed(1)
    var1 = estimator_variance(f, x, "dense", trials=400, generator=gen)
    draws = torch.stack([laplacian(f, x, "stde", 8, gen, "dense") for _ in range(400)])
    ratio = draws.var(dim=0) / (var1 / 8)
    assert torch.all((ratio > 0.7) & (ratio < 1.4)), ratio


@pytest.mark.parametrize("method", ["exact", "stde"])
def test_parameter_gradients_match_autograd(method):
    f = mlp(6, nn.GELU)
    x = torch.randn(4, 6, dtype=torch.float64)
    if method == "exact":
        ours = laplacian(f, x).square().sum()
        ref = autograd_laplacian(f, x).square().sum()
    else:  # the same random coordinates drawn twice: STDE against autograd on them
        ours = laplacian(f, x, "stde", 3, torch.Generator().manual_seed(5), "sparse").square().sum()
        coords = torch.randint(0, 6, (3,), generator=torch.Generator().manual_seed(5)).tolist()
        xr = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(f(xr).sum(), xr, create_graph=True)
        ref = (sum(torch.autograd.grad(grad[:, i].sum(), xr, create_graph=True)[0][:, i]
                   for i in coords) * (6 / 3)).square().sum()
    params = list(f.parameters())
    g_ours = torch.autograd.grad(ours, params, allow_unused=True)
    g_ref = torch.autograd.grad(ref, params, allow_unused=True)
    for p, a, b in zip(params, g_ours, g_ref, strict=True):  # the output bias is unused by both
        a = torch.zeros_like(p) if a is None else a
        b = torch.zeros_like(p) if b is None else b
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert any(g is not None and g.abs().sum() > 0 for g in g_ours)


def test_bad_input():
    f = mlp(3)
    with pytest.raises(InvalidInputError, match=r"\(B, d\)"):
        laplacian(f, torch.zeros(3, dtype=torch.float64))
    with pytest.raises(InvalidInputError, match="method"):
        laplacian(f, torch.zeros(2, 3, dtype=torch.float64), method="magic")
    with pytest.raises(InvalidInputError, match="got output"):
        laplacian(nn.Sequential(nn.Linear(3, 2)).double(), torch.zeros(2, 3, dtype=torch.float64))


def test_laplacian_over_some_coordinates_exact_and_unbiased():
    """``dims`` sums second derivatives over the chosen coordinates only (a spatial Laplacian of
    space-time points); every estimator stays unbiased."""
    import math

    from oplearn.errors import InvalidInputError

    f = lambda x: torch.sin(x[:, 0]) * x[:, 1] ** 2 + torch.exp(x[:, 2]) * x[:, 0] ** 2  # noqa: E731
    x = torch.rand(5, 3, dtype=torch.float64)
    exact = -torch.sin(x[:, 0]) * x[:, 1] ** 2 + 2 * torch.exp(x[:, 2]) + 2 * torch.sin(x[:, 0])  # d00 + d11
    torch.testing.assert_close(laplacian(f, x, dims=[0, 1]), exact, rtol=1e-12, atol=1e-12)
    for estimator in ("sparse", "dense", "shared"):
        gen = torch.Generator().manual_seed(0)
        draws = torch.stack([laplacian(f, x, method="stde", num_samples=1, estimator=estimator,
                                       generator=gen, dims=[0, 1]) for _ in range(2000)])
        assert ((draws.mean(0) - exact).abs() < 5 * draws.std(0) / math.sqrt(2000) + 1e-12).all(), estimator
    with pytest.raises(InvalidInputError, match="dims must be distinct"):
        laplacian(f, x, dims=[0, 0])
    with pytest.raises(InvalidInputError, match="dims must be distinct"):
        laplacian(f, x, dims=[3])
