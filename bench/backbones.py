"""Benchmark: parameters and CPU forward+backward time of every backbone at batch 32 x 128 tokens.

Each backbone is built from a preset (tiny, small; base with ``--base``, slow
on a 2-core machine) over a vocabulary of ``--vocab-size`` pseudo-words, put
in training mode (dropout on, as when fine-tuning), and timed on one
forward + backward pass of a sum-of-squares loss over its hidden states:
``--warmup`` untimed passes, then the median of ``--repeats`` timed ones.
Token ids are drawn from a Zipf distribution, as in real text, because
ELMo's char CNN encodes each distinct token of a batch once.

Run: ``cd /work/main && PYTHONPATH=. /work/venv/bin/python bench/backbones.py [--base] [--repeats 5]``
(``--device cuda [--bf16]`` times a GPU instead.)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models.registry import BACKBONES, build_backbone  # noqa: E402
from models.tokenization import SPECIAL_TOKENS, pair_template, wrap_tokenizer  # noqa: E402


def pseudo_word_tokenizer(vocab_size: int, seed: int = 0):
    """A word-level tokenizer over ``vocab_size`` distinct pseudo-words of 2-10 letters (special tokens first)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    while len(vocab) < vocab_size:
        vocab.setdefault("".join(rng.choice(letters, size=rng.integers(2, 11))), len(vocab))
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = pair_template(tokenizer)
    return wrap_tokenizer(tokenizer)


def zipf_batch(vocab_size: int, batch: int, length: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """[batch, length] ids with Zipfian frequencies, no padding, two segments."""
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, vocab_size - len(SPECIAL_TOKENS) + 1)
    probabilities = (1.0 / ranks) / (1.0 / ranks).sum()
    ids = len(SPECIAL_TOKENS) + rng.choice(len(ranks), size=(batch, length), p=probabilities)
    token_types = torch.zeros(batch, length, dtype=torch.long)
    token_types[:, length // 4 :] = 1  # a short question, then the context
    return {
        "input_ids": torch.from_numpy(ids).long(),
        "attention_mask": torch.ones(batch, length, dtype=torch.long),
        "token_type_ids": token_types,
    }


def time_forward_backward(
    backbone: torch.nn.Module, inputs: dict[str, torch.Tensor], warmup: int, repeats: int, bf16: bool = False
) -> list[float]:
    """Milliseconds of each timed forward + backward pass (synchronised on a GPU; bf16 autocast if asked)."""
    backbone.train()
    device = inputs["input_ids"].device
    times = []
    for step in range(warmup + repeats):
        backbone.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            hidden = backbone.encode(inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"]).hidden
        hidden.float().pow(2).mean().backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        elapsed = (time.perf_counter() - start) * 1000
        if step >= warmup:
            times.append(elapsed)
    return times


def main() -> None:
    from _conditions import conditions  # bench/, beside this script

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", action="store_true", help="also time the base presets (minutes on 2 cores)")
    parser.add_argument("--vocab-size", type=int, default=30522)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", help="cpu (the reported figures) or cuda")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast, as the trainer uses on a GPU")
    parser.add_argument("--only", nargs="*", default=list(BACKBONES), help="backbones to time (default: all)")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tokenizer = pseudo_word_tokenizer(args.vocab_size)
    device = torch.device(args.device)
    inputs = {key: value.to(device) for key, value in zipf_batch(args.vocab_size, args.batch, args.length).items()}
    presets = ["tiny", "small"] + (["base"] if args.base else [])
    rows = []
    for name in args.only:
        for preset in presets:
            backbone = build_backbone(name, preset, tokenizer).to(device)
            times = time_forward_backward(backbone, inputs, args.warmup, args.repeats, args.bf16)
            rows.append({
                "backbone": name,
                "preset": preset,
                "parameters": f"{backbone.num_parameters():,}",
                "hidden": backbone.hidden_size,
                "fwd+bwd ms (median)": round(statistics.median(times), 1),
                "min ms": round(min(times), 1),
                "max ms": round(max(times), 1),
            })
            print(f"  {name} {preset}: {statistics.median(times):.1f} ms", file=sys.stderr, flush=True)
            del backbone
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"forward+backward at batch {args.batch} x {args.length} tokens, vocabulary {args.vocab_size:,}, "
        f"{where}{', bf16 autocast' if args.bf16 else ''}, torch {torch.__version__}; "
        f"median of {args.repeats} after {args.warmup} warm-up"
    )
    print(pd.DataFrame(rows).to_string(index=False))
    print(conditions())


if __name__ == "__main__":
    main()
