"""Evaluation: batched predictions turned back into answer strings, each task's metrics, decaScore.

Predictions stream: windows are read in order, an example's answer is final
when its last window has been seen, its JSONL line is written at once, and
only what the metrics need is kept (running sums for per-example metrics; the
strings themselves only when the task has a corpus-level metric). Memory
therefore does not grow with the logits of the examples.

>>> # results = evaluate_tasks(model, eval_sets, batch_size=64, device="cpu", writer=writer)
>>> # deca_score(results)
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import IO, Iterator, Mapping, Sequence

import datasets
import torch

from harness.features import collate
from harness.text_answers import AnswerCodec
from models.heads import TEXT, MultiTaskModel, best_spans
from models.text_head import DecodeConfig
from tasks.tagging import UNTAGGED, is_bio, tags_to_answer
from tasks.types import Example, Task


@dataclass(frozen=True)
class EvalSet:
    """One task's evaluation data: the examples and their features (windows in example order).

    ``head_format`` is the format of the head that answers the task, when it
    is not the task's own (``text``: the text head, for every task in head
    mode text).
    """

    task: Task
    split: str
    examples: Sequence[Example]
    features: datasets.Dataset
    fingerprint: str
    head_format: str | None = None


@dataclass(frozen=True)
class TaskResult:
    """One evaluated task, in the run record's shape."""

    name: str
    version: str
    split: str
    fingerprint: str
    examples: int
    headline: str
    metrics: Mapping[str, float]
    higher_is_better: Mapping[str, bool]
    seconds: float = field(default=0.0, compare=False)

    def to_record(self) -> dict:
        """The task's entry in ``record.json``."""
        return {
            "name": self.name,
            "version": self.version,
            "split": self.split,
            "fingerprint": self.fingerprint,
            "examples": self.examples,
            "headline": self.headline,
            "metrics": dict(self.metrics),
            "higher_is_better": dict(self.higher_is_better),
        }


def deca_score(results: Sequence[TaskResult]) -> float:
    """decaScore: the sum of each task's headline metric."""
    return float(sum(r.metrics[r.headline] for r in results))


def format_number(value: float) -> str:
    """A score-head prediction as text.

    >>> format_number(3.14159)
    '3.1416'
    """
    return f"{value:.4f}"


@torch.no_grad()
def predict(
    model: MultiTaskModel,
    eval_set: EvalSet,
    batch_size: int,
    device: torch.device,
    pad_id: int,
    max_answer_length: int = 30,
    decoding: DecodeConfig = DecodeConfig(),
) -> Iterator[tuple[int, str]]:
    """``(example index, answer string)`` for every example, in order, batch by batch.

    A task answered by the text head is decoded with ``decoding`` and its
    ids written back as text, copied stretches as they stand in the context
    and question (:class:`harness.text_answers.AnswerCodec`).
    """
    task, examples = eval_set.task, eval_set.examples
    fmt = eval_set.head_format or task.format
    codec = AnswerCodec.for_tokenizer(model.backbone.tokenizer) if fmt == TEXT else None
    scheme = "bio" if is_bio(task.labels) else "token"
    best: dict[int, tuple[float, str]] = {}  # span: the best window answer of the examples still open
    features = eval_set.features
    for start in range(0, len(features), batch_size):
        columns = features[start : start + batch_size]
        batch = {k: v.to(device) for k, v in collate(fmt, columns, pad_id).items()}
        rows = columns["example_index"]
        if codec is not None:
            with _autocast(device):
                answers = model.generate(task.name, batch, decoding)
            for row, ids in zip(rows, answers):
                yield row, codec.decode(ids, sources=(examples[row].context, examples[row].question))
            continue
        with _autocast(device):
            out = model(task.name, batch)
        if fmt == "choice":
            for row, choice in zip(rows, out.logits.argmax(dim=-1).tolist()):
                yield row, examples[row].choices[choice]
        elif fmt == "score":
            for row, value in zip(rows, out.logits.tolist()):
                yield row, format_number(value)
        elif fmt == "tags":
            labels = out.logits.argmax(dim=-1).tolist()  # [B, T]
            for row, words, predicted in zip(rows, columns["word_ids"], labels):
                tokens = examples[row].tokens
                tags = [UNTAGGED[scheme]] * len(tokens)  # words cut off by truncation stay untagged
                for word, label in zip(words, predicted):
                    if word >= 0:
                        tags[word] = task.labels[label]
                yield row, tags_to_answer(tokens, tags, scheme)
        else:
            starts, ends, scores = best_spans(out.logits, out.end_logits, batch["context_mask"], max_answer_length)
            for i, row in enumerate(rows):
                offsets = columns["offsets"][i]
                s, e = starts[i].item(), ends[i].item()
                text = examples[row].context[offsets[s][0] : offsets[e][1]]
                score = scores[i].item()
                if row not in best or score > best[row][0]:
                    best[row] = (score, text)
            finished = [r for r in best if r < rows[-1]]  # windows come in example order
            for r in sorted(finished):
                yield r, best.pop(r)[1]
    for r in sorted(best):
        yield r, best.pop(r)[1]


class _Accumulator:
    """Keeps what the task's metrics need: sums of per-example scores, and the strings for corpus metrics."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.sums = {m.name: 0.0 for m in task.metrics if m.decomposable}
        self.needs_all = any(not m.decomposable for m in task.metrics)
        self.predictions: list[str] = []
        self.examples: list[Example] = []
        self.count = 0

    def add(self, prediction: str, example: Example) -> dict[str, float]:
        scores = {}
        for metric in self.task.metrics:
            if metric.example_scores is not None:
                scores[metric.name] = float(metric.example_scores([prediction], [example])[0])
                self.sums[metric.name] += scores[metric.name]
        if self.needs_all:
            self.predictions.append(prediction)
            self.examples.append(example)
        self.count += 1
        return scores

    def metrics(self) -> dict[str, float]:
        out = {}
        for metric in self.task.metrics:
            if metric.decomposable:
                out[metric.name] = self.sums[metric.name] / self.count if self.count else 0.0
            else:
                out[metric.name] = metric(self.predictions, self.examples)
        return out


def evaluate_task(
    model: MultiTaskModel,
    eval_set: EvalSet,
    batch_size: int,
    device: torch.device,
    pad_id: int,
    max_answer_length: int = 30,
    writer: IO[str] | None = None,
    decoding: DecodeConfig = DecodeConfig(),
) -> TaskResult:
    """Predict, score and (with ``writer``) write one JSONL line per example."""
    started = time.perf_counter()
    was_training = model.training
    model.eval()
    task = eval_set.task
    acc = _Accumulator(task)
    for row, prediction in predict(model, eval_set, batch_size, device, pad_id, max_answer_length, decoding):
        example = eval_set.examples[row]
        scores = acc.add(prediction, example)
        if writer is not None:
            line = {"task": task.name, "id": example.id, "prediction": prediction, "example": example.to_dict(), "scores": scores}
            writer.write(json.dumps(line, ensure_ascii=False) + "\n")
    model.train(was_training)
    return TaskResult(
        name=task.name,
        version=task.version,
        split=eval_set.split,
        fingerprint=eval_set.fingerprint,
        examples=acc.count,
        headline=task.headline.name,
        metrics=acc.metrics(),
        higher_is_better={m.name: m.higher_is_better for m in task.metrics},
        seconds=time.perf_counter() - started,
    )


def evaluate_tasks(
    model: MultiTaskModel,
    eval_sets: Sequence[EvalSet],
    batch_size: int,
    device: torch.device,
    pad_id: int,
    max_answer_length: int = 30,
    writer: IO[str] | None = None,
    decoding: DecodeConfig = DecodeConfig(),
) -> list[TaskResult]:
    """:func:`evaluate_task` over every task, in order (``decoding``: how the text head decodes)."""
    return [evaluate_task(model, s, batch_size, device, pad_id, max_answer_length, writer, decoding) for s in eval_sets]


def _autocast(device: torch.device) -> torch.autocast:
    """bf16 autocast on CUDA; a no-op elsewhere."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
