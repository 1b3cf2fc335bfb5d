"""Differential operators of networks: Taylor-mode jets, exact operators and STDE."""

from oplearn.autodiff.jet import directional_derivative, jet
from oplearn.autodiff.laplacian import laplacian, second_directional
from oplearn.autodiff.multi_index import linear_operator, mixed_partial
from oplearn.autodiff.operators import (
           axis_derivatives,
           biharmonic,
           divergence,
           gradient,
           time_derivative,
)
from oplearn.autodiff.series import SparseTangent
from oplearn.autodiff.trace import Sine
from oplearn.autodiff.variance import estimator_variance

__all__ = ["Sine", "SparseTangent", "axis_derivatives", "biharmonic", "directional_derivative",
           "divergence", "estimator_variance", "gradient", "jet", "laplacian", "linear_operator", "mixed_partial",
           "second_directional", "time_derivative"]
