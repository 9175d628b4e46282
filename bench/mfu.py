"""Training throughput and MFU of a qabench run, with the device's matmul peak measured in the same script.

MFU (model FLOPs utilisation) is the model's useful FLOPs per second over
the device's peak, both measured here:

- peak: a square matrix multiply timed on the device: bf16 on CUDA (what
  qabench's autocast trains in), fp32 on CPU, at the current torch threads;
- model FLOPs: per real (non-padding) training token, ``6 * N`` for the
  N non-embedding parameters of backbone and heads (forward plus backward),
  plus ``12 * L * d * T`` for attention over a window of T tokens in an
  L-layer, width-d transformer (PaLM's accounting). Padding is not useful
  work and is not counted, so MFU is lower than hardware utilisation.

The run is ``qabench run CONFIG`` cut to ``--steps`` training steps through
qabench's own trainer (no evaluation); the first ``--warmup`` steps are not
timed.

    QABENCH_DATA=../shared/data python bench/mfu.py configs/mirror-minilm.yaml --steps 30
    QABENCH_DATA=data python bench/mfu.py configs/mirror-minilm.yaml --set optim.batch_size=64 --steps 200   # on a GPU
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

# The checkout first: bench/ (this script's folder, first on the path) has a leaderboard.py that would shadow the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?", default="configs/mirror-minilm.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--steps", type=int, default=30, help="training steps, warm-up included")
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()

    from _conditions import conditions  # bench/, beside this script
    from train_throughput import train_counting

    from harness.config import load_config
    from harness.prepare import prepare

    config = load_config(args.config, [*args.overrides, f"optim.steps={args.steps}", "output.progress=false"])
    prep = prepare(config)
    device = prep.device
    peak = matmul_peak(device)
    per_token, attention = flops_per_token(prep.model)
    meter = TokenMeter(args.warmup, device)
    train_counting(prep, config, meter.batch)
    examples, real, padded, attention_tokens, seconds = meter.result()
    model_flops = per_token * real + attention * attention_tokens

    rows = [
        ("device", f"{device_name(device)}; torch threads {torch.get_num_threads()}"),
        ("model", f"{config.model.backbone} {config.model.pretrained or config.model.preset}; non-embedding parameters {per_token / 6 / 1e6:.1f}M"),
        ("tasks", ", ".join(t.name for t in config.tasks)),
        ("steps timed", f"{args.steps - args.warmup} x batch {config.optim.batch_size} ({examples} examples)"),
        ("examples / s", f"{examples / seconds:.1f}"),
        ("real tokens / s", f"{real / seconds:,.0f}"),
        ("padded tokens / s", f"{padded / seconds:,.0f} ({real / max(padded, 1):.0%} of them real)"),
        ("model TFLOP/s", f"{model_flops / seconds / 1e12:.3f}"),
        (f"measured peak ({peak_dtype(device)} matmul) TFLOP/s", f"{peak / 1e12:.2f}"),
        ("MFU", f"{model_flops / seconds / peak:.1%}"),
        ("conditions", conditions().removeprefix("conditions: ")),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


def peak_dtype(device: torch.device) -> str:
    return "bf16" if device.type == "cuda" else "fp32"


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"


def matmul_peak(device: torch.device) -> float:
    """FLOP/s of the best of several timed square matmuls on ``device``."""
    n = 8192 if device.type == "cuda" else 1024
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(8):
        sync(device)
        start = time.perf_counter()
        for _ in range(5):
            a @ b
        sync(device)
        best = min(best, (time.perf_counter() - start) / 5)
    return 2 * n**3 / best


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def flops_per_token(model: torch.nn.Module) -> tuple[float, float]:
    """(6 * non-embedding parameters, 12 * layers * width): FLOPs per token, and per token per attended position."""
    embedding = sum(p.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters())
    params = sum(p.numel() for p in model.parameters()) - embedding
    hf_config = getattr(getattr(model.backbone, "model", None), "config", None)
    layers = getattr(hf_config, "num_hidden_layers", 0)
    width = getattr(hf_config, "hidden_size", 0)
    return 6.0 * params, 12.0 * layers * width


class TokenMeter:
    """Counts examples, real and padded tokens of each training batch after a warm-up, and times them."""

    def __init__(self, warmup: int, device: torch.device) -> None:
        self.warmup, self.device = warmup, device
        self.batches = self.examples = self.real = self.padded = self.attention_tokens = 0
        self.started = 0.0

    def batch(self, batch: dict[str, torch.Tensor]) -> None:
        self.batches += 1
        if self.batches == self.warmup + 1:
            sync(self.device)
            self.started = time.perf_counter()
        if self.batches > self.warmup:
            lengths = batch["attention_mask"].sum(dim=1)  # [B] real tokens of each window
            self.examples += batch["input_ids"].size(0)
            self.real += int(lengths.sum())
            self.padded += batch["input_ids"].numel()
            self.attention_tokens += int((lengths * lengths).sum())  # each real token attends to its window's real tokens

    def result(self) -> tuple[int, int, int, int, float]:
        """(examples, real tokens, padded tokens, sum of squared window lengths, seconds) after the warm-up."""
        sync(self.device)
        return self.examples, self.real, self.padded, self.attention_tokens, time.perf_counter() - self.started


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
