"""Taylor mode to order 4 and beyond against nested autograd in float64: every rule, every
direction layout, traced modules and functions, collapsed sums, curves, parameter gradients."""

import math

import pytest
import torch
from torch import nn

from oplearn.autodiff import Sine, SparseTangent, directional_derivative, jet
from oplearn.autodiff import series as S
from oplearn.errors import InvalidInputError
from tests.autodiff.reference import curve_derivatives, mlp

ACTIVATIONS = [nn.Tanh, nn.Sigmoid, nn.Softplus, nn.GELU, Sine, nn.SiLU]
RTOL, ATOL = 1e-10, 1e-12


def _line_reference(f, x, directions, order):
    """(order + 1) lists of (B, V) from nested autograd, one direction at a time."""
    per_dir = [curve_derivatives(f, x, [directions[:, v]], order) for v in range(directions.shape[1])]
    return [torch.stack([d[k] for d in per_dir], dim=1) for k in range(order + 1)]


@pytest.mark.parametrize("dim", [2, 7, 20])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_order_four_jets_of_mlps_match_nested_autograd(dim, activation):
    f = mlp(dim, activation, width=12)
    x = torch.randn(3, dim, dtype=torch.float64)
    v = torch.randn(3, 2, dim, dtype=torch.float64)
    ours = jet(f, x, [v, None, None, None], engine="taylor")
    expected = _line_reference(f, x, v, 4)
    torch.testing.assert_close(ours[0][:, 0], expected[0][:, 0], rtol=RTOL, atol=ATOL)
    for k in range(1, 5):
        torch.testing.assert_close(ours[k][..., 0], expected[k], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name, rule, fn, points", [
    ("tanh", S.tanh_rule, torch.tanh, None), ("sigmoid", S.sigmoid_rule, torch.sigmoid, None),
    ("softplus beta 2", S.softplus_rule(2.0), lambda z: nn.functional.softplus(z, beta=2.0), None),
    ("gelu", S.gelu_rule, nn.functional.gelu, None), ("silu", S.silu_rule, nn.functional.silu, None),
    ("sin", S.sin_rule, torch.sin, None), ("cos", S.cos_rule, torch.cos, None),
    ("exp", S.exp_rule, torch.exp, None), ("log", S.log_rule, torch.log, "positive"),
    ("sqrt", S.power_rule(0.5), torch.sqrt, "positive"), ("cube", S.power_rule(3), lambda z: z ** 3, None),
    ("inverse", S.power_rule(-1), torch.reciprocal, "positive"),
])
def test_elementwise_derivative_rules_to_order_six(name, rule, fn, points):
    x = torch.linspace(-2.5, 2.5, 11, dtype=torch.float64)
    if points == "positive":
        x = x.abs() + 0.3
    derivs = rule(x, 6)
    u = x.clone().requires_grad_(True)
    value = fn(u)
    torch.testing.assert_close(derivs[0], value.detach(), rtol=1e-12, atol=1e-12)
    for m in range(1, 7):
        if value.requires_grad:
            (value,) = torch.autograd.grad(value.sum(), u, create_graph=True)
        else:  # a polynomial's derivatives end in a constant
            value = torch.zeros_like(x)
        got = torch.zeros_like(x) if derivs[m] is None else derivs[m]
        torch.testing.assert_close(got, value.detach(), rtol=1e-10, atol=1e-10, msg=f"{name} order {m}")


class Mixed(nn.Module):
    """A module that is not a Sequential: products, quotients, powers, indexing, cat, sums."""

    def __init__(self, dim):
        super().__init__()
        self.body = mlp(dim + 1, nn.Tanh, width=10, depth=2, seed=1, out=3)
        self.scale = nn.Parameter(torch.tensor(0.7, dtype=torch.float64))

    def forward(self, x):
        r2 = (x ** 2).sum(dim=-1, keepdim=True)
        h = self.body(torch.cat([x, torch.sin(x[:, :1]) * x[:, 1:2]], dim=-1))
        envelope = torch.exp(-0.5 * r2) / (1 + r2)
        return (h[:, :1] * h[:, 1:2] + self.scale * nn.functional.gelu(h[:, 2:3]) - x[:, :1].cos()) * envelope


def test_traced_modules_and_closures_match_nested_autograd():
    dim = 4
    module = Mixed(dim)
    closure = lambda z: module(z).squeeze(-1) * 2.0 + torch.sqrt(1 + z[:, 0] ** 2)  # noqa: E731
    x = torch.randn(3, dim, dtype=torch.float64)
    v = torch.randn(2, dim, dtype=torch.float64)
    for f in (module, closure):
        ours = jet(f, x, [v, None, None, None], engine="taylor")
        expected = _line_reference(f, x, v.expand(3, -1, -1), 4)
        for k in range(1, 5):
            torch.testing.assert_close(ours[k].reshape(3, 2), expected[k], rtol=RTOL, atol=ATOL)
        via_jvp = jet(f, x, [v, None, None, None], engine="jvp")
        torch.testing.assert_close(ours[4], via_jvp[4], rtol=RTOL, atol=ATOL)


def test_every_direction_layout_agrees():
    f = mlp(6)
    x = torch.randn(4, 6, dtype=torch.float64)
    coords = torch.tensor([5, 0, 3])
    dense_coords = torch.eye(6, dtype=torch.float64)[coords]
    sparse = SparseTangent(torch.tensor([[0, 2], [4, 4]]), torch.tensor([[1.0, -2.0], [0.5, 0.0]]).double())
    dense_sparse = sparse.dense(6)[0]
    for directions, dense in ((coords, dense_coords), (sparse, dense_sparse)):
        for order in (1, 2, 3, 4):
            a = directional_derivative(f, x, directions, order)
            b = directional_derivative(f, x, dense, order)
            c = directional_derivative(f, x, dense.expand(4, -1, -1), order)
            torch.testing.assert_close(a, b, rtol=RTOL, atol=ATOL)
            torch.testing.assert_close(a, c, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("order", [2, 3, 4])
def test_collapsed_top_order_is_the_weighted_sum(order):
    f = Mixed(3)
    x = torch.randn(5, 3, dtype=torch.float64)
    v = torch.randn(5, 4, 3, dtype=torch.float64)
    w = torch.randn(4, dtype=torch.float64)
    per_point_w = torch.randn(5, 4, dtype=torch.float64)
    each = directional_derivative(f, x, v, order)[..., 0]
    for weights, expected in ((w, each @ w), (per_point_w, (each * per_point_w).sum(1))):
        summed = directional_derivative(f, x, v, order, weights=weights, collapse=True, chunk_size=3)
        torch.testing.assert_close(summed[:, 0], expected, rtol=RTOL, atol=ATOL)


def test_curves_with_higher_order_tangents():
    f = mlp(3, nn.SiLU)
    x = torch.randn(2, 3, dtype=torch.float64)
    v1, v3 = torch.randn(2, 1, 3, dtype=torch.float64), torch.randn(2, 1, 3, dtype=torch.float64)
    ours = jet(f, x, [v1, None, v3, None, None])
    expected = curve_derivatives(f, x, [v1[:, 0], None, v3[:, 0], None, None], 5)
    for k in range(1, 6):
        torch.testing.assert_close(ours[k][:, 0, 0], expected[k], rtol=RTOL, atol=ATOL)


def test_parameter_gradients_flow_through_order_four():
    f = Mixed(3)
    x = torch.randn(4, 3, dtype=torch.float64)
    v = torch.randn(3, 3, dtype=torch.float64)
    params = list(f.parameters())
    ours = directional_derivative(f, x, v, 4, collapse=True).square().sum()
    ref = directional_derivative(f, x, v, 4, collapse=True, engine="jvp").square().sum()
    for a, b in zip(torch.autograd.grad(ours, params), torch.autograd.grad(ref, params), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_unsupported_operations_fall_back_to_nested_jvp():
    def loop(z):  # range over a shape: torch.fx cannot trace it
        return sum(torch.tanh(z[:, i]) * (i + 1) for i in range(z.shape[1]))

    x = torch.randn(3, 4, dtype=torch.float64)
    v = torch.randn(2, 4, dtype=torch.float64)
    with pytest.raises(InvalidInputError, match="no Taylor-mode rule"):
        jet(loop, x, [v, None], engine="taylor")
    expected = _line_reference(loop, x, v.expand(3, -1, -1), 3)
    torch.testing.assert_close(directional_derivative(loop, x, v, 3), expected[3], rtol=RTOL, atol=ATOL)
    l1 = lambda z: torch.atan(z).sum(dim=1)  # noqa: E731  (traceable, but atan has no rule)
    with pytest.raises(InvalidInputError, match="no Taylor-mode rule"):
        jet(l1, x, [v], engine="taylor")
    torch.testing.assert_close(directional_derivative(l1, x, v, 1), (1 / (1 + x ** 2)) @ v.T)


def test_bad_input():
    f = mlp(3)
    x = torch.randn(2, 3, dtype=torch.float64)
    with pytest.raises(InvalidInputError, match="same number of directions"):
        jet(f, x, [torch.randn(2, 3).double(), torch.randn(3, 3).double()])
    with pytest.raises(InvalidInputError, match="directions must be"):
        directional_derivative(f, x, torch.randn(4, 5).double(), 2)
    with pytest.raises(InvalidInputError, match="out of range"):
        directional_derivative(f, x, torch.tensor([3]), 2)
    with pytest.raises(InvalidInputError, match="engine"):
        jet(f, x, [torch.randn(1, 3).double()], engine="magic")
    with pytest.raises(InvalidInputError, match="order"):
        directional_derivative(f, x, torch.tensor([0]), 0)
    with pytest.raises(InvalidInputError, match=r"\(B, d\)"):
        jet(f, x[0], [torch.tensor([0])])
    assert math.isfinite(float(directional_derivative(f, x, torch.tensor([0]), 3).detach().sum()))


class ScaledLinear(nn.Linear):
    """A subclass of nn.Linear with its own forward: must not be taken for a plain linear map."""

    def forward(self, z):
        return 2 * torch.tanh(super().forward(z))


def test_operations_whose_meaning_differs_fall_back_or_are_exact():
    x = torch.randn(3, 4, dtype=torch.float64)
    v = torch.randn(2, 4, dtype=torch.float64)

    def inplace(z):
        h = torch.tanh(z)
        g = h
        h += 1  # g sees the update
        return (g * h).sum(-1)

    def floor_div(z):
        return torch.div(3 * z, 2, rounding_mode="floor").sum(-1) + torch.sin(z).sum(-1)

    constant = torch.randn(3, 4, 2, dtype=torch.float64)

    def batched_matmul(z):
        return (z.unsqueeze(1) @ constant).sum(dim=(-1, -2))

    def keyword_args(z):
        return torch.pow(z, exponent=2).sum(-1)

    for fn in (inplace, floor_div, batched_matmul, keyword_args):
        expected = directional_derivative(fn, x, v, 2, engine="jvp")
        torch.testing.assert_close(directional_derivative(fn, x, v, 2), expected, rtol=RTOL, atol=ATOL)
    for fn in (inplace, floor_div, batched_matmul):
        with pytest.raises(InvalidInputError, match="no Taylor-mode rule"):
            jet(fn, x, [v], engine="taylor")
    f = nn.Sequential(ScaledLinear(4, 6), nn.Tanh(), nn.Linear(6, 1)).double()
    expected = _line_reference(f, x, v.expand(3, -1, -1), 2)
    torch.testing.assert_close(directional_derivative(f, x, v, 2)[..., 0], expected[2], rtol=RTOL, atol=ATOL)


def test_output_shapes_agree_between_engines():
    f = mlp(3)
    x = torch.randn(2, 3, dtype=torch.float64)
    v = torch.randn(2, 3, dtype=torch.float64)
    ours = jet(f, x, [None, v], collapse=True)
    ref = jet(f, x, [None, v], collapse=True, engine="jvp")
    assert [t.shape for t in ours] == [t.shape for t in ref]
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=RTOL, atol=ATOL)


def test_more_bad_input():
    f = mlp(3)
    x = torch.randn(2, 3, dtype=torch.float64)
    with pytest.raises(InvalidInputError, match="out of range"):
        directional_derivative(f, x, SparseTangent(torch.tensor([[-1]]), torch.ones(1, 1)), 2)
    with pytest.raises(InvalidInputError, match="collapse=True"):
        directional_derivative(f, x, torch.tensor([0, 1]), 2, weights=torch.ones(2))
    with pytest.raises(InvalidInputError, match="weights"):
        directional_derivative(f, x, torch.tensor([0, 1]), 2, weights=torch.ones(5, 2), collapse=True)
    with pytest.raises(InvalidInputError, match="directions must be"):
        directional_derivative(f, x, torch.randn(3).double(), 2)
    with pytest.raises(InvalidInputError, match="chunk_size"):
        directional_derivative(f, x, torch.tensor([0]), 2, chunk_size=0)
    with pytest.raises(InvalidInputError, match="at least one direction"):
        directional_derivative(f, x, torch.zeros(0, dtype=torch.long), 2, collapse=True)
    single = directional_derivative(f, x, torch.eye(3)[:2], 2)  # float32 directions, float64 points
    torch.testing.assert_close(single, directional_derivative(f, x, torch.tensor([0, 1]), 2))
