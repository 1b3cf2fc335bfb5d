"""Domains of physics-informed problems and their collocation points."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import qmc

from oplearn.errors import InvalidInputError

SAMPLINGS = ("uniform", "sobol")


@dataclass(frozen=True)
class Box:
    """The box ``[low_1, high_1] x ... x [low_d, high_d]`` (an interval for ``d = 1``)."""

    low: tuple[float, ...]
    high: tuple[float, ...]

    @property
    def dim(self) -> int:
        return len(self.low)

    def sample(self, n: int, sampling: str = "sobol", seed: int = 0,
               dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """``(n, d)`` points inside the box: i.i.d. uniform, or a scrambled Sobol sequence
        (``scipy.stats.qmc``, quasi-random, more even than uniform for the same ``n``)."""
        if sampling not in SAMPLINGS:
            raise InvalidInputError(f"sampling must be one of {', '.join(SAMPLINGS)}, got {sampling!r}")
        if sampling == "sobol":
            with warnings.catch_warnings():  # any n: a power of two balances best, others work
                warnings.simplefilter("ignore", UserWarning)
                unit = qmc.Sobol(self.dim, scramble=True, seed=seed).random(n)
        else:
            unit = np.random.default_rng(seed).random((n, self.dim))
        low, high = np.asarray(self.low), np.asarray(self.high)
        return torch.as_tensor(low + (high - low) * unit, dtype=dtype)

    def distance_factor(self, x: torch.Tensor) -> torch.Tensor:
        """``prod_i (x_i - low_i)(high_i - x_i)`` of one point ``x`` ``(d,)``: zero exactly on the
        boundary, positive inside; the factor of a hard Dirichlet constraint ``u = g + b(x) N(x)``."""
        low = torch.as_tensor(self.low, dtype=x.dtype, device=x.device)
        high = torch.as_tensor(self.high, dtype=x.dtype, device=x.device)
        return torch.prod((x - low) * (high - x))
