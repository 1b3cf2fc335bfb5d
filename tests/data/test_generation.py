"""Generation is reproducible bit for bit: across workers, shards, reruns and interruptions."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from oplearn.data import generate, load
from oplearn.data.hdf5 import read_provenance
from oplearn.errors import DataFileError, InvalidInputError
from oplearn.pdes import darcy


def test_file_holds_solutions_and_provenance(tmp_path):
    out = tmp_path / "d.h5"
    result = generate("darcy", samples=5, resolution=17, seed=3, out=out, progress=False)
    assert result.solved_now == 5 and result.solver_seconds_per_sample > 0
    data = load(out)
    assert data.inputs.shape == (5, 1, 17, 17)
    np.testing.assert_allclose(data.outputs[2, 0].numpy(), darcy.solve(data.inputs[2, 0].numpy()),
                               rtol=1e-6, atol=1e-9)
    prov = read_provenance(out)
    for key in ("pde", "params", "grid", "resolution", "seed", "library", "shard"):
        assert key in prov
    assert prov["params"]["solver"] == "auto" and prov["params"]["tol"] == 1e-10
    assert not (tmp_path / "d.h5.parts").exists()


def test_workers_and_shards_give_identical_data(tmp_path):
    one = generate("darcy", samples=20, resolution=9, seed=0, out=tmp_path / "one.h5", progress=False)
    two = generate("darcy", samples=20, resolution=9, seed=0, out=tmp_path / "two.h5",
                   workers=2, progress=False)
    assert one.path.read_bytes() == two.path.read_bytes()
    shards = [generate("darcy", samples=20, resolution=9, seed=0, out=tmp_path / f"s{k}.h5",
                       shard=(k, 3), progress=False).path for k in range(3)]
    whole, joined = load(one.path), load(shards)
    np.testing.assert_array_equal(whole.inputs.numpy(), joined.inputs.numpy())
    np.testing.assert_array_equal(whole.outputs.numpy(), joined.outputs.numpy())


def test_rerun_is_a_no_op_and_different_settings_are_refused(tmp_path):
    out = tmp_path / "d.h5"
    generate("darcy", samples=4, resolution=9, seed=0, out=out, progress=False)
    before = out.read_bytes()
    again = generate("darcy", samples=4, resolution=9, seed=0, out=out, progress=False)
    assert again.solved_now == 0 and out.read_bytes() == before
    with pytest.raises(DataFileError, match="different settings"):
        generate("darcy", samples=4, resolution=9, seed=1, out=out, progress=False)


@pytest.mark.parametrize("kwargs, match", [
    ({"samples": 0}, "samples"), ({"resolution": 2}, "resolution"), ({"workers": 0}, "workers"),
    ({"seed": -1}, "--seed must be an integer >= 0"), ({"samples": 2.5}, "--samples must be an integer"),
    ({"shard": (0, 3)}, "empty"), ({"shard": (2, 2)}, "0 <= k < n"), ({"params": {"solver": "magic"}}, "solver"),
    ({"params": {"colour": 1}}, "unknown parameter"), ({"chunk_size": 0}, "chunk-size"),
    ({"chunk_size": 2.5}, "chunk-size"), ({"chunk_size": True}, "chunk-size"),
])
def test_invalid_settings_raise_before_writing(tmp_path, kwargs, match):
    args = {"samples": 2, "resolution": 9, "seed": 0, "out": tmp_path / "x.h5", "progress": False}
    args.update(kwargs)
    with pytest.raises(InvalidInputError, match=match):
        generate("darcy", **args)
    assert list(tmp_path.iterdir()) == []


def test_chunk_size_changes_the_parts_not_the_data_and_a_resume_keeps_it(tmp_path, monkeypatch):
    from oplearn.data import generation

    clean = generate("darcy", samples=7, resolution=9, seed=0, out=tmp_path / "clean.h5", progress=False)
    real_solve_chunk, calls = generation._solve_chunk, []

    def interrupted(*args):
        if calls:
            raise KeyboardInterrupt
        calls.append(args[4])
        return real_solve_chunk(*args)

    out = tmp_path / "d.h5"
    monkeypatch.setattr(generation, "_solve_chunk", interrupted)
    with pytest.raises(KeyboardInterrupt):
        generate("darcy", samples=7, resolution=9, seed=0, out=out, chunk_size=3, progress=False)
    monkeypatch.setattr(generation, "_solve_chunk", real_solve_chunk)
    assert calls == [[0, 1, 2]] and len(list((tmp_path / "d.h5.parts").glob("chunk_*.npz"))) == 1
    with pytest.raises(DataFileError, match="unfinished run with --chunk-size 3"):
        generate("darcy", samples=7, resolution=9, seed=0, out=out, chunk_size=4, progress=False)
    resumed = generate("darcy", samples=7, resolution=9, seed=0, out=out, progress=False)  # keeps 3
    assert resumed.solved_now == 4 and out.read_bytes() == clean.path.read_bytes()


def test_unfinished_run_without_a_recorded_chunk_size_resumes_with_eight(tmp_path):
    """Parts written before the chunk size was recorded hold chunks of CHUNK_SIZE = 8."""
    import json

    from oplearn.data import generation

    clean = generate("darcy", samples=12, resolution=9, seed=0, out=tmp_path / "clean.h5", progress=False)
    out = tmp_path / "d.h5"
    parts = tmp_path / "d.h5.parts"
    parts.mkdir()
    provenance = read_provenance(clean.path)
    (parts / "provenance.json").write_text(json.dumps(provenance))
    generation._solve_chunk("darcy", provenance["params"], 9, 0, list(range(8)), str(parts / "chunk_000000.npz"))
    resumed = generate("darcy", samples=12, resolution=9, seed=0, out=out, chunk_size=np.int64(8), progress=False)
    assert resumed.solved_now == 4 and out.read_bytes() == clean.path.read_bytes()


def test_batched_solver_gives_the_same_data_in_any_chunk_size(tmp_path):
    params = {"solver_resolution": 128, "t": 0.1}
    files = [generate("burgers", samples=6, resolution=64, seed=0, out=tmp_path / f"c{c}.h5", params=params,
                      chunk_size=c, progress=False).path for c in (1, 4)]
    single, batched = load(files[0]), load(files[1])
    np.testing.assert_array_equal(single.inputs.numpy(), batched.inputs.numpy())
    np.testing.assert_allclose(batched.outputs.numpy(), single.outputs.numpy(), rtol=0,
                               atol=1e-6 * single.outputs.abs().max().item())


def test_running_out_of_gpu_memory_names_the_chunk_size(tmp_path, monkeypatch):
    from oplearn.data import generation
    from oplearn.pdes.problem import Problem

    def out_of_memory(self, rngs, s, params, device):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(Problem, "sample_and_solve_many", out_of_memory)
    chunk = tmp_path / "chunk.npz"
    with pytest.raises(InvalidInputError, match="cuda ran out of memory solving 2 samples at once; give a smaller --chunk-size"):
        generation._solve_chunk("darcy", {}, 9, 0, [0, 1], str(chunk), "cuda")
    with pytest.raises(RuntimeError, match="CUDA out of memory"):  # not the GPU's: unchanged
        generation._solve_chunk("darcy", {}, 9, 0, [0, 1], str(chunk), "cpu")
    assert list(tmp_path.iterdir()) == []


def test_killed_generation_resumes_to_the_identical_file(tmp_path):
    """Kill -9 in the middle of a run, rerun the same command: same bytes as a clean run."""
    command = [sys.executable, "-m", "oplearn.cli", "generate", "darcy", "--samples", "96",
               "--resolution", "33", "--seed", "5", "--quiet", "--out"]
    clean = tmp_path / "clean.h5"
    subprocess.run(command + [str(clean)], check=True)
    out = tmp_path / "killed.h5"
    parts = tmp_path / "killed.h5.parts"
    proc = subprocess.Popen(command + [str(out)])
    deadline = time.time() + 60
    while time.time() < deadline and len(list(parts.glob("chunk_*.npz"))) < 2:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists(), "the run was killed before it could finish"
    assert 2 <= len(list(parts.glob("chunk_*.npz"))) < 12
    subprocess.run(command + [str(out)], check=True)
    assert out.read_bytes() == clean.read_bytes()
    assert not parts.exists()


def test_plan_execute_and_assemble_each_do_one_thing(tmp_path):
    """The three steps of generate() alone: the plan decides and writes nothing, execution writes
    only the missing parts, assembly joins them into the file and removes the parts."""
    from oplearn.data.generation import assemble, execute_plan, plan_generation

    out = tmp_path / "d.h5"
    plan = plan_generation("darcy", samples=20, resolution=9, seed=0, out=out, shard=(1, 2),
                           chunk_size=4)
    assert list(tmp_path.iterdir()) == []
    assert plan.chunks == ((10, 12), (12, 16), (16, 20)) and plan.samples == 10
    assert plan.solve_params["solver"] == "direct" and plan.params["solver"] == "auto"
    assert not plan.complete and plan.missing_chunks() == [0, 1, 2]
    with pytest.raises(DataFileError, match="not yet solved"):
        assemble(plan)
    plan.parts.mkdir()
    fake = np.zeros((4, 1, 9, 9), dtype=np.float32)
    np.savez(plan.chunk_path(1), inputs=fake, outputs=fake)  # a finished part is kept, not redone
    assert execute_plan(plan, progress=False)[0] == 6 and plan.missing_chunks() == []
    assemble(plan)
    data = load(out, allow_partial=True)
    assert not plan.parts.exists() and data.inputs.shape == (10, 1, 9, 9)
    assert data.inputs[2:6].abs().max() == 0 and data.inputs[:2].abs().max() > 0
    again = plan_generation("darcy", samples=20, resolution=9, seed=0, out=out, shard=(1, 2))
    assert again.complete


def test_files_and_unfinished_runs_of_another_version_are_refused(tmp_path):
    """Data of another library version may differ for the same seed (0.2.0 changed the random
    fields): a finished file or an unfinished run of it is neither reused nor resumed."""
    import json

    from oplearn.data.hdf5 import read_file, write_file

    out = tmp_path / "d.h5"
    generate("darcy", samples=2, resolution=9, seed=0, out=out, progress=False)
    inputs, outputs, provenance = read_file(out)
    write_file(out, inputs, outputs, {**provenance, "library": "oplearn 0.1.0"})
    with pytest.raises(DataFileError, match="different settings \\(library: 'oplearn 0.1.0' there"):
        generate("darcy", samples=2, resolution=9, seed=0, out=out, progress=False)
    parts = tmp_path / "e.h5.parts"
    parts.mkdir()
    (parts / "provenance.json").write_text(json.dumps({**provenance, "library": "oplearn 0.1.0",
                                                       "chunk_size": 8}))
    with pytest.raises(DataFileError, match="unfinished run with different settings \\(library\\)"):
        generate("darcy", samples=2, resolution=9, seed=0, out=tmp_path / "e.h5", progress=False)
