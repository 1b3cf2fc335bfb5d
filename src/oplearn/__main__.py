"""``python -m oplearn ...``: the command line (what ``torchrun -m oplearn`` runs in each process)."""

from oplearn.cli import entry_point

entry_point()
