"""The leaderboard as numbers: one row per run (or per group of runs), one column per task.

:func:`load_board` reads the stored scores and intervals (computed once at
``add`` time) and builds a :class:`Board` of aligned pandas frames; the
``show`` command and every export format render from it.

- Per run: each task's headline score with its 95% bootstrap interval;
  decaScore (the sum of headline scores) with a normal interval whose variance
  is the sum of the tasks' bootstrap variances (tasks are independent samples).
- Per group (``--group-by model|backbone|head-mode|mixture``): the mean and
  standard deviation over the group's runs (seeds, usually).

>>> # with connection(db) as conn: board = load_board(conn, tasks=["sst2"], group_by="model")
>>> # board.score.loc[0, "sst2"], board.rows.loc[0, "decaScore"]
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Sequence

import numpy as np
import pandas as pd
from sqlalchemy import Connection, func, select

from catalog import did_you_mean
from leaderboard.errors import LeaderboardError
from leaderboard.schema import runs, task_results
from leaderboard.stats import z_value

#: ``--group-by`` choices -> the run column they group on.
GROUP_COLUMNS: dict[str, str] = {"model": "model", "backbone": "backbone", "head-mode": "head_mode", "mixture": "mixture"}

#: Columns every board has besides the tasks; text columns sort ascending by default.
TEXT_COLUMNS = ("run_id", "model", "backbone", "head_mode", "regime", "mixture", "created", "group")
NUMBER_COLUMNS = ("decaScore", "parameters", "train_seconds", "eval_eps", "train_eps", "seed", "runs")

_RUN_FIELDS = (
    "run_id", "created", "model", "backbone", "preset", "parameters", "head_mode", "regime", "mixture", "seed",
    "deca_score", "train_seconds", "eval_seconds", "train_eps", "eval_eps", "kind", "source_run", "steps", "suite",
)


@dataclass(frozen=True)
class TaskColumn:
    """A task column: one task scored on one set of examples, and its headline metric.

    Scores of a task on different splits or example sets never share a
    column: ``key`` is the task name when the board has one set of it, else
    ``task#N``; the title names the split where it is not the task's
    default and the example count where sets of one split differ.
    """

    task: str
    headline: str
    key: str = ""
    split: str = ""
    examples: int = 0
    show_split: bool = False
    show_examples: bool = False

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", self.task)

    @property
    def title(self) -> str:
        """``sst2 (accuracy)``, ``snli (accuracy, test)``, ``sst2 (accuracy, n=100)``."""
        parts = [self.headline] + ([self.split] if self.show_split else []) + ([f"n={self.examples}"] if self.show_examples else [])
        return f"{self.task} ({', '.join(parts)})"


@dataclass(frozen=True)
class Board:
    """Aligned frames, one row per run (``grouped`` is None) or per group.

    ``rows``: labels and run-level numbers (``decaScore``, ``decaScore_low``/``_high``
    or ``decaScore_std``, ``parameters``, ``train_seconds``, ``eval_eps``; groups add ``runs``).
    ``score``/``low``/``high``/``std``: [rows, tasks] frames; ``low``/``high`` are the
    95% intervals of single runs, ``std`` the spread over a group's runs.
    """

    rows: pd.DataFrame
    tasks: tuple[TaskColumn, ...]
    score: pd.DataFrame
    low: pd.DataFrame
    high: pd.DataFrame
    std: pd.DataFrame
    grouped: str | None = None
    zero_shot: pd.DataFrame | None = None  # [rows, tasks]: the untrained labels (a JSON list) of a zero-shot score, else None
    standing: str = "ranked"  # ranked | apart (another suite version or fingerprint: no rank) | adhoc (outside any suite: no rank, no decaScore)

    @property
    def task_names(self) -> list[str]:
        """The column keys (task names, or ``task#N`` where a task has several example sets)."""
        return [t.key for t in self.tasks]

    def __len__(self) -> int:
        return len(self.rows)


def _read_runs(conn: Connection, run_ids: Sequence[str] | None = None) -> pd.DataFrame:
    query = select(*(runs.c[f] for f in _RUN_FIELDS))
    if run_ids is not None:
        query = query.where(runs.c.run_id.in_(list(run_ids)))
    rows = conn.execute(query).all()
    frame = pd.DataFrame.from_records([tuple(r) for r in rows], columns=list(_RUN_FIELDS))
    for col in ("parameters", "seed", "deca_score", "train_seconds", "eval_seconds", "train_eps", "eval_eps", "steps"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    return frame


def _read_results(conn: Connection, tasks: Sequence[str] | None, run_ids: Sequence[str] | None = None) -> pd.DataFrame:
    columns = ["run_id", "position", "task", "headline", "score", "ci_low", "ci_high", "se", "split", "ids_sha256", "examples", "zero_shot"]
    query = select(*(task_results.c[c] for c in columns))
    if tasks:
        query = query.where(task_results.c.task.in_(list(tasks)))
    if run_ids is not None:
        query = query.where(task_results.c.run_id.in_(list(run_ids)))
    frame = pd.DataFrame.from_records([tuple(r) for r in conn.execute(query).all()], columns=columns)
    for col in ("score", "ci_low", "ci_high", "se"):
        frame[col] = frame[col].astype(float)
    return frame


def known_tasks(conn: Connection, run_ids: Sequence[str] | None = None) -> list[str]:
    """Every task in the store (or of ``run_ids``), in the order records list them (then by name)."""
    query = select(task_results.c.task).group_by(task_results.c.task).order_by(func.min(task_results.c.position), task_results.c.task)
    if run_ids is not None:
        query = query.where(task_results.c.run_id.in_(list(run_ids)))
    return list(conn.execute(query).scalars())


def _task_columns(results: pd.DataFrame, requested: Sequence[str] | None, known: Sequence[str]) -> tuple[TaskColumn, ...]:
    if requested:
        missing = [t for t in requested if t not in set(known)]
        if missing:
            hint = did_you_mean(missing[0], known) or f"tasks in the leaderboard: {', '.join(known) or 'none'}"
            raise LeaderboardError(f"--tasks: no run in the leaderboard has task {missing[0]!r}; {hint}")
        order = list(requested)
    else:
        # Tasks in the order records list them (GLUE/decaNLP style keeps the benchmark's order).
        order = list(results.groupby("task", sort=False)["position"].median().sort_values(kind="stable").index)
    headline = results.groupby("task", sort=False)["headline"].agg(lambda s: s.mode().iat[0])
    columns: list[TaskColumn] = []
    for task in order:
        sets = results[results["task"] == task][["split", "ids_sha256", "examples"]].drop_duplicates(["split", "ids_sha256"])
        several = len(sets) > 1
        default = _default_split(task)
        for number, (split, _, examples) in enumerate(sets.itertuples(index=False), start=1):
            same_split = (sets["split"] == split).sum() > 1
            columns.append(TaskColumn(task, str(headline[task]), key=f"{task}#{number}" if several else task, split=str(split),
                                      examples=int(examples), show_split=split != default, show_examples=same_split))
    return tuple(columns)


def _default_split(task: str) -> str | None:
    """The task's own evaluation split (None when the task is not registered here)."""
    try:
        from tasks.registry import get

        return get(task).eval_split
    except Exception:  # noqa: BLE001 - a plugin task not loaded now: every split is named
        return None


def column_keys(results: pd.DataFrame, columns: Sequence[TaskColumn]) -> pd.Series:
    """Each result row's column key: its task's column for its split and example set."""
    index: dict[tuple[str, str, str], str] = {}
    for task in dict.fromkeys(c.task for c in columns):
        sets = results[results["task"] == task][["split", "ids_sha256"]].drop_duplicates()
        keys = [c.key for c in columns if c.task == task]
        for key, (split, ids) in zip(keys, sets.itertuples(index=False)):
            index[(task, split, ids)] = key
    return pd.Series([index.get((t, sp, i)) for t, sp, i in zip(results["task"], results["split"], results["ids_sha256"])], index=results.index, dtype=object)


def _pivot(results: pd.DataFrame, value: str, index: pd.Index, tasks: list[str]) -> pd.DataFrame:
    wide = results.pivot(index="run_id", columns="column", values=value)
    return wide.reindex(index=index, columns=tasks)


def load_board(
    conn: Connection,
    tasks: Sequence[str] | None = None,
    group_by: str | None = None,
    sort: str | None = None,
    run_ids: Sequence[str] | None = None,
    standing: str = "ranked",
) -> Board:
    """The leaderboard restricted to ``tasks`` (default: all) and ``run_ids`` (default: all), grouped and sorted.

    With ``tasks`` given, decaScore is the sum over those tasks (missing for a
    run that lacks one of them), so runs evaluated on more tasks stay
    comparable; without, it is each record's own decaScore. ``standing`` says
    how the rows may be read (:class:`Board`).
    """
    known = known_tasks(conn, run_ids)
    run_rows = _read_runs(conn, run_ids)
    results = _read_results(conn, tasks, run_ids)
    columns = _task_columns(results, tasks, known) if known else ()
    names = [c.key for c in columns]
    results["column"] = column_keys(results, columns) if len(results) else pd.Series(dtype=object)
    index = pd.Index(run_rows["run_id"])
    score = _pivot(results, "score", index, names)
    low = _pivot(results, "ci_low", index, names)
    high = _pivot(results, "ci_high", index, names)
    se = _pivot(results, "se", index, names)
    zero = _pivot(results, "zero_shot", index, names).astype(object)
    zero = zero.where(zero.notna(), None)

    rows = run_rows.set_index("run_id", drop=False)
    if tasks:
        rows["decaScore"] = score.sum(axis=1, min_count=1).where(score.notna().all(axis=1))
    else:
        rows["decaScore"] = rows["deca_score"]
    present = score.notna()
    spread = np.sqrt((se.where(present) ** 2).sum(axis=1))
    no_interval = (present & se.isna()).any(axis=1) | rows["decaScore"].isna()
    z = z_value(0.95)
    rows["decaScore_low"] = (rows["decaScore"] - z * spread).where(~no_interval)
    rows["decaScore_high"] = (rows["decaScore"] + z * spread).where(~no_interval)
    rows = rows.drop(columns=["deca_score"])

    nan = pd.DataFrame(np.nan, index=index, columns=names)
    board = Board(rows.reset_index(drop=True), tuple(columns), score.reset_index(drop=True), low.reset_index(drop=True),
                  high.reset_index(drop=True), nan.reset_index(drop=True), zero_shot=zero.reset_index(drop=True), standing=standing)
    if group_by is not None:
        board = _grouped(board, group_by)
    return sort_board(board, sort)


def _grouped(board: Board, group_by: str) -> Board:
    if group_by not in GROUP_COLUMNS:
        raise LeaderboardError(f"--group-by {group_by!r}: choose one of {', '.join(GROUP_COLUMNS)}")
    key = board.rows[GROUP_COLUMNS[group_by]].fillna("none").astype(str)
    numbers = board.rows[["decaScore", "parameters", "train_seconds", "eval_eps", "train_eps"]]
    groups = numbers.groupby(key, sort=False)
    rows = groups.mean()
    rows["decaScore_std"] = groups["decaScore"].std(ddof=1)
    # A group counts trained runs: a later evaluation of a run adds a row, not a run.
    trained = board.rows["source_run"].where(board.rows["kind"] == "evaluation").fillna(board.rows["run_id"])
    rows["runs"] = trained.groupby(key, sort=False).nunique().astype(float)
    rows.index.name = "group"
    rows = rows.reset_index()
    # The labels a group shares, kept when all its runs agree (a "model" group has one backbone).
    for col in ("model", "backbone", "head_mode", "mixture"):
        agree = board.rows[col].fillna("none").astype(str).groupby(key, sort=False).agg(lambda s: s.iat[0] if s.nunique() == 1 else "*")
        rows[col] = agree.reindex(rows["group"]).to_numpy()
    score_groups = board.score.groupby(key, sort=False)
    score = score_groups.mean().reindex(rows["group"]).reset_index(drop=True)
    std = score_groups.std(ddof=1).reindex(rows["group"]).reset_index(drop=True)
    nan = pd.DataFrame(np.nan, index=score.index, columns=score.columns)
    zero = _grouped_zero_shot(board, key, list(rows["group"]))
    return Board(rows, board.tasks, score, nan, nan.copy(), std, grouped=group_by, zero_shot=zero, standing=board.standing)


def _grouped_zero_shot(board: Board, key: pd.Series, groups: list[str]) -> pd.DataFrame | None:
    """[groups, tasks]: for a group mean over any zero-shot score, JSON ``{"untrained_labels", "runs", "of"}``; else None.

    A mean is marked when one of its runs answered the task zero-shot, and
    the note says in how many of the group's entries.
    """
    if board.zero_shot is None:
        return None
    out = pd.DataFrame([[None] * len(board.task_names) for _ in groups], columns=board.task_names, dtype=object)
    for g, group in enumerate(groups):
        members = (key == group).to_numpy()
        for col in board.task_names:
            cells = [v for v, scored in zip(board.zero_shot.loc[members, col], board.score.loc[members, col].notna()) if scored]
            flagged = [json.loads(v) for v in cells if v is not None]
            if flagged:
                labels = list(dict.fromkeys(label for labels in flagged for label in labels))
                out.at[g, col] = json.dumps({"untrained_labels": labels, "runs": len(flagged), "of": len(cells)})
    return out


def group_board(board: Board, group_by: str) -> Board:
    """``board`` (one row per run) as one row per ``--group-by`` group: mean and standard deviation over its runs."""
    return _grouped(board, group_by)


def restrict_board(board: Board, run_ids: Sequence[str]) -> Board:
    """The rows of ``run_ids`` in a per-run ``board``, keeping its column keys; task columns none of them scored are dropped."""
    keep = board.rows["run_id"].isin(list(run_ids)).to_numpy()
    take = lambda f: f.loc[keep].reset_index(drop=True)  # noqa: E731
    score = take(board.score)
    tasks = tuple(c for c in board.tasks if score[c.key].notna().any())
    names = [c.key for c in tasks]
    cut = lambda f: take(f)[names]  # noqa: E731
    zero = cut(board.zero_shot) if board.zero_shot is not None else None
    return Board(take(board.rows), tasks, score[names], cut(board.low), cut(board.high), cut(board.std), board.grouped, zero, board.standing)


def sortable_columns(board: Board) -> list[str]:
    """Names ``--sort`` accepts on this board."""
    base = [c for c in (*NUMBER_COLUMNS, *TEXT_COLUMNS) if c in board.rows.columns]
    return base + board.task_names


def sort_board(board: Board, sort: str | None) -> Board:
    """Rows ordered by ``sort`` (``COLUMN`` or ``COLUMN:asc|desc``); default decaScore, best first.

    Numbers sort descending and text ascending unless told; missing values go last.
    """
    name, _, direction = (sort or "decaScore").partition(":")
    if direction not in ("", "asc", "desc"):
        raise LeaderboardError(f"--sort {sort!r}: the direction after ':' is 'asc' or 'desc'")
    columns = sortable_columns(board)
    if name not in columns:
        hint = did_you_mean(name, columns, cutoff=0.5) or f"choose from {', '.join(columns)}"
        raise LeaderboardError(f"--sort {name!r}: no such column; {hint}")
    values = board.score[name] if name in board.task_names and name not in board.rows.columns else board.rows[name]
    ascending = direction == "asc" if direction else name in TEXT_COLUMNS
    order = values.reset_index(drop=True).sort_values(ascending=ascending, na_position="last", kind="stable").index
    take = lambda f: f.iloc[order].reset_index(drop=True)  # noqa: E731
    zero = take(board.zero_shot) if board.zero_shot is not None else None
    return Board(take(board.rows), board.tasks, take(board.score), take(board.low), take(board.high), take(board.std), board.grouped, zero, board.standing)


# --- text formatting shared by show and the exports -------------------------------------------------------------------


def fmt_number(x: Any, digits: int = 1) -> str:
    """``81.2``; ``–`` for missing."""
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def fmt_interval(x: float, low: float, high: float) -> str:
    """``81.2 [79.0, 83.4]``, or just the score when there is no interval."""
    if math.isnan(x):
        return "–"
    if math.isnan(low) or math.isnan(high):
        return fmt_number(x)
    return f"{x:.1f} [{low:.1f}, {high:.1f}]"


def fmt_spread(x: float, std: float) -> str:
    """``81.2 ± 0.4`` for a group mean (just the mean for a group of one)."""
    if math.isnan(x):
        return "–"
    return fmt_number(x) if math.isnan(std) else f"{x:.1f} ± {std:.1f}"


def fmt_count(x: float) -> str:
    """Parameters the way papers write them: ``412K``, ``110M``, ``1.3B``."""
    if math.isnan(x):
        return "–"
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if x >= size:
            value = x / size
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
    return f"{x:.0f}"


def cell_texts(board: Board) -> tuple[list[str], list[list[str]]]:
    """The human-readable table (header, rows) that ``show`` and the exports print."""
    rows = board.rows
    if board.grouped:
        header = [board.grouped, "runs", "decaScore"]
        label_cols = [rows["group"].astype(str).tolist(), [fmt_number(x, 0) for x in rows["runs"]]]
        deca = [fmt_spread(x, s) for x, s in zip(rows["decaScore"], rows["decaScore_std"])]
        tasks = [[fmt_spread(x, s) for x, s in zip(board.score[t], board.std[t])] for t in board.task_names]
        if board.zero_shot is not None:  # a mean over a zero-shot score carries the mark too
            tasks = [[cell + " †" if board.zero_shot.at[i, t] is not None else cell for i, cell in enumerate(column)]
                     for t, column in zip(board.task_names, tasks)]
    else:
        header = ["run", "kind", "model", "head", "mixture", "decaScore"]
        label_cols = [
            rows["run_id"].astype(str).tolist(),
            [entry_kind(k, src) + off_protocol(k, suite, steps, mixture)
             for k, src, suite, steps, mixture in zip(rows["kind"], rows["source_run"], rows["suite"], rows["steps"], rows["mixture"])],
            rows["model"].astype(str).tolist(),
            rows["head_mode"].astype(str).tolist(),
            rows["mixture"].fillna("–").astype(str).tolist(),
        ]
        deca = [fmt_interval(x, lo, hi) for x, lo, hi in zip(rows["decaScore"], rows["decaScore_low"], rows["decaScore_high"])]
        tasks = [[fmt_interval(x, lo, hi) for x, lo, hi in zip(board.score[t], board.low[t], board.high[t])] for t in board.task_names]
        if board.zero_shot is not None:  # a zero-shot score carries a mark, explained by zero_shot_notes
            tasks = [[cell + " †" if board.zero_shot.at[i, t] is not None else cell for i, cell in enumerate(column)]
                     for t, column in zip(board.task_names, tasks)]
    header += [c.title for c in board.tasks] + ["params", "train s", "eval ex/s"]
    tail = [
        [fmt_count(x) for x in rows["parameters"]],
        [fmt_number(x) for x in rows["train_seconds"]],
        [fmt_number(x, 0) for x in rows["eval_eps"]],
    ]
    columns = [*label_cols, deca, *tasks, *tail]
    if board.standing == "adhoc":  # different tasks and examples: a sum would compare nothing
        drop = header.index("decaScore")
        header = header[:drop] + header[drop + 1 :]
        columns = columns[:drop] + columns[drop + 1 :]
    return header, [list(r) for r in zip(*columns)]


def entry_kind(kind: Any, source_run: Any) -> str:
    """``run``, ``external``, or ``evaluation of <run id>``.

    >>> entry_kind("evaluation", "20261203T195513Z-bert-tiny-1ba5b8")
    'evaluation of 20261203T195513Z-bert-tiny-1ba5b8'
    """
    kind = str(kind) if isinstance(kind, str) else "run"
    return f"evaluation of {source_run}" if kind == "evaluation" and isinstance(source_run, str) else kind


@lru_cache(maxsize=32)
def _training_protocol(suite: str) -> tuple[int, str] | None:
    """(steps, mixture) of ``suite``'s declared training protocol; None for a suite not declared here."""
    try:
        from tasks.suite import get_suite

        protocol = get_suite(suite).training
    except Exception:  # noqa: BLE001 - a suite this qabench does not declare: nothing to compare with
        return None
    return protocol.steps, protocol.mixture


def training_deviation(kind: Any, suite: Any, steps: Any, mixture: Any) -> str:
    """How a trained entry of a suite departs from the suite's training protocol (steps, mixture); ``""`` when it does not.

    Evaluation and external entries have no training here to compare.

    >>> training_deviation("run", "lecture", 300.0, "proportional")
    '300 of 1000 steps'
    >>> training_deviation("run", "lecture", 1000.0, "proportional"), training_deviation("external", "lecture", None, None)
    ('', '')
    """
    if kind not in ("run", None) or not isinstance(suite, str):
        return ""
    protocol = _training_protocol(suite)
    if protocol is None:
        return ""
    parts = []
    if isinstance(steps, (int, float)) and not math.isnan(steps) and int(steps) != protocol[0]:
        parts.append(f"{int(steps)} of {protocol[0]} steps")
    if isinstance(mixture, str) and mixture != protocol[1]:
        parts.append(f"{mixture} mixture (protocol: {protocol[1]})")
    return ", ".join(parts)


def off_protocol(kind: Any, suite: Any, steps: Any, mixture: Any) -> str:
    """``, off protocol: 300 of 1000 steps`` after an entry's kind when its training departs from its suite's protocol, else ``""``."""
    deviation = training_deviation(kind, suite, steps, mixture)
    return f", off protocol: {deviation}" if deviation else ""


def zero_shot_notes(board: Board) -> list[str]:
    """``† <run>: <task> zero-shot; untrained labels: ...`` for every zero-shot score on the board."""
    if board.zero_shot is None:
        return []
    from tasks.scoring import zero_shot_note

    notes = []
    for i, name in enumerate(board.rows["group" if board.grouped else "run_id"]):
        for col in board.tasks:
            value = board.zero_shot.at[i, col.key]
            if value is None:
                continue
            found = json.loads(value)
            if board.grouped:  # {"untrained_labels", "runs", "of"}: how many of the group's entries were zero-shot
                note = zero_shot_note(found["untrained_labels"]).replace("zero-shot", f"zero-shot in {found['runs']} of {found['of']} entries", 1)
                notes.append(f"† {board.grouped} {name}: {col.task} {note}")
            else:
                notes.append(f"† {name}: {col.task} {zero_shot_note(found)}")
    return notes


def text_frame(board: Board) -> pd.DataFrame:
    """:func:`cell_texts` as a DataFrame with a 1-based rank index (no rank for entries that are not ranked)."""
    header, body = cell_texts(board)
    index = pd.RangeIndex(1, len(body) + 1) if board.standing == "ranked" else pd.Index(["–"] * len(body))
    return pd.DataFrame(body, columns=header, index=index)


def board_json(board: Board) -> list[dict[str, Any]]:
    """The board as JSON-ready dicts: numbers stay numbers, missing values are null."""

    def num(x: Any) -> float | None:
        return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)

    out: list[dict[str, Any]] = []
    for i in range(len(board)):
        row = board.rows.iloc[i]
        item: dict[str, Any] = {}
        if board.grouped:
            item.update(group=str(row["group"]), group_by=board.grouped, runs=int(row["runs"]),
                        deca_score=num(row["decaScore"]), deca_score_std=num(row["decaScore_std"]))
        else:
            item.update(
                run_id=row["run_id"], kind=row["kind"], source_run=row["source_run"],
                training_deviation=training_deviation(row["kind"], row["suite"], row["steps"], row["mixture"]) or None,
                created=row["created"], model=row["model"], backbone=row["backbone"],
                preset=row["preset"], head_mode=row["head_mode"], regime=row["regime"], mixture=row["mixture"],
                seed=None if math.isnan(row["seed"]) else int(row["seed"]), deca_score=num(row["decaScore"]),
                deca_score_ci=[num(row["decaScore_low"]), num(row["decaScore_high"])],
            )
        tasks: dict[str, Any] = {}
        for col in board.tasks:
            entry: dict[str, Any] = {"metric": col.headline, "split": col.split, "examples": col.examples, "score": num(board.score.at[i, col.key])}
            if board.grouped:
                entry["std"] = num(board.std.at[i, col.key])
                if board.zero_shot is not None and board.zero_shot.at[i, col.key] is not None:
                    entry["zero_shot"] = json.loads(board.zero_shot.at[i, col.key])  # untrained_labels, and in how many of the group's entries
            else:
                entry["ci"] = [num(board.low.at[i, col.key]), num(board.high.at[i, col.key])]
                if board.zero_shot is not None and board.zero_shot.at[i, col.key] is not None:
                    entry["zero_shot"] = {"untrained_labels": json.loads(board.zero_shot.at[i, col.key])}
            tasks[col.key] = entry
        item["tasks"] = tasks
        item.update(parameters=num(row["parameters"]), train_seconds=num(row["train_seconds"]), eval_examples_per_second=num(row["eval_eps"]))
        out.append(item)
    return out
