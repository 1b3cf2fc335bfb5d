"""oplearn: learning and computing with differential operators."""

__version__ = "0.1.0"
