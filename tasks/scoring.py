"""Scoring answer strings: the one code path for qabench's own runs and for systems built elsewhere.

The harness feeds :class:`MetricAccumulator` one (prediction, example) pair
at a time as its model answers; ``qabench score`` feeds it the lines of a
predictions file. Both therefore add the same per-example floats in the same
order and call the same corpus metrics, so a run's own ``predictions.jsonl``
scored against its suite gives its record's numbers to the last digit.

A predictions file holds one JSON object per line: ``{"task", "id",
"answer"}`` (``"prediction"`` is read the same, so a run's own
``predictions.jsonl`` is a predictions file too). Unknown tasks or ids,
duplicate ids, lines that are not JSON objects and answers that are not
strings (numbers are accepted for ``score`` tasks) are refused naming the
file and line. An id without a line is scored as the empty answer, which
earns nothing, and counted.

Nothing here imports torch.

>>> from tasks.registry import get
>>> sst2 = get("sst2")
>>> ex = [Example("a", "q", "c", "positive", choices=("negative", "positive")),
...       Example("b", "q", "c", "negative", choices=("negative", "positive"))]
>>> score_task(sst2, "validation", "", ex, {"a": "positive"}).result.metrics
{'accuracy': 50.0}
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from tasks.data import iter_jsonl
from tasks.errors import TaskError
from tasks.metrics import METRICS
from tasks.types import Example, Metric, Task


@dataclass(frozen=True)
class TaskResult:
    """One evaluated task: what was evaluated and how it scored (an entry of a run record's ``tasks``).

    The harness's evaluation and ``qabench score`` make these; the run record
    (:mod:`leaderboard.run_record`) writes and reads them. ``zero_shot`` is
    None for a task the model trained on; for one it did not, the label words
    its choices offer that no trained task's choices had (empty when every
    label was trained, or the task has no labels).
    """

    name: str
    version: str
    split: str
    fingerprint: str  # sha256 of the evaluated examples
    examples: int
    headline: str  # the metric decaScore adds up
    metrics: Mapping[str, float]  # 0-100
    higher_is_better: Mapping[str, bool]
    zero_shot: tuple[str, ...] | None = None

    @property
    def score(self) -> float:
        """The headline metric, the number decaScore adds up."""
        return self.metrics[self.headline]

    def to_dict(self) -> dict[str, Any]:
        """The task's entry in ``record.json``."""
        extra = {} if self.zero_shot is None else {"zero_shot": {"untrained_labels": list(self.zero_shot)}}
        return {
            "name": self.name,
            "version": self.version,
            "split": self.split,
            "fingerprint": self.fingerprint,
            "examples": self.examples,
            "headline": self.headline,
            "metrics": dict(self.metrics),
            "higher_is_better": dict(self.higher_is_better),
            **extra,
        }


def zero_shot_note(untrained: Sequence[str]) -> str:
    """How a zero-shot score is labelled in tables and warnings.

    >>> zero_shot_note(["contradiction", "neutral"]), zero_shot_note([])
    ('zero-shot; untrained labels: contradiction, neutral', 'zero-shot')
    """
    return f"zero-shot; untrained labels: {', '.join(untrained)}" if untrained else "zero-shot"


def untrained_labels(task: Task, trained: Sequence[Task]) -> tuple[str, ...]:
    """The labels of a choice or tag task that no trained task of its format offered (no head ever scored or emitted them).

    Label words of a choice task, the choice head's candidates; tags of a
    tag task, which the text head (head mode ``text``) writes as words.
    Other formats have no label set: an untrained task of theirs is
    flagged zero-shot with no labels named.

    >>> from tasks.registry import get
    >>> untrained_labels(get("snli"), [get("rte")])
    ('neutral', 'contradiction')
    >>> untrained_labels(get("wnut17"), [get("conll2003")])[:3], untrained_labels(get("squad"), [get("sst2")])
    (('B-corporation', 'I-corporation', 'B-creative-work'), ())
    """
    if task.format not in ("choice", "tags"):
        return ()
    seen = {label for t in trained if t.format == task.format for label in t.labels}
    return tuple(label for label in task.labels if label not in seen)


class MetricAccumulator:
    """Keeps what a task's metrics need: sums of per-example scores, and the strings for corpus metrics.

    >>> from tasks.registry import get
    >>> acc = MetricAccumulator(get("sst2"))
    >>> acc.add("positive", Example("a", "q", "c", "positive", choices=("negative", "positive")))
    {'accuracy': 100.0}
    >>> acc.metrics()
    {'accuracy': 100.0}
    """

    def __init__(self, task: Task | Sequence[Metric]) -> None:
        self.scored_metrics: tuple[Metric, ...] = tuple(task.metrics if isinstance(task, Task) else task)  # a task's, or just these
        self.sums = {m.name: 0.0 for m in self.scored_metrics if m.decomposable}
        self.needs_all = any(not m.decomposable for m in self.scored_metrics)
        self.predictions: list[str] = []
        self.examples: list[Example] = []
        self.count = 0

    def add(self, prediction: str, example: Example) -> dict[str, float]:
        """Score one answer; returns its per-example scores (the decomposable metrics)."""
        scores = {}
        for metric in self.scored_metrics:
            if metric.example_scores is not None:
                scores[metric.name] = float(metric.example_scores([prediction], [example])[0])
                self.sums[metric.name] += scores[metric.name]
        if self.needs_all:
            self.predictions.append(prediction)
            self.examples.append(example)
        self.count += 1
        return scores

    def metrics(self) -> dict[str, float]:
        """Every metric of the task over the answers added so far."""
        out = {}
        for metric in self.scored_metrics:
            if metric.decomposable:
                out[metric.name] = self.sums[metric.name] / self.count if self.count else 0.0
            else:
                out[metric.name] = metric(self.predictions, self.examples)
        return out


@dataclass(frozen=True)
class Rescored:
    """Stored answers scored again: each answer's per-example scores (decomposable metrics) and every metric over all of them."""

    example_scores: tuple[dict[str, float], ...]
    metrics: dict[str, float]


def own_metrics(names: Iterable[str]) -> tuple[Metric, ...]:
    """The metrics among ``names`` that qabench itself defines, which any process can therefore compute again.

    A plugin's metric or an ``evaluate:`` one is left out: another process
    may not have it, or may need the network to load it.

    >>> [m.name for m in own_metrics(["bleu", "evaluate:sacrebleu", "my_metric", "nf1"])]
    ['bleu', 'nf1']
    """
    return tuple(METRICS[name] for name in names if name in METRICS)


def rescore(metrics: Sequence[Metric], answers: Iterable[tuple[str, Example]]) -> Rescored:
    """Score stored (answer, example) pairs again, in their order, through :class:`MetricAccumulator` as the harness scored them.

    Same code, same order, same floats: a record's stored numbers and these
    agree to the last digit unless the record or its predictions were changed.

    >>> ex = [Example("a", "q", "c", "the cat sat on the mat"), Example("b", "q", "c", "a dog")]
    >>> again = rescore(own_metrics(["em", "bleu"]), zip(["the cat sat on the mat", "no"], ex))
    >>> again.example_scores, round(again.metrics["bleu"], 4), again.metrics["em"]
    (({'em': 100.0}, {'em': 0.0}), 83.4106, 50.0)
    """
    acc = MetricAccumulator(metrics)
    example_scores = tuple(acc.add(answer, example) for answer, example in answers)
    return Rescored(example_scores, acc.metrics())


@dataclass(frozen=True)
class ScoredTask:
    """A task scored from a mapping of answers: its result, each example's line and how many ids had no answer."""

    result: TaskResult
    lines: tuple[dict[str, Any], ...]
    missing: int


def score_task(task: Task, split: str, fingerprint: str, examples: Sequence[Example], answers: Mapping[str, str]) -> ScoredTask:
    """Score ``answers`` (id -> answer) on ``examples`` in their order, exactly as the harness does."""
    acc = MetricAccumulator(task)
    lines = []
    missing = 0
    for example in examples:
        answer = answers.get(example.id)
        if answer is None:
            missing += 1
            answer = ""
        scores = acc.add(answer, example)
        lines.append({"task": task.name, "id": example.id, "prediction": answer, "example": example.to_dict(), "scores": scores})
    result = TaskResult(
        name=task.name, version=task.version, split=split, fingerprint=fingerprint, examples=acc.count,
        headline=task.headline.name, metrics=acc.metrics(), higher_is_better={m.name: m.higher_is_better for m in task.metrics},
    )
    return ScoredTask(result, tuple(lines), missing)


def read_answers(path: str | Path, tasks: Mapping[str, tuple[Task, Sequence[Example]]]) -> dict[str, dict[str, str]]:
    """Task -> id -> answer from a predictions file, checked against ``tasks`` (name -> task and its examples).

    Any bad line raises :class:`TaskError` naming the file and line; nothing is returned half-read.
    """
    path = Path(path)
    if not path.is_file():
        raise TaskError(f"{path}: no such predictions file")
    known_ids = {name: {e.id for e in examples} for name, (_, examples) in tasks.items()}
    answers: dict[str, dict[str, str]] = {name: {} for name in tasks}
    for lineno, obj in iter_jsonl(path):  # a line that is not UTF-8, not JSON or not an object raises naming file and line
        where = f"{path}:{lineno}"
        for key in ("task", "id"):
            if key not in obj:
                raise TaskError(f"{where}: missing {key!r}; each line is {{\"task\", \"id\", \"answer\"}}")
        name, example_id = obj["task"], obj["id"]
        if name not in tasks:
            raise TaskError(f"{where}: task {name!r} is not in the suite; its tasks: {', '.join(tasks)}")
        if not isinstance(example_id, str):
            raise TaskError(f"{where}: 'id' must be a string, got {json.dumps(example_id)[:40]}")
        if example_id not in known_ids[name]:
            raise TaskError(f"{where}: task {name!r} has no evaluation id {example_id!r} in this suite")
        if example_id in answers[name]:
            raise TaskError(f"{where}: task {name!r}, id {example_id!r} is answered twice")
        answers[name][example_id] = _answer(obj, tasks[name][0], where)
    return answers


def _answer(obj: Mapping[str, Any], task: Task, where: str) -> str:
    key = "answer" if "answer" in obj else "prediction" if "prediction" in obj else None
    if key is None:
        raise TaskError(f"{where}: missing 'answer'; each line is {{\"task\", \"id\", \"answer\"}}")
    value = obj[key]
    if isinstance(value, str):
        return value
    if task.format == "score" and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return repr(float(value))
    wanted = "a string or a number" if task.format == "score" else "a string"
    raise TaskError(f"{where}: task {task.name!r} ({task.format}) takes {wanted} as its answer, got {json.dumps(value)[:40]}")
