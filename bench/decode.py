"""Benchmark: greedy decoding speed of the text head, with and without its KV cache, and against transformers' ``generate``.

Every contender writes exactly ``--length`` tokens for each of ``--batch``
examples (EOS is blocked until then: ``min_length`` = ``max_length``), from
the same encoder states ([batch, --source, d] random states, a quarter
question, the rest context), so tokens per second compare directly.

Rows:

1. ``qabench text head, cached``: :meth:`models.text_head.TextHead.generate`
   (one token per step through the KV cache, memory projected once).
2. ``qabench text head, no cache``: the same model and inputs, recomputing
   the whole prefix at every step (the plain loop). Same tokens.
3. ``transformers generate``: a ``BartForConditionalGeneration`` with the
   same decoder sizes (layers, width, heads, feed-forward, vocabulary),
   given the same encoder states as ``encoder_outputs``, greedy, with its
   own cache. A BART step does less than a text-head step (no copy
   pointer, no gates, no scatter of copy weights into the vocabulary), so
   this row is a like-sized decoder doing *less* work.
4. ``qabench loop over the BART decoder``: our greedy loop (argmax, append,
   pass ``past_key_values``) driving that same BART model: the same model
   as row 3, so rows 3 and 4 isolate ``generate``'s own overhead.

Each row is the fastest of ``--repeats`` interleaved rounds after a warm-up
round (see :func:`timed`).
The last lines check that rows 1 and 2 wrote the same tokens and rows 3
and 4 too.

Run: ``cd /work/main && PYTHONPATH=. /work/venv/bin/python bench/decode.py``
(``--threads 1`` pins torch to one core; ``--device cuda`` times a GPU.)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models.base import Encoded  # noqa: E402
from models.text_head import DecodeConfig, SpecialIds, TextHead, TextHeadConfig  # noqa: E402

PAD, BOS, EOS = 0, 2, 3


def timed(runs: dict[str, Callable[[], object]], repeats: int, device: torch.device) -> tuple[dict[str, float], dict[str, object]]:
    """Fastest seconds of each run over ``repeats`` interleaved rounds (after one warm-up round), and its result.

    Rounds interleave the contenders, so load from other processes on a
    shared machine hits them alike; the fastest round is the least disturbed.
    """
    results = {name: run() for name, run in runs.items()}
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            results[name] = run()
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds[name].append(time.perf_counter() - start)
    return {name: min(times) for name, times in seconds.items()}, results


def build_bart(args: argparse.Namespace, device: torch.device):
    from transformers import BartConfig, BartForConditionalGeneration

    config = BartConfig(
        vocab_size=args.vocab, d_model=args.d_model, encoder_layers=1, decoder_layers=args.layers,
        encoder_attention_heads=args.heads, decoder_attention_heads=args.heads,
        encoder_ffn_dim=args.d_ff, decoder_ffn_dim=args.d_ff, max_position_embeddings=max(1024, args.length + 2),
        pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS, decoder_start_token_id=BOS, forced_bos_token_id=None,
        forced_eos_token_id=None, dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
    )
    return BartForConditionalGeneration(config).to(device).eval()


def bart_generate(model, hidden: torch.Tensor, mask: torch.Tensor, length: int) -> torch.Tensor:
    from transformers.modeling_outputs import BaseModelOutput

    return model.generate(
        encoder_outputs=BaseModelOutput(last_hidden_state=hidden), attention_mask=mask,
        decoder_input_ids=torch.full((hidden.shape[0], 1), BOS, device=hidden.device),
        max_new_tokens=length, min_new_tokens=length, do_sample=False, num_beams=1, use_cache=True,
    )[:, 1:]


@torch.no_grad()
def bart_loop(model, hidden: torch.Tensor, mask: torch.Tensor, length: int) -> torch.Tensor:
    """Greedy decoding of the BART model by hand: one token per step through its cache."""
    from transformers.modeling_outputs import BaseModelOutput

    encoder_outputs = BaseModelOutput(last_hidden_state=hidden)
    tokens = torch.full((hidden.shape[0], 1), BOS, device=hidden.device)
    past = None
    written = []
    for _ in range(length):
        out = model(
            encoder_outputs=encoder_outputs, attention_mask=mask, decoder_input_ids=tokens,
            past_key_values=past, use_cache=True,
        )
        past = out.past_key_values
        logits = out.logits[:, -1]  # [B, V]
        logits[:, EOS] = float("-inf")  # as generate's min_new_tokens = max_new_tokens: EOS is blocked throughout
        tokens = logits.argmax(dim=-1, keepdim=True)  # [B, 1]
        written.append(tokens)
    return torch.cat(written, dim=1)


def main() -> None:
    from _conditions import conditions  # bench/, beside this script

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--source", type=int, default=128, help="encoder tokens per example")
    parser.add_argument("--length", type=int, default=32, help="tokens written per example")
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--d-ff", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)

    hidden = torch.randn(args.batch, args.source, args.d_model, device=device)  # [B, T, D] encoder states
    mask = torch.ones(args.batch, args.source, dtype=torch.long, device=device)  # [B, T]
    source_ids = torch.randint(5, args.vocab, (args.batch, args.source), device=device)  # [B, T]
    question_mask = torch.zeros(args.batch, args.source, dtype=torch.bool, device=device)
    question_mask[:, : args.source // 4] = True
    context_mask = ~question_mask

    head_config = TextHeadConfig(d_model=args.d_model, num_layers=args.layers, num_heads=args.heads, d_ff=args.d_ff, dropout=0.0)
    head = TextHead(args.d_model, args.vocab, SpecialIds(pad=PAD, bos=BOS, eos=EOS), head_config).to(device).eval()
    decode = DecodeConfig(max_length=args.length, min_length=args.length)
    encoded = Encoded(hidden, mask.bool())

    def ours(use_cache: bool) -> Callable[[], list[list[int]]]:
        return lambda: head.generate(encoded, source_ids, question_mask, context_mask, decode, use_cache=use_cache)

    bart = build_bart(args, device)
    runs = {
        "cached": ours(True),
        "uncached": ours(False),
        "generate": lambda: bart_generate(bart, hidden, mask, args.length),
        "loop": lambda: bart_loop(bart, hidden, mask, args.length),
    }
    with torch.no_grad():
        seconds, results = timed(runs, args.repeats, device)
    cached_s, uncached_s, generate_s, loop_s = (seconds[k] for k in ("cached", "uncached", "generate", "loop"))
    cached_ids, uncached_ids, generate_ids, loop_ids = (results[k] for k in ("cached", "uncached", "generate", "loop"))
    rows = []
    tokens = args.batch * args.length
    for name, seconds, parameters in (
        ("qabench text head, cached", cached_s, head),
        ("qabench text head, no cache", uncached_s, head),
        ("transformers generate (BART decoder)", generate_s, bart.model.decoder),
        ("qabench loop over the BART decoder", loop_s, bart.model.decoder),
    ):
        count = sum(p.numel() for p in parameters.parameters())
        rows.append((name, seconds, tokens / seconds, count))

    threads = torch.get_num_threads() if device.type == "cpu" else "-"
    print(
        f"greedy decoding, batch {args.batch} x {args.length} tokens written, {args.source} source tokens, "
        f"decoder {args.layers} layers x d{args.d_model} ({args.heads} heads, ff {args.d_ff}), vocabulary {args.vocab}, "
        f"device {device}, threads {threads}, fastest of {args.repeats} interleaved rounds"
    )
    print(f"{'decoder':<40}{'seconds':>10}{'tokens/s':>12}{'params':>12}")
    for name, seconds, rate, count in rows:
        print(f"{name:<40}{seconds:>10.3f}{rate:>12.0f}{count:>12,}")
    print(f"cached / no cache:                      {uncached_s / cached_s:.2f}x faster")
    print(f"text head cached / generate:            {generate_s / cached_s:.2f}x (above 1: the text head is faster)")
    print(f"BART loop of ours / generate:           {generate_s / loop_s:.2f}x (same model; generate's own overhead)")
    print(f"same tokens, text head cached vs no cache: {cached_ids == uncached_ids}")
    print(f"same tokens, BART loop vs generate:        {torch.equal(loop_ids, generate_ids)}")
    print(conditions())


if __name__ == "__main__":
    main()
