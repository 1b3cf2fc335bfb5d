"""A small least-recently-used cache for tensors that depend only on the grid (DFT matrices,
basis functions), so that evaluating a model on many resolutions does not grow memory without bound."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import torch

T = TypeVar("T")


class GridCache(Generic[T]):
    """At most ``max_entries`` values by key; the least recently used one is dropped first."""

    def __init__(self, max_entries: int = 8):
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        self.max_entries = max_entries
        self._values: OrderedDict[Hashable, T] = OrderedDict()

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        """The value of ``key``, computed by ``build()`` when it is not cached. Values are built
        outside inference mode (a tensor made under ``torch.inference_mode()`` could not be used
        by autograd later, and the cache outlives that context) and without gradients."""
        if key in self._values:
            self._values.move_to_end(key)
            return self._values[key]
        with torch.inference_mode(False), torch.no_grad():
            value = self._values[key] = build()
        if len(self._values) > self.max_entries:
            self._values.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._values)
