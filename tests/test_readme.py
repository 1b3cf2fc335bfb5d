"""The README's library examples run as printed (in a scratch folder) and do what they say."""

import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parent.parent / "README.md"


def _run_example(after: str, folder: Path, monkeypatch) -> dict:
    """Run the first Python block after the text ``after`` in ``folder``; its variables."""
    text = README.read_text()
    code = re.search(r"```python\n(.*?)```", text[text.index(after):], re.S).group(1)
    monkeypatch.chdir(folder)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    return scope


def test_library_example_runs(tmp_path, monkeypatch):
    scope = _run_example("## Library", tmp_path, monkeypatch)
    assert scope["u"].shape == (65, 65) and scope["data"].inputs.shape == (200, 1, 33, 33)
    assert set(scope["report"]["test_rel_l2"]) == {"33"} and scope["report"]["model"] == "custom"
    # the model the user built is the one trained: its weights are those of the run's checkpoint
    saved = torch.load(tmp_path / "runs" / "lib" / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(v, scope["fno"].state_dict()[k]) for k, v in saved.items())
    assert scope["u_65"].shape == (4, 1, 65, 65)


def test_physics_informed_example_runs(tmp_path, monkeypatch):
    scope = _run_example("A PDE of your own", tmp_path, monkeypatch)
    assert scope["report"]["rel_l2"] < 1e-4, scope["report"]  # as the comment says (measured 5.9e-6)
    assert (tmp_path / "runs" / "heat" / "report.json").exists()
