"""Neural operators behind one interface: ``build(name, **kwargs)`` and ``available()``.

Every model maps ``(B, C_in, *S) -> (B, C_out, *S)``. Each model lives in its own module of this
package and registers itself there; every such module is imported below (and any module added
later is found by the loop), so a new model is one new file.
"""

import importlib
import pkgutil

from oplearn.models.deeponet import DeepONet, MultiONet
from oplearn.models.fno import FNO
from oplearn.models.local import LocalNO, local_fno
from oplearn.models.mgno import MgNO
from oplearn.models.registry import available, build, entry
from oplearn.models.tfno import MGTFNO, TFNO
from oplearn.models.transformer import GalerkinTransformer
from oplearn.models.transolver import Transolver
from oplearn.models.unet import UNet

for _module in pkgutil.iter_modules(__path__):
    if not _module.ispkg and _module.name != "registry":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["FNO", "TFNO", "MGTFNO", "DeepONet", "GalerkinTransformer", "LocalNO", "MgNO", "MultiONet",
           "Transolver", "UNet", "available", "build", "entry", "local_fno"]
