"""Exceptions raised by oplearn. Every one is a user-facing, one-line message."""


class OplearnError(Exception):
    """Base class: a problem the user can fix (bad input, bad option, bad file)."""


class InvalidInputError(OplearnError, ValueError):
    """An array, option or configuration value is malformed (shape, NaN, range)."""


class DataFileError(OplearnError):
    """A dataset or run file is missing, corrupt or incompatible."""


class SolverError(OplearnError, RuntimeError):
    """A linear solve did not reach its tolerance."""


class TrainingDivergedError(OplearnError, RuntimeError):
    """The training loss became NaN/inf or diverged; the last good checkpoint is kept."""
