"""Physics-informed solvers: PDEs without data.

Write a problem (a domain, a residual on :mod:`oplearn.autodiff` operators, boundary and initial
conditions, an exact or reference solution) and :func:`solve` it with Gauss-Newton, L-BFGS or
Adam; or solve a shipped one by name (``oplearn info --pinn`` lists them).
"""

from oplearn.pinn import problems  # noqa: F401  (registers the shipped problems)
from oplearn.pinn.conditions import Dirichlet, Initial, Neumann, Periodic
from oplearn.pinn.domains import Ball, Box, TimeDomain
from oplearn.pinn.problem import Problem, ProblemSpec, Unknown, available, get, spec
from oplearn.pinn.training import PinnSettings, solve

__all__ = ["Ball", "Box", "Dirichlet", "Initial", "Neumann", "Periodic", "PinnSettings", "Problem",
           "ProblemSpec", "TimeDomain", "Unknown", "available", "get", "solve", "spec"]
