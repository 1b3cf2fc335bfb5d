"""Our FNO against the `neuraloperator` package's FNO: same data, architecture, optimiser, epochs.

Run with `make bench` (or `python benchmarks/fno_vs_neuraloperator.py`). The first run creates
`benchmarks/.envs/neuraloperator`, a virtual environment with the same PyTorch, neuraloperator
from PyPI and oplearn (editable), and re-executes itself there so both models train in one process.

Both models: 4 Fourier layers of width 32, 12 modes per side (frequencies -12..11 by 0..11;
neuraloperator counts these as n_modes=(24, 22)), linear lifting, linear skip connections, GELU,
a 32 -> 128 -> 1 projection, grid positional embedding, no channel MLP, no padding. Both train
with the same loop: AdamW (lr 1e-3, weight decay 1e-4), cosine schedule, batch 20, relative L2
loss on de-normalised outputs. Throughput is training samples per second (evaluation excluded).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from neuralop_env import ensure_environment

ROOT = Path(__file__).resolve().parent.parent


def build_models(width: int, modes: int, layers: int):
    from neuralop.models import FNO as TheirFNO

    from oplearn.models import build

    ours = build("fno", in_channels=1, out_channels=1, ndim=2, modes=modes, width=width,
                 n_layers=layers, projection_channels=4 * width)
    theirs = TheirFNO(n_modes=(2 * modes, 2 * modes - 2), in_channels=1, out_channels=1,
                      hidden_channels=width, n_layers=layers, lifting_channel_ratio=0,
                      projection_channel_ratio=4, positional_embedding="grid",
                      use_channel_mlp=False, fno_skip="linear", domain_padding=None)
    return {"oplearn": ours, "neuraloperator": theirs}


def train_and_evaluate(model, train, tests, epochs: int, batch_size: int, seed: int, device: str):
    """The shared training loop; returns throughput, test errors, wall times."""
    import torch

    from oplearn.train import ChannelNormalizer, relative_l2

    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    torch.manual_seed(seed)
    model = model.to(device)
    norm_in = ChannelNormalizer.fit(train.inputs).to(device)
    norm_out = ChannelNormalizer.fit(train.outputs).to(device)
    x_all, y_all = norm_in.encode(train.inputs.to(device)), train.outputs.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    gen = torch.Generator().manual_seed(seed)
    train_seconds = 0.0
    for _ in range(epochs):
        model.train()
        start = time.perf_counter()
        for idx in torch.randperm(len(train), generator=gen).to(device).split(batch_size):
            loss = relative_l2(norm_out.decode(model(x_all[idx])), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()
        sync()
        train_seconds += time.perf_counter() - start
    model.eval()
    errors = {}
    with torch.no_grad():
        for label, data in tests.items():
            pred = torch.cat([norm_out.decode(model(norm_in.encode(x.to(device))))
                              for x in data.inputs.split(50)])
            errors[label] = float(relative_l2(pred.cpu(), data.outputs))
    return {"samples_per_second": epochs * len(train) / train_seconds,
            "train_seconds": train_seconds, "test_rel_l2": errors,
            "parameters": sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-samples", type=int, default=1000)
    parser.add_argument("--test-samples", type=int, default=100)
    parser.add_argument("--resolution", type=int, default=65, help="solver grid; training uses every 2nd point")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--modes", type=int, default=12)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--workers", type=int, default=2, help="processes for data generation")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "fno_vs_neuraloperator.json")
    args = parser.parse_args()
    ensure_environment(__file__)

    import neuralop
    import torch

    from oplearn.data import generate, load

    data_dir = ROOT / "benchmarks" / ".envs" / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    common = {"resolution": args.resolution, "workers": args.workers, "progress": False}
    train_file = generate("darcy", samples=args.train_samples, seed=100, out=data_dir / f"train_{args.resolution}_{args.train_samples}.h5", **common).path
    test_file = generate("darcy", samples=args.test_samples, seed=101, out=data_dir / f"test_{args.resolution}_{args.test_samples}.h5", **common).path
    train = load(train_file, 2)
    tests = {str(d.resolution): d for d in (load(test_file, 2), load(test_file, 1))}

    results = {}
    for name, model in build_models(args.width, args.modes, args.layers).items():
        print(f"training {name} ...", flush=True)
        results[name] = train_and_evaluate(model, train, tests, args.epochs, 20, args.seed, args.device)
    ratio = results["oplearn"]["samples_per_second"] / results["neuraloperator"]["samples_per_second"]
    record = {
        "settings": vars(args) | {"out": args.out.name, "train_resolution": train.resolution},
        "torch": torch.__version__, "neuraloperator": neuralop.__version__,
        "threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
        "results": results, "throughput_ratio": ratio,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")

    labels = list(tests)
    print(f"\nDarcy, {args.train_samples} training samples at s = {train.resolution}, {args.epochs} epochs, "
          f"torch {torch.__version__}, {record['device']}, {torch.get_num_threads()} threads")
    print("| model | parameters | train samples/s | " + " | ".join(f"test rel. L2 s={s}" for s in labels) + " |")
    print("|---|---|---|" + "---|" * len(labels))
    for name, r in results.items():
        errs = " | ".join(f"{r['test_rel_l2'][s]:.4f}" for s in labels)
        print(f"| {name} | {r['parameters']:,} | {r['samples_per_second']:.1f} | {errs} |")
    print(f"\nthroughput ratio oplearn / neuraloperator: {ratio:.2f}x  (results: {args.out})")


if __name__ == "__main__":
    main()
