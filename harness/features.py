"""Examples -> token features for the typed heads, cached with datasets' fingerprinted ``map``.

Question and context are the two segments of one input (``[CLS] question
[SEP] context [SEP]`` for BERT's tokenizer). Per format:

- ``choice``: each candidate's token span in the question (decaNLP writes the
  candidates there: "... negative or positive?"; a candidate the question
  does not name is appended to it) and the gold index.
- ``span``: a long context becomes several windows overlapping by ``stride``
  tokens; each window keeps the character offsets of its context tokens and
  the token positions of the answer (0, the first token, when the window does
  not contain it).
- ``tags``: the context words are pre-split; each word's label sits on its
  first sub-token, every other position is -100.
- ``score``: the gold value.
- ``text`` (the text head, for any task): question and context cut to
  ``max_length`` tokens (no windows: the decoder reads one input), and the
  answer's token ids cut to ``max_answer_tokens - 1``, then EOS.

Features are cached under ``<cache_dir>/features/<key>.arrow``, where the key
hashes the examples' fingerprint, the tokenizer and this module's settings, so
a second identical run loads them instead of tokenizing again.

>>> # dataset = build_features("span", examples, tokenizer, FeatureConfig(max_length=384, stride=128))
>>> # batch = collate("span", dataset[0:8], pad_id=tokenizer.pad_token_id)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Mapping, Sequence

import datasets
import numpy as np
import torch
from datasets.table import InMemoryTable
from transformers import PreTrainedTokenizerBase

from harness.errors import UserError
from models.heads import IGNORE_INDEX
from models.text_head import special_ids
from tasks.types import Example

FEATURES_VERSION = "1"  # bump when the features below change, so old caches are not reused

# Columns the trainer batches; the rest (offsets, word ids) serve evaluation.
TRAIN_COLUMNS: dict[str, tuple[str, ...]] = {
    "choice": ("input_ids", "token_type_ids", "choice_spans", "label"),
    "span": ("input_ids", "token_type_ids", "context_start", "context_end", "start_position", "end_position"),
    "tags": ("input_ids", "token_type_ids", "labels"),
    "score": ("input_ids", "token_type_ids", "value"),
    "text": ("input_ids", "token_type_ids", "answer_ids"),
}


@dataclass(frozen=True)
class FeatureConfig:
    """How examples become token windows."""

    max_length: int = 256  # tokens per window
    stride: int = 64  # overlap of consecutive windows of one long context
    max_answer_tokens: int = 64  # text: answer tokens kept, EOS included


def default_cache_dir() -> Path:
    """``$QABENCH_CACHE`` or ``~/.cache/qabench``."""
    return Path(os.environ.get("QABENCH_CACHE") or Path.home() / ".cache" / "qabench")


def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerBase) -> str:
    """sha256 of everything about a fast tokenizer that changes its output.

    The backend's truncation and padding state is left out: each call sets it.
    """
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    state.pop("truncation", None)
    state.pop("padding", None)
    digest = hashlib.sha256(type(tokenizer).__name__.encode())
    digest.update(json.dumps(state, sort_keys=True).encode())
    digest.update(str(tokenizer.pad_token_id).encode())
    return digest.hexdigest()


def cache_key(fmt: str, examples_fingerprint: str, tokenizer: PreTrainedTokenizerBase, config: FeatureConfig, labels: Sequence[str]) -> str:
    """The name of the cached features of these examples under this tokenizer and config."""
    parts = [FEATURES_VERSION, fmt, examples_fingerprint, tokenizer_fingerprint(tokenizer), json.dumps(asdict(config)), json.dumps(list(labels))]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def build_features(
    fmt: str,
    examples: Sequence[Example],
    tokenizer: PreTrainedTokenizerBase,
    config: FeatureConfig,
    labels: Sequence[str] = (),
    examples_fingerprint: str | None = None,
    cache_dir: str | Path | None = None,
) -> datasets.Dataset:
    """The features of ``examples`` (one row per window), from the cache when they are there.

    Every row has ``example_index`` (position in ``examples``) and ``length``.
    """
    from tasks.data import fingerprint

    if not examples:
        raise UserError("no examples to build features from; check the task's split and limit")
    if fmt not in TRAIN_COLUMNS:
        raise ValueError(f"no features for format {fmt!r}")
    datasets.disable_progress_bars()
    key = cache_key(fmt, examples_fingerprint or fingerprint(examples), tokenizer, config, labels)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = root / "features" / f"{fmt}-{key}.arrow"
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = Dataset_from_examples(fmt, examples, labels, fingerprint=key)
    encode = partial(_ENCODERS[fmt], tokenizer=tokenizer, config=config)
    return rows.map(
        encode,
        batched=True,
        batch_size=1000,
        with_indices=True,
        remove_columns=rows.column_names,
        cache_file_name=str(path),
        new_fingerprint=key,
        load_from_cache_file=True,
    )


def Dataset_from_examples(fmt: str, examples: Sequence[Example], labels: Sequence[str], fingerprint: str) -> datasets.Dataset:  # noqa: N802 - reads as a constructor
    """The columns each format's encoder reads, one row per example.

    The dataset gets ``fingerprint`` (the cache key) instead of the one
    ``datasets`` would compute by pickling the whole table: same identity,
    no hashing of every row.
    """
    if fmt == "choice":
        rows = [{"question": e.question, "context": e.context, "choices": list(e.choices), "label": e.label_index} for e in examples]
    elif fmt == "span":
        rows = [{"question": e.question, "context": e.context, "answer": e.answer, "answer_start": -1 if e.answer_start is None else e.answer_start} for e in examples]
    elif fmt == "tags":
        label_ids = {label: i for i, label in enumerate(labels)}
        rows = []
        for e in examples:
            unknown = [t for t in e.tags if t not in label_ids]
            if unknown:
                raise UserError(f"example {e.id!r}: tag {unknown[0]!r} is not in the task's labels ({', '.join(labels)})")
            rows.append({"question": e.question, "tokens": list(e.tokens), "tags": [label_ids[t] for t in e.tags]})
    elif fmt == "text":
        rows = [{"question": e.question, "context": e.context, "answer": e.answer} for e in examples]
    else:
        rows = [{"question": e.question, "context": e.context, "value": float(e.value if e.value is not None else float(e.answer))} for e in examples]
    return datasets.Dataset(InMemoryTable.from_pylist(rows), fingerprint=f"rows-{fingerprint}")


# --- encoders: one batch of rows -> a batch of features ---------------------------------------------------------------


def locate_choices(question: str, choices: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """The question (with unnamed choices appended) and each choice's character span in it.

    A choice is found as a whole word, case-insensitively, at its last
    occurrence (the choices are listed at the end of decaNLP's questions).

    >>> locate_choices("Is this review negative or positive?", ["negative", "positive"])
    ('Is this review negative or positive?', [(15, 23), (27, 35)])
    >>> locate_choices("Same meaning?", ["yes", "no"])
    ('Same meaning? yes no', [(14, 17), (18, 20)])
    """
    spans: list[tuple[int, int]] = []
    for choice in choices:
        found = list(re.finditer(rf"(?<!\w){re.escape(choice)}(?!\w)", question, flags=re.IGNORECASE))
        if found:
            spans.append((found[-1].start(), found[-1].end()))
        else:
            question = f"{question} {choice}"
            spans.append((len(question) - len(choice), len(question)))
    return question, spans


def _char_span_to_tokens(offsets: Sequence[tuple[int, int]], sequence_ids: Sequence[int | None], start: int, end: int, segment: int) -> tuple[int, int]:
    """Token span ``[first, last + 1)`` of the tokens of ``segment`` inside characters ``[start, end)``."""
    hits = [i for i, (s, e) in enumerate(offsets) if sequence_ids[i] == segment and e > s and s < end and e > start]
    return (hits[0], hits[-1] + 1) if hits else (0, 0)


def _encode_choice(batch: Mapping[str, list], indices: list[int], tokenizer: PreTrainedTokenizerBase, config: FeatureConfig) -> dict[str, list]:
    questions, spans = zip(*(locate_choices(q, c) for q, c in zip(batch["question"], batch["choices"])))
    enc = tokenizer(list(questions), batch["context"], truncation="only_second", max_length=config.max_length, return_offsets_mapping=True, return_token_type_ids=True)
    choice_spans = []
    for i, char_spans in enumerate(spans):
        seq_ids = enc.sequence_ids(i)
        choice_spans.append([list(_char_span_to_tokens(enc["offset_mapping"][i], seq_ids, s, e, 0)) for s, e in char_spans])
    return {
        "input_ids": enc["input_ids"],
        "token_type_ids": enc["token_type_ids"],
        "choice_spans": choice_spans,
        "label": batch["label"],
        "example_index": indices,
        "length": [len(ids) for ids in enc["input_ids"]],
    }


def _encode_span(batch: Mapping[str, list], indices: list[int], tokenizer: PreTrainedTokenizerBase, config: FeatureConfig) -> dict[str, list]:
    enc = tokenizer(
        batch["question"],
        batch["context"],
        truncation="only_second",
        max_length=config.max_length,
        stride=config.stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        return_token_type_ids=True,
    )
    out: dict[str, list] = {k: [] for k in ("input_ids", "token_type_ids", "context_start", "context_end", "start_position", "end_position", "offsets", "example_index", "length")}
    for i, offsets in enumerate(enc["offset_mapping"]):
        row = enc["overflow_to_sample_mapping"][i]
        seq_ids = enc.sequence_ids(i)
        context = [j for j, s in enumerate(seq_ids) if s == 1]
        first, last = context[0], context[-1]
        answer_start = batch["answer_start"][row]
        answer_end = answer_start + len(batch["answer"][row])
        start_position = end_position = 0  # the answer is not in this window
        if answer_start >= 0 and offsets[first][0] <= answer_start and offsets[last][1] >= answer_end:
            start_position = next(j for j in context if offsets[j][1] > answer_start)
            end_position = max(j for j in context if offsets[j][0] < answer_end)
        out["input_ids"].append(enc["input_ids"][i])
        out["token_type_ids"].append(enc["token_type_ids"][i])
        out["context_start"].append(first)
        out["context_end"].append(last + 1)
        out["start_position"].append(start_position)
        out["end_position"].append(end_position)
        out["offsets"].append([list(o) if s == 1 else [-1, -1] for o, s in zip(offsets, seq_ids)])
        out["example_index"].append(indices[row])
        out["length"].append(len(enc["input_ids"][i]))
    return out


def _encode_tags(batch: Mapping[str, list], indices: list[int], tokenizer: PreTrainedTokenizerBase, config: FeatureConfig) -> dict[str, list]:
    questions = [q.split() for q in batch["question"]]
    enc = tokenizer(questions, batch["tokens"], is_split_into_words=True, truncation="only_second", max_length=config.max_length, return_token_type_ids=True)
    labels, word_ids = [], []
    for i, tags in enumerate(batch["tags"]):
        seq_ids, words = enc.sequence_ids(i), enc.word_ids(i)
        row_labels, row_words, previous = [], [], None
        for segment, word in zip(seq_ids, words):
            first_piece = segment == 1 and word is not None and word != previous
            row_labels.append(tags[word] if first_piece else IGNORE_INDEX)
            row_words.append(word if first_piece else -1)
            if segment == 1:
                previous = word
        labels.append(row_labels)
        word_ids.append(row_words)
    return {
        "input_ids": enc["input_ids"],
        "token_type_ids": enc["token_type_ids"],
        "labels": labels,
        "word_ids": word_ids,
        "example_index": indices,
        "length": [len(ids) for ids in enc["input_ids"]],
    }


def _encode_score(batch: Mapping[str, list], indices: list[int], tokenizer: PreTrainedTokenizerBase, config: FeatureConfig) -> dict[str, list]:
    enc = tokenizer(batch["question"], batch["context"], truncation="only_second", max_length=config.max_length, return_token_type_ids=True)
    return {
        "input_ids": enc["input_ids"],
        "token_type_ids": enc["token_type_ids"],
        "value": batch["value"],
        "example_index": indices,
        "length": [len(ids) for ids in enc["input_ids"]],
    }


def _encode_text(batch: Mapping[str, list], indices: list[int], tokenizer: PreTrainedTokenizerBase, config: FeatureConfig) -> dict[str, list]:
    enc = tokenizer(batch["question"], batch["context"], truncation="longest_first", max_length=config.max_length)
    # Segments from the encoding itself: tokenizers without segment ids (GPT-2) say 0 for both.
    token_types = [[1 if segment == 1 else 0 for segment in enc.sequence_ids(i)] for i in range(len(enc["input_ids"]))]
    eos = special_ids(tokenizer).eos
    answers = tokenizer(batch["answer"], add_special_tokens=False)["input_ids"]
    return {
        "input_ids": enc["input_ids"],
        "token_type_ids": token_types,
        "answer_ids": [ids[: config.max_answer_tokens - 1] + [eos] for ids in answers],
        "example_index": indices,
        "length": [len(ids) for ids in enc["input_ids"]],
    }


_ENCODERS = {"choice": _encode_choice, "span": _encode_span, "tags": _encode_tags, "score": _encode_score, "text": _encode_text}


# --- batches ---------------------------------------------------------------------------------------------------------


def _pad(rows: Sequence[Sequence[int]], value: int, width: int) -> torch.Tensor:
    out = torch.full((len(rows), width), value, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.as_tensor(row, dtype=torch.long)
    return out


def collate(fmt: str, columns: Mapping[str, list], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad one batch (``dataset[indices]``, a dict of columns) to its longest row.

    Returns ``input_ids``, ``attention_mask``, ``token_type_ids`` [B, T] and
    the format's fields, with the names :class:`models.heads.MultiTaskModel`
    reads.
    """
    ids = columns["input_ids"]
    width = max(len(row) for row in ids)
    input_ids = _pad(ids, pad_id, width)  # [B, T]
    lengths = torch.tensor([len(row) for row in ids])
    attention_mask = (torch.arange(width).unsqueeze(0) < lengths.unsqueeze(1)).long()  # [B, T]
    batch: dict[str, torch.Tensor] = {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "token_type_ids": _pad(columns["token_type_ids"], 0, width),
    }
    if fmt == "choice":
        most = max(len(spans) for spans in columns["choice_spans"])
        spans = torch.zeros(len(ids), most, 2, dtype=torch.long)  # [B, C, 2]
        mask = torch.zeros(len(ids), most, dtype=torch.bool)  # [B, C]
        for i, row in enumerate(columns["choice_spans"]):
            spans[i, : len(row)] = torch.as_tensor(row, dtype=torch.long).view(-1, 2)
            mask[i, : len(row)] = True
        batch.update(choice_spans=spans, choice_mask=mask)
        if "label" in columns:
            batch["labels"] = torch.tensor(columns["label"], dtype=torch.long)
    elif fmt == "span":
        positions = torch.arange(width).unsqueeze(0)  # [1, T]
        start = torch.tensor(columns["context_start"]).unsqueeze(1)
        end = torch.tensor(columns["context_end"]).unsqueeze(1)
        batch["context_mask"] = (positions >= start) & (positions < end)  # [B, T]
        if "start_position" in columns:
            batch["start_positions"] = torch.tensor(columns["start_position"], dtype=torch.long)
            batch["end_positions"] = torch.tensor(columns["end_position"], dtype=torch.long)
    elif fmt == "tags":
        if "labels" in columns:
            batch["labels"] = _pad(columns["labels"], IGNORE_INDEX, width)
    elif fmt == "score":
        if "value" in columns:
            batch["values"] = torch.tensor(columns["value"], dtype=torch.float)
    elif fmt == "text":
        if "answer_ids" in columns:  # padded with IGNORE_INDEX: no loss there (and PAD may be a tokenizer's EOS)
            batch["answer_ids"] = _pad(columns["answer_ids"], IGNORE_INDEX, max(len(row) for row in columns["answer_ids"]))
    return batch


def length_grouped_batches(lengths: Sequence[int], batch_size: int, rng: np.random.Generator, group: int = 50) -> list[list[int]]:
    """Shuffled batches of row indices whose rows have similar lengths.

    As transformers' ``LengthGroupedSampler``: shuffle, cut into mega-batches
    of ``group`` batches, sort each by length, split into batches, then
    shuffle the order of the batches. Padding shrinks, randomness stays.

    >>> length_grouped_batches([5, 1, 4, 2], 2, np.random.default_rng(0))
    [[3, 1], [0, 2]]
    """
    order = rng.permutation(len(lengths))
    mega = batch_size * group
    batches: list[list[int]] = []
    for start in range(0, len(order), mega):
        chunk = sorted(order[start : start + mega].tolist(), key=lambda i: -lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]
