"""The manufactured solution the elliptic tests share: ``u = x sin(pi x) sin(2 pi y)``, zero on the
boundary of the unit square, with its exact derivatives on the node-centred grid."""

from dataclasses import dataclass

import numpy as np

PI = np.pi


@dataclass(frozen=True)
class Manufactured:
    """Grid coordinates ``x, y`` (``(s, s)``, ``x`` along axis 0), ``u`` and its derivatives."""

    x: np.ndarray
    y: np.ndarray
    u: np.ndarray
    ux: np.ndarray
    uy: np.ndarray
    uxx: np.ndarray
    uyy: np.ndarray

    @property
    def laplacian(self) -> np.ndarray:
        return self.uxx + self.uyy


def manufactured(s: int) -> Manufactured:
    """``u = x sin(pi x) sin(2 pi y)`` and its exact first and second derivatives on ``s x s`` nodes."""
    x = np.linspace(0.0, 1.0, s)[:, None] * np.ones((1, s))
    y = x.T.copy()
    u = x * np.sin(PI * x) * np.sin(2 * PI * y)
    return Manufactured(
        x=x, y=y, u=u,
        ux=(np.sin(PI * x) + PI * x * np.cos(PI * x)) * np.sin(2 * PI * y),
        uy=2 * PI * x * np.sin(PI * x) * np.cos(2 * PI * y),
        uxx=(2 * PI * np.cos(PI * x) - PI**2 * x * np.sin(PI * x)) * np.sin(2 * PI * y),
        uyy=-4 * PI**2 * u,
    )


def observed_orders(errors: list[float]) -> np.ndarray:
    """``log2(e_k / e_{k+1})`` for errors on grids whose spacing halves."""
    errors = np.asarray(errors)
    return np.log2(errors[:-1] / errors[1:])
