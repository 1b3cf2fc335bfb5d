"""Inference with a trained model: chunked CPU inference and bfloat16 give the same fields."""

import pytest
import torch

from oplearn.errors import InvalidInputError
from oplearn.models import build
from oplearn.train import ChannelNormalizer, Surrogate
from oplearn.train.surrogate import CPU_CHUNK_POINTS, chunk_size


def _surrogate() -> Surrogate:
    torch.manual_seed(0)
    model = build("fno", modes=6, width=16, n_layers=2, projection_channels=32)
    x = torch.rand(8, 1, 33, 33) * 9 + 3
    y = torch.randn(8, 1, 33, 33) * 0.01 + 0.05
    return Surrogate(model, ChannelNormalizer.fit(x), ChannelNormalizer.fit(y))


def test_chunk_size_keeps_cpu_calls_under_the_point_budget():
    cpu = torch.device("cpu")
    assert chunk_size((65, 65), 100, cpu) == CPU_CHUNK_POINTS // 65**2 >= 1
    assert chunk_size((65, 65), 100, cpu, "bfloat16") == 2 * CPU_CHUNK_POINTS // 65**2
    assert chunk_size((33, 33), 100, cpu) == CPU_CHUNK_POINTS // 33**2
    assert chunk_size((33, 33), 3, cpu) == 3  # never more than asked for
    assert chunk_size((1024, 1024), 16, cpu) == 1  # at least one sample
    assert chunk_size((65, 65), 100, torch.device("meta")) == 100  # accelerators take the batch


def test_chunked_prediction_equals_one_call():
    surrogate = _surrogate()
    x = torch.rand(12, 1, 33, 33) * 9 + 3
    chunked = surrogate.predict(x, batch_size=12)
    whole = surrogate.predict(x, batch_size=12, chunked=False)
    assert chunked.shape == (12, 1, 33, 33) and chunked.dtype == torch.float32
    torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-7)


def test_bfloat16_prediction_is_close_and_returned_as_float32():
    surrogate = _surrogate()
    x = torch.rand(4, 1, 33, 33) * 9 + 3
    exact = surrogate.predict(x)
    reduced = surrogate.predict(x, precision="bfloat16")
    assert reduced.dtype == torch.float32
    assert float((reduced - exact).norm() / exact.norm()) < 2e-2


def test_unknown_precision_is_refused():
    with pytest.raises(InvalidInputError, match="precision"):
        _surrogate().predict(torch.rand(1, 1, 33, 33), precision="float16")
