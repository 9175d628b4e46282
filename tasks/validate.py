"""Check a task's data: load every row, recast it, and report what is wrong.

Used by ``qabench tasks validate``. A report counts rows, examples, skipped
rows (with the task's reason) and problems by kind, with the first offending
example ids.

>>> from tasks.types import Example
>>> problems_of(Example(id="1", question="Q?", context="abc", answer="x", answer_start=0), "span", ())
['span answer not found at answer_start']
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

from tasks.data import load_rows, local_splits, row_location, split_path
from tasks.errors import RowError, TaskError, recast_failure
from tasks.types import Example, Task

MAX_IDS = 5


@dataclass(frozen=True)
class SplitReport:
    """What validating one split of one task found."""

    task: str
    split: str
    rows: int = 0
    examples: int = 0
    skipped: int = 0
    skip_reason: str = ""
    problems: dict[str, int] = field(default_factory=dict)
    first_ids: dict[str, list[str]] = field(default_factory=dict)
    error: str = ""

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems and not self.error


def problems_of(example: Example, fmt: str, labels: Sequence[str]) -> list[str]:
    """The problems of one recast example (empty list when it is valid)."""
    found: list[str] = []
    for name in ("question", "context", "answer"):
        if not getattr(example, name).strip():
            found.append(f"empty {name}")
    if fmt == "choice":
        if len(example.choices) < 2:
            found.append("fewer than two choices")
        elif example.answer not in example.choices:
            found.append("answer not among choices")
        if labels and any(c not in labels for c in example.choices):
            found.append("choice outside the label set")
    elif fmt == "span":
        start = example.answer_start
        if start is None or example.context[start : start + len(example.answer)] != example.answer:
            found.append("span answer not found at answer_start")
    elif fmt == "tags":
        if len(example.tokens) != len(example.tags):
            found.append("tags/tokens length mismatch")
        if not example.tokens:
            found.append("no tokens")
        if labels and any(t not in labels for t in example.tags):
            found.append("tag outside the label set")
    elif fmt == "score":
        if example.value is None or not math.isfinite(example.value):
            found.append("missing or non-finite value")
    return found


def validate_split(task: Task, split: str, data_dir: str | os.PathLike[str] | None = None) -> SplitReport:
    """Load ``split`` of ``task`` and check every row."""
    try:
        rows = load_rows(task, split, data_dir)
    except TaskError as err:
        return SplitReport(task.name, split, error=str(err))
    problems: Counter[str] = Counter()
    first_ids: dict[str, list[str]] = {}
    n_rows = n_examples = n_skipped = 0
    for index, row in enumerate(rows):
        n_rows += 1
        subrows = list(task.expand(row)) if task.expand else [row]
        for sub in subrows:
            if task.keep is not None and not task.keep(sub):
                n_skipped += 1
                continue
            try:
                example = task.recast(sub)
            except RowError as err:  # the data is wrong: say where
                kind = str(err)
                problems[kind] += 1
                ids = first_ids.setdefault(kind, [])
                if len(ids) < MAX_IDS:
                    ids.append(row_location(task, split, index, data_dir))
                continue
            except Exception as err:  # noqa: BLE001 - a row that does not recast is a problem to report, in tasks show's words
                kind = recast_failure(err, sub)
                problems[kind] += 1
                ids = first_ids.setdefault(kind, [])
                if len(ids) < MAX_IDS:
                    ids.append(row_location(task, split, index, data_dir))
                continue
            n_examples += 1
            for kind in problems_of(example, task.format, task.labels):
                problems[kind] += 1
                ids = first_ids.setdefault(kind, [])
                if len(ids) < MAX_IDS:
                    ids.append(example.id)
    if n_rows == 0:
        path = split_path(task, split, data_dir)
        return SplitReport(task.name, split, error=f"{path or f'split {split!r}'}: no rows")
    return SplitReport(
        task.name, split, rows=n_rows, examples=n_examples, skipped=n_skipped,
        skip_reason=task.skip_reason if n_skipped else "", problems=dict(problems), first_ids=first_ids,
    )


def splits_to_check(task: Task, data_dir: str | os.PathLike[str] | None, split: str | None) -> list[str]:
    """The requested split, or every split present locally (derived splits excluded: they repeat their base)."""
    if split is not None:
        return [split]
    return [s for s, count in local_splits(task, data_dir).items() if s not in task.source.derived]
