"""Shared fixtures: small synthetic datasets written in oplearn's and neuraloperator's formats."""

import numpy as np
import pytest
import torch

from oplearn.data.hdf5 import write_file


def _provenance(resolution: int, **extra):
    total = extra.pop("samples_total", 8)
    return {"pde": "synthetic", "params": {}, "grid": "node", "ndim": 2, "resolution": resolution,
            "seed": 0, "samples_total": total,
            "shard": {"index": 0, "count": 1, "start": 0, "stop": total}, **extra}


@pytest.fixture
def make_h5(tmp_path):
    """Write an oplearn file of a smooth linear operator (output = smoothed input)."""

    def make(name="data.h5", n=8, s=17, channels=1, nan=False):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, channels, s, s)).astype(np.float32)
        y = np.cumsum(x, axis=-1) / s
        if nan:
            y[0, 0, 0, 0] = np.nan
        path = tmp_path / name
        write_file(path, x, y, _provenance(s, samples_total=n))
        return path

    return make


@pytest.fixture
def make_neuraloperator_pt(tmp_path):
    """Write a file in the neuraloperator library's Darcy format: dict of x (0/1 mask) and y."""

    def make(name="darcy_test_16.pt", n=6, s=16):
        gen = torch.Generator().manual_seed(0)
        x = (torch.rand(n, s, s, generator=gen) > 0.5).float()
        y = torch.rand(n, s, s, generator=gen)
        path = tmp_path / name
        torch.save({"x": x, "y": y}, path)
        return path

    return make
