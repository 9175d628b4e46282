"""What the web pages show, read from the store: pure functions of a connection and the request's parameters.

Every query is a SQLAlchemy Core statement with bound parameters; nothing
from a URL is ever pasted into SQL. Functions raise :class:`NotFound` for a run
or task that is not there, which the app turns into a 404 page.

>>> page_bounds(total=120, page=3, per_page=50)
(100, 120, 3, 3)
>>> page_bounds(total=0, page=9, per_page=50)
(0, 0, 1, 1)
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Sequence, TypeVar

import numpy as np
from sqlalchemy import Connection, select

from leaderboard.curves import CurvePoint, series
from leaderboard.errors import LeaderboardError
from leaderboard.schema import runs, task_results
from leaderboard.store import StoreState, resolve_run_id, store_state, stored_curves, stored_predictions
from leaderboard.table import (
    EFFICIENCY_COLUMNS,
    Board,
    StoredRows,
    StoredScores,
    build_board,
    entry_kind,
    fmt_count,
    fmt_interval,
    fmt_number,
    off_protocol,
    read_rows,
    read_scores,
    restrict_scores,
    sort_board,
    take_rows,
)
from tasks.scoring import zero_shot_note

#: Rows of the predictions browser and of each compare task per page.
PER_PAGE = 50
#: Runs per page of the ranked table (ranks continue across pages).
RANKED_PER_PAGE = 100
#: Columns the ranked table filters on, with their labels.
FILTERS = {"model": "model", "backbone": "backbone", "head_mode": "head mode", "mixture": "mixture"}


T = TypeVar("T")


class NotFound(LeaderboardError):
    """A run, task or page that is not in the store (a 404)."""


class StoreCache:
    """Values computed from the store, kept while its :func:`~leaderboard.store.content_token` stays the same.

    The web view never writes; other processes add and remove runs at any
    time. Each request reads the token once (:meth:`at`: one primary-key
    scan) and recomputes a value only when the store changed since it was
    cached, so sorting, filtering and paging the ranked table of 1,000 runs
    skip the queries and the board's construction. After a change, the
    stored rows are not read again: those of the runs removed since are
    dropped and only the runs added since are read (:meth:`scores`).
    Thread-safe (Starlette runs page functions in a thread pool); the cached
    values are shared between requests and must not be mutated.
    """

    def __init__(self, size: int = 32) -> None:
        self._size = size
        self._token: str | None = None
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._rows: tuple[str, StoredRows] | None = None  # (schema revision, every run's rows as last read): kept across changes
        self._lock = threading.Lock()

    def get(self, token: str, key: Hashable, compute: Callable[[], T]) -> T:
        """The value of ``key`` for the store at ``token``: cached, or ``compute()`` (run outside the lock) and cached."""
        with self._lock:
            if token != self._token:  # the store changed: everything cached describes an older state
                self._token = token
                self._values.clear()
            elif key in self._values:
                self._values.move_to_end(key)
                return self._values[key]  # type: ignore[no-any-return]
        value = compute()
        with self._lock:
            if token == self._token:
                self._values[key] = value
                while len(self._values) > self._size:
                    self._values.popitem(last=False)
        return value

    def at(self, conn: Connection) -> Memo:
        """This cache at the store's current state, as ``conn`` sees it (read once, for one request)."""
        state = store_state(conn)
        return Memo(self, state.token, state)

    def scores(self, conn: Connection, state: StoreState) -> StoredScores:
        """Every stored run and task result at ``state``: the rows last read, less the runs removed and plus the runs added since.

        A new schema revision, or changes to more than half the runs, read everything again.
        """
        with self._lock:
            last = self._rows
        if last is not None and last[0] == state.revision:
            rows = last[1]
            had, now = set(rows.run_ids), set(state.run_ids)
            added, gone = [r for r in state.run_ids if r not in had], had - now
            if len(added) + len(gone) <= len(now) // 2:
                rows = rows.without(gone) if gone else rows
                rows = rows.plus(read_rows(conn, added)) if added else rows
            else:
                rows = read_rows(conn)
        else:
            rows = read_rows(conn)
        with self._lock:
            self._rows = (state.revision, rows)
        return rows.scores()


@dataclass(frozen=True)
class Memo:
    """A :class:`StoreCache` at one state of the store; ``Memo(None, "")`` computes every value afresh."""

    cache: StoreCache | None
    token: str
    state: StoreState | None = None

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``key``'s cached value, or ``compute()``."""
        return compute() if self.cache is None else self.cache.get(self.token, key, compute)

    def scores(self, conn: Connection) -> StoredScores:
        """Every stored run and task result (:meth:`StoreCache.scores`; without a cache, read afresh)."""
        if self.cache is None or self.state is None:
            return read_scores(conn)
        cache, state = self.cache, self.state
        return self.get("scores", lambda: cache.scores(conn, state))


#: No cache: every value is computed afresh.
NO_CACHE = Memo(None, "")


def page_bounds(total: int, page: int, per_page: int) -> tuple[int, int, int, int]:
    """``(start, stop, page, pages)`` for 1-based ``page`` clamped to the pages that exist."""
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    start = (page - 1) * per_page
    return start, min(total, start + per_page), page, pages


# --- the ranked table --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskSet:
    """Runs evaluated on exactly these tasks; the ranked table shows one task set at a time."""

    tasks: tuple[str, ...]
    runs: int

    @property
    def key(self) -> str:
        return ",".join(self.tasks)


def _task_set_of_each_run(scores: StoredScores) -> dict[str, tuple[str, ...]]:
    """Run id -> the tasks it was evaluated on, in record order."""
    results = scores.results
    by_run: dict[str, list[tuple[int, str]]] = {}
    for run_id, position, task in zip(results.run_id, results.position, results.task):
        by_run.setdefault(run_id, []).append((position, task))
    return {run_id: tuple(t for _, t in sorted(tasks)) for run_id, tasks in by_run.items()}


def _count_sets(of_run: dict[str, tuple[str, ...]]) -> list[TaskSet]:
    counts: dict[tuple[str, ...], int] = {}
    for key in of_run.values():
        counts[key] = counts.get(key, 0) + 1
    return [TaskSet(k, n) for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def task_sets(conn: Connection) -> list[TaskSet]:
    """Every task set in the store, the most common first."""
    return _count_sets(_task_set_of_each_run(read_scores(conn)))


@dataclass(frozen=True)
class Ranked:
    """The ranked table of one task set, filtered and sorted, as display strings."""

    board: Board
    task_set: TaskSet | None
    task_sets: tuple[TaskSet, ...]
    options: dict[str, list[str]]  # filter column -> values present in the task set
    rows: list[dict[str, Any]]  # this page's rows, each with its ``rank``
    total: int = 0  # runs after filtering
    page: int = 1
    pages: int = 1
    standing: str = "ranked"  # ranked | apart | adhoc, as the section's (leaderboard.sections.Section.standing)
    notes: tuple[str, ...] = ()  # what the † of a zero-shot cell on this page means


@dataclass(frozen=True)
class _TaskSetView:
    """A task set's runs (of one section) as an unsorted board, with the values each filter offers: what is cached per task set."""

    board: Board
    options: dict[str, list[str]]


def _task_set_view(scores: StoredScores, chosen: TaskSet, of_run: dict[str, tuple[str, ...]], standing: str) -> _TaskSetView:
    whole = build_board(scores, tasks=list(chosen.tasks), standing=standing)
    members = {run_id for run_id, key in of_run.items() if key == chosen.tasks}
    board = take_rows(whole, np.fromiter((r in members for r in whole.rows["run_id"].tolist()), dtype=bool, count=len(whole)).nonzero()[0])
    options = {col: sorted({_label(v) for v in board.rows[col]}) for col in FILTERS}
    return _TaskSetView(board, options)


def _label(value: Any) -> str:
    """A text column's value for display and filters; a missing one (None, or NaN as pandas reads it) is ``none``."""
    return "none" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def ranked_table(conn: Connection, task_key: str | None, filters: dict[str, str], sort: str | None, page: int = 1,
                 per_page: int = RANKED_PER_PAGE, run_ids: Sequence[str] | None = None, standing: str = "ranked",
                 memo: Memo = NO_CACHE) -> Ranked:
    """The table behind ``/``: the runs of one task set (default: the most common), filtered by exact label, sorted, one page.

    ``run_ids`` keeps one section of the leaderboard (a suite protocol, or
    the ad hoc runs); a ``standing`` other than ``ranked`` numbers no rank.
    Through ``memo`` (:meth:`StoreCache.at`) the store is read and each task
    set's board built once per state of the store; a request then only
    sorts, filters and formats one page.
    """
    section = tuple(run_ids) if run_ids is not None else None
    everything = memo.scores(conn)  # once per change of the store (only the runs added since), whatever the page shows
    # A section of every entry (all ad hoc, or all of one suite protocol) needs no copy of the scores restricted to itself.
    whole = section is None or set(section) == set(everything.runs["run_id"].tolist())
    scores = everything if whole else memo.get(("scores", section), lambda: restrict_scores(everything, section))
    of_run = memo.get(("task sets", section), lambda: _task_set_of_each_run(scores))
    sets = memo.get(("task set counts", section), lambda: _count_sets(of_run))
    chosen = next((s for s in sets if s.key == task_key), None) if task_key else (sets[0] if sets else None)
    if task_key and chosen is None:
        raise NotFound(f"no run was evaluated on exactly the tasks {task_key!r}")
    if chosen is None:
        return Ranked(sort_board(build_board(scores, standing=standing), None), None, (), {}, [], standing=standing)
    view = memo.get(("task set", section, chosen.tasks, standing), lambda: _task_set_view(scores, chosen, of_run, standing))
    board = sort_board(view.board, sort)
    frame = board.rows
    keep = np.ones(len(frame), dtype=bool)
    for col, value in filters.items():
        if value:
            keep &= np.array([_label(v) == value for v in frame[col]], dtype=bool)
    kept = keep.nonzero()[0]
    start, stop, page, pages = page_bounds(len(kept), page, per_page)
    shown = kept[start:stop]
    # This page's rows only, whole columns at once: per-cell pandas lookups cost seconds at 1,000 runs.
    names = board.task_names
    score, low, high = (f[names].to_numpy(dtype=float)[shown] for f in (board.score, board.low, board.high))  # [page rows, tasks]
    cols = {c: frame[c].iloc[shown].tolist() for c in ("run_id", "model", "backbone", "head_mode", "mixture", "seed", "decaScore",
                                                       "decaScore_low", "decaScore_high", "parameters", "kind", "source_run", "suite", "steps",
                                                       *(e.column for e in EFFICIENCY_COLUMNS))}
    # [page rows, tasks]: the untrained labels (JSON) of a zero-shot score, else None
    marked = board.zero_shot.to_numpy(dtype=object)[shown] if board.zero_shot is not None else None
    rows, notes = [], []
    for i, rank in enumerate(range(start + 1, stop + 1)):
        c = {k: v[i] for k, v in cols.items()}
        flags = [marked is not None and marked[i, j] is not None for j in range(len(names))]
        notes += [f"† {c['run_id']}: {board.tasks[j].task} {zero_shot_note(json.loads(marked[i, j]))}" for j, flag in enumerate(flags) if flag]
        rows.append(
            {
                "rank": rank if standing == "ranked" else "–",
                "kind": entry_kind(c["kind"], c["source_run"]) + off_protocol(c["kind"], c["suite"], c["steps"], c["mixture"]),
                "run_id": str(c["run_id"]), "model": str(c["model"]), "backbone": str(c["backbone"]), "head_mode": str(c["head_mode"]),
                "mixture": _label(c["mixture"]), "seed": fmt_number(c["seed"], 0),
                "deca": fmt_interval(c["decaScore"], c["decaScore_low"], c["decaScore_high"]),
                "tasks": [fmt_interval(score[i, j], low[i, j], high[i, j]) + (" †" if flags[j] else "") for j in range(len(names))],
                "parameters": fmt_count(c["parameters"]),
                "efficiency": [fmt_number(c[e.column], e.digits) for e in EFFICIENCY_COLUMNS],
            }
        )
    return Ranked(board, chosen, tuple(sets), view.options, rows, len(kept), page, pages, standing, tuple(notes))


def runs_with_task_set(conn: Connection, tasks: Sequence[str]) -> list[str]:
    """Ids of the runs evaluated on exactly ``tasks``, oldest first."""
    wanted = set(tasks)
    by_run: dict[str, set[str]] = {}
    query = select(task_results.c.run_id, task_results.c.task).join(runs, runs.c.run_id == task_results.c.run_id)
    for run_id, task in conn.execute(query.order_by(runs.c.created, runs.c.run_id)):
        by_run.setdefault(run_id, set()).add(task)
    return [r for r, ts in by_run.items() if ts == wanted]


# --- one run -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskRow:
    """One task of a run page."""

    task: str
    split: str
    examples: int
    headline: str
    score: str
    ci_method: str
    metrics: dict[str, float]


@dataclass(frozen=True)
class RunPage:
    """Everything the run page shows except the predictions."""

    run_id: str
    fields: dict[str, Any]
    record: dict[str, Any]
    tasks: tuple[TaskRow, ...]
    lineage: tuple[tuple[str, str], ...]  # (label, value) of the pretraining this run started from
    loss: dict[str, list[tuple[int, float]]]
    evals: dict[str, list[tuple[int, float]]]


def _checked(value: str, what: str) -> str:
    """``value`` from a URL, refused (404) when no stored string could equal it (NUL bytes, absurd length)."""
    if "\x00" in value or len(value) > 1000:
        raise NotFound(f"no {what} {value[:40]!r}...")
    return value


def _exact_run(conn: Connection, run_id: str) -> str:
    """``run_id`` when stored (a unique prefix is resolved too); :class:`NotFound` otherwise."""
    _checked(run_id, "run")
    try:
        return resolve_run_id(conn, run_id)
    except LeaderboardError as err:
        raise NotFound(str(err)) from None


def run_page(conn: Connection, run_id: str) -> RunPage:
    """The run's fields, config, pretraining lineage, per-task scores and training curves."""
    run_id = _exact_run(conn, run_id)
    row = conn.execute(select(runs).where(runs.c.run_id == run_id)).mappings().one()
    record = json.loads(row["record_json"])
    tasks = tuple(
        TaskRow(r.task, r.split, r.examples, r.headline, fmt_interval(r.score, _nan(r.ci_low), _nan(r.ci_high)), r.ci_method,
                json.loads(r.metrics_json))
        for r in conn.execute(select(task_results).where(task_results.c.run_id == run_id).order_by(task_results.c.position))
    )
    points: list[CurvePoint] = stored_curves(conn, run_id)
    fields = {k: row[k] for k in ("model", "backbone", "preset", "parameters", "head_mode", "regime", "mixture", "steps", "seed",
                                   "deca_score", *(e.column for e in EFFICIENCY_COLUMNS), "created", "added",
                                   "git_commit", "qabench_version")}
    return RunPage(run_id, fields, record, tasks, tuple(lineage(record)), series(points, "loss"), series(points, "eval"))


def _nan(x: float | None) -> float:
    return float("nan") if x is None else float(x)


def lineage(record: dict[str, Any]) -> list[tuple[str, str]]:
    """The pretraining a run started from, as (label, value) pairs: source, its hash, and the pretrain record's fields."""
    model = record.get("model") or {}
    out: list[tuple[str, str]] = []
    if model.get("pretrained"):
        out.append(("pretrained from", str(model["pretrained"])))
    if model.get("pretrained_sha256"):
        out.append(("weights sha256", str(model["pretrained_sha256"])))
    pre = model.get("pretrain_record")
    if isinstance(pre, dict):
        for key, value in pre.items():
            out.append((f"pretrain {key}", value if isinstance(value, str) else json.dumps(value, sort_keys=True)))
    return out


def is_wrong(row: dict[str, Any], headline: str) -> bool:
    """Whether a stored prediction missed: its per-example headline score below 100, else a prediction other than the gold."""
    scores = row.get("scores") or {}
    if headline in scores:
        return float(scores[headline]) < 100.0
    gold = row["example"].get("answer")
    golds = gold if isinstance(gold, list) else [gold]
    return str(row["prediction"]).strip() not in {str(g).strip() for g in golds}


def _matches(row: dict[str, Any], needle: str) -> bool:
    example = row["example"]
    fields = (row["id"], row["prediction"], example.get("question"), example.get("context"), example.get("answer"))
    return any(needle in str(f).lower() for f in fields if f is not None)


@dataclass(frozen=True)
class PredictionPage:
    """One page of a task's predictions after filtering."""

    task: str
    headline: str
    rows: list[dict[str, Any]]
    total: int  # after filtering
    all_rows: int
    page: int
    pages: int


def predictions_page(conn: Connection, run_id: str, task: str, page: int = 1, wrong_only: bool = False, query: str = "",
                     per_page: int = PER_PAGE) -> PredictionPage:
    """A page of ``run_id``'s predictions on ``task``, optionally only the wrong ones and those matching ``query``.

    ``query`` matches, case-insensitively, the example id or any of question,
    context, gold answer and prediction.
    """
    headline = conn.execute(
        select(task_results.c.headline).where(task_results.c.run_id == run_id, task_results.c.task == _checked(task, "task"))
    ).scalar()
    if headline is None:
        raise NotFound(f"run {run_id!r} has no task {task!r}")
    rows = stored_predictions(conn, run_id, task)
    for r in rows:
        r["wrong"] = is_wrong(r, headline)
    shown = [r for r in rows if (not wrong_only or r["wrong"]) and (not query or _matches(r, query.lower()))]
    start, stop, page, pages = page_bounds(len(shown), page, per_page)
    return PredictionPage(task, headline, shown[start:stop], len(shown), len(rows), page, pages)


# --- two runs ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiffPage:
    """Examples of one task on which two runs answered differently, side by side."""

    task: str
    headline: str
    rows: list[tuple[dict[str, Any], dict[str, Any]]]  # (a's row, b's row) for the same example id
    total: int
    shared: int
    page: int
    pages: int


def differing_examples(conn: Connection, run_a: str, run_b: str, task: str, page: int = 1, per_page: int = PER_PAGE) -> DiffPage:
    """The examples of ``task`` both runs answered, on which their predictions differ, in ``run_a``'s order."""
    headline = conn.execute(
        select(task_results.c.headline).where(task_results.c.run_id == run_a, task_results.c.task == _checked(task, "task"))
    ).scalar()
    if headline is None:
        raise NotFound(f"run {run_a!r} has no task {task!r}")
    rows_a = stored_predictions(conn, run_a, task)
    by_id = {r["id"]: r for r in stored_predictions(conn, run_b, task)}
    pairs = []
    for a in rows_a:
        b = by_id.get(a["id"])
        if b is not None and str(a["prediction"]) != str(b["prediction"]):
            a["wrong"], b["wrong"] = is_wrong(a, headline), is_wrong(b, headline)
            pairs.append((a, b))
    shared = sum(1 for a in rows_a if a["id"] in by_id)
    start, stop, page, pages = page_bounds(len(pairs), page, per_page)
    return DiffPage(task, headline, pairs[start:stop], len(pairs), shared, page, pages)
