"""Training curves of a run: ``curves.jsonl`` beside ``record.json`` (written by ``harness.train``).

One JSON object per line, one point per line::

    {"step": 50, "kind": "loss", "task": "sst2", "metric": "loss", "value": 0.6812}
    {"step": 200, "kind": "eval", "task": "sst2", "metric": "accuracy", "value": 81.25}

``loss`` points are each task's smoothed training loss every few steps;
``eval`` points are the scores of a periodic evaluation (``eval.every``), one
per task and metric. A run without the file simply has no curves.

>>> point = parse_point({"step": 50, "kind": "loss", "task": "sst2", "metric": "loss", "value": 0.5}, "curves.jsonl:1")
>>> (point.task, point.step, point.value)
('sst2', 50, 0.5)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from leaderboard.errors import LeaderboardError

#: The file name of a run's curves, beside ``record.json``.
CURVES_FILE = "curves.jsonl"
#: Kinds of points.
KINDS = ("loss", "eval")


@dataclass(frozen=True)
class CurvePoint:
    """One point of a training curve: ``value`` of ``metric`` for ``task`` at optimisation ``step``."""

    step: int
    kind: str  # "loss" or "eval"
    task: str
    metric: str
    value: float


def parse_point(obj: Any, where: str) -> CurvePoint:
    """Validate one ``curves.jsonl`` object; ``where`` (``file:line``) names it in errors."""
    if not isinstance(obj, dict):
        raise LeaderboardError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    missing = [k for k in ("step", "kind", "task", "metric", "value") if k not in obj]
    if missing:
        raise LeaderboardError(f"{where}: missing {', '.join(missing)}")
    step, kind, task, metric, value = obj["step"], obj["kind"], obj["task"], obj["metric"], obj["value"]
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise LeaderboardError(f"{where}: step must be a non-negative integer, got {step!r}")
    if kind not in KINDS:
        raise LeaderboardError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not isinstance(task, str) or not task or not isinstance(metric, str) or not metric:
        raise LeaderboardError(f"{where}: task and metric must be non-empty strings")
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise LeaderboardError(f"{where}: value must be a finite number, got {value!r}")
    return CurvePoint(step, kind, task, metric, float(value))


def load_curves(run_dir: str | Path) -> tuple[CurvePoint, ...]:
    """The points of ``run_dir/curves.jsonl`` (none when the file is absent); the last point per key wins.

    A resumed run may log a step twice; keeping the last value per
    (kind, task, metric, step) keeps the stored curve a function of the step.
    """
    path = Path(run_dir) / CURVES_FILE
    if not path.is_file():
        return ()
    points: dict[tuple[str, str, str, int], CurvePoint] = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise LeaderboardError(f"{where}: not JSON ({err.msg})") from None
            point = parse_point(obj, where)
            points[(point.kind, point.task, point.metric, point.step)] = point
    return tuple(sorted(points.values(), key=lambda p: (p.kind, p.task, p.metric, p.step)))


def series(points: Iterable[CurvePoint], kind: str) -> dict[str, list[tuple[int, float]]]:
    """``{label: [(step, value), ...]}`` of one kind, labelled ``task`` (loss) or ``task metric`` (eval); empty series dropped."""
    out: dict[str, list[tuple[int, float]]] = {}
    for p in points:
        if p.kind == kind:
            out.setdefault(p.task if kind == "loss" else f"{p.task} {p.metric}", []).append((p.step, p.value))
    return {label: sorted(values) for label, values in out.items() if values}
