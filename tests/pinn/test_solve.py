"""The physics-informed run: files, exact resume, resampling, causal weights, divergence, and the
command line's checks (exit 2, one line, nothing written)."""

import json

import numpy as np
import pytest
import torch

from oplearn.cli import main
from oplearn.errors import InvalidInputError
from oplearn.pinn import PinnSettings, available, get, solve
from oplearn.pinn import training as solve_module
from oplearn.pinn.objective import Objective, build_model, build_terms

SMALL = dict(points=64, width=8, eval_points=256)


def test_cli_writes_the_run_and_refuses_bad_input_in_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["pinn", "poisson2d", "--out", str(out), "--steps", "3", "--points", "64",
                 "--width", "8", "--quiet"]) == 0
    report = json.loads((out / "report.json").read_text())
    for key in ("rel_l2", "train_seconds", "steps", "stop_reason", "optimizer", "dim", "parameters"):
        assert key in report
    assert report["dim"] == 2 and report["optimizer"] == "gauss-newton" and report["steps"] <= 3
    with np.load(out / "prediction.npz") as data:
        assert data["points"].shape == (4096, 2) and data["u"].shape == (4096,)
    for name in ("solution.png", "loss.png", "metrics.jsonl", "checkpoint.pt"):
        assert (out / name).stat().st_size > 0
    capsys.readouterr()
    for args, message in ((["nope"], "unknown physics-informed problem"),
                          (["poisson2d", "--dim", "3"], "takes no --dim"),
                          (["poisson-twobody", "--dim", "1"], "--dim must be an integer >= 2"),
                          (["poisson-twobody", "--optimizer", "gauss-newton"], "use --optimizer adam"),
                          (["poisson2d", "--optimizer", "sgd"], "--optimizer must be one of"),
                          (["poisson2d", "--dtype", "float16"], "--dtype must be one of"),
                          (["poisson2d", "--device", "tpu"], "--device must be"),
                          (["poisson2d", "--resample", "often"], "resample must be one of"),
                          (["poisson2d", "--schedule", "step"], "--schedule must be one of"),
                          (["burgers", "--causal", "-1"], "--causal must be"),
                          (["poisson2d", "--causal", "1"], "causal weighting needs a time-dependent problem"),
                          (["poisson2d", "--resume"], "nothing to resume"),
                          (["poisson2d", "--steps", "0"], "--steps must be an integer >= 1"),
                          (["poisson2d", "--time-limit", "0"], "--time-limit must be")):
        assert main(["pinn", *args, "--out", str(tmp_path / "bad")]) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (args, err)
        assert not (tmp_path / "bad").exists()
    assert main(["pinn", "poisson2d", "--out", str(out)]) == 2  # an earlier run is never overwritten
    capsys.readouterr()
    assert main(["info", "--pinn"]) == 0
    assert sorted(line.split()[0] for line in capsys.readouterr().out.splitlines()) == available()


def test_a_time_limit_stops_training_and_says_so(tmp_path):
    report = solve("poisson2d", tmp_path / "run", PinnSettings(steps=10_000, time_limit=0.3, **SMALL),
                   progress=False)
    assert report["stop_reason"] == "reached the time limit (0.3 s)"
    assert 1 <= report["steps"] < 10_000 and report["train_seconds"] >= 0.3
    assert json.loads((tmp_path / "run" / "report.json").read_text())["settings"]["time_limit"] == 0.3


def _interrupt_after_first_checkpoint(monkeypatch, name, out, settings, dim=None) -> None:
    """Run ``name`` into ``out`` and kill it (KeyboardInterrupt) right after its first checkpoint."""
    saved = solve_module._save_checkpoint

    def interrupt(out, record, state, objective):
        saved(out, record, state, objective)
        raise KeyboardInterrupt

    monkeypatch.setattr(solve_module, "_save_checkpoint", interrupt)
    with pytest.raises(KeyboardInterrupt):
        solve(name, out, settings, progress=False, dim=dim)
    monkeypatch.setattr(solve_module, "_save_checkpoint", saved)


@pytest.mark.parametrize("optimizer, extra", [("gauss-newton", {}), ("adam", {"schedule": "cosine"}), ("lbfgs", {}),
                                              ("gauss-newton", {"resample": "rad", "resample_every": 2})])
def test_an_interrupted_run_resumes_to_the_same_result_bit_for_bit(tmp_path, monkeypatch, optimizer, extra):
    steps = 120 if optimizer == "lbfgs" else 6
    settings = PinnSettings(optimizer=optimizer, steps=steps, checkpoint_every=steps // 2, **SMALL, **extra)
    whole = solve("poisson2d", tmp_path / "whole", settings, progress=False)
    _interrupt_after_first_checkpoint(monkeypatch, "poisson2d", tmp_path / "cut", settings)
    assert not (tmp_path / "cut" / "report.json").exists()
    with pytest.raises(InvalidInputError, match="other settings"):
        solve("poisson2d", tmp_path / "cut", PinnSettings(optimizer=optimizer, steps=steps + 1, **SMALL),
              progress=False, resume=True)
    resumed = solve("poisson2d", tmp_path / "cut", settings, progress=False, resume=True)
    assert resumed["rel_l2"] == whole["rel_l2"] and resumed["steps"] == whole["steps"]
    with np.load(tmp_path / "whole" / "prediction.npz") as a, np.load(tmp_path / "cut" / "prediction.npz") as b:
        assert np.array_equal(a["u"], b["u"])
    lines = (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["loss"] for x in lines] == \
        [json.loads(x)["loss"] for x in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]


def test_a_checkpoint_written_before_a_setting_existed_resumes_with_its_default(tmp_path, monkeypatch):
    from oplearn.train.io import load_checkpoint, save_checkpoint

    out = tmp_path / "run"
    settings = PinnSettings(steps=4, checkpoint_every=2, **SMALL)
    _interrupt_after_first_checkpoint(monkeypatch, "poisson2d", out, settings)
    ckpt = load_checkpoint(out / "checkpoint.pt")
    del ckpt["settings"]["time_limit"]  # as an older version wrote it
    save_checkpoint(ckpt, out / "checkpoint.pt")
    assert solve("poisson2d", out, settings, progress=False, resume=True)["steps"] == 4


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    out = tmp_path / "run"
    out.mkdir()

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"theta": Evil()}, out / "checkpoint.pt")
    with pytest.raises(InvalidInputError, match="refused"):
        solve("poisson2d", out, PinnSettings(steps=2, **SMALL), progress=False, resume=True)


def _objective(problem, points=256, causal=0.0):
    torch.manual_seed(0)
    model = build_model(problem, 8, 2).double()
    return Objective(problem, model, build_terms(problem, points, "sobol", 0, torch.float64), causal=causal)


def test_the_jacobian_rows_are_the_gradients_of_the_scaled_residuals():
    problem = get("burgers")
    objective = _objective(problem, points=20)
    theta = objective.initial_theta()
    dense = torch.func.jacrev(objective.residuals)(theta)
    torch.testing.assert_close(objective.jacobian(theta), dense, rtol=1e-10, atol=1e-12)
    assert abs(float(objective.loss(theta)) - 0.5 * float((objective.residuals(theta) ** 2).sum())) < 1e-12


def test_causal_weights_follow_the_cumulative_residual_of_earlier_times():
    problem = get("burgers")
    objective = _objective(problem, points=512, causal=5.0)
    theta = objective.initial_theta()
    smallest = objective.update_causal(theta)
    t = objective.terms[0].points[:, -1]
    early, late = objective.scale[t < 1 / 16], objective.scale[t > 15 / 16]
    assert 0 < smallest < 1 and float(late.mean()) < float(early.mean())
    r2 = objective.term_values(theta, objective.terms[0]) ** 2  # the chunk formula, recomputed
    chunk = torch.clamp((t * 16).long(), 0, 15)
    means = torch.stack([r2[chunk == k].mean() for k in range(16)])
    weights = torch.exp(-5.0 * (torch.cumsum(means, 0) - means))
    torch.testing.assert_close(weights.min(), torch.tensor(smallest, dtype=torch.float64))


def test_residual_based_resampling_puts_points_where_the_residual_is_large():
    problem = get("poisson2d")
    objective = _objective(problem, points=512)
    # a network that is exact except near one corner: theta that makes u the exact solution is not
    # at hand, so use the residual's own magnitude at the new points instead
    state = solve_module._State(objective.initial_theta(), 10, [], 0.0, None)
    settings = solve_module.resolve_settings(PinnSettings(points=512, resample="rad", resample_every=10), {})
    candidates = problem.domain.sample(4096, "uniform", 1, torch.float64)
    before = objective.term_values(state.theta, objective.terms[0], candidates,
                                   candidates.new_zeros(4096, 0)).abs().mean()
    solve_module._maybe_resample(objective, state, settings)
    after = objective.term_values(state.theta, objective.terms[0]).abs().mean()
    assert after > 1.2 * before


@pytest.mark.parametrize("optimizer", ["adam", "gauss-newton", "lbfgs"])
def test_divergence_is_reported_not_hidden(tmp_path, optimizer):
    from oplearn.errors import TrainingDivergedError
    from oplearn.pinn import Box, Dirichlet, Problem

    problem = Problem(domain=Box((0,), (1,)), residual=lambda u, x: torch.sqrt(u(x) - 100.0),  # NaN
                      conditions=[Dirichlet(0.0)], exact=lambda x: x[:, 0])
    with pytest.raises(TrainingDivergedError, match="not finite|became nan"):
        solve(problem, tmp_path / "run", PinnSettings(optimizer=optimizer, steps=5, **SMALL), progress=False)
    assert not (tmp_path / "run" / "report.json").exists()


def test_problems_that_cannot_be_evaluated_are_refused_before_training(tmp_path):
    from oplearn.pinn import Box, Dirichlet, Problem

    def problem(**kw):
        base = dict(domain=Box((0,), (1,)), residual=lambda u, x: u(x), conditions=[Dirichlet(0.0)],
                    exact=lambda x: x[:, 0])
        return Problem(**{**base, **kw})

    with pytest.raises(InvalidInputError, match="exact must map"):
        solve(problem(exact=lambda x: x), tmp_path / "a", PinnSettings(steps=1, **SMALL), progress=False)
    with pytest.raises(InvalidInputError, match="evaluation_sampling"):
        problem(evaluation_sampling="sobal")
    with pytest.raises(InvalidInputError, match="observation_weight"):
        problem(observation_weight=-1.0)
    assert not (tmp_path / "a").exists()


def test_resuming_with_another_dim_is_refused(tmp_path, monkeypatch):
    settings = PinnSettings(steps=4, checkpoint_every=2, points=16, width=8, eval_points=64)
    _interrupt_after_first_checkpoint(monkeypatch, "poisson-twobody", tmp_path / "run", settings, dim=3)
    with pytest.raises(InvalidInputError, match="another --dim"):
        solve("poisson-twobody", tmp_path / "run", settings, progress=False, dim=4, resume=True)
