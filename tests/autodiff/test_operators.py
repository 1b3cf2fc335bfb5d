"""Gradient, divergence, time derivatives, biharmonic, mixed partials and general linear
operators: exact against nested autograd (float64), closed forms, unbiased STDE."""

import pytest
import torch
from torch import nn

from oplearn.autodiff import (
    Sine,
    axis_derivatives,
    biharmonic,
    directional_derivative,
    divergence,
    estimator_variance,
    gradient,
    linear_operator,
    mixed_partial,
    time_derivative,
)
from oplearn.autodiff.multi_index import interpolation_rule, jet_construction
from oplearn.autodiff.operators import exact_biharmonic_directions
from oplearn.errors import InvalidInputError
from tests.autodiff import reference
from tests.autodiff.reference import mlp, partial

RTOL, ATOL = 1e-10, 1e-12


def _within_standard_errors(draws: torch.Tensor, exact: torch.Tensor, k: float = 4.0) -> None:
    mean, se = draws.mean(0), draws.std(0) / draws.shape[0] ** 0.5
    assert torch.all((mean - exact).abs() <= k * se + 1e-12), ((mean - exact) / se)


@pytest.mark.parametrize("dim", [2, 7, 20])
@pytest.mark.parametrize("activation", [nn.Tanh, nn.GELU, Sine, nn.Softplus])
def test_exact_biharmonic_matches_nested_autograd(dim, activation):
    f = mlp(dim, activation, width=8)
    x = torch.randn(3, dim, dtype=torch.float64)
    expected = reference.biharmonic(f, x)
    torch.testing.assert_close(biharmonic(f, x), expected, rtol=RTOL, atol=ATOL)  # Hessian propagation
    plain = lambda z: f(z)  # noqa: E731  (traced: fourth-order directions)
    torch.testing.assert_close(biharmonic(plain, x, chunk_size=37), expected, rtol=RTOL, atol=ATOL)
    directions, weights = exact_biharmonic_directions(dim)  # the same through Taylor mode only
    pinned = directional_derivative(plain, x, directions, 4, weights=weights, collapse=True,
                                    engine="taylor")
    torch.testing.assert_close(pinned[:, 0], expected, rtol=RTOL, atol=ATOL)


def test_biharmonic_quadrature_reproduces_the_fourth_moment():
    for dim in (1, 2, 5, 9):
        directions, weights = exact_biharmonic_directions(dim)
        a = torch.randn(dim, dtype=torch.float64)
        dots = (directions.dense(dim)[0] @ a)
        torch.testing.assert_close((weights * dots ** 4).sum(), a.square().sum() ** 2)


def test_closed_forms():
    x = torch.randn(6, 5, dtype=torch.float64)
    sum_sin = lambda z: torch.sin(z).sum(dim=1)  # noqa: E731
    torch.testing.assert_close(biharmonic(sum_sin, x), torch.sin(x).sum(dim=1), rtol=1e-12, atol=1e-12)
    gauss = lambda z: torch.exp(-0.5 * z.square().sum(dim=1))  # noqa: E731
    r2, d = x.square().sum(dim=1), 5
    expected = (r2 ** 2 - 2 * (d + 2) * r2 + d * (d + 2)) * torch.exp(-0.5 * r2)
    torch.testing.assert_close(biharmonic(gauss, x), expected, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(time_derivative(gauss, x, 1), -x[:, -1] * torch.exp(-0.5 * r2))
    torch.testing.assert_close(divergence(lambda z: z * z, x), 2 * x.sum(dim=1))
    torch.testing.assert_close(gradient(sum_sin, x), torch.cos(x))


@pytest.mark.parametrize("estimator", ["dense", "shared", "sparse"])
def test_stde_biharmonic_is_unbiased(estimator):
    f = mlp(4, nn.Tanh, width=8)
    x = torch.randn(3, 4, dtype=torch.float64)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        exact = biharmonic(f, x)
        draws = torch.stack([biharmonic(f, x, "stde", 4, gen, estimator) for _ in range(400)])
    _within_standard_errors(draws, exact)


def test_variance_helper_predicts_the_spread_of_biharmonic_estimates():
    f = mlp(5, nn.Tanh, width=8)
    x = torch.randn(3, 5, dtype=torch.float64)
    gen = torch.Generator().manual_seed(2)
    var1 = estimator_variance(f, x, "sparse", trials=400, generator=gen, operator="biharmonic")
    with torch.no_grad():
        draws = torch.stack([biharmonic(f, x, "stde", 4, gen, "sparse") for _ in range(400)])
    ratio = draws.var(dim=0) / (var1 / 4)
    assert torch.all((ratio > 0.6) & (ratio < 1.6)), ratio  # a wrong 1/V scaling gives 4 or 1/4
    with pytest.raises(InvalidInputError, match="Laplacian only"):
        estimator_variance(f, x, "sdgd", operator="biharmonic")


def test_gradient_divergence_time_derivative_match_autograd():
    f = mlp(5, nn.SiLU)
    field = mlp(5, nn.Tanh, out=5, seed=3)
    x = torch.randn(4, 5, dtype=torch.float64)
    expected_grad = torch.stack([partial(f, x, (i,)) for i in range(5)], dim=1)
    torch.testing.assert_close(gradient(f, x), expected_grad, rtol=RTOL, atol=ATOL)
    xr = x.clone().requires_grad_(True)
    out = field(xr)
    expected_div = sum(torch.autograd.grad(out[:, i].sum(), xr, retain_graph=True)[0][:, i] for i in range(5))
    torch.testing.assert_close(divergence(field, x), expected_div, rtol=RTOL, atol=ATOL)
    for order in (1, 2, 3):
        torch.testing.assert_close(time_derivative(f, x, order), partial(f, x, (4,) * order),
                                   rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(time_derivative(f, x, 2, dim=1), partial(f, x, (1, 1)), rtol=RTOL, atol=ATOL)


def test_axis_derivatives_give_every_order_along_each_axis_in_one_pass():
    f = mlp(5, nn.Tanh)
    x = torch.randn(4, 5, dtype=torch.float64)
    value, first, second, third = axis_derivatives(f, x, (0, -1, 2), order=3)
    torch.testing.assert_close(value, f(x).reshape(4), rtol=RTOL, atol=ATOL)
    for column, axis in enumerate((0, 4, 2)):
        for order, got in enumerate((first, second, third), start=1):
            torch.testing.assert_close(got[:, column], partial(f, x, (axis,) * order), rtol=RTOL, atol=ATOL)
    with pytest.raises(InvalidInputError, match="axes"):
        axis_derivatives(f, x, (5,), 1)
    with pytest.raises(InvalidInputError, match="order"):
        axis_derivatives(f, x, (0,), 0)


def test_stde_gradient_and_divergence_are_unbiased():
    f = mlp(6, nn.Tanh)
    field = mlp(6, nn.Tanh, out=6, seed=2)
    x = torch.randn(3, 6, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        draws = torch.stack([gradient(f, x, "stde", 2, gen) for _ in range(600)])
    _within_standard_errors(draws, gradient(f, x).detach())
    exact_div = divergence(field, x).detach()
    for estimator in ("sparse", "dense"):
        with torch.no_grad():
            draws = torch.stack([divergence(field, x, "stde", 2, gen, estimator) for _ in range(600)])
        _within_standard_errors(draws, exact_div)


TERMS = [(0, 1), (0, 0, 1), (0, 1, 2), (0, 0, 1, 1), (2, 2, 2, 2), (0, 1, 1, 3), (3, 1, 0, 2)]


@pytest.mark.parametrize("term", TERMS)
def test_mixed_partials_match_nested_autograd(term):
    f = mlp(4, nn.GELU, width=10)
    x = torch.randn(3, 4, dtype=torch.float64)
    torch.testing.assert_close(mixed_partial(f, x, term), partial(f, x, term), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("term", [(0, 1), (0, 0, 1), (1, 1)])
def test_stde_paper_jet_construction(term):
    f = mlp(3, nn.Tanh, width=10)
    x = torch.randn(3, 3, dtype=torch.float64)
    torch.testing.assert_close(mixed_partial(f, x, term, method="jet"), partial(f, x, term),
                               rtol=1e-9, atol=1e-12)


def test_tangent_constructions():
    assert jet_construction((1, 1))[:2] == ((2, 3), 5)  # d_ij = d^5 / 10 with v_2 = e_i, v_3 = e_j
    assert jet_construction((1, 1))[2] == 10
    assert jet_construction((2,))[:2] == ((1,), 2)
    rule = dict(interpolation_rule((1, 1)))
    assert rule == pytest.approx({(0, 2): -0.125, (1, 1): 0.5, (2, 0): -0.125})


OPERATOR = {(0, 0): 1.0, (1, 2): -2.0, (3,): 0.5, (): 3.0, (0, 1, 1, 3): 0.25, (2, 2, 2): -0.1}


def _operator_reference(f, x):
    return sum(c * (partial(f, x, t) if t else f(x).reshape(-1)) for t, c in OPERATOR.items())


def test_linear_operator_exact_and_unbiased():
    f = mlp(4, nn.Tanh, width=10)
    x = torch.randn(3, 4, dtype=torch.float64)
    expected = _operator_reference(f, x)
    torch.testing.assert_close(linear_operator(f, x, OPERATOR), expected, rtol=RTOL, atol=ATOL)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        draws = torch.stack([linear_operator(f, x, OPERATOR, "stde", 3, gen) for _ in range(500)])
    _within_standard_errors(draws, expected.detach())


def test_parameter_gradients_through_operators_match_autograd():
    f = mlp(4, nn.Tanh, width=8)
    x = torch.randn(4, 4, dtype=torch.float64)
    params = list(f.parameters())
    pairs = [(biharmonic(f, x), reference.biharmonic(f, x)),
             (linear_operator(f, x, OPERATOR), _operator_reference(f, x))]
    for ours, ref in pairs:
        # the output bias does not change a derivative: its gradient is zero (materialised)
        a = torch.autograd.grad(ours.square().sum(), params, allow_unused=True, materialize_grads=True)
        b = torch.autograd.grad(ref.square().sum(), params, allow_unused=True, materialize_grads=True)
        for ga, gb in zip(a, b, strict=True):
            torch.testing.assert_close(ga, gb, rtol=1e-9, atol=1e-12)


def test_bad_input():
    f = mlp(3)
    x = torch.randn(2, 3, dtype=torch.float64)
    with pytest.raises(InvalidInputError, match="method"):
        biharmonic(f, x, method="magic")
    with pytest.raises(InvalidInputError, match="estimator"):
        biharmonic(f, x, method="stde", estimator="magic")
    with pytest.raises(InvalidInputError, match="outside"):
        linear_operator(f, x, {(0, 3): 1.0})
    with pytest.raises(InvalidInputError, match="nonempty"):
        linear_operator(f, x, {})
    with pytest.raises(InvalidInputError, match="field"):
        divergence(f, x)
    with pytest.raises(InvalidInputError, match="dim"):
        time_derivative(f, x, 1, dim=3)
    with pytest.raises(InvalidInputError, match="num_samples"):
        gradient(f, x, "stde", 0)
    with pytest.raises(InvalidInputError, match="integer coordinates"):
        mixed_partial(f, x, (0.7, 1))
    with pytest.raises(InvalidInputError, match="integer coordinates"):
        mixed_partial(f, x, 0)
    with pytest.raises(InvalidInputError, match="got output"):
        gradient(mlp(3, out=2), x, "stde")
    assert torch.all(linear_operator(f, x, {(0,): 0.0}, "stde") == 0)
