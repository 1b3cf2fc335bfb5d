"""Transolver: Physics-Attention against its formula, slice weights as a partition of unity,
permutation equivariance over points, and invariance to how finely a field is sampled."""

from __future__ import annotations

import math

import pytest
import torch

from oplearn.models import build
from oplearn.models.layers.physics_attention import PhysicsAttention
from oplearn.models.transolver import TransolverBlock


def _layer(dim: int = 12, heads: int = 3, slices: int = 5) -> PhysicsAttention:
    torch.manual_seed(0)
    layer = PhysicsAttention(dim, heads, slices).double()
    with torch.no_grad():
        layer.temperature.copy_(torch.tensor([0.3, 0.7, 1.1]).view(3, 1, 1))
    return layer


def test_slice_weights_are_a_partition_of_unity():
    layer = _layer()
    x = 3 * torch.randn(2, 40, 12, dtype=torch.float64)
    w = layer.slice_weights(x)
    assert w.shape == (2, 3, 40, 5)
    assert (w > 0).all()
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 3, 40, dtype=torch.float64), rtol=0, atol=1e-14)


def test_physics_attention_matches_its_definition():
    """Slice, attend, deslice, written per head with explicit loops over slices and points."""
    layer = _layer()
    x = torch.randn(2, 7, 12, dtype=torch.float64)
    d = layer.dim_head
    xp, fp = layer.project_x(x), layer.project_f(x)
    heads = []
    for h in range(3):
        cols = slice(h * d, (h + 1) * d)
        logits = layer.project_slice(xp[..., cols]) / layer.temperature[h, 0, 0]  # (B, N, M)
        w = torch.exp(logits) / torch.exp(logits).sum(-1, keepdim=True)
        f = fp[..., cols]  # (B, N, D)
        tokens = torch.stack([sum(w[:, i, m, None] * f[:, i] for i in range(7)) / w[:, :, m].sum(1)[:, None]
                              for m in range(5)], dim=1)  # (B, M, D)
        q, k, v = layer.query(tokens), layer.key(tokens), layer.value(tokens)
        scores = torch.exp(q @ k.transpose(1, 2) / math.sqrt(d))
        z = (scores / scores.sum(-1, keepdim=True)) @ v
        heads.append(torch.stack([sum(w[:, i, m, None] * z[:, m] for m in range(5)) for i in range(7)], 1))
    expected = layer.out(torch.cat(heads, dim=-1))
    torch.testing.assert_close(layer(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("module", ["attention", "block"])
def test_permuting_the_points_permutes_the_output(module):
    torch.manual_seed(0)
    layer = _layer() if module == "attention" else TransolverBlock(12, 3, 5, 2).double()
    x = torch.randn(2, 33, 12, dtype=torch.float64)
    perm = torch.randperm(33)
    torch.testing.assert_close(layer(x[:, perm]), layer(x)[:, perm], rtol=1e-12, atol=1e-12)


def test_a_constant_field_gives_the_same_constant_at_every_resolution():
    layer = _layer()
    value = torch.randn(12, dtype=torch.float64)
    outputs = [layer(value.expand(1, n, 12)) for n in (1, 5, 64, 1000)]
    for out in outputs:
        torch.testing.assert_close(out, outputs[0][:, :1].expand_as(out), rtol=1e-12, atol=1e-12)


def test_repeating_every_point_changes_nothing():
    """Slice tokens are weighted means, so the layer sees the empirical distribution of the points:
    splitting each grid cell of a piecewise-constant field into three leaves every value unchanged."""
    layer = _layer()
    x = torch.randn(2, 21, 12, dtype=torch.float64)
    torch.testing.assert_close(layer(x.repeat_interleave(3, dim=1)),
                               layer(x).repeat_interleave(3, dim=1), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("ndim, sizes", [(1, (9, 40)), (2, (5, 12)), (3, (4, 6))])
def test_transolver_runs_at_any_resolution_in_float64(ndim, sizes):
    torch.manual_seed(0)
    model = build("transolver", in_channels=2, out_channels=3, ndim=ndim, width=16, n_layers=2,
                  heads=2, slices=4).double()
    for s in sizes:
        y = model(torch.randn(2, 2, *(s,) * ndim, dtype=torch.float64))
        assert y.shape == (2, 3, *(s,) * ndim) and y.dtype == torch.float64
