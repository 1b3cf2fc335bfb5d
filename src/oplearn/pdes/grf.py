"""Gaussian random fields on the node-centred grid of the unit square.

The field has covariance ``sigma^2 (-Laplacian + tau^2 I)^(-alpha)`` with homogeneous Neumann
boundary conditions, sampled exactly in the cosine eigenbasis ``cos(pi k x) cos(pi l y)``: on the
node-centred grid ``x_i = i / (s - 1)`` that basis is the type-I discrete cosine transform.
"""

from __future__ import annotations

import numpy as np
import scipy.fft


def neumann_grf(
    rng: np.random.Generator,
    s: int,
    *,
    alpha: float = 2.0,
    tau: float = 3.0,
    sigma: float = 1.0,
    ndim: int = 2,
) -> np.ndarray:
    """One sample of the field on ``s`` nodes per axis; returns float64 of shape ``(s,) * ndim``."""
    k = np.arange(s, dtype=np.float64)
    k2 = np.zeros((s,) * ndim)
    for axis in range(ndim):
        shape = [1] * ndim
        shape[axis] = s
        k2 = k2 + (np.pi * k.reshape(shape)) ** 2
    sqrt_eig = sigma * (k2 + tau**2) ** (-alpha / 2.0)
    sqrt_eig[(0,) * ndim] = 0.0  # zero-mean field, as in the FNO paper's sampler
    xi = rng.standard_normal((s,) * ndim)
    # idctn(type=1, norm=None) evaluates sum_k c_k w_k cos(pi k i/(s-1)) with end weights 1/2;
    # the weights only rescale the independent coefficients at the edge of the spectrum.
    return scipy.fft.idctn(xi * sqrt_eig, type=1) * (2 * (s - 1)) ** ndim / 2**ndim
