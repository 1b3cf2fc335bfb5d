"""The `neuraloperator` package's Darcy example settings, trained on oplearn's data files.

    python benchmarks/neuralop_darcy_example.py --train TRAIN.h5 --test 16=T16.h5 --test 32=T32.h5 \
        --epochs 100 --out OUT.json

Runs in `benchmarks/.envs/neuraloperator` (`neuralop_env.py`; re-executes itself there).
Settings of its example `examples/models/plot_FNO_darcy.py` as issue 15 describes them: FNO with
``n_modes=(8, 8)`` (frequencies -4..3 by 0..4), 32 hidden channels, projection ratio 2, and the
package's other FNO defaults (lifting ratio 2, a channel MLP in every layer); AdamW, lr 8e-3, weight
decay 1e-4, cosine schedule over the epochs, batch 32, the H1 loss for training, the package's own
``Trainer``. Inputs and outputs are standardised per channel with its ``UnitGaussianNormalizer``.
``train_seconds`` is ``Trainer.train`` alone, with no evaluation during training; the relative L2
errors are computed afterwards in physical units, as for our runs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from neuralop_env import ensure_environment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", action="append", required=True, help="LABEL=FILE, repeatable")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--modes", type=int, default=8, help="neuraloperator's n_modes per axis")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    ensure_environment(__file__)

    import neuralop
    import torch
    from neuralop import H1Loss, Trainer
    from neuralop.data.transforms.data_processors import DefaultDataProcessor
    from neuralop.data.transforms.normalizers import UnitGaussianNormalizer
    from neuralop.models import FNO

    from oplearn.data import load

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train = load(args.train)
    tests = {label: load(path) for label, path in (item.split("=", 1) for item in args.test)}

    class Pairs(torch.utils.data.Dataset):
        def __init__(self, data):
            self.x, self.y = data.inputs.float(), data.outputs.float()

        def __len__(self):
            return len(self.x)

        def __getitem__(self, i):
            return {"x": self.x[i], "y": self.y[i]}

    loader = torch.utils.data.DataLoader(Pairs(train), batch_size=32, shuffle=True)
    norm_in, norm_out = UnitGaussianNormalizer(dim=[0, 2, 3]), UnitGaussianNormalizer(dim=[0, 2, 3])
    norm_in.fit(train.inputs.float())
    norm_out.fit(train.outputs.float())
    model = FNO(n_modes=(args.modes, args.modes), in_channels=1, out_channels=1, hidden_channels=32,
                projection_channel_ratio=2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=8e-3, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    trainer = Trainer(model=model, n_epochs=args.epochs, data_processor=DefaultDataProcessor(norm_in, norm_out),
                      eval_interval=args.epochs + 1, verbose=False)
    start = time.perf_counter()
    trainer.train(loader, {}, optimizer, scheduler, training_loss=H1Loss(d=2), eval_losses={})
    seconds = time.perf_counter() - start
    model.eval()
    errors = {}
    with torch.no_grad():
        for label, data in tests.items():
            pred = norm_out.inverse_transform(model(norm_in.transform(data.inputs.float())))
            truth = data.outputs.float()
            errors[label] = float(((pred - truth).flatten(1).norm(dim=1) / truth.flatten(1).norm(dim=1)).mean())
    record = {"library": "neuraloperator", "version": neuralop.__version__, "settings": "darcy example",
              "n_modes": [args.modes, args.modes], "epochs": args.epochs, "train_seconds": seconds,
              "test_rel_l2": errors, "parameters": sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters()),
              "threads": torch.get_num_threads()}
    args.out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
