"""The Gaussian random field has the stated spectrum: (pi^2 |k|^2 + tau^2)^(-alpha/2) per mode."""

import numpy as np
import pytest
import scipy.fft

from oplearn.pdes.grf import neumann_grf


def test_cosine_coefficients_are_standard_normal_after_whitening():
    s, alpha, tau = 17, 2.0, 3.0
    k = np.pi * np.arange(s)
    sqrt_eig = (k[:, None] ** 2 + k[None, :] ** 2 + tau**2) ** (-alpha / 2)
    # field = sum_kl c_kl n_k n_l cos(pi k x) cos(pi l y); by the discrete orthogonality of DCT-I,
    # dct(field)_kl = (s - 1)^2 e_k e_l n_k n_l c_kl with e = 2 at k = 0, s - 1 and 1 between
    end = np.full(s, np.sqrt(2.0))
    end[0], end[-1] = 2.0, 2.0 * np.sqrt(2.0)  # e_k n_k
    whitened = []
    for i in range(400):
        field = neumann_grf(np.random.default_rng([7, i]), s, alpha=alpha, tau=tau)
        coeff = scipy.fft.dctn(field, type=1) / (s - 1) ** 2 / np.outer(end, end)  # the KL coefficients
        whitened.append((coeff / sqrt_eig).ravel()[1:])  # the mean mode is zero by construction
    z = np.array(whitened)
    assert abs(z.mean()) < 0.02
    assert abs(z.var() - 1.0) < 0.03
    assert np.abs(np.corrcoef(z[:, :20].T) - np.eye(20)).max() < 0.25


def _analytic_covariance(s, alpha, tau, sigma, ndim):
    """Covariance matrix ``(s^d, s^d)`` of the field at the nodes ``x_i = i / (s - 1)``, from the
    L2([0, 1]^d)-orthonormal Neumann eigenfunctions ``phi_k = prod_axes n_k cos(pi k x)``
    (``n_0 = 1``, ``n_k = sqrt(2)``), eigenvalues ``sigma^2 (pi^2 |k|^2 + tau^2)^-alpha``, the
    modes ``0 <= k < s`` per axis (what the grid resolves), the constant mode left out."""
    x = np.arange(s) / (s - 1)
    k = np.arange(s)
    phi_1d = np.where(k == 0, 1.0, np.sqrt(2.0))[None, :] * np.cos(np.pi * np.outer(x, k))  # (node, k)
    phi, k2 = np.ones((1, 1)), np.zeros(1)
    for _ in range(ndim):  # row-major: (node, mode) of the product basis
        phi = np.kron(phi, phi_1d)
        k2 = (k2[:, None] + k[None, :] ** 2).ravel()
    eig = sigma**2 * (np.pi**2 * k2 + tau**2) ** (-alpha)
    eig[0] = 0.0
    return (phi * eig) @ phi.T


@pytest.mark.parametrize("ndim, s", [(1, 9), (2, 9), (3, 5)])
def test_covariance_is_the_analytic_kernel_of_the_neumann_laplacian(ndim, s):
    """Empirical covariance of 4000 fields against ``sum_k lambda_k phi_k(x_i) phi_k(x_j)``.

    Two statistics. (1) The covariance entries, within 5 standard errors of their estimate:
    this sees the overall scale and the weights of the strong modes with a zero index. (2) The
    covariance whitened by the analytic one, ``C^-1/2 C_emp C^-1/2`` on its ``d = s^ndim - 1``
    dimensional range: for the right law its eigenvalues fill the Marchenko-Pastur band
    ``(1 -+ sqrt(d / n))^2`` (``[0.74, 1.30]`` in 2D); a mode whose amplitude is off by a factor 2
    (e.g. the end mode ``k = s - 1``, too weak to show in (1)) puts an eigenvalue near 4 or 1/4."""
    n, alpha, tau, sigma = 4000, 2.0, 3.0, 2.0
    cov = _analytic_covariance(s, alpha, tau, sigma, ndim)
    fields = np.stack([neumann_grf(np.random.default_rng([11, i]), s, alpha=alpha, tau=tau,
                                   sigma=sigma, ndim=ndim).ravel() for i in range(n)])
    # the constant mode is left out: zero mean in the trapezoidal rule, exactly, for every sample
    w1 = np.ones(s)
    w1[[0, -1]] = 0.5
    w = np.ones(1)
    for _ in range(ndim):
        w = np.kron(w, w1)
    np.testing.assert_allclose(fields @ w, 0.0, atol=1e-12 * np.abs(fields).max())

    emp = fields.T @ fields / n  # the mean is known to be zero
    standard_error = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n)
    z = np.abs(emp - cov) / standard_error
    assert z.max() < 5.0, (z.max(), np.unravel_index(z.argmax(), z.shape))

    mu, v = np.linalg.eigh(cov)
    assert mu[0] < 1e-12 * mu[-1] < mu[1]  # exactly one null direction, the constant mode's
    whiten = v[:, 1:] / np.sqrt(mu[1:])
    ratios = np.linalg.eigvalsh(whiten.T @ emp @ whiten)
    d = s**ndim - 1
    low, high = (1 - np.sqrt(d / n)) ** 2 - 0.05, (1 + np.sqrt(d / n)) ** 2 + 0.05
    assert low < ratios.min() and ratios.max() < high, (ratios.min(), ratios.max(), low, high)
