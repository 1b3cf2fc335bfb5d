"""Physics-informed solvers: PDEs without data (first slice of issue 14: boxes, hard Dirichlet
constraints, Gauss-Newton / L-BFGS / Adam, 2D Poisson and Helmholtz)."""

from oplearn.pinn import problems  # noqa: F401  (registers the shipped problems)
from oplearn.pinn.domains import Box
from oplearn.pinn.problem import PinnProblem, available, get, laplacian_at
from oplearn.pinn.solve import PinnSettings, solve

__all__ = ["Box", "PinnProblem", "PinnSettings", "available", "get", "laplacian_at", "solve"]
