"""Relative L2 / H1 losses on fields with known answers."""

import math

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


def test_normalizer_round_trip_and_statistics():
    data = torch.randn(50, 2, 8, 8) * torch.tensor([3.0, 0.5])[None, :, None, None] + 7
    norm = ChannelNormalizer.fit(data)
    encoded = norm.encode(data)
    torch.testing.assert_close(encoded.mean(dim=(0, 2, 3)), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(encoded.std(dim=(0, 2, 3)), torch.ones(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(norm.decode(encoded), data, atol=1e-5, rtol=0)
