"""One spectral convolution, forward + backward: dense truncated DFTs vs torch.fft vs complex einsum.

    python benchmarks/spectral_conv.py

32 -> 32 channels, 12 modes per side, batch 20, float32, on this machine's threads. "fft" is
our layer with `method="fft"`; "complex einsum" is the textbook layer (rfft2, a complex
`einsum("bixy,ioxy->boxy")` on the two corner blocks, irfft2), the form most FNO code uses.
Median of 15 calls after 3 warm-ups; writes benchmarks/results/spectral_conv.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from torch import nn

from oplearn.models.layers import SpectralConv

ROOT = Path(__file__).resolve().parent.parent
CHANNELS, MODES, BATCH = 32, 12, 20


class ComplexEinsumSpectralConv(nn.Module):
    """The textbook FNO layer: complex weights for the two kept corner blocks."""

    def __init__(self):
        super().__init__()
        scale = 1.0 / (CHANNELS * CHANNELS)
        shape = (CHANNELS, CHANNELS, MODES, MODES)
        self.w1 = nn.Parameter(scale * torch.rand(*shape, dtype=torch.cfloat))
        self.w2 = nn.Parameter(scale * torch.rand(*shape, dtype=torch.cfloat))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_ft = torch.fft.rfft2(x)
        out = torch.zeros(x.shape[0], CHANNELS, x.shape[-2], x.shape[-1] // 2 + 1, dtype=x_ft.dtype)
        out[:, :, :MODES, :MODES] = torch.einsum("bixy,ioxy->boxy", x_ft[:, :, :MODES, :MODES], self.w1)
        out[:, :, -MODES:, :MODES] = torch.einsum("bixy,ioxy->boxy", x_ft[:, :, -MODES:, :MODES], self.w2)
        return torch.fft.irfft2(out, s=x.shape[-2:])


def median_ms(layer: nn.Module, x: torch.Tensor) -> float:
    def call():
        layer(x).square().sum().backward()

    for _ in range(3):
        call()
    times = []
    for _ in range(15):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1e3 * sorted(times)[len(times) // 2]


def main() -> None:
    torch.manual_seed(0)
    layers = {"dft (ours, default)": SpectralConv(CHANNELS, CHANNELS, MODES, 2, method="dft"),
              "fft (ours)": SpectralConv(CHANNELS, CHANNELS, MODES, 2, method="fft"),
              "complex einsum (textbook)": ComplexEinsumSpectralConv()}
    rows = []
    for s in (33, 65, 85):
        x = torch.randn(BATCH, CHANNELS, s, s, requires_grad=True)
        row = {"s": s} | {name: median_ms(layer, x) for name, layer in layers.items()}
        rows.append(row)
    out = ROOT / "benchmarks" / "results" / "spectral_conv.json"
    out.write_text(json.dumps({"threads": torch.get_num_threads(), "rows": rows}, indent=2) + "\n")
    names = list(layers)
    print(f"forward + backward, ms (batch {BATCH}, {CHANNELS} channels, {MODES} modes, "
          f"{torch.get_num_threads()} threads)")
    print("| s | " + " | ".join(names) + " | fft / dft | einsum / dft |")
    print("|---|" + "---|" * (len(names) + 2))
    for row in rows:
        cells = " | ".join(f"{row[n]:.1f}" for n in names)
        print(f"| {row['s']} | {cells} | {row[names[1]] / row[names[0]]:.2f}x | "
              f"{row[names[2]] / row[names[0]]:.2f}x |")


if __name__ == "__main__":
    main()
