"""Benchmark suites: named, versioned evaluation protocols declared as data.

A suite says exactly what is scored: its tasks, for each the evaluation split
and the evaluation set (the whole split, or a fixed list of example ids where
the split is too large for a CPU), the metric variant, how the suite's score
is summed (decaScore over its tasks, "over N of M" where a suite lacks some of
the benchmark it follows), and a default training protocol for ``qabench
bench``. Suites are JSON files in ``tasks/suites/`` (one per suite, the
built-in ones named in :data:`BUILT_IN`); ``qabench bench my_suite.json``
reads a user's own.

The :func:`fingerprint` of a suite hashes every evaluation example (id,
question, context, gold answers and the fields its format scores), each
task's name, version and split, and each metric's definition (name,
direction and the source of its scoring function). Two scores with one suite
name, version and fingerprint were computed on exactly the same examples by
exactly the same metrics, and only those are ranked together.

Nothing here imports torch: ``qabench suites`` and ``qabench score`` stay fast.

>>> suite = get_suite("lecture")
>>> [t.task for t in suite.tasks]
['sst2', 'rte', 'squad', 'conll2003', 'multi30k_en_de']
>>> suite.score_label
'decaScore over 5 tasks'
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from catalog import did_you_mean
from tasks.errors import TaskError
from tasks.metrics import metric_variant
from tasks.types import Example, Metric, Task

SUITES_DIR = Path(__file__).parent / "suites"

#: The built-in suites, one JSON file each in ``tasks/suites/``.
BUILT_IN: tuple[str, ...] = ("lecture", "decanlp", "glue", "quick")

_SUITE_KEYS = {"name", "version", "description", "covers", "lacks", "benchmark_tasks", "metric_variant", "data_dir", "tasks", "absent", "training"}
_TASK_KEYS = {"task", "split", "ids", "metric_variant", "note"}
_TRAINING_KEYS = {"tasks", "mixture", "steps", "batch_size", "lr", "pretrained_lr", "warmup", "train_limit"}


@dataclass(frozen=True)
class SuiteTask:
    """One task of a suite: its evaluation split, the exact evaluation ids (empty: the whole split) and metric variant."""

    task: str
    split: str
    ids: tuple[str, ...] = ()
    metric_variant: str = "default"
    note: str = ""

    def resolve(self) -> Task:
        """The registered task with the metrics of this suite's variant (same name and version)."""
        from tasks.registry import get

        task = get(self.task)
        metrics = metric_variant(task.metrics, self.metric_variant)
        return task if metrics == task.metrics else dataclasses.replace(task, metrics=metrics)


@dataclass(frozen=True)
class TrainingTask:
    """A task ``qabench bench`` trains on, and the split it trains on (None: the task's own)."""

    name: str
    train_split: str | None = None


@dataclass(frozen=True)
class TrainingProtocol:
    """The default training of ``qabench bench SUITE``: tasks, mixture and optimiser settings.

    ``train_limit`` caps each training task at that many examples (a seeded random
    subset, as a run config's ``tasks.N.train_limit``), so a suite trains on two CPU cores in minutes, not days.
    """

    tasks: tuple[TrainingTask, ...]
    mixture: str = "proportional"
    steps: int = 1000
    batch_size: int = 16
    lr: float = 1e-3
    pretrained_lr: float = 5e-5  # the learning rate when bench starts from pretrained weights
    warmup: float = 0.1
    train_limit: int | None = None


@dataclass(frozen=True)
class Suite:
    """A named, versioned evaluation protocol (see the module docstring).

    ``benchmark_tasks`` is how many tasks the benchmark the suite follows has
    (decaNLP: 10), so the score reads "decaScore over 6 of 10 tasks"; ``absent``
    names the benchmark's tasks the suite lacks, each with why.
    ``data_dir`` (the quick suite's bundled data) replaces the mirror.
    """

    name: str
    version: str
    description: str
    tasks: tuple[SuiteTask, ...]
    training: TrainingProtocol
    covers: str = ""
    lacks: str = ""
    benchmark_tasks: int | None = None
    absent: tuple[tuple[str, str], ...] = ()
    data_dir: str | None = None
    path: str = field(default="", compare=False)

    @property
    def task_names(self) -> list[str]:
        """The suite's tasks, in its order."""
        return [t.task for t in self.tasks]

    @property
    def score_label(self) -> str:
        """``decaScore over 5 tasks``, or ``decaScore over 6 of 10 tasks`` for a partial benchmark."""
        of = f" of {self.benchmark_tasks}" if self.benchmark_tasks and self.benchmark_tasks != len(self.tasks) else ""
        return f"decaScore over {len(self.tasks)}{of} tasks"

    def task(self, name: str) -> SuiteTask:
        """The suite's entry for task ``name``."""
        for entry in self.tasks:
            if entry.task == name:
                return entry
        raise TaskError(f"suite {self.name!r} has no task {name!r}; its tasks: {', '.join(self.task_names)}")


# --- reading suite files -----------------------------------------------------------------------------------------------


def suite_path(name: str) -> Path:
    """The file of built-in suite ``name``."""
    return SUITES_DIR / f"{name}.json"


def get_suite(name_or_path: str) -> Suite:
    """A built-in suite by name, or a suite file by path (``*.json``); unknown names suggest close ones."""
    if name_or_path.endswith(".json") or os.sep in name_or_path:
        return load_suite(name_or_path)
    if name_or_path not in BUILT_IN:
        close = did_you_mean(name_or_path, BUILT_IN, cutoff=0.5)
        hint = f"; {close}" if close else f"; the suites are: {', '.join(BUILT_IN)} (or give a suite .json file)"
        raise TaskError(f"unknown suite {name_or_path!r}{hint}")
    return load_suite(suite_path(name_or_path))


def all_suites() -> list[Suite]:
    """Every built-in suite, in :data:`BUILT_IN` order."""
    return [get_suite(name) for name in BUILT_IN]


def load_suite(path: str | os.PathLike[str]) -> Suite:
    """Read and check a suite file; every mistake is one line naming the file and the key."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TaskError(f"{path}: no such suite file") from None
    except json.JSONDecodeError as err:
        raise TaskError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    return parse_suite(data, str(path))


def parse_suite(data: Any, where: str) -> Suite:
    """A :class:`Suite` from the parsed JSON of a suite file (``where`` names it in errors)."""
    _check_keys(data, _SUITE_KEYS, where, "suite", required=("name", "version", "tasks", "training"))
    default_variant = str(data.get("metric_variant", "default"))
    tasks = []
    for i, item in enumerate(_list(data["tasks"], where, "tasks")):
        _check_keys(item, _TASK_KEYS, where, f"tasks[{i}]", required=("task", "split"))
        ids = tuple(str(x) for x in _list(item.get("ids", []), where, f"tasks[{i}].ids"))
        if len(set(ids)) != len(ids):
            raise TaskError(f"{where}: tasks[{i}].ids lists an id twice")
        tasks.append(SuiteTask(str(item["task"]), str(item["split"]), ids, str(item.get("metric_variant", default_variant)), str(item.get("note", ""))))
    names = [t.task for t in tasks]
    if not tasks or len(set(names)) != len(names):
        raise TaskError(f"{where}: 'tasks' must list each task once, at least one")
    training = data["training"]
    _check_keys(training, _TRAINING_KEYS, where, "training", required=("tasks",))
    train_tasks = tuple(
        TrainingTask(t) if isinstance(t, str) else TrainingTask(str(t["name"]), t.get("train_split"))
        for t in _list(training["tasks"], where, "training.tasks")
    )
    protocol = TrainingProtocol(train_tasks, **{k: v for k, v in training.items() if k != "tasks"})
    data_dir = data.get("data_dir")
    if data_dir is not None and not Path(data_dir).is_absolute():
        data_dir = str((Path(where).parent / data_dir).resolve())
    absent = tuple((str(a["task"]), str(a["why"])) for a in _list(data.get("absent", []), where, "absent"))
    return Suite(
        name=str(data["name"]), version=str(data["version"]), description=str(data.get("description", "")), tasks=tuple(tasks),
        training=protocol, covers=str(data.get("covers", "")), lacks=str(data.get("lacks", "")),
        benchmark_tasks=data.get("benchmark_tasks"), absent=absent, data_dir=data_dir, path=where,
    )


def _check_keys(obj: Any, allowed: set[str], where: str, what: str, required: Sequence[str]) -> None:
    if not isinstance(obj, dict):
        raise TaskError(f"{where}: {what} must be a JSON object")
    for key in obj:
        if key not in allowed:
            close = did_you_mean(key, sorted(allowed))
            raise TaskError(f"{where}: unknown key {key!r} in {what}" + (f"; {close}" if close else ""))
    for key in required:
        if key not in obj:
            raise TaskError(f"{where}: {what} lacks the key {key!r}")


def _list(value: Any, where: str, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise TaskError(f"{where}: {what} must be a JSON list")
    return value


# --- the evaluation examples and the fingerprint -----------------------------------------------------------------------


def evaluation_examples(
    entry: SuiteTask, task: Task, data_dir: str | os.PathLike[str] | None = None, cache_dir: str | os.PathLike[str] | None = None
) -> list[Example]:
    """The examples ``entry`` evaluates: the whole split, or the listed ids in the split's order.

    An id the data lacks is an error (the data is not what the suite was declared on).
    With ``cache_dir`` the split's examples come through the examples cache
    (:mod:`tasks.cache`).
    """
    from tasks.data import load_examples

    examples = load_examples(task, entry.split, data_dir=data_dir, cache_dir=cache_dir)
    if not entry.ids:
        return examples
    wanted = set(entry.ids)
    kept = [e for e in examples if e.id in wanted]
    if len(kept) != len(wanted):
        found = {e.id for e in kept}
        missing = [i for i in entry.ids if i not in found]
        raise TaskError(
            f"task {task.name!r}, split {entry.split!r}: {len(missing)} of the suite's {len(wanted)} evaluation ids are not in the data "
            f"(first: {missing[0]!r}); the data is not what the suite was declared on"
        )
    return kept


@dataclass(frozen=True)
class SuiteData:
    """A suite resolved against data: each task (with its variant's metrics) and its evaluation examples."""

    suite: Suite
    tasks: tuple[Task, ...]
    examples: Mapping[str, Sequence[Example]]
    fingerprint: str

    def info(self) -> dict[str, Any]:
        """The run record's ``suite`` section: what exactly was scored."""
        suite = self.suite
        return {
            "name": suite.name, "version": suite.version, "fingerprint": self.fingerprint, "score": suite.score_label,
            "tasks": len(suite.tasks), "benchmark_tasks": suite.benchmark_tasks,
        }

    def entry(self, name: str) -> tuple[Task, Sequence[Example]]:
        """The task called ``name`` and its evaluation examples."""
        for task in self.tasks:
            if task.name == name:
                return task, self.examples[name]
        raise TaskError(f"suite {self.suite.name!r} has no task {name!r}; its tasks: {', '.join(self.suite.task_names)}")


def load_suite_data(suite: Suite, data_dir: str | os.PathLike[str] | None = None, cache_dir: str | os.PathLike[str] | None = None) -> SuiteData:
    """Resolve every task of ``suite`` and load its evaluation examples (the suite's own data_dir first; through the examples cache in ``cache_dir``)."""
    where = suite.data_dir or data_dir
    tasks = tuple(entry.resolve() for entry in suite.tasks)
    examples = {entry.task: evaluation_examples(entry, task, where, cache_dir) for entry, task in zip(suite.tasks, tasks)}
    return SuiteData(suite, tasks, examples, fingerprint(suite, tasks, examples))


def metric_definition(metric: Metric) -> dict[str, Any]:
    """What identifies a metric's numbers: name, direction and the source of its scoring function."""
    return {"name": metric.name, "higher_is_better": metric.higher_is_better, "code": _code_digest(metric.example_scores or metric.corpus)}


def _code_digest(function: Any) -> str:
    """sha256 of a scoring function's source (through functools.partial, with its bound arguments)."""
    parts = []
    while hasattr(function, "func"):  # functools.partial
        parts.append(repr((function.args, sorted(function.keywords.items()))))
        function = function.func
    try:
        parts.append(inspect.getsource(function))
    except (OSError, TypeError):
        parts.append(f"{getattr(function, '__module__', '')}.{getattr(function, '__qualname__', repr(function))}")
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def fingerprint(suite: Suite, tasks: Sequence[Task], examples: Mapping[str, Sequence[Example]]) -> str:
    """sha256 over what a suite scores: each task's name, version, split, metric definitions and every example."""
    digest = hashlib.sha256()
    for entry, task in zip(suite.tasks, tasks):
        head = {
            "task": task.name, "version": task.version, "split": entry.split, "metric_variant": entry.metric_variant,
            "metrics": [metric_definition(m) for m in task.metrics],
        }
        digest.update(json.dumps(head, sort_keys=True).encode("utf-8") + b"\n")
        for example in examples[task.name]:
            digest.update(json.dumps(example.to_dict(), sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n")
    return digest.hexdigest()


@dataclass(frozen=True)
class Evaluated:
    """One task as a run evaluated it: the task (with the metrics it was scored by), split and examples.

    ``whole`` is True when the examples are the whole split (no limit).
    """

    task: Task
    split: str
    examples: Sequence[Example]
    whole: bool


def followed_suite(evaluated: Sequence[Evaluated], data_dir: str | os.PathLike[str] | None, suites: Sequence[Suite] | None = None) -> SuiteData | None:
    """The suite whose protocol an evaluation followed exactly, with the fingerprint of what it scored; else None.

    Exactly: the same tasks in the same order, splits, metric variant, and
    evaluation set (the listed ids, or the whole split), read from the
    suite's own data where it names one. ``qabench run`` on the quickstart
    is thereby a run of the ``quick`` suite. The fingerprint is computed
    from the examples actually scored, so a changed task shows as another
    fingerprint, never as the current one.
    """
    where = str(Path(data_dir).resolve()) if data_dir else None
    for suite in suites if suites is not None else all_suites():
        if [(e.task, e.split) for e in suite.tasks] != [(x.task.name, x.split) for x in evaluated]:
            continue
        bundled = {s.data_dir for s in all_suites() if s.data_dir}
        if (where != suite.data_dir) if suite.data_dir else (where in bundled):  # the suite's own data, or else the mirror
            continue
        if not all(_same_set(entry, x) and _same_metrics(entry, x.task) for entry, x in zip(suite.tasks, evaluated)):
            continue
        tasks = tuple(x.task for x in evaluated)
        examples = {x.task.name: x.examples for x in evaluated}
        return SuiteData(suite, tasks, examples, fingerprint(suite, tasks, examples))
    return None


def _same_set(entry: SuiteTask, evaluated: Evaluated) -> bool:
    if not entry.ids:
        return evaluated.whole
    return len(evaluated.examples) == len(entry.ids) and {e.id for e in evaluated.examples} == set(entry.ids)


def _same_metrics(entry: SuiteTask, task: Task) -> bool:
    try:
        return entry.resolve().metrics == task.metrics
    except TaskError:
        return False

