"""PDEBench's metrics against their definitions, on fields whose errors are known by hand."""

import math

import pytest
import torch

from oplearn.errors import InvalidInputError
from oplearn.train.pdebench_metrics import pdebench_metrics


def _grid(n):
    return torch.arange(n, dtype=torch.float64) / n


def test_a_constant_error_in_1d():
    x = _grid(64)
    y = (torch.sin(2 * math.pi * x) + 2).expand(3, 2, 1, 64)
    c = 0.01
    m = pdebench_metrics(y + c, y)
    rms_y = math.sqrt(4 + 0.5)  # mean of (sin + 2)^2 over whole periods
    for name in ("rmse", "crmse", "brmse", "max"):
        assert m[name] == pytest.approx(c, rel=1e-12)
    assert m["nrmse"] == pytest.approx(c / rms_y, rel=1e-12)
    assert m["frmse_low"] == pytest.approx(c / 4, rel=1e-12)  # all of it in mode 0 of modes 0..3
    assert m["frmse_mid"] == pytest.approx(0, abs=1e-15) and m["frmse_high"] == pytest.approx(0, abs=1e-15)


def test_a_single_mode_error_lands_in_its_band():
    x = _grid(64)
    y = torch.ones(2, 1, 1, 64, dtype=torch.float64)
    a = 0.3
    for k, band in ((5, "frmse_mid"), (20, "frmse_high")):
        e = a * torch.sin(2 * math.pi * k * x)
        m = pdebench_metrics(y + e, y)
        assert m["rmse"] == pytest.approx(a / math.sqrt(2), rel=1e-12)
        modes_in_band = 8 if band == "frmse_mid" else 64 // 2 + 1 - 12
        assert m[band] == pytest.approx(a / 2 / modes_in_band, rel=1e-12)  # |F_k| = a N / 2
        assert m["frmse_low"] == pytest.approx(0, abs=1e-15)
        assert m["brmse"] == pytest.approx(abs(float(e[-1])) / math.sqrt(2), rel=1e-12)
        assert m["max"] == pytest.approx(float(e.abs().max()), rel=1e-12)


def test_2d_constant_error_edges_and_shells():
    y = torch.rand(2, 3, 2, 32, 16, dtype=torch.float64) + 1
    c = 0.2
    m = pdebench_metrics(y + c, y)
    assert m["brmse"] == pytest.approx(c, rel=1e-12) and m["crmse"] == pytest.approx(c, rel=1e-12)
    assert m["frmse_low"] == pytest.approx(c / 4, rel=1e-12)  # shell 0 of shells 0..3
    assert m["frmse_mid"] == pytest.approx(0, abs=1e-14)
    assert m["frmse_high"] is None  # min(32, 16) // 2 = 8 shells: none from 12 on


def test_the_crmse_sees_only_the_mean_and_the_first_steps_can_be_dropped():
    x = _grid(32)
    y = torch.zeros(1, 3, 1, 32, dtype=torch.float64)
    p = y.clone()
    p[:, 1:] = torch.cos(2 * math.pi * x)  # zero mean: no conserved-quantity error
    p[:, 0] = 5.0  # a wrong given step, dropped below
    m = pdebench_metrics(p, y + 1, first_step=1)
    assert m["crmse"] == pytest.approx(1.0, rel=1e-12)
    assert m["nrmse"] == pytest.approx(math.sqrt(1 + 0.5), rel=1e-12)


def test_bad_input_is_refused():
    with pytest.raises(InvalidInputError, match="shape"):
        pdebench_metrics(torch.zeros(1, 2, 1, 8), torch.zeros(1, 2, 1, 9))
    with pytest.raises(InvalidInputError, match="first_step"):
        pdebench_metrics(torch.zeros(1, 2, 1, 8), torch.ones(1, 2, 1, 8), first_step=2)


def test_samples_are_reduced_as_pdebench_reduces_them():
    """Two samples with constant errors 0.01 and 0.03: means for rmse and brmse, a root mean
    square for crmse and the spectrum, the maximum for max."""
    y = torch.ones(2, 1, 1, 16, dtype=torch.float64)
    p = y + torch.tensor([0.01, 0.03], dtype=torch.float64).view(2, 1, 1, 1)
    m = pdebench_metrics(p, y)
    assert m["rmse"] == pytest.approx(0.02, rel=1e-12) and m["brmse"] == pytest.approx(0.02, rel=1e-12)
    assert m["nrmse"] == pytest.approx(0.02, rel=1e-12) and m["max"] == pytest.approx(0.03, rel=1e-12)
    assert m["crmse"] == pytest.approx(math.sqrt(5e-4), rel=1e-12)
    assert m["frmse_low"] == pytest.approx(math.sqrt(5e-4) / 4, rel=1e-12)


def test_2d_boundary_error_counts_only_the_edges():
    y = torch.ones(1, 1, 1, 8, 6, dtype=torch.float64)
    inner, edge = y.clone(), y.clone()
    inner[..., 3, 2] += 1.0
    edge[..., 0, :] += 1.0  # one whole edge of 6 points
    assert pdebench_metrics(inner, y)["brmse"] == 0
    # its 6 points, and its two corners once more on the edges that cross it
    assert pdebench_metrics(edge, y)["brmse"] == pytest.approx(math.sqrt((6 + 2) / (2 * 8 + 2 * 6)), rel=1e-12)
