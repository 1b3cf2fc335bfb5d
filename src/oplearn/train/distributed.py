"""Data-parallel training on ``torch.distributed``: which process this is, how a global batch is
split, and the few collectives the trainer needs.

Launch with ``torchrun --nproc-per-node N -m oplearn train ...`` (or ``oplearn train --nproc N``,
which runs that), on one machine or many (``torchrun --nnodes/--rdzv-endpoint``): the CLI joins
the process group torchrun describes (NCCL for CUDA, Gloo for CPUs). A user who starts a process
group in their own script gets the same from :func:`oplearn.train.train`, which uses any
initialised group. The global batch stays ``--batch-size``: each process takes its share of every
batch and DistributedDataParallel averages the gradients, with each share's loss weighted by its
size, so N processes take the same optimisation steps as one (to floating-point rounding).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist

from oplearn.errors import InvalidInputError

PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass(frozen=True)
class Processes:
    """This process's ``rank`` among ``world`` (``0`` of ``1``: not distributed)."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """The process that writes files and shows progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def share(self, batch: torch.Tensor) -> tuple[torch.Tensor, float]:
        """This process's contiguous part of a global ``batch`` of sample indices ``(B,)`` and the
        weight of its mean loss, ``len(part) * world / B``, so that the average of the weighted
        means over processes is the batch mean. An empty part becomes the batch's first sample
        with weight 0 (every process must take part in every step)."""
        start, stop = (self.rank * len(batch)) // self.world, ((self.rank + 1) * len(batch)) // self.world
        if stop == start:
            return batch[:1], 0.0
        return batch[start:stop], (stop - start) * self.world / len(batch)

    def sum(self, values: list[float], device: torch.device | str = "cpu") -> list[float]:
        """Element-wise sum of ``values`` over all processes (the values themselves when alone)."""
        if not self.distributed:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(tensor)
        return tensor.tolist()


def current() -> Processes:
    """The initialised process group's view of this process, else a single process."""
    if dist.is_available() and dist.is_initialized():
        return Processes(dist.get_rank(), dist.get_world_size())
    return Processes()


def launched_by_torchrun() -> bool:
    """Whether this process was started by ``torchrun`` for a group of more than one."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "LOCAL_RANK" in os.environ


def die_with_launcher() -> None:
    """Ask the kernel to kill this process when its launcher dies (Linux ``PR_SET_PDEATHSIG``).

    ``torchrun`` starts each rank in a session of its own, so killing ``torchrun`` (``kill -9``, or
    ``kill`` on its process group) would otherwise leave the ranks running on their own, still
    training and writing checkpoints into the run directory that a resumed run then shares. A
    rank whose launcher is already gone (re-parented) exits at once. Elsewhere a no-op.
    """
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: nothing to ask for
        return
    if parent == 1 or os.getppid() != parent:  # the launcher died before (or while) we asked
        os._exit(1)


def join_from_environment(device: str) -> str:
    """Join the process group ``torchrun`` describes (NCCL where ``device`` is CUDA, else Gloo)
    and return this process's device (``cuda:LOCAL_RANK`` for CUDA). Does nothing, and returns
    ``device``, outside torchrun or when a group exists already."""
    if not launched_by_torchrun() or dist.is_initialized():
        return device
    die_with_launcher()
    cuda = str(device).startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if cuda:
        local = int(os.environ["LOCAL_RANK"])
        if local >= torch.cuda.device_count():
            raise InvalidInputError(f"process {local} of this machine has no GPU: {torch.cuda.device_count()} "
                                    "visible; use at most that many processes per machine")
        torch.cuda.set_device(local)
        dist.init_process_group("nccl")
        return f"cuda:{local}"
    dist.init_process_group("gloo")
    return device


def leave() -> None:
    """Leave the process group (the end of a CLI run)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
