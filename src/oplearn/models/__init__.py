"""Neural operators behind one interface: ``build(name, **kwargs)`` and ``available()``.

Every model maps ``(B, C_in, *S) -> (B, C_out, *S)``.
"""

from oplearn.models.fno import FNO
from oplearn.models.registry import available, build

__all__ = ["FNO", "available", "build"]
