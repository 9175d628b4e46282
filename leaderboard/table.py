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

import math
from dataclasses import dataclass
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
    "deca_score", "train_seconds", "eval_seconds", "train_eps", "eval_eps",
)


@dataclass(frozen=True)
class TaskColumn:
    """A task column: the task and its headline metric."""

    task: str
    headline: str

    @property
    def title(self) -> str:
        """``sst2 (accuracy)``."""
        return f"{self.task} ({self.headline})"


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

    @property
    def task_names(self) -> list[str]:
        return [t.task for t in self.tasks]

    def __len__(self) -> int:
        return len(self.rows)


def _read_runs(conn: Connection) -> pd.DataFrame:
    rows = conn.execute(select(*(runs.c[f] for f in _RUN_FIELDS))).all()
    frame = pd.DataFrame.from_records([tuple(r) for r in rows], columns=list(_RUN_FIELDS))
    for col in ("parameters", "seed", "deca_score", "train_seconds", "eval_seconds", "train_eps", "eval_eps"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    return frame


def _read_results(conn: Connection, tasks: Sequence[str] | None) -> pd.DataFrame:
    columns = ["run_id", "position", "task", "headline", "score", "ci_low", "ci_high", "se"]
    query = select(*(task_results.c[c] for c in columns))
    if tasks:
        query = query.where(task_results.c.task.in_(list(tasks)))
    frame = pd.DataFrame.from_records([tuple(r) for r in conn.execute(query).all()], columns=columns)
    for col in ("score", "ci_low", "ci_high", "se"):
        frame[col] = frame[col].astype(float)
    return frame


def known_tasks(conn: Connection) -> list[str]:
    """Every task in the store, in the order records list them (then by name)."""
    query = select(task_results.c.task).group_by(task_results.c.task).order_by(func.min(task_results.c.position), task_results.c.task)
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
    return tuple(TaskColumn(t, str(headline[t])) for t in order)


def _pivot(results: pd.DataFrame, value: str, index: pd.Index, tasks: list[str]) -> pd.DataFrame:
    wide = results.pivot(index="run_id", columns="task", values=value)
    return wide.reindex(index=index, columns=tasks)


def load_board(
    conn: Connection,
    tasks: Sequence[str] | None = None,
    group_by: str | None = None,
    sort: str | None = None,
) -> Board:
    """The leaderboard restricted to ``tasks`` (default: all), grouped and sorted.

    With ``tasks`` given, decaScore is the sum over those tasks (missing for a
    run that lacks one of them), so runs evaluated on more tasks stay
    comparable; without, it is each record's own decaScore.
    """
    known = known_tasks(conn)
    run_rows = _read_runs(conn)
    results = _read_results(conn, tasks)
    columns = _task_columns(results, tasks, known) if known else ()
    names = [c.task for c in columns]
    index = pd.Index(run_rows["run_id"])
    score = _pivot(results, "score", index, names)
    low = _pivot(results, "ci_low", index, names)
    high = _pivot(results, "ci_high", index, names)
    se = _pivot(results, "se", index, names)

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
                  high.reset_index(drop=True), nan.reset_index(drop=True))
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
    rows["runs"] = groups.size().astype(float)
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
    return Board(rows, board.tasks, score, nan, nan.copy(), std, grouped=group_by)


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
    return Board(take(board.rows), board.tasks, take(board.score), take(board.low), take(board.high), take(board.std), board.grouped)


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
    else:
        header = ["run", "model", "head", "mixture", "decaScore"]
        label_cols = [
            rows["run_id"].astype(str).tolist(),
            rows["model"].astype(str).tolist(),
            rows["head_mode"].astype(str).tolist(),
            rows["mixture"].fillna("–").astype(str).tolist(),
        ]
        deca = [fmt_interval(x, lo, hi) for x, lo, hi in zip(rows["decaScore"], rows["decaScore_low"], rows["decaScore_high"])]
        tasks = [[fmt_interval(x, lo, hi) for x, lo, hi in zip(board.score[t], board.low[t], board.high[t])] for t in board.task_names]
    header += [c.title for c in board.tasks] + ["params", "train s", "eval ex/s"]
    tail = [
        [fmt_count(x) for x in rows["parameters"]],
        [fmt_number(x) for x in rows["train_seconds"]],
        [fmt_number(x, 0) for x in rows["eval_eps"]],
    ]
    columns = [*label_cols, deca, *tasks, *tail]
    return header, [list(r) for r in zip(*columns)]


def text_frame(board: Board) -> pd.DataFrame:
    """:func:`cell_texts` as a DataFrame with a 1-based rank index."""
    header, body = cell_texts(board)
    return pd.DataFrame(body, columns=header, index=pd.RangeIndex(1, len(body) + 1))


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
                run_id=row["run_id"], created=row["created"], model=row["model"], backbone=row["backbone"],
                preset=row["preset"], head_mode=row["head_mode"], regime=row["regime"], mixture=row["mixture"],
                seed=None if math.isnan(row["seed"]) else int(row["seed"]), deca_score=num(row["decaScore"]),
                deca_score_ci=[num(row["decaScore_low"]), num(row["decaScore_high"])],
            )
        tasks: dict[str, Any] = {}
        for col in board.tasks:
            entry: dict[str, Any] = {"metric": col.headline, "score": num(board.score.at[i, col.task])}
            if board.grouped:
                entry["std"] = num(board.std.at[i, col.task])
            else:
                entry["ci"] = [num(board.low.at[i, col.task]), num(board.high.at[i, col.task])]
            tasks[col.task] = entry
        item["tasks"] = tasks
        item.update(parameters=num(row["parameters"]), train_seconds=num(row["train_seconds"]), eval_examples_per_second=num(row["eval_eps"]))
        out.append(item)
    return out
