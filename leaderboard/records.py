"""Read and validate run records (docs/run-record.md): ``record.json`` and its ``predictions.jsonl``.

The leaderboard reads these two files and nothing else. Everything a record
must hold is checked here, before the database is touched, so a bad file
never leaves a half-added run behind. Errors name the file (and line) and say
what is wrong.

>>> # run = load_run("runs/20261126T043000Z-bert-tiny-3f9a2c/record.json")
>>> # run.record.run_id, [t.name for t in run.record.tasks], len(run.predictions["sst2"])
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from leaderboard.errors import LeaderboardError
from leaderboard.run_record import RECORD_FILE, RunRecord, agrees, finite_number


@dataclass(frozen=True)
class Prediction:
    """One line of ``predictions.jsonl``: a prediction, its example and its per-example scores."""

    task: str
    id: str
    prediction: str
    example: Mapping[str, Any]
    scores: Mapping[str, float]


@dataclass(frozen=True)
class LoadedRun:
    """A validated record with its predictions grouped by task (in file order)."""

    path: Path
    record: RunRecord
    data: Mapping[str, Any]  # the record's JSON object as read, stored beside the typed record
    predictions: Mapping[str, tuple[Prediction, ...]]
    sha256: str


def resolve_record_path(path: str | os.PathLike[str]) -> Path:
    """``path`` itself, or ``path/record.json`` when ``path`` is a run directory."""
    p = Path(path)
    if p.is_dir():
        return p / RECORD_FILE
    return p


def load_run(path: str | os.PathLike[str]) -> LoadedRun:
    """Read, validate and return a run record and its predictions.

    Raises :class:`LeaderboardError` with one line naming the file (and line)
    for anything that is missing, malformed, truncated or newer than this
    leaderboard understands.
    """
    record_path = resolve_record_path(path)
    try:
        raw_bytes = record_path.read_bytes()
    except FileNotFoundError:
        raise LeaderboardError(f"{record_path}: no such record file (give a record.json or its run directory)") from None
    except OSError as err:
        raise LeaderboardError(f"{record_path}: cannot read: {err.strerror}") from None
    try:
        data = json.loads(raw_bytes.decode("utf-8"))
    except UnicodeDecodeError:
        raise LeaderboardError(f"{record_path}: not UTF-8 text, so not a run record") from None
    except json.JSONDecodeError as err:
        hint = " (the file looks truncated)" if err.pos >= len(raw_bytes.rstrip()) else ""
        raise LeaderboardError(f"{record_path} line {err.lineno}: not valid JSON: {err.msg}{hint}") from None
    record = RunRecord.from_dict(data, str(record_path))
    predictions = read_predictions(predictions_path(record_path, record.predictions), record)
    check_scores(record, predictions, str(record_path))
    return LoadedRun(record_path, record, data, predictions, hashlib.sha256(raw_bytes).hexdigest())


def predictions_path(record_path: Path, named: str) -> Path:
    """The record's ``predictions`` file, which must lie inside the record's own directory (no ``..``, no absolute path)."""
    base = record_path.parent.resolve()
    path = (base / named).resolve()
    if not path.is_relative_to(base):
        raise LeaderboardError(f"{record_path}: 'predictions' {named!r} leaves the record's directory {base}; it must name a file beside record.json")
    return path


def check_scores(record: RunRecord, predictions: Mapping[str, tuple[Prediction, ...]], where: str) -> None:
    """Refuse a record whose numbers its own predictions do not give back (beyond float rounding).

    First, where every line carries a per-example headline score, their mean
    must be the stated headline. Then every metric of qabench's own that a
    task states (headline or not, corpus metrics such as BLEU, ROUGE,
    entity F1 and MCC included) is computed again from the stored answers
    and examples by :func:`tasks.scoring.rescore`, the code the harness
    scored them with: each stated metric and each stored per-example score
    must come back. A plugin's or ``evaluate:`` metric, which this process
    may not be able to compute, is taken as stated. decaScore is checked
    against the headlines by :meth:`RunRecord.check_consistent`.
    """
    from tasks.errors import TaskError  # imported here: importing tasks registers every built-in task, which 'show' does not need
    from tasks.scoring import own_metrics, rescore
    from tasks.types import Example

    for task in record.tasks:
        rows = predictions.get(task.name, ())
        if rows and all(task.headline in p.scores for p in rows):
            mean = math.fsum(p.scores[task.headline] for p in rows) / len(rows)
            if not agrees(task.score, mean):
                raise LeaderboardError(
                    f"{where}: task {task.name!r} states {task.headline} {task.score!r}, but its {len(rows)} stored "
                    f"per-example scores average {mean!r}; the record was altered or is inconsistent"
                )
        metrics = own_metrics(task.metrics)
        if not rows or not metrics:
            continue
        try:
            again = rescore(metrics, ((p.prediction, Example.from_dict(p.example)) for p in rows))
        except (TaskError, ValueError, TypeError, KeyError, IndexError, AttributeError) as err:
            detail = " ".join(str(err).split())[:200] or type(err).__name__  # one line, whatever the library wrote
            raise LeaderboardError(f"{where}: task {task.name!r}: its stored predictions cannot be scored again: {detail}") from None
        for p, scores in zip(rows, again.example_scores):
            for name, value in scores.items():
                if name in p.scores and not agrees(p.scores[name], value):
                    raise LeaderboardError(
                        f"{where}: task {task.name!r}, example {p.id!r}: stored {name} score {p.scores[name]!r}, but its "
                        f"prediction scores {value!r}; the record was altered or is inconsistent"
                    )
        for name, value in again.metrics.items():
            if not agrees(task.metrics[name], value):
                raise LeaderboardError(
                    f"{where}: task {task.name!r} states {name} {task.metrics[name]!r}, but its {len(rows)} stored "
                    f"predictions score {value!r}; the record was altered or is inconsistent"
                )


def read_predictions(path: Path, record: RunRecord) -> dict[str, tuple[Prediction, ...]]:
    """Read ``predictions.jsonl`` and check it against the record's tasks.

    Every line must parse and name a task of the record; each task must have
    exactly ``examples`` lines with unique ids, each carrying the per-example
    score of the headline metric when that metric is decomposable.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LeaderboardError(f"{path}: predictions file named by the record is missing") from None
    except (OSError, UnicodeDecodeError) as err:
        raise LeaderboardError(f"{path}: cannot read predictions: {err}") from None
    by_task: dict[str, list[Prediction]] = {t.name: [] for t in record.tasks}
    lines = text.split("\n")
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path} line {lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            last = lineno == len(lines) or all(not rest.strip() for rest in lines[lineno:])
            hint = " (the file looks truncated)" if last else ""
            raise LeaderboardError(f"{where}: not valid JSON: {err.msg}{hint}") from None
        pred = _parse_prediction(obj, where)
        if pred.task not in by_task:
            raise LeaderboardError(f"{where}: task {pred.task!r} is not one of the record's tasks ({', '.join(by_task)})")
        by_task[pred.task].append(pred)
    for task in record.tasks:
        rows = by_task[task.name]
        if len(rows) != task.examples:
            raise LeaderboardError(
                f"{path}: task {task.name!r} has {len(rows)} prediction lines but the record says {task.examples} examples"
                + (" (the file looks truncated)" if len(rows) < task.examples else "")
            )
        seen: set[str] = set()
        for p in rows:
            if p.id in seen:
                raise LeaderboardError(f"{path}: task {task.name!r} has example id {p.id!r} twice; ids must be unique per task")
            seen.add(p.id)
        with_score = sum(task.headline in p.scores for p in rows)
        if 0 < with_score < len(rows):
            raise LeaderboardError(
                f"{path}: task {task.name!r}: {len(rows) - with_score} lines lack the per-example {task.headline!r} score that the others carry"
            )
    return {name: tuple(rows) for name, rows in by_task.items()}


def example_ids_digest(ids: list[str]) -> str:
    """sha256 of the sorted example ids: two runs with equal digests were scored on the same examples."""
    return hashlib.sha256("\n".join(sorted(ids)).encode("utf-8")).hexdigest()


# --- helpers -------------------------------------------------------------------------------------------------------


def _parse_prediction(obj: Any, where: str) -> Prediction:
    if not isinstance(obj, dict):
        raise LeaderboardError(f"{where}: a prediction line is a JSON object")
    for key in ("task", "id", "prediction", "example"):
        if key not in obj:
            raise LeaderboardError(f"{where}: missing field {key!r} (see docs/run-record.md)")
    example = obj["example"]
    if not isinstance(example, dict) or "answer" not in example:
        raise LeaderboardError(f"{where}: 'example' should be an Example.to_dict() object with an 'answer'")
    scores = obj.get("scores") or {}
    if not isinstance(scores, dict):
        raise LeaderboardError(f"{where}: 'scores' should be an object of metric -> number")
    prediction = obj["prediction"]
    if not isinstance(prediction, str):
        prediction = json.dumps(prediction) if not isinstance(prediction, (int, float)) else str(prediction)
    return Prediction(
        task=str(obj["task"]),
        id=str(obj["id"]),
        prediction=prediction,
        example=example,
        scores={str(k): finite_number(v, f"{where}: scores.{k}") for k, v in scores.items()},
    )
