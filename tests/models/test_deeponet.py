"""DeepONet and MultiONet: the inner-product readouts against their formulas, the sensor sampler
against independent interpolation, and exact agreement across resolutions that contain the sensors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from oplearn.models import build
from oplearn.models.deeponet import DeepONet, MultiONet
from oplearn.models.layers.sensors import SensorSampler, grid_points


def _coordinates(spatial: tuple[int, ...], grid: str) -> torch.Tensor:
    """(N, d) grid coordinates written out independently of the library."""
    axes = [torch.arange(s, dtype=torch.float64) / ((s - 1) if grid == "node" else s) for s in spatial]
    mesh = torch.meshgrid(*axes, indexing="ij")
    return torch.stack([m.flatten() for m in mesh], dim=1)


def _randomise(model: torch.nn.Module) -> None:
    """Non-trivial values for the parameters initialised to ones and zeros."""
    torch.manual_seed(1)
    for name, p in model.named_parameters():
        if name in ("bias", "weight"):
            with torch.no_grad():
                p.copy_(torch.randn_like(p))


@pytest.mark.parametrize("grid, spatial", [("node", (9, 13)), ("periodic", (8, 11))])
def test_deeponet_output_is_the_sum_of_branch_times_trunk_plus_bias(grid, spatial):
    torch.manual_seed(0)
    model = DeepONet(2, 3, ndim=2, grid=grid, sensors=4, width=16, depth=2, n_basis=5).double()
    _randomise(model)
    x = torch.randn(2, 2, *spatial, dtype=torch.float64)
    b_lin, t_lin = model.branch.linears, model.trunk.linears
    # branch: Lu et al.'s net, activation between layers but not after the last
    s = model.sampler(x).flatten(1)
    b = b_lin[2](F.gelu(b_lin[1](F.gelu(b_lin[0](s))))).view(2, 3, 5)
    # trunk: activation after every layer, including the last
    y = _coordinates(spatial, grid)
    t = F.gelu(t_lin[2](F.gelu(t_lin[1](F.gelu(t_lin[0](y)))))).view(-1, 3, 5)
    expected = torch.empty(2, 3, y.shape[0], dtype=torch.float64)
    for batch in range(2):
        for o in range(3):
            expected[batch, o] = sum(b[batch, o, k] * t[:, o, k] for k in range(5)) + model.bias[o]
    torch.testing.assert_close(model(x), expected.view(2, 3, *spatial), rtol=1e-12, atol=1e-12)


def test_multionet_output_is_the_average_of_the_layerwise_inner_products():
    torch.manual_seed(0)
    model = MultiONet(1, 2, ndim=2, grid="node", sensors=4, width=6, n_layers=3).double()
    _randomise(model)
    x = torch.randn(3, 1, 7, 10, dtype=torch.float64)
    b = model.sampler(x).flatten(1)
    t = _coordinates((7, 10), "node")
    b, t = torch.tanh(model.branch.linears[0](b)), torch.relu(model.trunk.linears[0](t))
    expected = 0.0
    for level in range(3):
        b = torch.tanh(model.branch.linears[level + 1](b))  # (B, width)
        t = torch.relu(model.trunk.linears[level + 1](t))  # (N, width)
        w, c = model.weight[level], model.bias[level]  # (O, width), (O,)
        expected = expected + torch.stack(
            [(b[:, None, :] * w[o] * t[None, :, :]).sum(-1) + c[o] for o in range(2)], dim=1)
    torch.testing.assert_close(model(x), (expected / 3).view(3, 2, 7, 10), rtol=1e-12, atol=1e-12)


def test_multionet_with_one_layer_pair_is_a_deeponet_of_its_last_layers():
    """L = 1: ``G(u)_o(y) = sum_k beta_ok(u) tau_k(y) + c_o`` with ``beta_o = w_o * b`` the branch
    output and ``tau`` the trunk output: a DeepONet with the trunk's last layer as basis."""
    torch.manual_seed(0)
    model = MultiONet(1, 2, ndim=1, grid="periodic", sensors=8, width=5, n_layers=1).double()
    _randomise(model)
    x = torch.randn(4, 1, 16, dtype=torch.float64)
    beta = model.branch(model.sampler(x).flatten(1))[:, None, :] * model.weight[0]  # (B, O, p)
    tau = model.trunk(_coordinates((16,), "periodic"))  # (N, p)
    expected = torch.einsum("bok,nk->bon", beta, tau) + model.bias[0][:, None]
    torch.testing.assert_close(model(x), expected, rtol=1e-12, atol=1e-12)
    # and at initialisation (w = 1, c = 0) it is exactly sum_k b_k t_k, the DeepONet of the paper
    fresh = MultiONet(1, 1, ndim=1, grid="periodic", sensors=8, width=5, n_layers=1).double()
    plain = fresh.branch(fresh.sampler(x).flatten(1)) @ fresh.trunk(_coordinates((16,), "periodic")).T
    torch.testing.assert_close(fresh(x)[:, 0], plain, rtol=1e-12, atol=1e-12)


def _interp_1d(values: np.ndarray, s: int, grid: str, points: np.ndarray) -> np.ndarray:
    """Piecewise-linear interpolant of grid values at ``points`` (numpy, written independently)."""
    if grid == "node":
        return np.interp(points, np.arange(s) / (s - 1), values)
    return np.interp(points, np.arange(s) / s, values, period=1.0)


@pytest.mark.parametrize("grid, s, sensors", [("node", 13, 8), ("node", 5, 7), ("periodic", 12, 5),
                                              ("periodic", 5, 8)])
def test_sensor_sampler_is_piecewise_linear_interpolation(grid, s, sensors):
    """Exact on fields that are (tensor products of) piecewise-linear functions with kinks at the
    grid points: for ("periodic", 5, 8) the last sensor, 7/8, lies between x = 0.8 and x = 1 = 0."""
    rng = np.random.default_rng(0)
    g, h = rng.standard_normal(s), rng.standard_normal(s)
    sampler = SensorSampler(2, grid, sensors)
    m = sampler.per_axis
    assert m == (sensors + 1 if grid == "node" else sensors)
    points = np.arange(m) / sensors
    expected = np.outer(_interp_1d(g, s, grid, points), _interp_1d(h, s, grid, points))
    field = torch.from_numpy(np.outer(g, h))[None, None]
    torch.testing.assert_close(sampler(field)[0, 0], torch.from_numpy(expected), rtol=1e-12, atol=1e-12)
    sampler_1d = SensorSampler(1, grid, sensors)
    torch.testing.assert_close(sampler_1d(torch.from_numpy(g)[None, None])[0, 0],
                               torch.from_numpy(_interp_1d(g, s, grid, points)), rtol=1e-12, atol=1e-12)


def test_sensor_sampler_is_exact_on_linear_fields_of_a_node_grid():
    def field(x, y):
        return 1.0 + 2.0 * x - 3.0 * y + 0.5 * x * y

    sampler = SensorSampler(2, "node", 6)
    c = _coordinates((11, 11), "node").T.reshape(2, 11, 11)
    sensors = _coordinates((7, 7), "node").T.reshape(2, 7, 7)
    torch.testing.assert_close(sampler(field(*c)[None, None])[0, 0], field(*sensors), rtol=1e-12,
                               atol=1e-12)


def _smooth_field(spatial: tuple[int, ...], grid: str) -> torch.Tensor:
    c = _coordinates(spatial, grid).T.reshape(len(spatial), *spatial)
    f = torch.sin(2 * math.pi * c[0]) + torch.cos(4 * math.pi * c[-1]) * c[0] ** 2
    return torch.stack([f, torch.cos(2 * math.pi * (c[0] - c[-1]))])[None]


@pytest.mark.parametrize("name", ["deeponet", "multionet"])
@pytest.mark.parametrize("grid, coarse, fine, step", [("node", 17, 33, 2), ("periodic", 16, 48, 3)])
def test_models_agree_exactly_on_grids_that_contain_the_sensors(name, grid, coarse, fine, step):
    """The branch sees the same numbers and the trunk the same points, so the finer grid's output,
    restricted to the coarse grid's points, equals the coarse output."""
    torch.manual_seed(0)
    model = build(name, in_channels=2, out_channels=2, ndim=2, grid=grid, sensors=8, width=16).double()
    sampler = SensorSampler(2, grid, 8)
    a, b = _smooth_field((coarse, coarse), grid), _smooth_field((fine, fine), grid)
    torch.testing.assert_close(sampler(b), sampler(a), rtol=0, atol=1e-13)
    torch.testing.assert_close(model(b)[..., ::step, ::step], model(a), rtol=1e-12, atol=1e-12)


def test_grid_points_follow_the_field_layout():
    like = torch.zeros((), dtype=torch.float64)
    for grid in ("node", "periodic"):
        torch.testing.assert_close(grid_points((3, 4, 5), grid, like), _coordinates((3, 4, 5), grid))


@pytest.mark.parametrize("model_class", [DeepONet, MultiONet])
def test_three_dimensions_and_float64(model_class):
    model = model_class(1, 2, ndim=3, grid="periodic", sensors=4, width=8).double()
    assert model(torch.randn(2, 1, 5, 6, 7, dtype=torch.float64)).shape == (2, 2, 5, 6, 7)
