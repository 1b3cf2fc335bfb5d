"""`--only GROUP,...` for benchmark scripts made of named groups of measurements."""

from __future__ import annotations

import argparse
from collections.abc import Iterable


def chosen_groups(description: str, groups: Iterable[str]) -> list[str]:
    """The groups named by ``--only`` on the command line (all by default); an unknown name exits
    with argparse's one-line error."""
    groups = list(groups)
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--only", default=",".join(groups), help="comma-separated groups")
    chosen = parser.parse_args().only.split(",")
    unknown = set(chosen) - set(groups)
    if unknown:
        parser.error(f"unknown groups {sorted(unknown)}; choose from {groups}")
    return chosen
