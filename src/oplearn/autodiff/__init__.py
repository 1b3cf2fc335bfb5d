"""Differential operators of networks: second-order Taylor mode, exact and stochastic (STDE)."""

from oplearn.autodiff.laplacian import estimator_variance, laplacian, second_directional
from oplearn.autodiff.taylor import Jet, Sine, jet2, supports

__all__ = ["Jet", "Sine", "estimator_variance", "jet2", "laplacian", "second_directional",
           "supports"]
