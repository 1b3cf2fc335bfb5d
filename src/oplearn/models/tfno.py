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

MG-TFNO: ``patch_levels = L >= 1`` wraps the TFNO in MG-TFNO's multigrid domain decomposition
(:class:`~oplearn.models.layers.patching.MultigridPatching`): ``2^L`` patches per axis, each with
``L`` coarse context views as extra input channels, solved as separate samples and stitched.
Registered as ``mg-tfno`` (``L = 1``, overlap 1/8 of the patch width).

Left out: the paper's joint factorisation of all layers' weights in one tensor and its
complex-valued factors (the factors here are real; real and imaginary parts of the weight share
the mode and input factors).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from oplearn.models.fno import FNO
from oplearn.models.layers.patching import MultigridPatching
from oplearn.models.registry import register


def TFNO(in_channels: int = 1, out_channels: int = 1, *, ndim: int = 2, grid: str = "node",
         factorization: str = "tucker", rank: float | int | Sequence[int] = 0.1,
         patch_levels: int = 0, patch_padding: float = 0.125, patch_mode: str | None = None,
         patch_positions: bool | None = None, **fno_options: Any) -> nn.Module:
    """An :class:`FNO` whose spectral weights are ``factorization`` tensors of rank ``rank``.

    Args:
        in_channels, out_channels, ndim, grid: as for :class:`FNO`.
        factorization: ``"tucker"``, ``"cp"`` or ``"tt"``.
        rank: a ``float`` fraction of each dense spectral weight's parameter count, or explicit
            ranks (see :mod:`oplearn.models.layers.factorized`).
        patch_levels: 0 (no patches) or MG-TFNO's ``L``: ``2^L`` patches per axis with ``L``
            coarse context views.
        patch_padding: patch overlap as a fraction of the patch width.
        patch_mode: values outside the domain for the patches (``"circular"``, ``"reflect"``,
            ``"replicate"``, ``"zeros"``); default ``"circular"`` on periodic grids, else ``"reflect"``.
        patch_positions: give each patch its global coordinates (default: on node grids).
        fno_options: any other :class:`FNO` argument (``modes``, ``width``, ``n_layers`` ...).
    Returns:
        the FNO, or the FNO inside :class:`MultigridPatching`; ``(B, C_in, *S) -> (B, C_out, *S)``.
    """
    if not isinstance(patch_levels, int) or patch_levels < 0:
        raise ValueError(f"patch_levels must be an integer >= 0, got {patch_levels!r}")
    if patch_levels == 0:
        return FNO(in_channels, out_channels, ndim=ndim, grid=grid, factorization=factorization, rank=rank,
                   **fno_options)
    positions = grid == "node" if patch_positions is None else patch_positions
    fno = FNO(MultigridPatching.inner_channels(in_channels, patch_levels, ndim, positions), out_channels,
              ndim=ndim, grid=grid, factorization=factorization, rank=rank, **fno_options)
    mode = patch_mode or ("circular" if grid == "periodic" else "reflect")
    return MultigridPatching(fno, in_channels, ndim=ndim, grid=grid, levels=patch_levels,
                             padding_fraction=patch_padding, mode=mode, positions=positions)


def MGTFNO(in_channels: int = 1, out_channels: int = 1, *, patch_levels: int = 1, **options: Any) -> nn.Module:
    """MG-TFNO (Kossaifi et al. 2023): :func:`TFNO` with ``patch_levels=1`` by default."""
    if patch_levels < 1:
        raise ValueError(f"mg-tfno needs patch_levels >= 1, got {patch_levels} (use tfno for none)")
    return TFNO(in_channels, out_channels, patch_levels=patch_levels, **options)


register("tfno", TFNO, "Tensorized FNO (Kossaifi et al. 2023): FNO with Tucker/CP/TT-factorised "
         "spectral weights", ndims=(1, 2, 3), extends=(FNO,))
register("mg-tfno", MGTFNO, "MG-TFNO (Kossaifi et al. 2023): TFNO on multigrid patches (2^L per axis, "
         "L coarse context views)", ndims=(1, 2, 3), extends=(TFNO, FNO))
