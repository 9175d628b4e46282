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
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from leaderboard.errors import LeaderboardError

#: The newest record schema this leaderboard reads.
RECORD_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class TaskResult:
    """One evaluated task of a run: what was evaluated and how it scored."""

    name: str
    version: str
    split: str
    fingerprint: str
    examples: int
    headline: str
    metrics: Mapping[str, float]
    higher_is_better: Mapping[str, bool]
    zero_shot: tuple[str, ...] | None = None  # not trained on: the label words no trained task offered

    @property
    def score(self) -> float:
        """The headline metric, the number decaScore adds up."""
        return self.metrics[self.headline]


@dataclass(frozen=True)
class Prediction:
    """One line of ``predictions.jsonl``: a prediction, its example and its per-example scores."""

    task: str
    id: str
    prediction: str
    example: Mapping[str, Any]
    scores: Mapping[str, float]


@dataclass(frozen=True)
class SuiteRef:
    """The suite a record followed exactly: what identifies comparable scores."""

    name: str
    version: str
    fingerprint: str
    score: str  # "decaScore over 6 of 10 tasks"

    @property
    def label(self) -> str:
        """``lecture v1``."""
        return f"{self.name} v{self.version}"


#: What produced a record: trained and evaluated here, a saved run evaluated again, or answers made elsewhere.
KINDS = ("run", "evaluation", "external")


@dataclass(frozen=True)
class RunRecord:
    """The fields of ``record.json`` the leaderboard uses; ``data`` keeps the whole dict."""

    run_id: str
    created: str
    schema_version: int
    git_commit: str | None
    qabench_version: str
    backbone: str
    preset: str | None
    pretrained: str | None
    parameters: int
    head_mode: str
    regime: str
    mixture: str | None
    steps: int | None
    seed: int | None
    tasks: tuple[TaskResult, ...]
    deca_score: float
    train_seconds: float | None
    eval_seconds: float | None
    train_examples_per_second: float | None
    eval_examples_per_second: float | None
    data: Mapping[str, Any] = field(repr=False, compare=False)
    kind: str = "run"
    source_run: str | None = None
    suite: SuiteRef | None = None

    @property
    def model(self) -> str:
        """A short model label: ``bert-tiny``, or ``bert(all-MiniLM-L6-v2)`` when pretrained."""
        return model_label(self.backbone, self.preset, self.pretrained)


@dataclass(frozen=True)
class LoadedRun:
    """A validated record with its predictions grouped by task (in file order)."""

    path: Path
    record: RunRecord
    predictions: Mapping[str, tuple[Prediction, ...]]
    sha256: str


def model_label(backbone: str, preset: str | None, pretrained: str | None) -> str:
    """``backbone-preset``, or ``backbone(source)`` for pretrained weights (the source's last path part)."""
    if pretrained:
        parts = [p for p in str(pretrained).replace("\\", "/").split("/") if p]
        # ".../all-MiniLM-L6-v2/model" says less than its parent directory does.
        short = "/".join(parts[-2:]) if len(parts) >= 2 and parts[-1] in {"model", "weights", "checkpoint"} else (parts[-1] if parts else pretrained)
        return f"{backbone}({short})"
    return f"{backbone}-{preset}" if preset else backbone


def resolve_record_path(path: str | os.PathLike[str]) -> Path:
    """``path`` itself, or ``path/record.json`` when ``path`` is a run directory."""
    p = Path(path)
    if p.is_dir():
        return p / "record.json"
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
    record = parse_record(data, str(record_path))
    predictions = read_predictions(predictions_path(record_path, str(data["predictions"])), record)
    check_headlines(record, predictions, str(record_path))
    return LoadedRun(record_path, record, predictions, hashlib.sha256(raw_bytes).hexdigest())


def predictions_path(record_path: Path, named: str) -> Path:
    """The record's ``predictions`` file, which must lie inside the record's own directory (no ``..``, no absolute path)."""
    base = record_path.parent.resolve()
    path = (base / named).resolve()
    if not path.is_relative_to(base):
        raise LeaderboardError(f"{record_path}: 'predictions' {named!r} leaves the record's directory {base}; it must name a file beside record.json")
    return path


#: Two numbers that should be equal (a sum or a mean written by qabench) may differ by float rounding only.
TOLERANCE = 1e-6


def agrees(stated: float, computed: float) -> bool:
    """True when ``stated`` equals ``computed`` up to float rounding.

    >>> agrees(160.82, 80.41 + 80.41), agrees(9999.0, 160.8)
    (True, False)
    """
    return math.isclose(stated, computed, rel_tol=TOLERANCE, abs_tol=TOLERANCE)


def check_headlines(record: RunRecord, predictions: Mapping[str, tuple[Prediction, ...]], where: str) -> None:
    """Each task's headline score must be the mean of its stored per-example scores, where every row has one.

    Corpus metrics (BLEU, MCC, ...) carry no per-example scores; their
    headline is not recomputed here.
    """
    for task in record.tasks:
        rows = predictions.get(task.name, ())
        if rows and all(task.headline in p.scores for p in rows):
            mean = math.fsum(p.scores[task.headline] for p in rows) / len(rows)
            if not agrees(task.score, mean):
                raise LeaderboardError(
                    f"{where}: task {task.name!r} states {task.headline} {task.score!r}, but its {len(rows)} stored "
                    f"per-example scores average {mean:.6g}; the record was altered or is inconsistent"
                )


def parse_record(data: Any, where: str = "record") -> RunRecord:
    """Validate a parsed ``record.json`` dict and return its :class:`RunRecord`."""
    if not isinstance(data, dict):
        raise LeaderboardError(f"{where}: a run record is a JSON object, not {type(data).__name__}")
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise LeaderboardError(f"{where}: missing or non-integer 'schema_version'; is this a qabench run record?")
    if version > RECORD_SCHEMA_VERSION:
        raise LeaderboardError(
            f"{where}: record schema_version {version} is newer than this qabench reads ({RECORD_SCHEMA_VERSION}); upgrade qabench"
        )
    if version < 1:
        raise LeaderboardError(f"{where}: record schema_version {version} is not a valid version (1 is the first)")

    get = _Getter(data, where)
    model = get.obj("model")
    training = get.obj("training")
    timings = get.obj("timings")
    mget, tget, timeget = get.child(model, "model"), get.child(training, "training"), get.child(timings, "timings")

    _nonempty(get.field("predictions", str), f"{where}: 'predictions'")
    tasks_raw = get.field("tasks", list)
    if not tasks_raw:
        raise LeaderboardError(f"{where}: 'tasks' is empty; a run record evaluates at least one task")
    tasks = tuple(_parse_task(t, where, f"tasks[{i}]") for i, t in enumerate(tasks_raw))
    names = [t.name for t in tasks]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise LeaderboardError(f"{where}: task {duplicates[0]!r} appears twice in 'tasks'")

    record = RunRecord(
        run_id=_nonempty(get.field("run_id", str), f"{where}: 'run_id'"),
        created=get.field("created", str),
        schema_version=version,
        git_commit=get.field("git_commit", str, optional=True),
        qabench_version=get.field("qabench_version", str),
        backbone=_nonempty(mget.field("backbone", str), f"{where}: 'model.backbone'"),
        preset=mget.field("preset", str, optional=True),
        pretrained=mget.field("pretrained", str, optional=True),
        parameters=mget.field("parameters", int),
        head_mode=get.field("head_mode", str),
        regime=tget.field("regime", str),
        mixture=tget.field("mixture", str, optional=True),
        steps=tget.field("steps", int, optional=True),
        seed=tget.field("seed", int, optional=True),
        tasks=tasks,
        deca_score=get.number("deca_score"),
        train_seconds=timeget.number("train_seconds", optional=True),
        eval_seconds=timeget.number("eval_seconds", optional=True),
        train_examples_per_second=timeget.number("train_examples_per_second", optional=True),
        eval_examples_per_second=timeget.number("eval_examples_per_second", optional=True),
        data=data,
        kind=_kind(get.field("kind", str, optional=True) or "run", where),
        source_run=get.field("source_run", str, optional=True),
        suite=_suite(get.field("suite", dict, optional=True), where),
    )
    _check_consistent(record, where)
    return record


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _check_consistent(record: RunRecord, where: str) -> None:
    """Refuse what a record cannot truthfully say: control characters in names, negative counts or times, a wrong decaScore."""
    names = [("run_id", record.run_id), ("model.backbone", record.backbone), ("model.preset", record.preset),
             ("model.pretrained", record.pretrained)] + [(f"tasks[{i}].name", t.name) for i, t in enumerate(record.tasks)]
    for field_name, value in names:
        if value is not None and _CONTROL.search(value):
            char = _CONTROL.search(value).group()  # type: ignore[union-attr]
            raise LeaderboardError(f"{where}: field '{field_name}' holds a control character ({char!r}); names must be one printable line")
    counts = [("model.parameters", record.parameters), ("training.steps", record.steps), ("training.seed", record.seed),
              ("timings.train_seconds", record.train_seconds), ("timings.eval_seconds", record.eval_seconds),
              ("timings.train_examples_per_second", record.train_examples_per_second),
              ("timings.eval_examples_per_second", record.eval_examples_per_second)]
    for field_name, number in counts:
        if number is not None and number < 0:
            raise LeaderboardError(f"{where}: field '{field_name}' is {number}; it cannot be negative")
    total = math.fsum(t.score for t in record.tasks)
    if not agrees(record.deca_score, total):
        raise LeaderboardError(
            f"{where}: 'deca_score' is {record.deca_score!r}, but the headline scores of its {len(record.tasks)} tasks sum to {total:.6g}"
        )


def _kind(kind: str, where: str) -> str:
    if kind not in KINDS:
        raise LeaderboardError(f"{where}: field 'kind' is {kind!r}; it is one of {', '.join(KINDS)}")
    return kind


def _suite(obj: Mapping[str, Any] | None, where: str) -> SuiteRef | None:
    if obj is None:
        return None
    get = _Getter(obj, where, "suite.")
    return SuiteRef(get.field("name", str), str(obj.get("version", "")), get.field("fingerprint", str), str(obj.get("score") or "decaScore"))


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


class _Getter:
    """Typed field access on one JSON object, with errors that name the record and the field."""

    def __init__(self, obj: Mapping[str, Any], where: str, prefix: str = "") -> None:
        self.data = obj
        self.where = where
        self.prefix = prefix

    def child(self, obj: Mapping[str, Any], name: str) -> _Getter:
        """A getter for a nested object, whose errors say ``name.field``."""
        return _Getter(obj, self.where, f"{self.prefix}{name}.")

    def _missing(self, key: str) -> LeaderboardError:
        return LeaderboardError(f"{self.where}: missing field '{self.prefix}{key}' (see docs/run-record.md)")

    def obj(self, key: str) -> Mapping[str, Any]:
        """A required nested object."""
        return self.field(key, dict)

    def field(self, key: str, kind: type, optional: bool = False) -> Any:
        if key not in self.data:
            if optional:
                return None
            raise self._missing(key)
        value = self.data[key]
        if value is None and optional:
            return None
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not ok:
            raise LeaderboardError(
                f"{self.where}: field '{self.prefix}{key}' should be {_kind_name(kind)}, not {json.dumps(value)[:40]}"
            )
        return value

    def number(self, key: str, optional: bool = False) -> float | None:
        if key not in self.data or (optional and self.data[key] is None):
            if optional:
                return None
            raise self._missing(key)
        return _finite(self.data[key], f"{self.where}: field '{self.prefix}{key}'")


def _kind_name(kind: type) -> str:
    return {str: "a string", int: "an integer", dict: "an object", list: "a list"}.get(kind, kind.__name__)


def _finite(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise LeaderboardError(f"{what} should be a finite number, not {json.dumps(value)[:40]}")
    return float(value)


def _nonempty(value: str, what: str) -> str:
    if not value.strip():
        raise LeaderboardError(f"{what} is empty")
    return value


def _parse_task(obj: Any, where: str, field_path: str) -> TaskResult:
    if not isinstance(obj, dict):
        raise LeaderboardError(f"{where}: field '{field_path}' should be an object")
    get = _Getter(obj, where, field_path + ".")
    metrics = {str(k): _finite(v, f"{where}: field '{field_path}.metrics.{k}'") for k, v in get.obj("metrics").items()}
    headline = get.field("headline", str)
    if headline not in metrics:
        raise LeaderboardError(f"{where}: {field_path}: headline metric {headline!r} is not in its 'metrics' ({', '.join(metrics) or 'none'})")
    higher_is_better = get.field("higher_is_better", dict, optional=True) or {}
    examples = get.field("examples", int)
    if examples < 1:
        raise LeaderboardError(f"{where}: field '{field_path}.examples' is {examples}; a task is evaluated on at least one example")
    return TaskResult(
        name=_nonempty(get.field("name", str), f"{where}: field '{field_path}.name'"),
        version=str(obj.get("version", "")),
        split=get.field("split", str),
        fingerprint=get.field("fingerprint", str, optional=True) or "",
        examples=examples,
        headline=headline,
        metrics=metrics,
        higher_is_better={str(k): bool(v) for k, v in higher_is_better.items()},
        zero_shot=_zero_shot(get.field("zero_shot", dict, optional=True), where, field_path),
    )


def _zero_shot(obj: Mapping[str, Any] | None, where: str, field_path: str) -> tuple[str, ...] | None:
    if obj is None:
        return None
    labels = obj.get("untrained_labels", [])
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise LeaderboardError(f"{where}: field '{field_path}.zero_shot.untrained_labels' should be a list of strings")
    return tuple(labels)


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
        scores={str(k): _finite(v, f"{where}: scores.{k}") for k, v in scores.items()},
    )
