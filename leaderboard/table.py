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
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from itertools import compress
from typing import Any, NamedTuple, Sequence

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Select, func, select

from catalog import did_you_mean
from leaderboard.errors import LeaderboardError
from leaderboard.schema import runs, task_results
from leaderboard.stats import z_value

#: ``--group-by`` choices -> the run column they group on.
GROUP_COLUMNS: dict[str, str] = {"model": "model", "backbone": "backbone", "head-mode": "head_mode", "mixture": "mixture"}

#: Columns every board has besides the tasks; text columns sort ascending by default.
TEXT_COLUMNS = ("run_id", "model", "backbone", "head_mode", "regime", "mixture", "created", "group")


@dataclass(frozen=True)
class EfficiencyColumn:
    """A run-level cost column: the stored run column, its heading in tables, its name in CSV and JSON, its decimals.

    ``field`` is the record's ``timings`` field the value comes from, so CSV
    and JSON readers meet the names of docs/run-record.md.
    """

    column: str
    heading: str
    field: str
    digits: int


#: The efficiency columns every table and export shows after the parameter count, in this order (missing: ``–``, or empty in CSV).
EFFICIENCY_COLUMNS = (
    EfficiencyColumn("prepare_seconds", "prep s", "prepare_seconds", 1),
    EfficiencyColumn("train_seconds", "train s", "train_seconds", 1),
    EfficiencyColumn("eval_seconds", "eval s", "eval_seconds", 1),
    EfficiencyColumn("train_eps", "train ex/s", "train_examples_per_second", 0),
    EfficiencyColumn("train_tps", "train tok/s", "train_tokens_per_second", 0),
    EfficiencyColumn("eval_eps", "eval ex/s", "eval_examples_per_second", 0),
    EfficiencyColumn("eval_tps", "eval tok/s", "eval_tokens_per_second", 0),
)
_EFFICIENCY = tuple(c.column for c in EFFICIENCY_COLUMNS)

NUMBER_COLUMNS = ("decaScore", "parameters", *_EFFICIENCY, "seed", "runs")

_RUN_FIELDS = (
    "run_id", "created", "model", "backbone", "preset", "parameters", "head_mode", "regime", "mixture", "seed",
    "deca_score", *_EFFICIENCY, "kind", "source_run", "steps", "suite",
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
    or ``decaScore_std``, ``parameters``, the :data:`EFFICIENCY_COLUMNS`; groups add ``runs``).
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


def driver_rows(conn: Connection, query: Select[Any]) -> list[tuple[Any, ...]]:
    """The rows of ``query`` as plain tuples, as the database driver returns them, without SQLAlchemy's ``Row`` objects.

    For queries of text, integer and float columns only, which both drivers
    (sqlite3, psycopg) already return as the Python values SQLAlchemy would:
    the ranked table reads 10,000 task results after every change of the
    store, and building a ``Row`` for each cost about a third of that read.
    """
    result = conn.execute(query)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def _is_in(values: pd.Series, wanted: set[str]) -> np.ndarray:
    """``values.isin(wanted)`` as a bool array, through Python's set look-up (pandas' arrow strings test each value slower)."""
    return np.fromiter((v in wanted for v in values.tolist()), dtype=bool, count=len(values))


def _run_rows(conn: Connection, run_ids: Sequence[str] | None = None) -> list[tuple[Any, ...]]:
    query = select(*(runs.c[f] for f in _RUN_FIELDS))
    if run_ids is not None:
        query = query.where(runs.c.run_id.in_(list(run_ids)))
    return driver_rows(conn, query)


def _runs_frame(rows: Sequence[tuple[Any, ...]]) -> pd.DataFrame:
    values = list(zip(*rows)) if rows else [()] * len(_RUN_FIELDS)
    frame = pd.DataFrame({c: list(v) for c, v in zip(_RUN_FIELDS, values)}, columns=list(_RUN_FIELDS))  # by column: fast
    for col in ("parameters", "seed", "deca_score", *_EFFICIENCY, "steps"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    return frame


class Results(NamedTuple):
    """The stored (run, task) rows, one tuple per column, in storage order (10,000 rows at 1,000 runs of 10 tasks)."""

    run_id: tuple[str, ...]
    position: tuple[int, ...]
    task: tuple[str, ...]
    headline: tuple[str, ...]
    score: tuple[float, ...]
    ci_low: tuple[float | None, ...]
    ci_high: tuple[float | None, ...]
    se: tuple[float | None, ...]
    split: tuple[str, ...]
    ids_sha256: tuple[str, ...]
    examples: tuple[int, ...]
    zero_shot: tuple[str | None, ...]

    def __len__(self) -> int:  # rows, not columns
        return len(self.run_id)

    def where(self, keep: Sequence[bool]) -> Results:
        """The rows where ``keep`` is true."""
        return Results(*(tuple(compress(column, keep)) for column in self))


@dataclass(frozen=True)
class StoredScores:
    """What a board is built from: the runs (a frame, one row per run) and their task results, read in two queries."""

    runs: pd.DataFrame
    results: Results


@dataclass(frozen=True)
class StoredRows:
    """What :class:`StoredScores` is built from, as read: the runs' rows (the board's run fields) and their task results.

    A cache keeps these across changes of the store (a run's rows never change
    while the schema revision stays), drops the runs removed since and appends
    the runs added since (:meth:`without`, :meth:`plus`), and builds the
    scores exactly as from a fresh read (:meth:`scores`).
    """

    runs: tuple[tuple[Any, ...], ...]
    results: Results

    @property
    def run_ids(self) -> list[str]:
        """The runs' ids, in storage order."""
        return [row[0] for row in self.runs]

    def without(self, run_ids: set[str]) -> StoredRows:
        """These rows less those of ``run_ids``."""
        return StoredRows(tuple(r for r in self.runs if r[0] not in run_ids), self.results.where([r not in run_ids for r in self.results.run_id]))

    def plus(self, other: StoredRows) -> StoredRows:
        """These rows, then ``other``'s (runs read later come later, as in storage order)."""
        return StoredRows(self.runs + other.runs, Results(*(a + b for a, b in zip(self.results, other.results))))

    def scores(self) -> StoredScores:
        """The runs as a frame (one row per run) beside their task results."""
        return StoredScores(_runs_frame(self.runs), self.results)


def read_rows(conn: Connection, run_ids: Sequence[str] | None = None) -> StoredRows:
    """The stored rows of the runs (all, or ``run_ids``) and of their task results, two queries."""
    query = select(*(task_results.c[name] for name in Results._fields))
    if run_ids is not None:
        query = query.where(task_results.c.run_id.in_(list(run_ids)))
    rows = driver_rows(conn, query)
    columns = list(zip(*rows)) if rows else [()] * len(Results._fields)
    return StoredRows(tuple(_run_rows(conn, run_ids)), Results(*columns))


def read_scores(conn: Connection, run_ids: Sequence[str] | None = None) -> StoredScores:
    """The runs (all, or ``run_ids``) and their stored task results."""
    return read_rows(conn, run_ids).scores()


def restrict_scores(scores: StoredScores, run_ids: Sequence[str]) -> StoredScores:
    """The runs ``run_ids`` of ``scores`` and their results, in storage order: what ``read_scores(conn, run_ids)`` reads."""
    wanted = set(run_ids)
    runs_ = scores.runs[_is_in(scores.runs["run_id"], wanted)].reset_index(drop=True)
    return StoredScores(runs_, scores.results.where([r in wanted for r in scores.results.run_id]))


def known_tasks(conn: Connection, run_ids: Sequence[str] | None = None) -> list[str]:
    """Every task in the store (or of ``run_ids``), in the order records list them (then by name)."""
    query = select(task_results.c.task).group_by(task_results.c.task).order_by(func.min(task_results.c.position), task_results.c.task)
    if run_ids is not None:
        query = query.where(task_results.c.run_id.in_(list(run_ids)))
    return list(conn.execute(query).scalars())


def _known(results: Results) -> list[str]:
    """:func:`known_tasks` of rows already read: by smallest position, then by name."""
    first: dict[str, int] = {}
    for task, position in set(zip(results.task, results.position)):
        first[task] = min(first.get(task, position), position)
    return sorted(first, key=lambda task: (first[task], task))


def _task_columns(results: Results, requested: Sequence[str] | None,
                  known: Sequence[str]) -> tuple[tuple[TaskColumn, ...], dict[tuple[str, str, str], str]]:
    """The board's task columns, and the column key of each (task, split, ids_sha256) among ``results``.

    A task's example sets are numbered in the order the rows list them; its
    headline is the metric most of its rows name (the first by name on a tie).
    """
    if requested:
        missing = [t for t in requested if t not in set(known)]
        if missing:
            hint = did_you_mean(missing[0], known) or f"tasks in the leaderboard: {', '.join(known) or 'none'}"
            raise LeaderboardError(f"--tasks: no run in the leaderboard has task {missing[0]!r}; {hint}")
    # One counting pass in C over the rows; everything after loops over the few distinct combinations.
    combos = Counter(zip(results.task, results.position, results.headline, results.split, results.ids_sha256, results.examples))
    positions: dict[str, list[tuple[int, int]]] = {}  # task -> (position, rows)
    headlines: dict[str, Counter[str]] = {}
    sets: dict[str, dict[tuple[str, str], int]] = {}  # task -> (split, ids_sha256) -> examples, first seen first
    for (task, position, headline, split, ids, examples), n in combos.items():
        positions.setdefault(task, []).append((position, n))
        headlines.setdefault(task, Counter())[headline] += n
        sets.setdefault(task, {}).setdefault((split, ids), examples)
    # Tasks in the order records list them (GLUE/decaNLP style keeps the benchmark's order); ties keep first-seen order.
    order = list(requested) if requested else sorted(positions, key=lambda task: _weighted_median(positions[task]))
    columns: list[TaskColumn] = []
    key_of: dict[tuple[str, str, str], str] = {}
    for task in order:
        counts = headlines[task]
        top = max(counts.values())
        headline = min(h for h, n in counts.items() if n == top)
        task_sets = list(sets[task].items())
        default = _default_split(task)
        for number, ((split, ids), examples) in enumerate(task_sets, start=1):
            key = f"{task}#{number}" if len(task_sets) > 1 else task
            same_split = sum(1 for (other, _), _ in task_sets if other == split) > 1
            columns.append(TaskColumn(task, str(headline), key=key, split=str(split), examples=int(examples),
                                      show_split=split != default, show_examples=same_split))
            key_of[(task, split, ids)] = key
    return tuple(columns), key_of


def _weighted_median(counts: Sequence[tuple[int, int]]) -> float:
    """The median of a multiset given as (value, count) pairs (the mean of the middle two for an even total).

    >>> _weighted_median([(0, 3), (4, 1)]), _weighted_median([(1, 1), (2, 1)])
    (0.0, 1.5)
    """
    ordered = sorted(counts)
    total = sum(n for _, n in ordered)

    def at(k: int) -> int:  # the k-th smallest value, 0-based
        for value, n in ordered:
            if k < n:
                return value
            k -= n
        raise IndexError(k)

    return (at((total - 1) // 2) + at(total // 2)) / 2


def _default_split(task: str) -> str | None:
    """The task's own evaluation split (None when the task is not registered here)."""
    try:
        from tasks.registry import get

        return get(task).eval_split
    except Exception:  # noqa: BLE001 - a plugin task not loaded now: every split is named
        return None


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
    return sort_board(build_board(read_scores(conn, run_ids), tasks, group_by, standing), sort)


def build_board(scores: StoredScores, tasks: Sequence[str] | None = None, group_by: str | None = None, standing: str = "ranked") -> Board:
    """:func:`load_board` from scores already read, before sorting (rows in storage order).

    A cache keeps the scores or this board, so that every sort of it is cheap.
    The rows go into the [runs, task columns] arrays through dict look-ups
    and numpy fancy indexing, and the frames are built once at the end: no
    pandas grouping, merging or pivoting, which cost milliseconds per call.
    """
    results = scores.results
    known = _known(results)
    if tasks:
        wanted = set(tasks)
        results = results.where([t in wanted for t in results.task])
    columns, key_of = _task_columns(results, tasks, known) if known else ((), {})
    names = [c.key for c in columns]
    row_of = {run_id: i for i, run_id in enumerate(scores.runs["run_id"].tolist())}
    column_of = {key: j for j, key in enumerate(names)}
    shape = (len(row_of), len(names))
    i = np.fromiter((row_of.get(r, -1) for r in results.run_id), dtype=np.intp, count=len(results))
    j = np.fromiter((column_of.get(key_of.get(k, ""), -1) for k in zip(results.task, results.split, results.ids_sha256)),
                    dtype=np.intp, count=len(results))
    placed = (i >= 0) & (j >= 0)
    i, j = i[placed], j[placed]

    def cells(values: tuple[Any, ...], empty: Any = np.nan, dtype: Any = float) -> np.ndarray:
        out = np.full(shape, empty, dtype=dtype)
        out[i, j] = np.array(values, dtype=dtype)[placed] if len(values) else []  # None -> nan for floats
        return out

    score, low, high, se = cells(results.score), cells(results.ci_low), cells(results.ci_high), cells(results.se)
    zero = cells(results.zero_shot, None, object)

    rows = scores.runs.copy()
    present = ~np.isnan(score)
    if tasks:
        total = np.where(present, score, 0.0).sum(axis=1)
        deca = np.where(present.all(axis=1) & (len(names) > 0), total, np.nan)
    else:
        deca = rows["deca_score"].to_numpy(dtype=float)
    spread = np.sqrt((np.where(present & ~np.isnan(se), se, 0.0) ** 2).sum(axis=1))
    no_interval = (present & np.isnan(se)).any(axis=1) | np.isnan(deca)
    z = z_value(0.95)
    rows["decaScore"] = deca
    rows["decaScore_low"] = np.where(no_interval, np.nan, deca - z * spread)
    rows["decaScore_high"] = np.where(no_interval, np.nan, deca + z * spread)
    rows = rows.drop(columns=["deca_score"])

    frame = lambda values: pd.DataFrame(values, columns=names, dtype=values.dtype)  # noqa: E731 - object stays object: None, never NaN
    board = Board(rows, tuple(columns), frame(score), frame(low), frame(high), frame(np.full(shape, np.nan)), zero_shot=frame(zero),
                  standing=standing)
    if group_by is not None:
        board = _grouped(board, group_by)
    return board


def _grouped(board: Board, group_by: str) -> Board:
    if group_by not in GROUP_COLUMNS:
        raise LeaderboardError(f"--group-by {group_by!r}: choose one of {', '.join(GROUP_COLUMNS)}")
    key = board.rows[GROUP_COLUMNS[group_by]].fillna("none").astype(str)
    numbers = board.rows[["decaScore", "parameters", *_EFFICIENCY]]
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
    keep = _is_in(board.rows["run_id"], set(run_ids))
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
    return take_rows(board, order.to_numpy())


def take_rows(board: Board, positions: Sequence[int] | np.ndarray) -> Board:
    """The board's rows at ``positions`` (0-based, in that order), numbered again from 0; its columns stay."""
    take = lambda f: f.iloc[positions].reset_index(drop=True)  # noqa: E731
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
    header += [c.title for c in board.tasks] + ["params"] + [c.heading for c in EFFICIENCY_COLUMNS]
    tail = [[fmt_count(x) for x in rows["parameters"]]] + [[fmt_number(x, c.digits) for x in rows[c.column]] for c in EFFICIENCY_COLUMNS]
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

    def text(x: Any) -> str | None:  # pandas reads a missing text value (no mixture, no source run) as NaN: JSON has null
        return None if x is None or (isinstance(x, float) and math.isnan(x)) else str(x)

    out: list[dict[str, Any]] = []
    for i in range(len(board)):
        row = board.rows.iloc[i]
        item: dict[str, Any] = {}
        if board.grouped:
            item.update(group=str(row["group"]), group_by=board.grouped, runs=int(row["runs"]),
                        deca_score=num(row["decaScore"]), deca_score_std=num(row["decaScore_std"]))
        else:
            item.update(
                run_id=text(row["run_id"]), kind=text(row["kind"]), source_run=text(row["source_run"]),
                training_deviation=training_deviation(row["kind"], row["suite"], row["steps"], row["mixture"]) or None,
                created=text(row["created"]), model=text(row["model"]), backbone=text(row["backbone"]), preset=text(row["preset"]),
                head_mode=text(row["head_mode"]), regime=text(row["regime"]), mixture=text(row["mixture"]),
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
        item.update(parameters=num(row["parameters"]), **{c.field: num(row[c.column]) for c in EFFICIENCY_COLUMNS})
        out.append(item)
    return out
