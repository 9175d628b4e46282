"""Evaluation: batched predictions turned back into answer strings and each task's metrics (a run record's ``tasks``).

Predictions stream: windows are read a chunk at a time (``sort_chunk``
batches), batched longest first within the chunk so that little is padding,
and the answers are put back in example order; an example's answer is final
when its last window has been seen, its JSONL line is written at once, and
only what the metrics need is kept (running sums for per-example metrics; the
strings themselves only when the task has a corpus-level metric). Memory
therefore does not grow with the number of examples (each batch's rows are
read through a memory map of their own: :func:`harness.features.read_rows`).

How a format's outputs become answer strings is its adapter's
(:meth:`harness.adapters.AnswerAdapter.predict`).

>>> # settings = EvalSettings(batch_size=64, device=torch.device("cpu"), pad_id=0)
>>> # results = evaluate_tasks(model, eval_sets, settings, writer=writer)
>>> # tasks.metrics.deca_score({r.name: r.score for r in results})
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import IO, Iterator, Sequence

import datasets
import torch

from harness.adapters import AnswerAdapter
from models.heads import MultiTaskModel
from models.text_head import DecodeConfig
from tasks.scoring import MetricAccumulator, TaskResult
from tasks.types import Example, Task


@dataclass(frozen=True)
class EvalSet:
    """One task's evaluation data: the examples and their features (windows in example order).

    ``adapter`` is the answer format of the head that answers the task (the
    text head's, for every task in head mode text): it built the features
    and turns the head's outputs back into answers.
    """

    task: Task
    split: str
    examples: Sequence[Example]
    features: datasets.Dataset
    fingerprint: str
    adapter: AnswerAdapter

    def first(self, count: int | None) -> EvalSet:
        """This set cut to its first ``count`` examples and their windows (all of it for None)."""
        if count is None or len(self.examples) <= count:
            return self
        rows = [i for i, example in enumerate(self.features["example_index"]) if example < count]
        return dataclasses.replace(self, examples=self.examples[:count], features=self.features.select(rows))


@dataclass(frozen=True)
class EvalSettings:
    """How evaluation runs: batches, where, and how answers are read off the heads."""

    batch_size: int  # feature rows (windows) per batch
    device: torch.device
    pad_id: int  # the tokenizer's padding id
    max_answer_length: int = 30  # span: the longest answer in tokens
    decoding: DecodeConfig = DecodeConfig()  # text: greedy or beam search, and the answer's length
    sort_chunk: int = 32  # batches read at a time and batched longest first (1: example order); answers still come in example order
    pad_multiple: int = 16  # a batch's width rounded up to a multiple of this: few distinct shapes, so freed memory is reused, not fragmented


@torch.no_grad()
def predict(model: MultiTaskModel, eval_set: EvalSet, settings: EvalSettings) -> Iterator[tuple[int, str]]:
    """``(example index, answer string)`` for every example, in order, batch by batch (the adapter's way back)."""
    return eval_set.adapter.predict(model, eval_set, settings)


def evaluate_task(model: MultiTaskModel, eval_set: EvalSet, settings: EvalSettings, writer: IO[str] | None = None) -> TaskResult:
    """Predict, score and (with ``writer``) write one JSONL line per example."""
    was_training = model.training
    model.eval()
    task = eval_set.task
    acc = MetricAccumulator(task)
    for row, prediction in predict(model, eval_set, settings):
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
    )


def evaluate_tasks(model: MultiTaskModel, eval_sets: Sequence[EvalSet], settings: EvalSettings, writer: IO[str] | None = None) -> list[TaskResult]:
    """:func:`evaluate_task` over every task, in order."""
    return [evaluate_task(model, s, settings, writer) for s in eval_sets]
