"""Exact DMD recovers the eigenvalues of a known linear system and rolls it out exactly."""

import math

import pytest
import torch

from oplearn.errors import InvalidInputError
from oplearn.models.dmd import ExactDMD

_RADII = torch.tensor([0.9, 0.9, 0.8, 0.8, 0.95, 0.7], dtype=torch.float64)
_ANGLES = torch.tensor([0.3, -0.3, 1.1, -1.1, 0.0, 0.0], dtype=torch.float64)
EIGENVALUES = torch.polar(_RADII, _ANGLES)  # complex128


def _system(n=50):
    """A real n x n map of rank 6 with EIGENVALUES (rotation blocks), in a random orthonormal basis."""
    torch.manual_seed(0)
    blocks = torch.zeros(6, 6, dtype=torch.float64)
    for i, (r, theta) in enumerate(((0.9, 0.3), (0.8, 1.1))):
        c, s = r * math.cos(theta), r * math.sin(theta)
        blocks[2 * i:2 * i + 2, 2 * i:2 * i + 2] = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    blocks[4, 4], blocks[5, 5] = 0.95, 0.7
    mix = torch.randn(6, 6, dtype=torch.float64) + 3 * torch.eye(6, dtype=torch.float64)  # non-normal
    small = mix @ blocks @ torch.linalg.inv(mix)
    q, _ = torch.linalg.qr(torch.randn(n, 6, dtype=torch.float64))
    return q @ small @ q.T, q


def _trajectories(m, q, samples=4, steps=12):
    x = (q @ torch.randn(6, samples, dtype=torch.float64)).T  # states in the system's range
    states = [x]
    for _ in range(steps - 1):
        states.append(states[-1] @ m.T)
    return torch.stack(states, dim=1).view(samples, steps, 2, 25)  # (N, T, C, X)


def _sorted(values):
    return values[torch.argsort(values.real * 10 + values.imag)]


def test_eigenvalues_of_a_linear_system_to_1e_8():
    m, q = _system()
    dmd = ExactDMD().fit(_trajectories(m, q))
    assert dmd.reduced.shape == (6, 6)  # the rank found from the singular values
    found = dmd.eigenvalues()
    assert float((_sorted(found) - _sorted(EIGENVALUES)).abs().max()) < 1e-8


def test_rollout_of_the_linear_system_is_exact():
    m, q = _system()
    train, test = _trajectories(m, q), _trajectories(m, q, samples=2, steps=30)
    dmd = ExactDMD(rank=6).fit(train)
    predicted = dmd.rollout(test[:, 0], 29)
    torch.testing.assert_close(predicted, test[:, 1:], rtol=0, atol=1e-10)


def test_float32_data_find_their_rank_and_a_fitted_model_saves_and_loads(tmp_path):
    m, q = _system()
    dmd = ExactDMD().fit(_trajectories(m, q).float())
    assert dmd.reduced.shape == (6, 6)  # rounding noise of float32 not fitted
    torch.save(dmd.state_dict(), tmp_path / "dmd.pt")
    loaded = ExactDMD()
    loaded.load_state_dict(torch.load(tmp_path / "dmd.pt", weights_only=True))
    x = torch.randn(3, 2, 25)
    assert loaded.field_shape == (2, 25) and torch.equal(loaded(x), dmd(x))


def test_misuse_is_refused():
    with pytest.raises(InvalidInputError, match="not fitted"):
        ExactDMD()(torch.zeros(1, 2, 25))
    with pytest.raises(InvalidInputError, match="T >= 2"):
        ExactDMD().fit(torch.zeros(2, 1, 2, 25))
    dmd = ExactDMD().fit(torch.randn(2, 5, 1, 8, dtype=torch.float64))
    with pytest.raises(InvalidInputError, match="fitted on fields"):
        dmd(torch.zeros(1, 1, 9))
    with pytest.raises(InvalidInputError, match="rank"):
        ExactDMD(rank=0)
