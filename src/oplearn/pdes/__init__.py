"""PDE families: input samplers and verified classical solvers.

Each module registers a :class:`~oplearn.pdes.problem.Problem` so that ``oplearn generate NAME``
and ``oplearn run NAME`` find it.
"""

from oplearn.pdes import (
    advection_diffusion,
    burgers,
    darcy,
    helmholtz,
    high_contrast,
    navier_stokes,
    poisson,
    stencils,
    time_stepping,
)
from oplearn.pdes.problem import Problem, available, choose_solver, get

__all__ = [
    "Problem",
    "advection_diffusion",
    "available",
    "choose_solver",
    "burgers",
    "darcy",
    "get",
    "helmholtz",
    "high_contrast",
    "navier_stokes",
    "poisson",
    "stencils",
    "time_stepping",
]
