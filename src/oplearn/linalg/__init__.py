"""Sparse linear solvers used by the PDE modules."""

from oplearn.linalg.solve import solve_general, solve_spd

__all__ = ["solve_general", "solve_spd"]
