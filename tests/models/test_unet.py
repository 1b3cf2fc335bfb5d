"""U-Net: shapes at odd sizes, exact pad/crop, and equivariance under periodic shifts."""

from __future__ import annotations

import pytest
import torch

from oplearn.models import build
from oplearn.models.layers.padding import pad_to_multiple


def _random(shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("grid", ["node", "periodic"])
@pytest.mark.parametrize("ndim, sizes",
                         [(1, [(17,), (33,), (63,)]), (2, [(9, 31), (17, 17), (33, 20)])])
def test_unet_keeps_odd_grid_sizes(ndim, sizes, grid):
    torch.manual_seed(0)
    model = build("unet", in_channels=2, out_channels=3, ndim=ndim, grid=grid, width=8)
    for size in sizes:
        y = model(torch.randn(2, 2, *size))
        assert y.shape == (2, 3, *size) and torch.isfinite(y).all()


@pytest.mark.parametrize("mode", ["replicate", "circular"])
def test_pad_to_multiple_pads_both_ends_and_crops_back_exactly(mode):
    x = _random((2, 3, 33, 20))
    padded, crop = pad_to_multiple(x, 8, mode)
    assert padded.shape == (2, 3, 40, 24)
    assert torch.equal(padded[crop], x)
    assert crop[1:] == (slice(3, 36), slice(2, 22))  # 7 = 3 + 4 and 4 = 2 + 2 extra points
    if mode == "replicate":
        assert torch.equal(padded[:, :, :3, 2:22], x[:, :, :1].expand(-1, -1, 3, -1))
    else:
        assert torch.equal(padded[:, :, :3, 2:22], x[:, :, -3:])
    same, crop = pad_to_multiple(x[..., :16], 8, mode)
    assert same.shape == (2, 3, 40, 16) and torch.equal(same[crop], x[..., :16])


@pytest.mark.parametrize("ndim, size", [(1, (64,)), (2, (32, 16))])
def test_periodic_unet_commutes_with_shifts_by_its_coarsest_cell(ndim, size):
    """Circular convolutions, pooling and up-convolutions commute with periodic shifts by a
    multiple of 2**levels points (and, because of the 2x pooling, not with other shifts)."""
    torch.manual_seed(0)
    model = build("unet", in_channels=2, out_channels=2, ndim=ndim, grid="periodic", width=8,
                  levels=3).double()
    x = _random((2, 2, *size))
    dims = tuple(range(2, 2 + ndim))
    y = model(x)
    for shift in ((8,), (16,)) if ndim == 1 else ((8, 0), (0, 8), (24, 8)):
        shifted = model(torch.roll(x, shift, dims))
        torch.testing.assert_close(shifted, torch.roll(y, shift, dims), rtol=1e-10, atol=1e-12)
    off_grid = model(torch.roll(x, (1,) * ndim, dims))
    assert not torch.allclose(off_grid, torch.roll(y, (1,) * ndim, dims), atol=1e-6)


def test_node_grid_unet_sees_coordinates_and_periodic_does_not():
    node = build("unet", ndim=2, grid="node")
    periodic = build("unet", ndim=2, grid="periodic")
    assert node.embedding is not None and periodic.embedding is None
    assert build("unet", ndim=2, grid="periodic", positional_embedding=True).embedding is not None
