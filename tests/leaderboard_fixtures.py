"""A small factory of synthetic run records (docs/run-record.md) for the leaderboard tests and bench.

The records are true: every stated metric is what qabench's own metric
code gives on the written predictions, as ``leaderboard add`` checks (a
test that wants an inconsistent record edits the files afterwards, or states
a corpus score explicitly).

>>> # path = write_run(tmp_path, "run-a", [accuracy_task("sst2", [100, 0, 100])])
>>> # path is tmp_path / "run-a" / "record.json", with predictions.jsonl beside it
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence


@dataclass(frozen=True)
class FakeTask:
    """One evaluated task of a synthetic run.

    Decomposable: ``scores`` are the per-example headline values (0-100).
    Corpus-level: ``scores`` is None, ``corpus_score`` is the headline and
    ``predictions``/``answers`` the texts the metric is recomputed from.
    """

    name: str
    headline: str = "accuracy"
    scores: Sequence[float] | None = None
    predictions: Sequence[str] = ()
    answers: Sequence[str] = ()
    corpus_score: float | None = None
    ids: Sequence[str] | None = None
    split: str = "validation"
    extra_example: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.scores) if self.scores is not None else len(self.answers)

    @property
    def example_ids(self) -> list[str]:
        return list(self.ids) if self.ids is not None else [str(i) for i in range(self.n)]

    @property
    def score(self) -> float:
        if self.scores is not None:
            return sum(self.scores) / len(self.scores)
        assert self.corpus_score is not None
        return self.corpus_score


def accuracy_task(name: str, scores: Sequence[float], **kw: Any) -> FakeTask:
    """A choice task whose per-example accuracy is ``scores`` (100 = right, 0 = wrong)."""
    if any(s not in (0, 100) for s in scores):
        raise ValueError(f"accuracy scores are 0 or 100 per example, not {list(scores)}")
    return FakeTask(name=name, headline="accuracy", scores=list(scores), **kw)


def corpus_task(name: str, headline: str, predictions: Sequence[str], answers: Sequence[str], score: float | None = None, **kw: Any) -> FakeTask:
    """A task with a corpus-level headline (bleu, mcc, ...) and no per-example scores.

    ``score`` defaults to what qabench's metric ``headline`` gives on these
    predictions (through :mod:`tasks.metrics`); state it only for a metric
    qabench does not define, or to make a record that lies.
    """
    task = FakeTask(name=name, headline=headline, predictions=list(predictions), answers=list(answers), corpus_score=score, **kw)
    if score is None:
        from tasks.metrics import get_metric
        from tasks.types import Example

        examples = [Example.from_dict(_corpus_example(task, i, example_id)) for i, example_id in enumerate(task.example_ids)]
        task = dataclasses.replace(task, corpus_score=get_metric(headline)(list(predictions), examples))
    return task


def _corpus_example(task: FakeTask, i: int, example_id: str) -> dict[str, Any]:
    """The stored example (``Example.to_dict()``) of a corpus task's ``i``-th line."""
    return {"id": example_id, "question": "What is the translation from English to German?",
            "context": f"sentence {i}", "answer": task.answers[i], **task.extra_example}


def record_dict(
    run_id: str,
    tasks: Sequence[FakeTask],
    *,
    backbone: str = "bert",
    preset: str | None = "tiny",
    pretrained: str | None = None,
    parameters: int = 412_345,
    head_mode: str = "typed",
    regime: str = "multitask",
    mixture: str | None = "proportional",
    seed: int = 0,
    train_seconds: float = 12.5,
    schema_version: int = 1,
    created: str = "2026-11-26T04:30:00+00:00",
    kind: str | None = None,
    source_run: str | None = None,
    suite: dict[str, Any] | None = None,
    timings: dict[str, float | None] | None = None,
) -> dict[str, Any]:
    """The ``record.json`` dict of a synthetic run (``kind``, ``source_run`` and ``suite`` only when given).

    ``timings`` adds to (or replaces) the default timings, which are those of
    a record from before the split into preparation, training and evaluation
    with tokens/s (no ``prepare_seconds``, no ``*_tokens_per_second``).
    """
    extra = {k: v for k, v in (("kind", kind), ("source_run", source_run), ("suite", suite)) if v is not None}
    return {
        **extra,
        "schema_version": schema_version,
        "run_id": run_id,
        "created": created,
        "git_commit": None,
        "qabench_version": "0.1.0",
        "config": {"model": {"backbone": backbone, "preset": preset}, "seed": seed},
        "model": {
            "backbone": backbone,
            "preset": preset,
            "parameters": parameters,
            "pretrained": pretrained,
            "pretrained_sha256": None,
            "pretrain_record": None,
        },
        "head_mode": head_mode,
        "training": {"regime": regime, "mixture": mixture, "steps": 200, "seed": seed},
        "tasks": [
            {
                "name": t.name,
                "version": "1",
                "split": t.split,
                "fingerprint": hashlib.sha256(("\n".join(t.example_ids) + t.split).encode()).hexdigest(),
                "examples": t.n,
                "headline": t.headline,
                "metrics": {t.headline: t.score},
                "higher_is_better": {t.headline: True},
            }
            for t in tasks
        ],
        "deca_score": sum(t.score for t in tasks),
        "predictions": "predictions.jsonl",
        "timings": {
            "train_seconds": train_seconds,
            "eval_seconds": 1.5,
            "train_examples_per_second": 512.0,
            "eval_examples_per_second": 581.0,
            **(timings or {}),
        },
        "hardware": {"device": "cpu", "cpu_count": 2, "gpu": None, "torch": "2.13.0", "python": "3.11.7", "platform": "Linux"},
    }


def prediction_lines(tasks: Sequence[FakeTask]) -> list[dict[str, Any]]:
    """The ``predictions.jsonl`` objects of a synthetic run, in task order."""
    lines = []
    for t in tasks:
        for i, example_id in enumerate(t.example_ids):
            if t.scores is not None:
                answer = "positive"
                prediction = answer if t.scores[i] >= 50 else "negative"
                example = {"id": example_id, "question": "Is this review negative or positive?", "context": f"review {i}",
                           "answer": answer, "choices": ["negative", "positive"], **t.extra_example}
                scores = {t.headline: float(t.scores[i])}
            else:
                prediction = t.predictions[i]
                example = _corpus_example(t, i, example_id)
                scores = {}
            lines.append({"task": t.name, "id": example_id, "prediction": prediction, "example": example, "scores": scores})
    return lines


def write_run(root: Path, run_id: str, tasks: Sequence[FakeTask], **fields: Any) -> Path:
    """Write ``root/<run_id>/record.json`` and its ``predictions.jsonl``; return the record's path."""
    run_dir = Path(root) / run_id.replace("/", "_")
    run_dir.mkdir(parents=True, exist_ok=True)
    record = record_dict(run_id, tasks, **fields)
    with open(run_dir / "predictions.jsonl", "w", encoding="utf-8") as f:
        for line in prediction_lines(tasks):
            f.write(json.dumps(line) + "\n")
    path = run_dir / "record.json"
    path.write_text(json.dumps(record, indent=2), encoding="utf-8")
    return path
