"""Rollouts: windows of trajectories, exact rollouts of known linear dynamics, per-step errors,
and an FNO trained on advection windows that rolls out better than persistence."""

import pytest
import torch

from oplearn.errors import InvalidInputError
from oplearn.pdes import pdebench_advection
from oplearn.train import TrainConfig, load_surrogate, train
from oplearn.train.rollout import (
    evaluate_rollouts,
    from_space_time,
    push_forward,
    pushforward_sources,
    rollout,
    rollout_errors,
    space_time,
    windows,
)


def _shifting(n=3, steps=8, points=16):
    """Trajectories whose field moves one grid point right per step: (N, T, 1, X)."""
    start = torch.randn(n, 1, points, dtype=torch.float64)
    return torch.stack([start.roll(t, dims=-1) for t in range(steps)], dim=1)


def test_windows_are_the_trajectories_cut_in_order():
    traj = _shifting(n=2, steps=6)
    data = windows(traj, history=2, bundle=2)
    assert data.inputs.shape == (2 * 3, 2, 16) and data.outputs.shape == (6, 2, 16)
    assert torch.equal(data.inputs[4], traj[1, 1:3, 0].float())  # sample 1, window start 1
    assert torch.equal(data.outputs[4], traj[1, 3:5, 0].float())
    assert data.provenance["rollout"] == {"history": 2, "bundle": 2, "stride": 1, "windows_per_trajectory": 3}
    assert len(windows(traj, 1, 1, stride=2)) == 2 * 3


@pytest.mark.parametrize(("history", "bundle"), [(1, 1), (2, 3)])
def test_rollout_of_known_linear_dynamics_is_exact(history, bundle):
    traj = _shifting(steps=12)

    def step(x):  # the exact dynamics: the last snapshot, shifted 1..bundle points
        last = x[:, -1:]
        return torch.cat([last.roll(k, dims=-1) for k in range(1, bundle + 1)], dim=1)

    predicted = rollout(step, traj[:, :history], steps=12 - history, bundle=bundle)
    assert predicted.shape == traj[:, history:].shape
    assert torch.equal(predicted, traj[:, history:])
    errors = rollout_errors(predicted, traj[:, history:])
    assert errors["rollout_rel_l2"] == 0 and errors["per_step_rel_l2"] == [0.0] * (12 - history)


def test_two_channels_stay_in_time_major_order():
    """Channel c of snapshot t sits at channel t * C + c of a window; a rollout keeps them apart."""
    base = _shifting(n=2, steps=7)
    traj = torch.cat([base, -10 * base], dim=2)  # (N, T, 2, X): the second channel differs
    data = windows(traj, history=2, bundle=2)
    assert torch.equal(data.inputs[0, 1], traj[0, 0, 1].float()) and not torch.equal(data.inputs[0, 1], data.inputs[0, 2])
    assert torch.equal(data.outputs[0, 2], traj[0, 3, 0].float())  # snapshot 3, channel 0

    def step(x):  # (N, 2 * 2, X) -> (N, 2 * 2, X): the last snapshot's channels, shifted 1 and 2
        last = x[:, 2:4]
        return torch.cat([last.roll(1, dims=-1), last.roll(2, dims=-1)], dim=1)

    assert torch.equal(rollout(step, traj[:, :2], steps=5, bundle=2), traj[:, 2:])
    with pytest.raises(InvalidInputError, match="a bundle of 2 snapshots of 2 channel"):
        rollout(lambda x: x[:, :1], traj[:, :2], steps=5, bundle=2)


def test_rollout_errors_by_hand():
    truth = torch.randn(4, 5, 2, 8)
    errors = rollout_errors(1.1 * truth, truth)
    assert errors["rollout_rel_l2"] == pytest.approx(0.1, rel=1e-5)
    assert errors["final_step_rel_l2"] == pytest.approx(0.1, rel=1e-5) and len(errors["per_step_rel_l2"]) == 5
    with pytest.raises(InvalidInputError, match="differ"):
        rollout_errors(truth[:, :4], truth)
    with pytest.raises(InvalidInputError, match="cannot give"):
        windows(truth, history=4, bundle=2)


def test_an_fno_trained_on_advection_windows_rolls_out_better_than_persistence(tmp_path):
    u, _, _ = pdebench_advection.solve(40, 0.4, resolution=64, steps=21, t_end=0.5, seed=1)
    traj = torch.as_tensor(u, dtype=torch.float32).unsqueeze(2)  # (N, T, 1, X)
    train_set = windows(traj[:32], history=2, bundle=1, provenance={"grid": "periodic"})
    test_set = windows(traj[32:], history=2, bundle=1, provenance={"grid": "periodic"})
    config = TrainConfig(epochs=15, batch_size=32, lr=3e-3, model_kwargs={"modes": 12, "width": 24, "n_layers": 2})
    train(config, train_set, {"64": test_set}, tmp_path / "run", progress=False, figures=False)
    surrogate, _ = load_surrogate(tmp_path / "run")
    predicted = rollout(surrogate.predict, traj[32:, :2], steps=19)
    ours = rollout_errors(predicted, traj[32:, 2:])
    persistence = rollout_errors(traj[32:, 1:2].expand(-1, 19, -1, -1), traj[32:, 2:])
    assert ours["rollout_rel_l2"] < 0.15 * persistence["rollout_rel_l2"], (ours, persistence)


def test_pushforward_sources_are_the_windows_one_bundle_earlier_in_the_same_trajectory():
    traj = _shifting(n=2, steps=6)
    one = windows(traj, history=2, bundle=1)  # 4 windows per trajectory
    assert pushforward_sources(one.provenance, len(one)).tolist() == [-1, 0, 1, 2, -1, 4, 5, 6]
    two = windows(traj, history=1, bundle=2)  # 4 windows per trajectory, the source 2 earlier
    assert pushforward_sources(two.provenance, len(two)).tolist() == [-1, -1, 0, 1, -1, -1, 4, 5]
    with pytest.raises(InvalidInputError, match="stride"):
        strided = windows(traj, history=1, bundle=1, stride=2)
        pushforward_sources(strided.provenance, len(strided))
    with pytest.raises(InvalidInputError, match="--rollout"):
        pushforward_sources({"pde": "darcy"}, 8)


@pytest.mark.parametrize(("history", "bundle"), [(2, 1), (1, 2), (3, 2)])
def test_the_exact_dynamics_pushed_forward_reproduces_the_true_inputs(history, bundle):
    data = windows(_shifting(steps=9), history=history, bundle=bundle)

    def step(x):  # the exact dynamics of the windows
        last = x[:, -1:]
        return torch.cat([last.roll(k, dims=-1) for k in range(1, bundle + 1)], dim=1)

    sources = pushforward_sources(data.provenance, len(data))
    have = sources >= 0
    pushed = push_forward(step, data.inputs[have], data.inputs[sources[have]])
    assert torch.equal(pushed, data.inputs[have])
    wrong = push_forward(lambda x: torch.zeros_like(x[:, :bundle]), data.inputs[have], data.inputs[sources[have]])
    kept = max(0, history - bundle)
    assert torch.equal(wrong[:, :kept], data.inputs[have][:, :kept]) and not wrong[:, kept:].any()


def test_pushforward_training_resumes_to_the_same_model_and_is_refused_off_windows(tmp_path, monkeypatch):
    from oplearn.train import trainer

    traj = _shifting(n=6, steps=10).float()
    data = windows(traj, history=2, bundle=1, provenance={"grid": "periodic"})
    config = TrainConfig(epochs=3, batch_size=8, pushforward=0.5,
                         model_kwargs={"modes": 4, "width": 8, "n_layers": 1})
    full = train(config, data, {}, tmp_path / "full", progress=False, figures=False)
    calls = []
    original = trainer._pushed_inputs
    monkeypatch.setattr(trainer, "_pushed_inputs", lambda *a: calls.append(1) or original(*a))
    save = trainer.save_checkpoint

    def stop_after_first(*args):
        save(*args)
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "save_checkpoint", stop_after_first)
    with pytest.raises(KeyboardInterrupt):
        train(config, data, {}, tmp_path / "cut", progress=False, figures=False)
    monkeypatch.setattr(trainer, "save_checkpoint", save)
    resumed = train(config, data, {}, tmp_path / "cut", resume=True, progress=False, figures=False)
    assert calls, "no batch was pushed forward"
    assert resumed["train_loss"] == full["train_loss"]
    with pytest.raises(InvalidInputError, match="--rollout"):
        from oplearn.data.dataset import FieldDataset

        plain = FieldDataset(data.inputs, data.outputs, {"grid": "periodic"})
        train(config, plain, {}, tmp_path / "plain", progress=False, figures=False)
    with pytest.raises(InvalidInputError, match="pushforward must be"):
        TrainConfig(pushforward=1.5)


def test_space_time_form_puts_time_on_the_first_axis_and_an_exact_model_scores_zero():
    traj = _shifting(n=2, steps=7)  # (2, 7, 1, 16)
    data = space_time(traj, history=3)
    assert data.inputs.shape == (2, 3, 4, 16) and data.outputs.shape == (2, 1, 4, 16)
    assert torch.equal(data.inputs[1, :, 2], traj[1, :3, 0].float())  # the given snapshots, at every time
    assert torch.equal(data.outputs[1, 0, 2], traj[1, 5, 0].float())  # predicted time 2 is snapshot 3 + 2
    assert torch.equal(from_space_time(data.outputs), traj[:, 3:].float())
    assert data.provenance["space_time"] == {"history": 3, "steps": 4}

    def exact(inputs):  # the last given snapshot shifted 1, 2, ... points: (N, 1, T', X)
        last = inputs[:, -1, 0]
        return torch.stack([last.roll(k + 1, dims=-1) for k in range(inputs.shape[2])], dim=1)[:, None]

    report, predicted = evaluate_rollouts(exact, traj.float(), 3, spacetime=True)
    assert report["rollout_rel_l2"] == 0 and torch.equal(predicted, traj[:, 3:].float())
