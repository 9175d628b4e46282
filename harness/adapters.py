"""One adapter per answer format: everything that differs between choice, span, tags, score and text.

An :class:`AnswerAdapter` owns, for its format, the whole way from an
:class:`~tasks.types.Example` to a shared head and back to an answer string:

- :meth:`~AnswerAdapter.head_spec`: which shared head answers a task, as the
  plain values of a :class:`models.heads.HeadSpec`;
- :meth:`~AnswerAdapter.rows` and :meth:`~AnswerAdapter.encode`: the columns
  its encoder reads, and one batch of them turned into token features;
- :attr:`~AnswerAdapter.train_columns` and :meth:`~AnswerAdapter.collate`:
  what the trainer batches, padded into the tensors the head reads;
- :meth:`~AnswerAdapter.batch_answers`: one batch's outputs turned back into
  answer strings; :meth:`~AnswerAdapter.predict` batches the evaluation
  windows by length and gives the answers out in example order.

Adding a format means adding one adapter here (and, if no shared head fits,
a head in ``models/heads.py``); nothing else switches on the format. Per
format:

- ``choice``: each candidate's token span in the question (decaNLP writes the
  candidates there: "... negative or positive?"; a candidate the question
  does not name is appended to it) and the gold index; the answer is the
  best-scored candidate.
- ``span``: a long context becomes several windows overlapping by ``stride``
  tokens; each window keeps the character offsets of its context tokens and
  the token positions of the answer (0, the first token, when the window does
  not contain it); the answer is the best span over all windows of an example.
- ``tags``: the context words are pre-split; each word's label sits on its
  first sub-token, every other position is -100; the answer lists the
  labelled spans.
- ``score``: the gold value; the answer is the regressed number.
- ``text`` (the text head, for any task): question and context cut to
  ``max_length`` tokens (no windows: the decoder reads one input), and the
  answer's token ids cut to ``max_answer_tokens - 1``, then EOS; the answer is
  decoded with :class:`harness.text_answers.AnswerCodec`.

>>> adapter_for("span").train_columns[-2:]
('start_position', 'end_position')
>>> answering_adapter("choice", head_mode="text").format
'text'
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa
import torch
from transformers import PreTrainedTokenizerBase

from harness.errors import UserError
from harness.features import FreedMemory, large_blocks_mapped, read_columns, read_rows, sorted_batches
from harness.scaffold import autocast
from harness.text_answers import AnswerCodec
from models.heads import IGNORE_INDEX, TEXT, HeadOutput, HeadSpec, best_spans
from models.text_head import special_ids
from tasks.tagging import UNTAGGED, is_bio, tags_to_answer
from tasks.types import Example, Task

if TYPE_CHECKING:  # only for annotations: both modules import this one
    from harness.evaluate import EvalSet, EvalSettings
    from harness.features import FeatureConfig

Columns = Mapping[str, list]
"""A batch of feature rows as columns (``dataset[start:stop]``)."""

Answer = tuple[int, str]
"""``(example index, answer string)``."""


def pad_rows(rows: Sequence[Sequence[int]], value: int, width: int) -> torch.Tensor:
    """Rows of ids right-padded with ``value`` to ``width``: [B, width] long.

    One NumPy fill for the whole batch (a copy per row cost a tensor
    operation each: most of a small model's collation).

    >>> pad_rows([[1, 2, 3], [4]], 0, 4).tolist()
    [[1, 2, 3, 0], [4, 0, 0, 0]]
    """
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    out = np.full((len(rows), width), value, dtype=np.int64)
    out[np.arange(width) < lengths[:, None]] = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=int(lengths.sum()))
    return torch.from_numpy(out)


class AnswerAdapter(ABC):
    """Features, batches and answers of one answer format (see the module docstring)."""

    format: ClassVar[str]
    train_columns: ClassVar[tuple[str, ...]]  # the feature columns the trainer batches; the rest serve evaluation
    keeps_case: ClassVar[bool] = False  # its answers are written token by token, so a local vocabulary must keep case and accents
    label_layer: ClassVar[bool] = False  # its head has an output per label: tasks share a layer per label set
    # Evaluation columns handed to batch_answers as Arrow arrays, not Python lists: big nested ones (a
    # window's character offsets), whose many small Python objects, made and freed batch after batch
    # around the answers that stay, would leave the heap fragmented and growing.
    arrow_columns: ClassVar[tuple[str, ...]] = ()

    def head_spec(self, task: Task, label_set: str, task_specific: bool, decoder: str) -> HeadSpec:
        """The head that answers ``task``: the format's shared one, or with ``task_specific`` the task's own."""
        return HeadSpec(format=self.format, task_specific=task_specific)

    @abstractmethod
    def rows(self, examples: Sequence[Example], labels: Sequence[str]) -> list[dict[str, Any]]:
        """The columns :meth:`encode` reads, one row per example (``labels``: the task's label names)."""

    @abstractmethod
    def encode(self, batch: Columns, indices: list[int], tokenizer: PreTrainedTokenizerBase, config: FeatureConfig) -> dict[str, list]:
        """One batch of :meth:`rows` -> features, one row per window.

        Every feature row has ``input_ids``, ``token_type_ids``,
        ``example_index`` (from ``indices``) and ``length``.
        """

    def collate(self, columns: Columns, pad_id: int, multiple: int = 1) -> dict[str, torch.Tensor]:
        """Pad one batch (``dataset[indices]``) to its longest row, rounded up to a ``multiple`` of tokens.

        Returns ``input_ids``, ``attention_mask``, ``token_type_ids`` [B, T]
        and the format's fields, with the names its head reads; label fields
        only when the columns carry them.
        """
        ids = columns["input_ids"]
        width = -(-max(len(row) for row in ids) // multiple) * multiple
        lengths = torch.tensor([len(row) for row in ids])
        batch = {
            "input_ids": pad_rows(ids, pad_id, width),  # [B, T]
            "attention_mask": (torch.arange(width).unsqueeze(0) < lengths.unsqueeze(1)).long(),  # [B, T]
            "token_type_ids": pad_rows(columns["token_type_ids"], 0, width),  # [B, T]
        }
        batch.update(self.fields(columns, width))
        return batch

    def fields(self, columns: Columns, width: int) -> dict[str, torch.Tensor]:
        """The format's own tensors of one batch padded to ``width`` tokens."""
        return {}

    def predict(self, model: Any, eval_set: EvalSet, settings: EvalSettings) -> Iterator[Answer]:
        """``(example index, answer string)`` for every example of ``eval_set``, in example order.

        The windows are read ``settings.sort_chunk`` batches at a time; within
        such a chunk they are batched longest first, so a batch pads little
        (windows of similar length together), and the answers are put back in
        example order before they are given out. An example whose windows all
        lie in the chunks read so far is final: after each chunk the examples
        before its last window's are given out, the rest at the end. Of an
        example's windows (span) the best-scored answer wins, the first window
        on a tie, whatever order they were batched in. Padding changes no
        answer: every head masks it. Memory stays flat in the number of
        examples: a chunk keeps only its lengths and example indices, each
        batch's rows are read through a memory map of their own
        (:func:`read_rows`), and freed memory is given back before the
        chunk's large batches (:class:`FreedMemory`).
        """
        best: dict[int, tuple[float, int, str]] = {}  # example index -> (score, window row, answer) of the examples still open
        chunk_rows = settings.batch_size * max(1, settings.sort_chunk)
        heap = FreedMemory()
        heap.release()  # what preparing the run left behind
        with large_blocks_mapped():  # a batch's tensors leave no holes in the heap when freed
            for first_row in range(0, len(eval_set.features), chunk_rows):
                chunk = read_columns(eval_set.features, ("length", "example_index"), first_row, first_row + chunk_rows)
                lengths = chunk["length"]
                batches = sorted_batches(lengths, settings.batch_size)
                for positions in batches:
                    if positions is batches[0]:
                        heap.release()  # before the chunk's largest batch
                    elif 2 * len(positions) * lengths[positions[0]] >= len(batches[0]) * lengths[batches[0][0]]:
                        heap.release_if_grown()  # before its other large batches, where the heap has grown
                    taken = read_rows(eval_set.features, [first_row + p for p in positions])
                    columns = {name: taken.column(name) if name in self.arrow_columns else taken.column(name).to_pylist() for name in taken.column_names}
                    batch = {k: v.to(settings.device) for k, v in self.collate(columns, settings.pad_id, settings.pad_multiple).items()}
                    for position, (example, score, answer) in zip(positions, self.batch_answers(model, eval_set, settings, columns, batch)):
                        window = first_row + position
                        kept = best.get(example)
                        if kept is None or score > kept[0] or (score == kept[0] and window < kept[1]):
                            best[example] = (score, window, answer)
                    del taken, columns, batch
                last = chunk["example_index"][-1]  # its later windows may be in the next chunk
                for example in sorted(e for e in best if e < last):
                    yield example, best.pop(example)[2]
        for example in sorted(best):
            yield example, best.pop(example)[2]

    @abstractmethod
    def batch_answers(self, model: Any, eval_set: EvalSet, settings: EvalSettings, columns: Columns, batch: dict[str, torch.Tensor]) -> Iterator[tuple[int, float, str]]:
        """``(example index, score, answer)`` for each feature row of one batch (``columns`` on the host, ``batch`` on the device).

        ``score`` ranks the answers of one example's windows (span); a format
        with one row per example gives 0.
        """


class RowAnswerAdapter(AnswerAdapter):
    """A format whose features have one row per example, each answered from one forward pass of its head."""

    def batch_answers(self, model: Any, eval_set: EvalSet, settings: EvalSettings, columns: Columns, batch: dict[str, torch.Tensor]) -> Iterator[tuple[int, float, str]]:
        with autocast(settings.device):
            out = model(eval_set.task.name, batch)
        for example, answer in self.answers(out, columns, eval_set.task, eval_set.examples):
            yield example, 0.0, answer

    @abstractmethod
    def answers(self, out: HeadOutput, columns: Columns, task: Task, examples: Sequence[Example]) -> Iterator[Answer]:
        """The answers of one batch's examples, from the head's output."""


def _pair_encoding(tokenizer: PreTrainedTokenizerBase, batch: Columns, config: FeatureConfig, **options: Any) -> Any:
    """Question and context as the two segments of one input, the context cut to fit."""
    return tokenizer(batch["question"], batch["context"], truncation="only_second", max_length=config.max_length, return_token_type_ids=True, **options)


def _lengths(input_ids: Sequence[Sequence[int]]) -> list[int]:
    return [len(ids) for ids in input_ids]


# --- choice ----------------------------------------------------------------------------------------------------------


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


class ChoiceAdapter(RowAnswerAdapter):
    """One of a fixed list of candidates, named in the question; the choice head scores each."""

    format = "choice"
    train_columns = ("input_ids", "token_type_ids", "choice_spans", "label")

    def head_spec(self, task: Task, label_set: str, task_specific: bool, decoder: str) -> HeadSpec:
        """The label-word scorer shared by every choice task, or with a ``label_set`` (``heads.choice: linear``) its linear layer."""
        return HeadSpec(format=self.format, num_labels=len(task.labels) if label_set else 0, label_set=label_set, task_specific=task_specific)

    def rows(self, examples: Sequence[Example], labels: Sequence[str]) -> list[dict[str, Any]]:
        return [{"question": e.question, "context": e.context, "choices": list(e.choices), "label": e.label_index} for e in examples]

    def encode(self, batch: Columns, indices: list[int], tokenizer: PreTrainedTokenizerBase, config: FeatureConfig) -> dict[str, list]:
        questions, spans = zip(*(locate_choices(q, c) for q, c in zip(batch["question"], batch["choices"])))
        enc = _pair_encoding(tokenizer, {"question": list(questions), "context": batch["context"]}, config, return_offsets_mapping=True)
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
            "length": _lengths(enc["input_ids"]),
        }

    def fields(self, columns: Columns, width: int) -> dict[str, torch.Tensor]:
        counts = np.fromiter(map(len, columns["choice_spans"]), dtype=np.int64)
        mask = np.arange(counts.max()) < counts[:, None]  # [B, C]
        spans = np.zeros((*mask.shape, 2), dtype=np.int64)  # [B, C, 2]
        pairs = itertools.chain.from_iterable(itertools.chain.from_iterable(columns["choice_spans"]))
        spans[mask] = np.fromiter(pairs, dtype=np.int64, count=2 * int(counts.sum())).reshape(-1, 2)
        out = {"choice_spans": torch.from_numpy(spans), "choice_mask": torch.from_numpy(mask)}
        if "label" in columns:
            out["labels"] = torch.tensor(columns["label"], dtype=torch.long)
        return out

    def answers(self, out: HeadOutput, columns: Columns, task: Task, examples: Sequence[Example]) -> Iterator[Answer]:
        for row, choice in zip(columns["example_index"], out.logits.argmax(dim=-1).tolist()):
            yield row, examples[row].choices[choice]


# --- span ------------------------------------------------------------------------------------------------------------


class SpanAdapter(AnswerAdapter):
    """A substring of the context; the span head points at its start and end in each window."""

    format = "span"
    train_columns = ("input_ids", "token_type_ids", "context_start", "context_end", "start_position", "end_position")
    arrow_columns = ("offsets",)

    def rows(self, examples: Sequence[Example], labels: Sequence[str]) -> list[dict[str, Any]]:
        return [{"question": e.question, "context": e.context, "answer": e.answer, "answer_start": -1 if e.answer_start is None else e.answer_start} for e in examples]

    def encode(self, batch: Columns, indices: list[int], tokenizer: PreTrainedTokenizerBase, config: FeatureConfig) -> dict[str, list]:
        enc = _pair_encoding(tokenizer, batch, config, stride=config.stride, return_overflowing_tokens=True, return_offsets_mapping=True)
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

    def fields(self, columns: Columns, width: int) -> dict[str, torch.Tensor]:
        positions = torch.arange(width).unsqueeze(0)  # [1, T]
        start = torch.tensor(columns["context_start"]).unsqueeze(1)
        end = torch.tensor(columns["context_end"]).unsqueeze(1)
        out = {"context_mask": (positions >= start) & (positions < end)}  # [B, T]
        if "start_position" in columns:
            out["start_positions"] = torch.tensor(columns["start_position"], dtype=torch.long)
            out["end_positions"] = torch.tensor(columns["end_position"], dtype=torch.long)
        return out

    def batch_answers(self, model: Any, eval_set: EvalSet, settings: EvalSettings, columns: Columns, batch: dict[str, torch.Tensor]) -> Iterator[tuple[int, float, str]]:
        """Each window's best span (within ``settings.max_answer_length`` tokens) and its score; the best window wins (:meth:`predict`)."""
        with autocast(settings.device):
            out = model(eval_set.task.name, batch)
        starts, ends, scores = best_spans(out.logits, out.end_logits, batch["context_mask"], settings.max_answer_length)
        first, last = character_bounds(columns["offsets"], starts.tolist(), ends.tolist())
        for example, score, begin, end in zip(columns["example_index"], scores.tolist(), first, last):
            yield example, score, eval_set.examples[example].context[begin:end]


def character_bounds(offsets: pa.ChunkedArray | pa.ListArray, starts: Sequence[int], ends: Sequence[int]) -> tuple[list[int], list[int]]:
    """The first character of token ``starts[i]`` and the end of token ``ends[i]`` in window ``i``, read off its ``offsets`` column.

    ``offsets`` holds one ``[start, end]`` pair per token of each window
    (Arrow ``list<list<int64>>``); only the two pairs wanted are read.

    >>> character_bounds(pa.array([[[0, 3], [4, 9]], [[0, 2]]]), [0, 0], [1, 0])
    ([0, 0], [9, 2])
    """
    windows = offsets.combine_chunks() if isinstance(offsets, pa.ChunkedArray) else offsets
    pairs = windows.values  # [tokens of all windows] -> [start, end]
    window_starts = windows.offsets.to_numpy()  # [windows + 1], into pairs
    pair_starts = pairs.offsets.to_numpy()  # [tokens + 1], into values
    values = pairs.values.to_numpy()
    first = window_starts[:-1] + np.asarray(starts, dtype=np.int64)
    last = window_starts[:-1] + np.asarray(ends, dtype=np.int64)
    return values[pair_starts[first]].tolist(), values[pair_starts[last] + 1].tolist()


# --- tags ------------------------------------------------------------------------------------------------------------


class TagsAdapter(RowAnswerAdapter):
    """One label per context word; the tag head labels each word's first sub-token."""

    format = "tags"
    train_columns = ("input_ids", "token_type_ids", "labels")
    label_layer = True

    def head_spec(self, task: Task, label_set: str, task_specific: bool, decoder: str) -> HeadSpec:
        return HeadSpec(format=self.format, num_labels=len(task.labels), label_set=label_set, task_specific=task_specific)

    def rows(self, examples: Sequence[Example], labels: Sequence[str]) -> list[dict[str, Any]]:
        label_ids = {label: i for i, label in enumerate(labels)}
        rows = []
        for e in examples:
            unknown = [t for t in e.tags if t not in label_ids]
            if unknown:
                raise UserError(f"example {e.id!r}: tag {unknown[0]!r} is not in the task's labels ({', '.join(labels)})")
            rows.append({"question": e.question, "tokens": list(e.tokens), "tags": [label_ids[t] for t in e.tags]})
        return rows

    def encode(self, batch: Columns, indices: list[int], tokenizer: PreTrainedTokenizerBase, config: FeatureConfig) -> dict[str, list]:
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
            "length": _lengths(enc["input_ids"]),
        }

    def fields(self, columns: Columns, width: int) -> dict[str, torch.Tensor]:
        return {"labels": pad_rows(columns["labels"], IGNORE_INDEX, width)} if "labels" in columns else {}

    def answers(self, out: HeadOutput, columns: Columns, task: Task, examples: Sequence[Example]) -> Iterator[Answer]:
        scheme = "bio" if is_bio(task.labels) else "token"
        labels = out.logits.argmax(dim=-1).tolist()  # [B, T]
        for row, words, predicted in zip(columns["example_index"], columns["word_ids"], labels):
            tokens = examples[row].tokens
            tags = [UNTAGGED[scheme]] * len(tokens)  # words cut off by truncation stay untagged
            for word, label in zip(words, predicted):
                if word >= 0:
                    tags[word] = task.labels[label]
            yield row, tags_to_answer(tokens, tags, scheme)


# --- score -----------------------------------------------------------------------------------------------------------


def format_number(value: float) -> str:
    """A score-head prediction as text.

    >>> format_number(3.14159)
    '3.1416'
    """
    return f"{value:.4f}"


class ScoreAdapter(RowAnswerAdapter):
    """A number (a similarity from 0 to 5); the score head regresses it."""

    format = "score"
    train_columns = ("input_ids", "token_type_ids", "value")

    def rows(self, examples: Sequence[Example], labels: Sequence[str]) -> list[dict[str, Any]]:
        return [{"question": e.question, "context": e.context, "value": float(e.value if e.value is not None else float(e.answer))} for e in examples]

    def encode(self, batch: Columns, indices: list[int], tokenizer: PreTrainedTokenizerBase, config: FeatureConfig) -> dict[str, list]:
        enc = _pair_encoding(tokenizer, batch, config)
        return {
            "input_ids": enc["input_ids"],
            "token_type_ids": enc["token_type_ids"],
            "value": batch["value"],
            "example_index": indices,
            "length": _lengths(enc["input_ids"]),
        }

    def fields(self, columns: Columns, width: int) -> dict[str, torch.Tensor]:
        return {"values": torch.tensor(columns["value"], dtype=torch.float)} if "value" in columns else {}

    def answers(self, out: HeadOutput, columns: Columns, task: Task, examples: Sequence[Example]) -> Iterator[Answer]:
        for row, value in zip(columns["example_index"], out.logits.tolist()):
            yield row, format_number(value)


# --- text ------------------------------------------------------------------------------------------------------------


class TextAdapter(AnswerAdapter):
    """Free text, written by the text head; every task can be answered this way (head mode ``text``)."""

    format = TEXT
    train_columns = ("input_ids", "token_type_ids", "answer_ids")
    keeps_case = True  # a generated answer must come back cased and with its accents (German, "None")

    def head_spec(self, task: Task, label_set: str, task_specific: bool, decoder: str) -> HeadSpec:
        """The one text head all text tasks share (decaNLP), of size ``decoder``."""
        return HeadSpec(format=self.format, decoder=decoder)

    def rows(self, examples: Sequence[Example], labels: Sequence[str]) -> list[dict[str, Any]]:
        return [{"question": e.question, "context": e.context, "answer": e.answer} for e in examples]

    def encode(self, batch: Columns, indices: list[int], tokenizer: PreTrainedTokenizerBase, config: FeatureConfig) -> dict[str, list]:
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
            "length": _lengths(enc["input_ids"]),
        }

    def fields(self, columns: Columns, width: int) -> dict[str, torch.Tensor]:
        if "answer_ids" not in columns:
            return {}
        # Padded with IGNORE_INDEX: no loss there (and PAD may be a tokenizer's EOS).
        return {"answer_ids": pad_rows(columns["answer_ids"], IGNORE_INDEX, max(len(row) for row in columns["answer_ids"]))}

    def batch_answers(self, model: Any, eval_set: EvalSet, settings: EvalSettings, columns: Columns, batch: dict[str, torch.Tensor]) -> Iterator[tuple[int, float, str]]:
        """Decoded with ``settings.decoding``; the ids written back as text, copied stretches as they stand in the context and question."""
        codec = AnswerCodec.for_tokenizer(model.backbone.tokenizer)
        with autocast(settings.device):
            answers = model.generate(eval_set.task.name, batch, settings.decoding)
        for example, ids in zip(columns["example_index"], answers):
            source = eval_set.examples[example]
            yield example, 0.0, codec.decode(ids, sources=(source.context, source.question))


# --- the adapters by format ------------------------------------------------------------------------------------------

ADAPTERS: dict[str, AnswerAdapter] = {a.format: a for a in (ChoiceAdapter(), SpanAdapter(), TagsAdapter(), ScoreAdapter(), TextAdapter())}
"""Every answer format's adapter, by format name (``tasks.types.FORMATS``)."""


def adapter_for(fmt: str) -> AnswerAdapter:
    """The adapter of answer format ``fmt``."""
    try:
        return ADAPTERS[fmt]
    except KeyError:
        raise ValueError(f"no adapter for answer format {fmt!r}; formats: {', '.join(ADAPTERS)}") from None


def answering_adapter(task_format: str, head_mode: str) -> AnswerAdapter:
    """The adapter of the head that answers a task of ``task_format``: its own (mode ``typed``), or the text head's (mode ``text``)."""
    return ADAPTERS[TEXT] if head_mode == TEXT else adapter_for(task_format)


def head_specs(
    tasks: Sequence[Task], task_specific: bool, head_mode: str = "typed", decoder: str = "small", choice: str = "words", copy_spans: bool = False
) -> dict[str, HeadSpec]:
    """Each task's head: shared per format, output layers shared per label set (or one per task when ``task_specific``).

    In head mode ``text`` every task answers through the one text head (a
    ``decoder``-sized :class:`models.text_head.TextHead`); in mode ``typed``
    only the tasks whose format is ``text`` (translation, dialogue state) do.
    With ``choice="linear"`` a choice task with a fixed label set gets a
    linear layer per label set (:class:`models.heads.ClassifierHead`) instead
    of the shared label-word scorer. A label set is named after the first
    task (by name) that has it. ``copy_spans``: the text head's pointer
    copies spans (:class:`models.text_head.TextHead`).
    """
    adapters = {t.name: answering_adapter(t.format, head_mode) for t in tasks}

    def label_layer(t: Task) -> bool:
        adapter = adapters[t.name]
        return adapter.label_layer or (adapter.format == "choice" and choice == "linear" and bool(t.labels))

    label_sets: dict[tuple[str, ...], str] = {}
    for t in sorted(tasks, key=lambda t: t.name):
        if label_layer(t):
            label_sets.setdefault((t.format, *t.labels), t.name)
    specs = {t.name: adapters[t.name].head_spec(t, label_sets[(t.format, *t.labels)] if label_layer(t) else "", task_specific, decoder) for t in tasks}
    return {name: dataclasses.replace(spec, copy_spans=copy_spans) if spec.format == TEXT else spec for name, spec in specs.items()}
