"""Tensorized FNO (Kossaifi et al. 2023): the FNO with low-rank factorised spectral weights.

Not a separate architecture: :func:`TFNO` builds :class:`~oplearn.models.fno.FNO` with
``factorization="tucker"`` and ``rank=0.1`` (neuraloperator's TFNO defaults: about 10% of the
dense spectral parameters). Each spectral weight ``(*mode_shape, C_in, 2 C_out)`` is stored as
Tucker, CP or tensor-train factors (:mod:`oplearn.models.layers.factorized`) and rebuilt at every
call, so the Fourier transforms and the resolution invariance are exactly the FNO's.

Parameter counts in 2D (``in_channels = out_channels = 1``, width 32, 4 layers, 12 modes; each
dense spectral weight has ``24 * 12 * 32 * 64 = 589,824`` entries):

=================  ==========  ==========================================
model              parameters  spectral weight per layer
=================  ==========  ==========================================
FNO (dense)         2,368,001  589,824
TFNO tucker 0.1       238,005   57,325 (ranks 13, 7, 17, 35)
TFNO cp 0.1           244,721   59,004 (rank 447)
TFNO tt 0.1           238,337   57,408 (inner ranks 24, 37, 37)
=================  ==========  ==========================================

Left out: the paper's joint factorisation of all layers' weights in one tensor, its complex-valued
factors (the factors here are real; real and imaginary parts of the weight share the mode and
input factors), and MG-TFNO's multigrid domain decomposition (it splits each sample into patches
that train as separate samples, a data-pipeline change rather than a layer of the model).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from oplearn.models.fno import FNO
from oplearn.models.registry import register


def TFNO(in_channels: int = 1, out_channels: int = 1, *, ndim: int = 2, grid: str = "node",
         factorization: str = "tucker", rank: float | int | Sequence[int] = 0.1,
         **fno_options: Any) -> FNO:
    """An :class:`FNO` whose spectral weights are ``factorization`` tensors of rank ``rank``.

    Args:
        in_channels, out_channels, ndim, grid: as for :class:`FNO`.
        factorization: ``"tucker"``, ``"cp"`` or ``"tt"``.
        rank: a ``float`` fraction of each dense spectral weight's parameter count, or explicit
            ranks (see :mod:`oplearn.models.layers.factorized`).
        fno_options: any other :class:`FNO` argument (``modes``, ``width``, ``n_layers`` ...).
    """
    return FNO(in_channels, out_channels, ndim=ndim, grid=grid, factorization=factorization,
               rank=rank, **fno_options)


register("tfno", TFNO, "Tensorized FNO (Kossaifi et al. 2023): FNO with Tucker/CP/TT-factorised "
         "spectral weights", ndims=(1, 2, 3))
