"""PDE families: input samplers and verified classical solvers.

Each module registers a :class:`~oplearn.pdes.problem.Problem` so that ``oplearn generate NAME``
and ``oplearn run NAME`` find it.
"""

from oplearn.pdes import burgers, darcy
from oplearn.pdes.problem import Problem, available, get

__all__ = ["Problem", "available", "burgers", "darcy", "get"]
