"""The Gaussian random field has the stated spectrum: (pi^2 |k|^2 + tau^2)^(-alpha/2) per mode."""

import numpy as np
import scipy.fft

from oplearn.pdes.grf import neumann_grf


def test_cosine_coefficients_are_standard_normal_after_whitening():
    s, alpha, tau = 17, 2.0, 3.0
    k = np.pi * np.arange(s)
    sqrt_eig = (k[:, None] ** 2 + k[None, :] ** 2 + tau**2) ** (-alpha / 2)
    whitened = []
    for i in range(400):
        field = neumann_grf(np.random.default_rng([7, i]), s, alpha=alpha, tau=tau)
        coeff = scipy.fft.dctn(field, type=1) * 4 / (2 * (s - 1)) ** 2  # inverts the sampler's scaling
        whitened.append((coeff / sqrt_eig).ravel()[1:])  # the mean mode is zero by construction
    z = np.array(whitened)
    assert abs(z.mean()) < 0.02
    assert abs(z.var() - 1.0) < 0.03
    assert np.abs(np.corrcoef(z[:, :20].T) - np.eye(20)).max() < 0.25
