"""A known linear operator for the model tests: the periodic 1D Poisson solution operator."""

import math

import torch


def poisson_1d(n_samples: int, s: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Periodic ``-u'' = f`` with zero mean, ``f`` a random band-limited field; exact ``u``."""
    gen = torch.Generator().manual_seed(seed)
    k = torch.arange(1, 9, dtype=torch.float64)
    coeff = torch.randn(n_samples, 8, 2, generator=gen, dtype=torch.float64) / k[:, None] ** 1.5
    t = torch.arange(s, dtype=torch.float64) / s
    phase = 2 * math.pi * k[:, None] * t[None]
    waves = coeff[..., 0:1] * torch.cos(phase) + coeff[..., 1:2] * torch.sin(phase)
    f = waves.sum(1)
    u = (waves / (2 * math.pi * k[:, None]) ** 2).sum(1)
    return f[:, None].float(), u[:, None].float()
