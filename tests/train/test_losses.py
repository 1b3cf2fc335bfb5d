"""Relative L2 / H1 losses on fields with known answers."""

import math

import pytest
import torch

from oplearn.train import ChannelNormalizer, relative_h1, relative_l2


def _sine(s):
    x = torch.linspace(0, 1, s, dtype=torch.float64)
    return torch.sin(math.pi * x)[None, None, :, None] * torch.sin(math.pi * x)[None, None, None, :]


def test_relative_l2_of_a_scaled_field_is_the_scale_error():
    u = _sine(33).repeat(3, 1, 1, 1)
    torch.testing.assert_close(relative_l2(1.1 * u, u), torch.tensor(0.1, dtype=torch.float64))
    assert relative_l2(u, u, reduce=False).shape == (3,)


def test_relative_h1_matches_the_continuous_value():
    # u = sin(pi x) sin(pi y): ||u||^2 = 1/4, ||grad u||^2 = pi^2/2; e = 0.1 u + c with c a constant
    u = _sine(257)
    err = relative_h1(u + 0.05, u).item()
    exact = math.sqrt(0.05**2 / (0.25 + math.pi**2 / 2))
    assert abs(err - exact) < 2e-2 * exact
    torch.testing.assert_close(relative_h1(1.2 * u, u), torch.tensor(0.2, dtype=torch.float64))


@pytest.mark.parametrize("ndim", [1, 2])
@pytest.mark.parametrize("s, m", [(8, 1), (16, 3), (33, 2)])
def test_relative_h1_on_the_periodic_grid_includes_the_wrap_around_difference(ndim, s, m):
    """u = sin(2 pi m x) on x_i = i / s (constant along y in 2D). Forward differences around the
    whole circle: u_{i+1} - u_i = 2 sin(pi m / s) cos(2 pi m (x_i + h / 2)), the squared cosines
    sum to s / 2, so ||u||^2 = 1/2 and ||D u||^2 = 2 s^2 sin^2(pi m / s) (-> 2 pi^2 m^2 =
    ||u'||^2). For e = c a constant the relative H1 error is c / sqrt(1/2 + 2 s^2 sin^2(pi m / s))."""
    x = torch.arange(s, dtype=torch.float64) / s
    u = torch.sin(2 * math.pi * m * x).reshape(1, 1, s, *([1] * (ndim - 1))).expand(1, 1, *(s,) * ndim)
    c = 0.1
    exact = c / math.sqrt(0.5 + 2 * s**2 * math.sin(math.pi * m / s) ** 2)
    torch.testing.assert_close(relative_h1(u + c, u, grid="periodic"),
                               torch.tensor(exact, dtype=torch.float64), rtol=1e-12, atol=0)


def test_relative_h1_on_the_node_grid_has_no_wrap_around():
    """u = x on x_i = i / (s - 1): ||D u||^2 = 1 exactly (a wrap-around term would add s - 1),
    ||u||^2 = h sum x_i^2 = s (2 s - 1) / (6 (s - 1)^2) in the quadrature the loss uses."""
    s, c = 17, 0.1
    u = torch.linspace(0, 1, s, dtype=torch.float64)[None, None]
    h = 1 / (s - 1)
    exact = math.sqrt(c**2 * h * s / (s * (2 * s - 1) / (6 * (s - 1) ** 2) + 1.0))
    torch.testing.assert_close(relative_h1(u + c, u, grid="node"),
                               torch.tensor(exact, dtype=torch.float64), rtol=1e-12, atol=0)


def test_relative_h1_refuses_an_unknown_grid():
    u = _sine(9)
    with pytest.raises(ValueError, match="grid must be 'node' or 'periodic', got 'cell'"):
        relative_h1(u, u, grid="cell")


def test_normalizer_round_trip_and_statistics():
    data = torch.randn(50, 2, 8, 8) * torch.tensor([3.0, 0.5])[None, :, None, None] + 7
    norm = ChannelNormalizer.fit(data)
    encoded = norm.encode(data)
    torch.testing.assert_close(encoded.mean(dim=(0, 2, 3)), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(encoded.std(dim=(0, 2, 3)), torch.ones(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(norm.decode(encoded), data, atol=1e-5, rtol=0)
