"""oplearn: learning and computing with differential operators."""

__version__ = "0.2.0"  # 0.2.0: the Neumann random fields changed (docs/data.md); data of 0.1.0 differ
