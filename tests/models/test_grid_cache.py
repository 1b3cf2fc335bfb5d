"""The grid caches of the spectral and local integral layers stay bounded across resolutions."""

from __future__ import annotations

import pytest
import torch

from oplearn.models.layers.cache import GridCache
from oplearn.models.layers.spectral_conv import SpectralConv


def test_least_recently_used_entry_is_dropped_first():
    cache: GridCache[int] = GridCache(max_entries=2)
    builds = []

    def build(value):
        builds.append(value)
        return value

    assert cache.get("a", lambda: build(1)) == 1
    assert cache.get("b", lambda: build(2)) == 2
    assert cache.get("a", lambda: build(-1)) == 1  # a hit: not rebuilt, now most recent
    assert cache.get("c", lambda: build(3)) == 3  # drops b
    assert cache.get("b", lambda: build(4)) == 4
    assert builds == [1, 2, 3, 4] and len(cache) == 2
    with pytest.raises(ValueError, match="max_entries"):
        GridCache(0)


def test_spectral_conv_cache_is_bounded_and_results_do_not_depend_on_it():
    conv = SpectralConv(1, 1, modes=4, ndim=1, method="dft")
    x = torch.randn(1, 1, 40)
    first = conv(x)
    for n in range(20, 40):
        conv(torch.randn(1, 1, n))
    assert len(conv._matrices) <= conv._matrices.max_entries
    torch.testing.assert_close(conv(x), first)
