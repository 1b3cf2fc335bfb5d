"""The command line: help everywhere, one-line errors with exit code 2, a full small round trip."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from oplearn.cli import _merge, main
from oplearn.data.dataset import load
from oplearn.data.hdf5 import write_file
from oplearn.models import available, build
from oplearn.run import load_preset
from oplearn.train.trainer import count_parameters

SMALL_MODEL = ["--modes", "4", "--width", "8", "--layers", "2"]


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code, err, match):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("oplearn: error:"), err
    assert match in lines[0], lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize("command", [[], ["generate"], ["info"], ["train"], ["evaluate"], ["run"], ["pinn"], ["data"], ["data", "verify"], ["data", "merge"]])
def test_every_command_has_help(capsys, command):
    code, out, _ = run_cli(capsys, *command, "--help")
    assert code == 0 and "Usage:" in out


def test_info_lists_every_pde_with_its_solvers_and_devices(capsys):
    from oplearn import pdes

    code, out, _ = run_cli(capsys, "info", "--pdes")
    rows = {line.split()[0]: line for line in out.strip().splitlines()}
    assert code == 0 and sorted(rows) == pdes.available()
    assert "solver: auto, direct, amg, mg" in rows["darcy"] and "cuda (mg)" in rows["darcy"]
    assert "device: cpu, cuda " in rows["navier-stokes"] and "cuda" not in rows["helmholtz"]
    assert "solver: - " in rows["burgers"]  # time-dependent problems take no --solver


def test_console_script_exit_code_and_single_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "oplearn.cli", "info", str(tmp_path / "nope.h5")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "no such file" in proc.stderr


@pytest.fixture(scope="module")
def darcy_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("darcy")
    for name, samples, seed in (("train.h5", 24, 0), ("test.h5", 6, 1)):
        assert main(["generate", "darcy", "--samples", str(samples), "--resolution", "17",
                     "--seed", str(seed), "--out", str(folder / name), "--quiet"]) == 0
    return folder


def test_generate_info_train_evaluate_round_trip(capsys, tmp_path, darcy_files):
    code, out, _ = run_cli(capsys, "info", darcy_files / "train.h5")
    assert code == 0 and "(24, 1, 17, 17)" in out and '"darcy"' in out
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "--data", darcy_files / "train.h5", "--test-data",
                             darcy_files / "test.h5", "--test-data", darcy_files / "train.h5",
                             "--subsample", "2", "--epochs", "2", "--out", run, "--quiet",
                             *SMALL_MODEL)
    assert code == 0, err
    report = json.loads((run / "report.json").read_text())
    assert set(report["test_rel_l2"]) == {"17", "17-train"} and report["train_resolution"] == 9
    code, out, _ = run_cli(capsys, "evaluate", run, "--data", darcy_files / "test.h5")
    assert code == 0 and "s = 17" in out and "float32" in out
    code, out, _ = run_cli(capsys, "evaluate", run, "--data", darcy_files / "test.h5", "--precision", "bfloat16")
    exact, reduced = (json.loads((run / f"evaluation_s17_test{suffix}.json").read_text())
                      for suffix in ("", "_bfloat16"))
    assert code == 0 and reduced["precision"] == "bfloat16" and reduced["ms_per_sample"] > 0
    assert abs(reduced["test_rel_l2"] - exact["test_rel_l2"]) < 0.05 * exact["test_rel_l2"]
    code, out, err = run_cli(capsys, "train", "--data", darcy_files / "train.h5", "--out", run,
                             "--epochs", "2")
    assert_one_line_error(code, err, "--resume")


def test_train_holds_out_part_of_the_data_and_reads_yaml_config(capsys, tmp_path, darcy_files):
    config = tmp_path / "config.yaml"
    config.write_text("epochs: 1\nbatch_size: 5\nmodel_kwargs: {modes: 3, width: 4}\n")
    code, _, err = run_cli(capsys, "train", "--data", darcy_files / "train.h5", "--config", config,
                           "--holdout", "0.25", "--out", tmp_path / "run", "--quiet")
    assert code == 0, err
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["train_samples"] == 18 and report["epochs"] == 1
    assert report["config"]["model_kwargs"] == {"modes": 3, "width": 4}


def test_trains_on_a_neuraloperator_file(capsys, tmp_path, make_neuraloperator_pt):
    code, _, err = run_cli(capsys, "train", "--data", make_neuraloperator_pt(n=10, s=16),
                           "--epochs", "1", "--out", tmp_path / "run", "--quiet", *SMALL_MODEL)
    assert code == 0, err


def _nan_file(path):
    x = np.ones((4, 1, 9, 9), dtype=np.float32)
    y = x.copy()
    y[1, 0, 3, 3] = np.nan
    write_file(path, x, y, {"pde": "darcy", "grid": "node", "resolution": 9})
    return path


def _three_channel_file(path):
    x = np.ones((4, 3, 17, 17), dtype=np.float32)
    write_file(path, x, x[:, :1], {"pde": "other", "grid": "node", "resolution": 17})
    return path


@pytest.mark.parametrize("case", ["missing", "corrupt", "nan", "channels", "epochs", "model",
                                  "shard", "pde", "config", "device", "chunk", "info"])
def test_bad_input_gives_one_line_exit_2_and_writes_nothing(capsys, tmp_path, darcy_files, case):
    out = tmp_path / "out"
    train = ["train", "--data", darcy_files / "train.h5", "--out", out, "--quiet"]
    corrupt = tmp_path / "corrupt.h5"
    corrupt.write_bytes(b"not an hdf5 file at all")
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("epochs: [1\n")
    cases = {
        "missing": (["train", "--data", tmp_path / "none.h5", "--out", out], "no such file"),
        "corrupt": (["train", "--data", corrupt, "--out", out], "not a readable HDF5"),
        "nan": (["train", "--data", _nan_file(tmp_path / "nan.h5"), "--out", out], "NaN"),
        "channels": (train + ["--test-data", _three_channel_file(tmp_path / "c3.h5")], "in_channels"),
        "epochs": (train + ["--epochs", "0"], "--epochs"),
        "model": (train + ["--model", "nope"], "unknown model"),
        "shard": (["generate", "darcy", "--samples", "4", "--resolution", "9", "--shard", "3/2",
                   "--out", out / "x.h5"], "0 <= k < n"),
        "pde": (["generate", "nope", "--samples", "4", "--resolution", "9", "--out", tmp_path / "x.h5"],
                "unknown PDE"),
        "config": (train + ["--config", bad_yaml], "invalid YAML"),
        "device": (train + ["--device", "cuda"] if not torch.cuda.is_available()
                   else train + ["--device", "tpu9"], "device"),
        "chunk": (["generate", "darcy", "--samples", "4", "--resolution", "9", "--chunk-size", "0",
                   "--out", out / "x.h5"], "--chunk-size"),
        "info": (["info", "--pdes", "--models"], "one of them"),
    }
    args, match = cases[case]
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = run_cli(capsys, *args)
    assert_one_line_error(code, err, match)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_run_darcy_end_to_end_writes_the_report(capsys, tmp_path):
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, "run", "darcy", "--out", out, "--train-samples", "16",
                                "--test-samples", "4", "--workers", "1", "--epochs", "1",
                                "--quiet", *SMALL_MODEL)
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    for key in ("test_rel_l2", "parameters", "train_seconds", "timing"):
        assert key in report
    assert set(report["test_rel_l2"]) == {"33", "65"}
    timing = report["timing"]
    solver, model = timing["solver"], timing["model"]
    # one at a time: the direct solver (auto's one-sample choice at 65); in generation's batches
    # of 8: multigrid, as the data were made; the model at the same batch sizes on the 65 grid
    assert solver["one_at_a_time"]["solver"] == "direct" and solver["one_at_a_time"]["batch"] == 1
    assert solver["batched"]["solver"] == "mg" and solver["batched"]["batch"] == 8
    assert solver["batched"]["resolution"] == 65 and model["resolution"] == 65
    assert model["one_at_a_time"]["batch"] == 1 and model["batched"]["batch"] == 8
    for mode in ("one_at_a_time", "batched"):
        ratio = solver[mode]["seconds_per_sample"] / model[mode]["seconds_per_sample"]
        assert abs(timing[f"speedup_{mode}"] - ratio) < 1e-9 * ratio
        verdict = f"{ratio:.1f}x faster" if ratio >= 1 else f"{1 / ratio:.1f}x slower"
        assert f"the model is {verdict}" in stdout
    assert "solver (direct, batch 1, 65 points/axis, cpu)" in stdout and "solver (mg, batch 8" in stdout
    assert "model (batch 8, s = 65, cpu)" in stdout
    assert (out / "predictions_s65.png").exists() and (out / "data" / "train.h5").exists()


@pytest.mark.parametrize("pde, channels", [("poisson", 1), ("helmholtz", 2),
                                           ("advection-diffusion", 3), ("high-contrast", 1)])
def test_elliptic_presets_run_end_to_end(capsys, tmp_path, pde, channels):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "run", pde, "--out", out, "--train-samples", "8",
                           "--test-samples", "4", "--workers", "1", "--epochs", "1",
                           "--quiet", *SMALL_MODEL)
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert set(report["test_rel_l2"]) == {"33", "65"}
    assert all(np.isfinite(v) for v in report["test_rel_l2"].values())
    assert load(out / "data" / "train.h5").inputs.shape[1:] == (channels, 65, 65)


def test_another_model_starts_from_its_own_defaults(capsys, tmp_path):
    """The preset's FNO options (modes, ...) are not passed to a model that lacks them."""
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "run", "darcy", "--out", out, "--train-samples", "8",
                           "--test-samples", "4", "--workers", "1", "--epochs", "1", "--quiet",
                           "--model", "fno", "--model-option", "n_layers=1",
                           "--model-option", "width=4")
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    kwargs = report["config"]["model_kwargs"]
    assert report["model"] == "fno" and kwargs["width"] == 4 and kwargs["n_layers"] == 1
    assert kwargs["modes"] == 12  # same model: the preset's other options stay
    preset = {"model": "fno", "model_kwargs": {"modes": 12}}
    assert _merge(preset, {"model": "unet"})["model_kwargs"] == {}
    assert _merge(preset, {"model_kwargs": {"width": 8}})["model_kwargs"] == {"modes": 12, "width": 8}
    transformer = {"model": "galerkin-transformer", "model_kwargs": {"hidden": 64}}
    assert _merge(transformer, {"model_kwargs": {"width": 32}})["model_kwargs"] == {"hidden": 32}
    code, text, _ = run_cli(capsys, "info", "--models")
    assert code == 0 and text.splitlines()[0].split()[0] in available()
    assert len(text.splitlines()) == len(available())
    code, text, _ = run_cli(capsys, "info", "--models", "unet", "galerkin-transformer")
    assert code == 0 and "    levels = 3" in text and "not taken: --layers, --modes, --padding" in text
    assert "    hidden = 32   also --width" in text


def test_paper_preset_is_the_fno_paper_setting():
    preset = load_preset("darcy", "paper")
    assert preset["resolution"] == 421 and (421 - 1) // preset["train_subsample"] + 1 == 85
    assert preset["train_samples"] == 1000 and preset["test_samples"] == 100
    train = preset["train"]
    assert train["epochs"] == 500 and train["model_kwargs"]["modes"] == 12
    assert train["model_kwargs"]["width"] == 32


def test_burgers_generate_and_run_in_one_dimension(capsys, tmp_path):
    out = tmp_path / "b.h5"
    code, _, err = run_cli(capsys, "generate", "burgers", "--samples", "24", "--resolution", "64",
                           "--out", out, "--param", "solver_resolution=256", "--param", "t=0.5", "--quiet")
    assert code == 0, err
    code, text, _ = run_cli(capsys, "info", out)
    assert code == 0 and "(24, 1, 64)" in text and '"t": 0.5' in text
    code, _, err = run_cli(capsys, "train", "--data", out, "--subsample", "2", "--epochs", "2",
                           "--out", tmp_path / "run", "--quiet", *SMALL_MODEL)
    assert code == 0, err
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["train_resolution"] == 32 and (tmp_path / "run" / "predictions_s32.png").exists()


@pytest.mark.parametrize("args, match", [
    (["--resolution", "100"], "must divide"),
    (["--resolution", "64", "--param", "nu=-1"], "nu must be > 0"),
    (["--resolution", "64", "--param", "nu"], "KEY=VALUE"),
    (["--resolution", "64", "--param", "viscosity=1"], "unknown parameter"),
    (["--resolution", "64", "--solver", "amg"], "unknown parameter"),
])
def test_burgers_bad_settings_write_nothing(capsys, tmp_path, args, match):
    code, _, err = run_cli(capsys, "generate", "burgers", "--samples", "4", "--out", tmp_path / "b.h5",
                           "--quiet", *args)
    assert_one_line_error(code, err, match)
    assert list(tmp_path.iterdir()) == []


def _left_behind(tmp_path, before):
    return sorted(set(p.name for p in tmp_path.iterdir()) - before)


@pytest.mark.parametrize("pde", __import__("oplearn.pdes", fromlist=["available"]).available())
def test_every_bad_parameter_of_every_problem_is_one_line_and_leaves_nothing(capsys, tmp_path, pde):
    """Each declared parameter, given a value of the wrong type or outside its range, is refused
    before anything is created, by `generate` (exit 2, one line naming the parameter)."""
    from oplearn import pdes

    problem = pdes.get(pde)
    before = set(p.name for p in tmp_path.iterdir())
    resolution = 64 if problem.grid == "periodic" else 17
    tried = 0
    for key, spec in problem.parameters.items():
        for bad in spec.invalid_examples():
            code, _, err = run_cli(capsys, "generate", pde, "--samples", "2", "--resolution",
                                   resolution, "--out", tmp_path / "x.h5", "--quiet",
                                   "--param", f"{key}={bad}")
            assert_one_line_error(code, err, key)
            assert _left_behind(tmp_path, before) == [], (key, bad)
            tried += 1
    assert tried >= 2 * len(problem.parameters)


def test_a_refused_parameter_leaves_no_record_that_blocks_the_corrected_run(capsys, tmp_path):
    out = tmp_path / "d.h5"
    code, _, err = run_cli(capsys, "generate", "darcy", "--samples", "2", "--resolution", "9",
                           "--out", out, "--quiet", "--param", "alpha=abc")
    assert_one_line_error(code, err, "alpha must be a number, got 'abc'")
    code, _, err = run_cli(capsys, "generate", "darcy", "--samples", "2", "--resolution", "9",
                           "--out", out, "--quiet", "--param", "a_low=0")
    assert_one_line_error(code, err, "a_low must be > 0, got 0")
    assert list(tmp_path.iterdir()) == []
    code, _, err = run_cli(capsys, "generate", "darcy", "--samples", "2", "--resolution", "9",
                           "--out", out, "--quiet", "--param", "a_low=1")
    assert code == 0, err


@pytest.mark.parametrize("model", available())
def test_run_checks_every_model_and_option_before_any_data(capsys, tmp_path, model):
    """`oplearn run` builds the model for the data first: a bad option of any model (and an
    unknown model) is refused in one line before a single sample is solved or a file written."""
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "run", "darcy", "--out", out, "--quiet", "--model", model,
                           "--model-option", "no_such_option=1")
    assert_one_line_error(code, err, "no_such_option")
    code, _, err = run_cli(capsys, "run", "burgers", "--out", out, "--quiet", "--model", model,
                           "--model-option", "width=-1")  # every model's width (a transformer's hidden)
    assert_one_line_error(code, err, f"model '{model}' cannot be built with")
    assert list(tmp_path.iterdir()) == []


def test_run_refuses_an_unknown_model_and_generic_options_a_model_lacks(capsys, tmp_path):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "run", "darcy", "--out", out, "--quiet", "--model", "nope")
    assert_one_line_error(code, err, "unknown model 'nope'")
    code, _, err = run_cli(capsys, "run", "darcy", "--out", out, "--quiet", "--model", "unet",
                           "--layers", "2")
    assert_one_line_error(code, err, "model 'unet' has no option 'n_layers'; its options: width=24")
    code, _, err = run_cli(capsys, "run", "darcy", "--out", out, "--quiet", "--model", "local-no",
                           "--modes", "4")
    assert_one_line_error(code, err, "has no option 'modes'")
    assert list(tmp_path.iterdir()) == []


def test_generic_options_map_to_each_models_own_names(capsys, tmp_path, darcy_files):
    for model, flag, value, own in (("galerkin-transformer", "--width", 16, "hidden"),
                                    ("deeponet", "--layers", 2, "depth")):
        out = tmp_path / model
        code, _, err = run_cli(capsys, "train", "--data", darcy_files / "train.h5", "--out", out,
                               "--epochs", "1", "--quiet", "--model", model, flag, value)
        assert code == 0, err
        report = json.loads((out / "report.json").read_text())
        kwargs = report["config"]["model_kwargs"]  # the transformer's modes also cut to the 17-point grid
        assert kwargs[own] == value and set(kwargs) <= {own, "modes"}
        direct = build(model, **kwargs)  # the model's own name for the same option
        assert report["parameters"] == count_parameters(direct) != count_parameters(build(model, **{**kwargs, own: 2 * value}))


def test_info_shows_a_problems_parameters_with_defaults_and_ranges(capsys):
    code, text, _ = run_cli(capsys, "info", "--pdes", "burgers", "darcy")
    assert code == 0
    assert "    alpha = 2.0 (> 0)" in text and "    solver_resolution = 8192 (an integer >= 4)" in text
    assert "    solver = 'auto' (one of auto, direct, amg, mg)" in text
    code, _, err = run_cli(capsys, "info", "--pdes", "nope")
    assert_one_line_error(code, err, "unknown PDE 'nope'")


def test_info_describes_a_single_shard_and_training_refuses_an_incomplete_set(capsys, tmp_path):
    paths = [tmp_path / f"s{k}.h5" for k in range(3)]
    for k in (0, 2):
        assert main(["generate", "darcy", "--samples", "6", "--resolution", "9", "--shard", f"{k}/3",
                     "--out", str(paths[k]), "--quiet"]) == 0
    code, text, _ = run_cli(capsys, "info", paths[2])
    assert code == 0 and "samples:    2" in text and '"ranges": [[4, 6]]' in text
    code, _, err = run_cli(capsys, "train", "--data", paths[0], "--data", paths[2], "--out",
                           tmp_path / "run", "--quiet")
    assert_one_line_error(code, err, "samples 2..3 of 6 are missing")
    assert not (tmp_path / "run").exists()


def test_run_refuses_a_device_and_existing_data_of_other_settings_before_any_work(capsys, tmp_path):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "run", "darcy", "--out", out, "--quiet", "--device", "mps")
    assert_one_line_error(code, err, "--device must be cpu, cuda or auto")
    assert not out.exists()
    (out / "data").mkdir(parents=True)
    assert main(["generate", "darcy", "--samples", "3", "--resolution", "9", "--out",
                 str(out / "data" / "test.h5"), "--quiet"]) == 0
    code, _, err = run_cli(capsys, "run", "darcy", "--out", out, "--quiet", "--train-samples", "4",
                           "--test-samples", "2")
    assert_one_line_error(code, err, "exists with different settings")
    assert sorted(p.name for p in (out / "data").iterdir()) == ["test.h5"]  # no training data made


def test_run_resumed_before_its_first_checkpoint_trains_afresh(capsys, tmp_path):
    out = tmp_path / "run"
    args = ["run", "darcy", "--out", out, "--train-samples", "8", "--test-samples", "4",
            "--workers", "1", "--epochs", "1", "--quiet", *SMALL_MODEL]
    (out / "data").mkdir(parents=True)  # as if a run had been stopped while generating its data
    code, _, err = run_cli(capsys, *args, "--resume")
    assert code == 0, err
    assert (out / "checkpoint.pt").exists()


def test_unreadable_param_values_are_one_line(capsys, tmp_path):
    code, _, err = run_cli(capsys, "generate", "darcy", "--samples", "2", "--resolution", "9",
                           "--out", tmp_path / "x.h5", "--param", "alpha=[1")
    assert_one_line_error(code, err, "--param alpha: cannot read the value '[1'")
