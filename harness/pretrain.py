"""``qabench pretrain``: pretrain a backbone with its own objective on a local corpus.

The steps, each a plain function:

1. :func:`harness.corpus.build_corpus`: documents from plain text files (one document a
   line), JSONL files (a text field), or by default the contexts and questions
   of the named tasks' training splits (tagged tasks keep their words and NER
   tags, which ERNIE's entity masking reads). Exact duplicates are dropped.
2. The shared local vocabulary (``models.tokenization.train_tokenizer``) is
   trained on the corpus, or taken from ``--init DIR`` when pretraining
   continues from an earlier result (ULMFiT's second stage: LM fine-tuning on
   the target task's text).
3. :func:`tokenize_corpus`: documents -> :class:`~models.pretrain.TokenSequence`
   chunks of at most ``seq_len - 2`` tokens cut at word boundaries, short
   documents packed together.
4. :func:`pretrain`: the objective of ``models.pretrain`` under (fused) AdamW with
   warm-up then linear decay (ULMFiT: the slanted triangular schedule, and
   discriminative rates per layer group in its second stage), gradient
   clipping, a progress bar with loss and tokens per second, checkpoints
   every N steps and ``--resume``. word2vec's objectives run through gensim
   instead, one epoch per step.
5. The output directory is a qabench backbone checkpoint
   (``models.registry.save_backbone``), so ``model.pretrained: DIR`` in a run
   config starts a run from it, plus ``objective_head.safetensors`` (the
   objective's own layers) and ``pretrain_record.json`` (:func:`pretrain_record`),
   which the run record copies as ``model.pretrain_record``.

>>> # result = pretrain(PretrainConfig(model="bert", preset="tiny", corpus=("wiki.txt",), steps=200, out="pt/bert"))
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from safetensors.torch import save_file
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerFast, get_linear_schedule_with_warmup

from atomicio import write_json_atomic
from harness import __version__
from harness.corpus import Corpus, Document, build_corpus
from harness.errors import UserError
from harness.record import git_commit, hardware_info
from harness.scaffold import (
    adamw,
    bottom_up_groups,
    check_same_config,
    decay_groups,
    load_checkpoint,
    refuse_legacy_checkpoint,
    resolve_device,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
)
from harness.train import SlantedTriangular
from models.base import Backbone
from models.pretrain.base import Objective, TokenSequence
from models.pretrain.registry import ENGINE_GENSIM, ObjectiveSpec, allowed_objectives, build_objective, objective_spec, resolve_options

RECORD_FILE = "pretrain_record.json"
HEAD_FILE = "objective_head.safetensors"
CHECKPOINT = Path("checkpoints") / "last.safetensors"  # harness.checkpoint_file: no pickle
LEGACY_CHECKPOINT = Path("checkpoints") / "last.pt"  # an earlier qabench's torch.save checkpoint, refused by name
CHECKPOINT_FORMAT = "qabench-pretrain-checkpoint"
CHECKPOINT_VERSION = 1
SCHEMA_VERSION = 1
RECURRENT = ("elmo", "ulmfit")

# Config fields a resumed pretraining must share with its checkpoint.
RESUME_MUST_MATCH = (
    "model", "preset", "objective", "options", "corpus", "text_field", "tasks", "per_source", "init", "steps",
    "batch_size", "seq_len", "lr", "warmup", "weight_decay", "clip", "vocab_size", "seed", "pack", "schedule", "lr_decay",
)

_WORDS = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True)
class PretrainConfig:
    """Everything one pretraining needs; the CLI maps its options onto it."""

    model: str  # backbone registry name
    out: str  # output directory: the pretrained backbone, its objective head and the pretrain record
    preset: str = "tiny"  # size preset (ignored with init)
    objective: str | None = None  # default: the backbone's own (models.pretrain.registry)
    options: tuple[tuple[str, str], ...] = ()  # objective options as (name, value) pairs
    corpus: tuple[str, ...] = ()  # text or JSONL files; empty: the tasks' text
    text_field: str = "text"  # the field of JSONL corpus lines that holds the text
    tasks: tuple[str, ...] = ()  # tasks whose training contexts and questions form the corpus
    per_source: int | None = None  # at most this many lines of each corpus file / examples of each task
    data_dir: str | None = None  # the local data mirror for tasks
    init: str | None = None  # continue from this pretrained directory (ULMFiT stage 2), keeping its vocabulary
    steps: int = 1000  # optimizer steps (word2vec: epochs over the corpus)
    batch_size: int = 32
    seq_len: int = 128  # tokens per row, special tokens included
    lr: float | None = None  # default: 5e-4 for transformers, 2e-3 for LSTMs, 0.025 for word2vec
    warmup: float = 0.06  # fraction of the steps of linear warm-up
    weight_decay: float = 0.01
    clip: float = 1.0  # gradient-norm clipping (0: none)
    schedule: str = "auto"  # linear | stlr; auto: stlr for ulmfit, else linear
    lr_decay: float = 2.6  # ULMFiT's discriminative rate factor between layer groups (stlr with init)
    vocab_size: int = 8000  # size of the local WordPiece vocabulary trained on the corpus
    pack: bool = True  # pack short documents together into rows of up to seq_len tokens
    seed: int = 0
    checkpoint_every: int = 0  # write a resumable checkpoint every N steps (0: only at the end)
    device: str = "auto"
    cache_dir: str | None = None  # tokenizer cache (default: $QABENCH_CACHE)
    progress: bool = True

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


@dataclass(frozen=True)
class PretrainResult:
    """Where the pretrained backbone went, its record, and the backbone itself (on CPU, in eval mode)."""

    out: Path
    record: dict[str, Any]
    backbone: Backbone


def split_words(text: str) -> list[str]:
    """Words and punctuation marks, as BERT's pre-tokenizer splits them (casing kept for the entity chunker).

    >>> split_words("Tom's dog, Rex.")
    ['Tom', "'", 's', 'dog', ',', 'Rex', '.']
    """
    return _WORDS.findall(text)


def tokenize_corpus(
    documents: Sequence[Document], tokenizer: PreTrainedTokenizerFast, max_tokens: int, pack: bool = True
) -> list[TokenSequence]:
    """Token sequences of at most ``max_tokens`` tokens, cut at word boundaries; short documents packed when ``pack``."""
    words = [list(d.words) if d.words else split_words(d.text) for d in documents]
    keep = [i for i, w in enumerate(words) if w]
    encoded = tokenizer([words[i] for i in keep], is_split_into_words=True, add_special_tokens=False)
    chunks: list[TokenSequence] = []
    for row, index in enumerate(keep):
        ids, word_ids = encoded["input_ids"][row], encoded.word_ids(row)
        chunks.extend(_chunks(ids, word_ids, words[index], documents[index].tags, max_tokens))
    return _pack(chunks, max_tokens) if pack else chunks


def _chunks(ids: list[int], word_ids: list[int | None], words: list[str], tags: tuple[str, ...], max_tokens: int) -> list[TokenSequence]:
    out: list[TokenSequence] = []
    start = 0
    while start < len(ids):
        end = min(len(ids), start + max_tokens)
        if end < len(ids):  # back off to a word boundary, unless one word fills the whole chunk
            boundary = end
            while boundary > start and word_ids[boundary] == word_ids[boundary - 1]:
                boundary -= 1
            end = boundary if boundary > start else end
        first_word, last_word = word_ids[start], word_ids[end - 1]
        out.append(
            TokenSequence(
                tuple(ids[start:end]),
                tuple(w - first_word for w in word_ids[start:end]),
                tuple(words[first_word : last_word + 1]),
                tuple(tags[first_word : last_word + 1]) if tags else (),
            )
        )
        start = end
    return out


def _pack(chunks: Sequence[TokenSequence], max_tokens: int) -> list[TokenSequence]:
    """Concatenate consecutive chunks while they fit (tags are kept only when every packed chunk has them)."""
    packed: list[TokenSequence] = []
    group: list[TokenSequence] = []

    def flush() -> None:
        if not group:
            return
        ids, word_index, words, tags = [], [], [], []
        tagged = all(c.tags for c in group)
        for chunk in group:
            offset = len(words)
            ids += chunk.ids
            word_index += [w + offset for w in chunk.word_index]
            words += chunk.words
            tags += chunk.tags if tagged else ()
        packed.append(TokenSequence(tuple(ids), tuple(word_index), tuple(words), tuple(tags)))
        group.clear()

    size = 0
    for chunk in chunks:
        if group and size + len(chunk) > max_tokens:
            flush()
            size = 0
        group.append(chunk)
        size += len(chunk)
    flush()
    return packed


# --- the model -------------------------------------------------------------------------------------------------------


def default_lr(backbone: str, spec: ObjectiveSpec) -> float:
    """5e-4 for transformers, 2e-3 for the LSTMs, gensim's 0.025 for word2vec."""
    if spec.engine == ENGINE_GENSIM:
        return 0.025
    return 2e-3 if backbone in RECURRENT else 5e-4


def build_backbone_for(config: PretrainConfig, corpus: Corpus) -> Backbone:
    """The backbone to pretrain: from ``--init`` (its own vocabulary), else a preset over a vocabulary trained on the corpus."""
    from models.errors import ModelError
    from models.registry import build_backbone, load_backbone
    from models.tokenization import train_tokenizer

    try:
        if config.init:
            return load_backbone(config.model, config.init)
        cache = Path(config.cache_dir) / "tokenizers" if config.cache_dir else None
        tokenizer = train_tokenizer([d.text for d in corpus.documents], vocab_size=config.vocab_size, cache_dir=str(cache) if cache else None)
        return build_backbone(config.model, config.preset, tokenizer=tokenizer)
    except ModelError as err:
        option = "--init" if config.init else "--model/--preset"
        raise UserError(f"{option}: {err}") from None


def build_optimizer(
    objective: Objective, config: PretrainConfig, lr: float, schedule: str
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW (no decay on biases and norms) under warm-up + linear decay, or ULMFiT's slanted triangular schedule.

    With ``stlr`` and ``--init`` (ULMFiT's stage 2), layer group i of n (the
    objective's own layers on top) trains at ``lr / lr_decay ** (n - 1 - i)``.
    """
    if schedule == "stlr":
        groups = bottom_up_groups(objective.backbone.layer_groups(), objective)  # the objective's own layers on top
        discriminative = config.init is not None
        params = [
            {"params": g, "lr": lr / (config.lr_decay ** (len(groups) - 1 - i) if discriminative else 1.0)}
            for i, g in enumerate(groups) if g
        ]
        optimizer = adamw(params, lr=lr, weight_decay=config.weight_decay, betas=(0.7, 0.99))
        return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, SlantedTriangular(config.steps))
    optimizer = adamw(decay_groups(objective.parameters(), config.weight_decay), lr=lr)
    return optimizer, get_linear_schedule_with_warmup(optimizer, int(round(config.warmup * config.steps)), config.steps)


# --- the loop --------------------------------------------------------------------------------------------------------


def _check_out(config: PretrainConfig, resume: bool) -> Path:
    out = Path(config.out).expanduser()
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file; give a directory")
    if (out / LEGACY_CHECKPOINT).is_file() and not (out / CHECKPOINT).is_file():
        refuse_legacy_checkpoint(out / LEGACY_CHECKPOINT, "--resume" if resume else "--out")
    if resume:
        if not (out / CHECKPOINT).is_file():
            raise UserError(f"--resume: no checkpoint at {out / CHECKPOINT}; the pretraining to resume writes one (--checkpoint-every N)")
        return out
    if (out / RECORD_FILE).is_file():
        raise UserError(f"--out {out}: already holds a finished pretraining ({RECORD_FILE}); choose another directory")
    if (out / CHECKPOINT).is_file():
        raise UserError(f"--out {out}: holds an interrupted pretraining; pass --resume to continue it, or choose another directory")
    return out


def _load_resume(path: Path, config: PretrainConfig) -> dict[str, Any]:
    """The pretraining checkpoint at ``path``, after checking that it was written with these options."""
    state = load_checkpoint(path, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, "pretraining")
    check_same_config(state["config"], config.to_dict(), RESUME_MUST_MATCH, path)
    return state


def _sample(count: int, batch_size: int, generator: torch.Generator) -> list[int]:
    return torch.randint(count, (batch_size,), generator=generator).tolist()


def pretrain(config: PretrainConfig, resume: bool = False, echo: Callable[[str], None] = print) -> PretrainResult:
    """Pretrain ``config.model`` with its objective on the corpus; write the backbone, its head and the record to ``config.out``."""
    from models.errors import ModelError

    check_options(config)
    try:
        allowed_objectives(config.model)
    except ModelError as err:
        raise UserError(f"--model: {err}") from None
    _check_seq_len(config)
    try:
        spec = objective_spec(config.model, config.objective)
    except ModelError as err:
        raise UserError(f"--objective: {err}") from None
    try:
        options = resolve_options(spec, dict(config.options))
    except ModelError as err:
        raise UserError(f"--option: {err}") from None
    out = _check_out(config, resume)
    if resume and spec.engine == ENGINE_GENSIM:
        raise UserError("--resume: word2vec's gensim training runs in one go and writes no checkpoints; run it again")
    schedule = config.schedule if config.schedule != "auto" else ("stlr" if config.model == "ulmfit" else "linear")
    lr = config.lr if config.lr is not None else default_lr(config.model, spec)
    seed_everything(config.seed)
    corpus = build_corpus(config.corpus, config.tasks, text_field=config.text_field, per_source=config.per_source, data_dir=config.data_dir)
    backbone = build_backbone_for(config, corpus)
    from models.registry import max_positions

    limit = max_positions(backbone.config_dict())
    if limit is not None and config.seq_len > limit:
        raise UserError(f"--seq-len {config.seq_len}: the --init backbone reads at most {limit} positions; use --seq-len {limit} or less")
    sequences = tokenize_corpus(corpus.documents, backbone.tokenizer, config.seq_len - 2, config.pack)
    tokens = sum(len(s) for s in sequences)
    echo(f"corpus: {len(corpus.documents)} documents, {tokens} tokens in {len(sequences)} sequences ({', '.join(corpus.sources)})")
    device = resolve_device(config.device)
    started = time.perf_counter()
    if spec.engine == ENGINE_GENSIM:
        outcome = _run_word2vec(backbone, sequences, spec, options, config, lr)
        head: dict[str, torch.Tensor] = {}
    else:
        outcome, head = _run_torch(backbone, sequences, spec, options, config, lr, schedule, device, out, resume)
    seconds = outcome.pop("seconds", time.perf_counter() - started)
    backbone.to("cpu").eval()

    from models.registry import save_backbone

    out.mkdir(parents=True, exist_ok=True)
    save_backbone(backbone, str(out))
    if head:
        save_file({k: v.detach().to("cpu").contiguous() for k, v in head.items()}, str(out / HEAD_FILE))
    record = pretrain_record(config, spec, options, corpus, sequences, backbone, outcome, seconds, lr, schedule, device)
    write_json_atomic(out / RECORD_FILE, record)
    _remove_checkpoint(out)  # finished: the directory is the pretrained model, not a resumable run
    loss_text = f"final loss {record['final_loss']:.4f}" + (f", perplexity {record['perplexity']:.1f}" if record["perplexity"] else "")
    echo(f"pretrained {config.model} ({record['objective']}) for {record['training']['steps']} steps in {seconds:.1f}s: {loss_text}")
    echo(f"saved: {out} (use it with model.pretrained: {out})")
    return PretrainResult(out, record, backbone)


def check_options(config: PretrainConfig) -> None:
    """Refuse option values no pretraining can use, before any work: one line naming the option.

    >>> check_options(PretrainConfig(model="bert", out="x", lr=float("nan")))
    Traceback (most recent call last):
    ...
    harness.errors.UserError: --lr nan: must be a finite number > 0
    """
    from harness.config import MAX_SEED, MIN_VOCAB_SIZE, device_problem

    checks: list[tuple[str, Any, bool, str]] = [
        ("--steps", config.steps, config.steps >= 1, "must be >= 1"),
        ("--batch-size", config.batch_size, config.batch_size >= 1, "must be >= 1"),
        ("--seq-len", config.seq_len, config.seq_len >= 8, "must be >= 8"),
        ("--lr", config.lr, config.lr is None or 0 < config.lr < math.inf, "must be a finite number > 0"),
        ("--warmup", config.warmup, 0 <= config.warmup < 1, "must be a fraction in [0, 1)"),
        ("--weight-decay", config.weight_decay, 0 <= config.weight_decay < math.inf, "must be a finite number >= 0"),
        ("--vocab-size", config.vocab_size, config.vocab_size >= MIN_VOCAB_SIZE, f"must be >= {MIN_VOCAB_SIZE}"),
        ("--seed", config.seed, 0 <= config.seed <= MAX_SEED, f"must be in [0, {MAX_SEED}]"),
        ("--per-source", config.per_source, config.per_source is None or config.per_source >= 1, "must be >= 1"),
        ("--checkpoint-every", config.checkpoint_every, config.checkpoint_every >= 0, "must be >= 0 (0: never)"),
        ("--device", config.device, not device_problem(config.device), device_problem(config.device)),
    ]
    for option, value, ok, message in checks:
        if not ok:
            raise UserError(f"{option} {value}: {message}")


def _check_seq_len(config: PretrainConfig) -> None:
    """--seq-len must fit the position table of the backbone preset (a pretrained --init is checked once loaded)."""
    from models.errors import ModelError
    from models.registry import preset_max_positions

    if config.init:
        return
    try:
        limit = preset_max_positions(config.model, config.preset)
    except ModelError as err:
        raise UserError(f"--preset: {err}") from None
    if limit is not None and config.seq_len > limit:
        raise UserError(f"--seq-len {config.seq_len}: {config.model} {config.preset} reads at most {limit} positions; use --seq-len {limit} or less")


def _remove_checkpoint(out: Path) -> None:
    (out / CHECKPOINT).unlink(missing_ok=True)
    if (out / CHECKPOINT.parent).is_dir() and not any((out / CHECKPOINT.parent).iterdir()):
        (out / CHECKPOINT.parent).rmdir()


def _run_word2vec(backbone: Backbone, sequences: Sequence[TokenSequence], spec: ObjectiveSpec, options: dict[str, Any], config: PretrainConfig, lr: float) -> dict[str, Any]:
    from models.pretrain.word2vec import train_word2vec

    bar = tqdm(total=config.steps, desc=f"pretrain {spec.name}", unit="epoch", disable=not config.progress, dynamic_ncols=True)
    tokens = sum(len(s) for s in sequences)
    last = {"time": time.perf_counter()}

    def on_epoch(epoch: int, loss: float) -> None:
        now = time.perf_counter()
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}", tok_s=f"{tokens / max(now - last['time'], 1e-9):.0f}", refresh=False)
        last["time"] = now

    run = train_word2vec(backbone, sequences, skip_gram=spec.name == "skipgram", epochs=config.steps, window=options["window"],
                         negative=options["negative"], learning_rate=lr, seed=config.seed, on_epoch=on_epoch)
    bar.close()
    losses = list(run.epoch_losses)
    return {
        "steps": len(losses), "losses": losses, "final_loss": losses[-1] if losses else float("nan"), "parts": {},
        "tokens_seen": run.tokens * len(losses), "seconds": run.seconds, "resumed_from_step": None,
        "extra": {"coverage": {"covered": run.report.covered, "vocab_size": run.report.vocab_size}},
    }


def _run_torch(
    backbone: Backbone, sequences: Sequence[TokenSequence], spec: ObjectiveSpec, options: dict[str, Any], config: PretrainConfig,
    lr: float, schedule: str, device: torch.device, out: Path, resume: bool,
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    objective = build_objective(spec.name, backbone, max_length=config.seq_len, **options)
    objective.prepare(sequences)
    objective.to(device)
    optimizer, scheduler = build_optimizer(objective, config, lr, schedule)
    generator = torch.Generator().manual_seed(config.seed)
    step, tokens_seen, losses, parts_log, elapsed_before, resumed_from = 0, 0, [], [], 0.0, None
    if resume:
        state = _load_resume(out / CHECKPOINT, config)
        objective.load_state_dict(state["objective"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        set_rng_state(state["rng"])
        step, tokens_seen, elapsed_before = int(state["step"]), int(state["tokens_seen"]), float(state["seconds"])
        losses, parts_log = [float(x) for x in state["losses"]], list(json.loads(state["parts_log"]))
        resumed_from = step
    objective.train()
    bar = tqdm(total=config.steps, initial=step, desc=f"pretrain {spec.name}", unit="step", disable=not config.progress, dynamic_ncols=True)
    started, start_tokens = time.perf_counter(), tokens_seen
    while step < config.steps:
        batch = objective.make_batch([sequences[i] for i in _sample(len(sequences), config.batch_size, generator)], generator, step / config.steps)
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        result = objective(batch)
        loss = float(result.loss.detach())
        if not math.isfinite(loss):
            raise UserError(f"pretraining diverged: loss is {loss} at step {step + 1}; try a lower --lr (now {lr})")
        result.loss.backward()
        torch.nn.utils.clip_grad_norm_(objective.parameters(), config.clip if config.clip > 0 else float("inf"))
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        tokens_seen += int(batch["attention_mask"].sum())
        losses.append(loss)
        parts_log.append(result.parts)
        bar.update(1)
        rate = (tokens_seen - start_tokens) / max(time.perf_counter() - started, 1e-9)
        bar.set_postfix(loss=f"{_window_mean(losses):.4f}", tok_s=f"{rate:.0f}", refresh=False)
        if config.checkpoint_every and (step % config.checkpoint_every == 0 or step == config.steps):
            save_checkpoint(out / CHECKPOINT, {
                "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "config": config.to_dict(), "step": step,
                "objective": objective.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "generator": generator.get_state(), "rng": rng_state(), "tokens_seen": tokens_seen,
                "seconds": elapsed_before + time.perf_counter() - started, "losses": torch.tensor(losses, dtype=torch.float64),
                "parts_log": json.dumps(parts_log),
            })
    bar.close()
    parts = _final_parts(parts_log)
    outcome = {
        "steps": step, "losses": losses, "final_loss": _window_mean(losses), "parts": parts, "tokens_seen": tokens_seen,
        "seconds": elapsed_before + time.perf_counter() - started, "resumed_from_step": resumed_from, "extra": {},
    }
    return outcome, objective.head_state()


def _final_parts(parts_log: Sequence[dict[str, float]]) -> dict[str, float]:
    """Each named loss part averaged over the last steps that reported it (multi-task objectives report one task a step)."""
    keys = dict.fromkeys(key for parts in parts_log for key in parts)
    final: dict[str, float] = {}
    for key in keys:
        values = [parts[key] for parts in parts_log if key in parts]
        window = values[-_window(len(values)) :]
        final[key] = sum(window) / len(window)
    return final


def _window(count: int) -> int:
    """Steps averaged into the reported final loss: the last tenth, between 1 and 50."""
    return max(1, min(50, count // 10))


def _window_mean(losses: Sequence[float]) -> float:
    window = _window(len(losses))
    return sum(losses[-window:]) / window if losses else float("nan")


def loss_curve(losses: Sequence[float], points: int = 20) -> list[list[float]]:
    """About ``points`` [step, mean loss over the steps since the previous point] pairs: the shape of training.

    >>> loss_curve([4.0, 3.0, 2.0, 1.0], points=2)
    [[2, 3.5], [4, 1.5]]
    """
    if not losses:
        return []
    size = max(1, math.ceil(len(losses) / points))
    return [[min(i + size, len(losses)), round(sum(losses[i : i + size]) / len(losses[i : i + size]), 6)] for i in range(0, len(losses), size)]


def pretrain_record(
    config: PretrainConfig, spec: ObjectiveSpec, options: dict[str, Any], corpus: Corpus, sequences: Sequence[TokenSequence],
    backbone: Backbone, outcome: dict[str, Any], seconds: float, lr: float, schedule: str, device: torch.device,
) -> dict[str, Any]:
    """The pretrain record (``pretrain_record.json``): what was pretrained, on what, how, and how far the loss fell."""
    final = float(outcome["final_loss"])
    main = outcome["parts"].get("mlm", final)  # MLM + NSP: the perplexity is the MLM's
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "qabench-pretrain",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "qabench_version": __version__,
        "git_commit": git_commit(),
        "backbone": config.model,
        "preset": None if config.init else config.preset,
        "init": config.init,
        "parameters": backbone.num_parameters(),
        "objective": spec.name,
        "objective_summary": spec.summary,
        "objective_paper": spec.paper,
        "objective_options": options,
        "corpus": {
            "sources": list(corpus.sources),
            "sha256": corpus.sha256,
            "documents": len(corpus.documents),
            "lines": len(corpus.documents),
            "sequences": len(sequences),
            "tokens": sum(len(s) for s in sequences),
            "packed": config.pack,
        },
        "tokenizer": {"vocab_size": len(backbone.tokenizer), "trained_on_corpus": config.init is None},
        "training": {
            "steps": outcome["steps"], "unit": "epoch" if spec.engine == ENGINE_GENSIM else "step",
            "batch_size": config.batch_size, "seq_len": config.seq_len, "lr": lr, "schedule": schedule,
            "warmup": config.warmup, "weight_decay": config.weight_decay, "seed": config.seed, "device": str(device),
            "resumed_from_step": outcome["resumed_from_step"],
        },
        "final_loss": final,
        "final_parts": outcome["parts"],
        "perplexity": math.exp(min(main, 50.0)) if spec.perplexity and math.isfinite(main) else None,
        "loss_curve": loss_curve(outcome["losses"]),
        "tokens_seen": outcome["tokens_seen"],
        "seconds": round(seconds, 3),
        "tokens_per_second": outcome["tokens_seen"] / seconds if seconds > 0 else None,
        "hardware": hardware_info(device).to_dict(),
        **outcome["extra"],
    }


def read_pretrain_record(directory: str | Path) -> dict[str, Any] | None:
    """The pretrain record of a pretrained directory, or None when it has none (or it is unreadable)."""
    path = Path(directory).expanduser() / RECORD_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None
