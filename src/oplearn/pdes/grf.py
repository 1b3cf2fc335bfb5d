"""Gaussian random fields on the node-centred grid of the unit square.

The field has covariance ``sigma^2 (-Laplacian + tau^2 I)^(-alpha)`` with homogeneous Neumann
boundary conditions, sampled exactly in its eigenbasis, the L2([0, 1]^d)-orthonormal cosines
``phi_k(x) = prod_axes n_k cos(pi k x)`` (``n_0 = 1``, ``n_k = sqrt(2)`` for ``k >= 1``):

    u(x) = sum_{0 <= k < s, k != 0} sigma (pi^2 |k|^2 + tau^2)^(-alpha/2) xi_k phi_k(x),

``xi_k`` independent standard normal, so that ``E[u(x) u(y)] = sum_k lambda_k phi_k(x) phi_k(y)``
with the modes the grid resolves. The constant mode is left out (a zero-mean field, as in the
FNO paper's sampler). On the node-centred grid ``x_i = i / (s - 1)`` the sum is a type-I discrete
cosine transform.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.fft

from oplearn.pdes.parameters import Number

# Default scale of a random source: f of order one (pointwise standard deviation about 0.53 at
# the centre and 0.99 averaged over the square at 33 points; tests/pdes/test_poisson.py).
SOURCE_SIGMA = 10.0


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
    # (s - 1) idct(c, type=1) evaluates sum_k w_k c_k cos(pi k i / (s - 1)) per axis, with
    # w_0 = w_{s-1} = 1/2 and w_k = 1 otherwise; multiplying c_k by n_k / w_k gives the
    # orthonormal eigenfunctions n_k cos(pi k x) of every mode, the two end modes included.
    scale = np.full(s, np.sqrt(2.0))
    scale[0], scale[-1] = 2.0, 2.0 * np.sqrt(2.0)
    for axis in range(ndim):
        shape = [1] * ndim
        shape[axis] = s
        sqrt_eig = sqrt_eig * scale.reshape(shape)
    xi = rng.standard_normal((s,) * ndim)
    return scipy.fft.idctn(xi * sqrt_eig, type=1) * float(s - 1) ** ndim


def source_parameters(prefix: str = "") -> dict[str, Number]:
    """The declared parameters ``{prefix}alpha``, ``{prefix}tau``, ``{prefix}sigma`` of a random
    source (Poisson's ``f``, Helmholtz's and advection-diffusion's ``f_*``)."""
    return {f"{prefix}alpha": Number(2.0, low=0.0, low_open=True),
            f"{prefix}tau": Number(3.0, low=0.0),
            f"{prefix}sigma": Number(SOURCE_SIGMA, low=0.0, low_open=True)}


def sample_grf_source(rng: np.random.Generator, s: int, params: dict[str, Any], prefix: str = "") -> np.ndarray:
    """A random source on ``s x s`` nodes with the parameters of :func:`source_parameters`."""
    return neumann_grf(rng, s, alpha=float(params[f"{prefix}alpha"]), tau=float(params[f"{prefix}tau"]),
                       sigma=float(params[f"{prefix}sigma"]))
