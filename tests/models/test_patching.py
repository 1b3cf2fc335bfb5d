"""MG-TFNO's multigrid patching against its definition: every view is the stated window of the
input, patches stitch back exactly, and the patched model is a working registry model."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from oplearn.models import build
from oplearn.models.layers.patching import MultigridPatching


class Views(nn.Module):
    """Inner model that records its input and returns its level-0 channels."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels, self.seen = channels, None

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        self.seen = v
        return v[:, :self.channels]


def _outside(i: int, size: int, mode: str) -> int | None:
    """Reference index rule, one point at a time (None: a zero)."""
    if 0 <= i < size:
        return i
    if mode == "circular":
        return i % size
    if mode == "replicate":
        return min(max(i, 0), size - 1)
    if mode == "reflect":
        while not 0 <= i < size:
            i = -i if i < 0 else 2 * (size - 1) - i
        return i
    return None


@pytest.mark.parametrize("mode", ["circular", "reflect", "replicate", "zeros"])
@pytest.mark.parametrize("levels", [1, 2])
@pytest.mark.parametrize("grid", ["periodic", "node"])
@pytest.mark.parametrize("intervals", [24, 21])
def test_views_are_centred_windows_subsampled_by_two_to_the_level(mode, levels, grid, intervals):
    """21 intervals do not split into 2 or 4 patches: the patches then cover 22 or 24 intervals,
    the extra split between both ends, and every point beyond x's own comes from ``mode``."""
    edge = 1 if grid == "node" else 0
    size, fraction = intervals + edge, 0.25
    x = torch.randn(2, 3, size, dtype=torch.float64)
    inner = Views(3)
    MultigridPatching(inner, 3, ndim=1, grid=grid, levels=levels, padding_fraction=fraction, mode=mode,
                      positions=False)(x)
    n = 2 ** levels
    extra = -intervals % n
    origin, width = extra // 2, (intervals + extra) // n
    overlap = math.ceil(width * fraction)
    span = width + 2 * overlap
    points = span + edge
    assert inner.seen.shape == (2 * n, 3 * (levels + 1), points)
    for b in range(2):
        for patch in range(n):
            for level in range(levels + 1):
                stride = 2 ** level
                left = (stride * span - width) // 2
                for k in range(points):
                    i = _outside(patch * width - left + stride * k - origin, size, mode)
                    expected = torch.zeros(3, dtype=x.dtype) if i is None else x[b, :, i]
                    got = inner.seen[b * n + patch, 3 * level:3 * level + 3, k]
                    torch.testing.assert_close(got, expected, rtol=0, atol=0)


@pytest.mark.parametrize("grid", ["periodic", "node"])
@pytest.mark.parametrize("shape, ndim", [((2, 1, 37), 1), ((2, 3, 33, 20), 2), ((1, 2, 9, 8, 12), 3)])
def test_level_zero_patches_stitch_back_to_the_input(shape, ndim, grid):
    """Sizes whose patch width is not an integer (37, 20, ...) are padded and cropped."""
    x = torch.randn(shape)
    model = MultigridPatching(Views(shape[1]), shape[1], ndim=ndim, grid=grid, levels=2 if ndim < 3 else 1,
                              padding_fraction=0.2, mode="reflect")
    assert torch.equal(model(x), x)


def test_node_patches_share_their_edge_nodes():
    """33 node points, 2 patches: nodes 0-16 and 16-32 (node 16 in both), overlap 2."""
    inner = Views(1)
    x = torch.arange(33.0).reshape(1, 1, 33)
    MultigridPatching(inner, 1, ndim=1, grid="node", levels=1, mode="reflect")(x)
    torch.testing.assert_close(inner.seen[0, 0], torch.arange(-2.0, 19.0).abs())
    torch.testing.assert_close(inner.seen[1, 0], torch.arange(14.0, 35.0).where(torch.arange(14.0, 35.0) <= 32,
                                                                                64 - torch.arange(14.0, 35.0)))


def test_patches_are_independent_samples_of_the_inner_model():
    """Changing the input deep inside one patch (beyond its overlap and the coarse views' reach
    of the others) changes only that patch's output: the decomposition is real."""
    torch.manual_seed(0)
    model = build("mg-tfno", ndim=1, grid="periodic", patch_levels=2, patch_padding=0.0, modes=4, width=8)
    x = torch.randn(1, 1, 64)
    # Point 3 of patch 0 (points 0-15) is odd; with no overlap only patch 0's level-0 view holds it,
    # since the coarse views sample every 2nd (level 1) or 4th (level 2) point from an even start.
    z = x.clone()
    z[..., 3] += 1.0
    changed = ((model(x) - model(z)).abs().amax(dim=1)[0] > 0)
    assert changed[:16].all() and not changed[16:].any()
    # Point 2 is even: patch 3's level-1 view (points 40-70, wrapping) holds it, so patch 3 changes too.
    y = x.clone()
    y[..., 2] += 1.0
    changed = ((model(x) - model(y)).abs().amax(dim=1)[0] > 0)
    assert changed[:16].all() and changed[48:].any()


def test_positions_are_the_global_coordinates_of_the_level_zero_points():
    """On a node grid of 35 points (padded to 37 for 4 patches of 9 intervals, one point before
    the start) channel 'positions' holds x_i = i / 34 of each level-0 point, outside [0, 1] in the
    overlap beyond the boundary."""
    inner = Views(1)
    x = torch.randn(1, 1, 35, 35, dtype=torch.float64)
    MultigridPatching(inner, 1, ndim=2, grid="node", levels=2, padding_fraction=0.25, mode="zeros")(x)
    seen = inner.seen  # (16, 1 x 3 levels + 2 coordinates, 16, 16): width 9 + 1, overlap 3
    assert seen.shape == (16, 5, 16, 16)
    for patch_i, patch_j in ((0, 0), (1, 3), (3, 2)):
        first_i, first_j = 9 * patch_i - 3 - 1, 9 * patch_j - 3 - 1  # padded index - origin
        expected_x = (first_i + torch.arange(16.0, dtype=torch.float64)) / 34
        expected_y = (first_j + torch.arange(16.0, dtype=torch.float64)) / 34
        sample = seen[4 * patch_i + patch_j]
        torch.testing.assert_close(sample[3], expected_x[:, None].expand(16, 16))
        torch.testing.assert_close(sample[4], expected_y[None, :].expand(16, 16))
        # the level-0 values are the input at those coordinates (zero outside the domain)
        for k in (0, 7, 15):
            i = first_i + k
            if 0 <= i < 35 and 0 <= first_j + 5 < 35:
                assert sample[0, k, 5] == x[0, 0, i, first_j + 5]


def test_mg_tfno_builds_with_patch_channels_and_rejects_bad_options():
    model = build("mg-tfno", in_channels=2, out_channels=3)
    assert model.inner.in_channels == 6  # 2 channels x (1 + 1 level) + 2 coordinates (node grid)
    assert build("mg-tfno", grid="periodic", in_channels=2).inner.in_channels == 4
    assert model(torch.randn(2, 2, 33, 33)).shape == (2, 3, 33, 33)
    assert build("tfno", patch_levels=0).__class__.__name__ == "FNO"
    with pytest.raises(ValueError, match="patch_levels >= 1"):
        build("mg-tfno", patch_levels=0)
    with pytest.raises(ValueError, match="mode must be one of"):
        build("mg-tfno", patch_mode="mirror")
    with pytest.raises(ValueError, match="expected input"):
        model(torch.randn(2, 1, 33, 33))


def test_patch_levels_must_be_an_integer():
    with pytest.raises(ValueError, match="patch_levels must be an integer"):
        build("tfno", patch_levels=1.5)
