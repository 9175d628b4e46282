"""The leaderboard's SQLite store: runs, per-task scores with intervals, and per-example predictions.

Where it lives: ``--db PATH``, else ``$QABENCH_DB``, else
``$XDG_DATA_HOME/qabench/leaderboard.db`` (``~/.local/share/qabench/leaderboard.db``);
see :func:`default_db_path`.

What it holds (schema version 1, see :data:`MIGRATIONS`):

- ``runs``: one row per run id, the record's headline fields and the whole
  record JSON (so later migrations can derive new columns from it);
- ``task_results``: one row per (run, task): headline score, its 95%
  bootstrap interval and standard error, computed once when the run is added,
  so ``show`` only reads numbers;
- ``predictions``: one zlib-compressed JSON blob per (run, task) with every
  example, prediction and per-example score, so intervals and comparisons never
  depend on the run directory staying where it was.

Identity and versions: ``PRAGMA application_id`` marks a qabench database; a
``schema_version`` table lists the migrations applied. :data:`MIGRATIONS` is
applied in order, each inside one ``BEGIN IMMEDIATE`` transaction. A database
that is not qabench's, or is newer than this code, is refused before anything
is written.

Concurrency: WAL journal, a busy timeout, write transactions taken with
``BEGIN IMMEDIATE`` and retried when the database is locked, so many
``qabench run`` processes can add their records at once.

>>> # from leaderboard.store import add_record
>>> # add_record("~/.local/share/qabench/leaderboard.db", "runs/<run_id>/record.json")  # True when new
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from leaderboard.errors import LeaderboardError
from leaderboard.records import LoadedRun, Prediction, example_ids_digest, load_run
from leaderboard.stats import N_BOOT, CorpusScorer, MeanScorer, StatsScorer, bootstrap_ci, seed_for

#: ``PRAGMA application_id`` of a qabench leaderboard ("QBLB").
APPLICATION_ID = 0x51424C42
#: Seconds a writer waits for the lock (per attempt) before retrying.
BUSY_TIMEOUT_S = 30.0
#: Attempts at a write transaction before giving up.
WRITE_ATTEMPTS = 20
#: Bootstrap resamples for corpus metrics (each one rescores the resampled examples).
N_BOOT_CORPUS = 200

_SCHEMA_V1 = """
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    added TEXT NOT NULL,
    model TEXT NOT NULL,
    backbone TEXT NOT NULL,
    preset TEXT,
    pretrained TEXT,
    parameters INTEGER NOT NULL,
    head_mode TEXT NOT NULL,
    regime TEXT NOT NULL,
    mixture TEXT,
    steps INTEGER,
    seed INTEGER,
    deca_score REAL NOT NULL,
    train_seconds REAL,
    eval_seconds REAL,
    train_eps REAL,
    eval_eps REAL,
    git_commit TEXT,
    qabench_version TEXT NOT NULL,
    record_sha256 TEXT NOT NULL,
    record_json TEXT NOT NULL
);
CREATE TABLE task_results (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    task TEXT NOT NULL,
    version TEXT NOT NULL,
    split TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    ids_sha256 TEXT NOT NULL,
    examples INTEGER NOT NULL,
    headline TEXT NOT NULL,
    higher_is_better INTEGER NOT NULL,
    score REAL NOT NULL,
    ci_low REAL,
    ci_high REAL,
    se REAL,
    ci_method TEXT NOT NULL,
    metrics_json TEXT NOT NULL,
    PRIMARY KEY (run_id, task)
);
CREATE INDEX task_results_task ON task_results(task);
CREATE TABLE predictions (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    task TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (run_id, task)
);
"""


def _migration_1(conn: sqlite3.Connection) -> None:
    """Version 1: runs, task_results, predictions."""
    for statement in _SCHEMA_V1.split(";"):
        if statement.strip():
            conn.execute(statement)


#: Schema migrations; ``MIGRATIONS[i]`` takes the database from version ``i`` to ``i + 1``.
#: Append new ones, never edit old ones: a database records the versions it has applied.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_migration_1]


def schema_version_supported() -> int:
    """The schema version this code writes (the number of migrations)."""
    return len(MIGRATIONS)


def default_db_path() -> Path:
    """``$QABENCH_DB``, else ``$XDG_DATA_HOME/qabench/leaderboard.db``, else ``~/.local/share/qabench/leaderboard.db``."""
    env = os.environ.get("QABENCH_DB")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "qabench" / "leaderboard.db"


# --- opening ---------------------------------------------------------------------------------------------------------


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _is_locked(err: sqlite3.OperationalError) -> bool:
    text = str(err).lower()
    return "locked" in text or "busy" in text


def _retrying(action: Callable[[], object]) -> object:
    """Run ``action``; retry with jittered back-off while SQLite reports the database locked."""
    for attempt in range(WRITE_ATTEMPTS):
        try:
            return action()
        except sqlite3.OperationalError as err:
            if not _is_locked(err) or attempt == WRITE_ATTEMPTS - 1:
                raise
            time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")  # pragma: no cover


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error (the caller retries on lock)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _current_version(conn: sqlite3.Connection) -> int:
    has_table = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone()
    if not has_table:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def _check_identity(conn: sqlite3.Connection, path: Path) -> bool:
    """True for a qabench database, False for an empty one; raises for anything else."""
    try:
        # One read transaction, so the id, the tables and the version come from the same snapshot
        # even while another process is creating the database.
        conn.execute("BEGIN")
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
            version = _current_version(conn) if app_id == APPLICATION_ID else 0
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")  # a read: nothing to keep
    except sqlite3.OperationalError as err:
        if _is_locked(err):
            raise
        raise LeaderboardError(f"{path}: not a qabench leaderboard database ({err}); pass another --db path") from None
    except sqlite3.DatabaseError as err:
        raise LeaderboardError(f"{path}: not a qabench leaderboard database ({err}); pass another --db path") from None
    if app_id == APPLICATION_ID:
        if version > schema_version_supported():
            raise LeaderboardError(
                f"{path}: leaderboard schema version {version} is newer than this qabench supports "
                f"({schema_version_supported()}); upgrade qabench"
            )
        return True
    if app_id == 0 and tables == 0:
        return False
    raise LeaderboardError(f"{path}: an SQLite database, but not a qabench leaderboard; pass another --db path")


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Mark the database as qabench's and apply pending migrations, each in its own transaction."""
    # WAL lets readers work while a writer commits; the mode is stored in the file, set once.
    _retrying(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())
    while True:
        def step() -> bool:
            with transaction(conn):
                # Re-read inside the lock: another process may have migrated meanwhile.
                app_id = conn.execute("PRAGMA application_id").fetchone()[0]
                foreign_tables = app_id == 0 and conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] > 0
                if app_id not in (0, APPLICATION_ID) or foreign_tables:
                    raise LeaderboardError(f"{path}: an SQLite database, but not a qabench leaderboard; pass another --db path")
                version = _current_version(conn)
                if version >= schema_version_supported():
                    return False
                if version == 0:
                    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied TEXT NOT NULL)")
                MIGRATIONS[version](conn)
                conn.execute("INSERT INTO schema_version VALUES (?, ?)", (version + 1, _now()))
                return True

        if not _retrying(step):
            return


def open_db(path: str | os.PathLike[str] | None = None, create: bool = False) -> sqlite3.Connection:
    """Open (and, with ``create``, initialise) a leaderboard database; migrate it to the current schema.

    Without ``create`` a missing file is an error rather than an empty new
    database, so a mistyped ``--db`` does not silently show nothing.
    """
    db_path = Path(path).expanduser() if path is not None else default_db_path()
    if not db_path.exists():
        if not create:
            raise LeaderboardError(
                f"{db_path}: no leaderboard database here; add runs with `qabench leaderboard add RECORD.json` or pass --db"
            )
        db_path.parent.mkdir(parents=True, exist_ok=True)
    elif db_path.is_dir():
        raise LeaderboardError(f"{db_path}: is a directory; --db takes a database file path")
    conn = _connect(db_path)
    try:
        initialised = _retrying(lambda: _check_identity(conn, db_path))
        if not initialised or _current_version(conn) < schema_version_supported():
            _migrate(conn, db_path)
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def connection(path: str | os.PathLike[str] | None = None, create: bool = False) -> Iterator[sqlite3.Connection]:
    """:func:`open_db` as a context manager that closes the connection."""
    conn = open_db(path, create=create)
    try:
        yield conn
    finally:
        conn.close()


# --- adding ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedTask:
    """One task of a run, ready to insert: its interval and compressed predictions."""

    position: int
    name: str
    version: str
    split: str
    fingerprint: str
    ids_sha256: str
    examples: int
    headline: str
    higher_is_better: bool
    score: float
    ci_low: float | None
    ci_high: float | None
    se: float | None
    ci_method: str
    metrics_json: str
    blob: bytes


@dataclass(frozen=True)
class AddResult:
    """What ``add`` did with one record."""

    path: Path
    run_id: str
    added: bool  # False: the run id was already in the database
    warnings: tuple[str, ...] = ()


def encode_predictions(rows: Sequence[Prediction]) -> bytes:
    """zlib-compressed JSON of a task's predictions (see :func:`decode_predictions`)."""
    payload = [{"id": p.id, "prediction": p.prediction, "example": p.example, "scores": p.scores} for p in rows]
    return zlib.compress(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), 6)


def decode_predictions(blob: bytes) -> list[dict]:
    """The list of ``{id, prediction, example, scores}`` dicts stored for one (run, task)."""
    return json.loads(zlib.decompress(blob).decode("utf-8"))


def _tasks_metric(name: str) -> Any | None:
    """The ``tasks.metrics`` metric called ``name``, or None if unknown (imported lazily)."""
    try:
        from tasks.metrics import get_metric
    except ImportError:
        return None
    try:
        return get_metric(name)
    except Exception:  # noqa: BLE001 - an unknown or plugin metric: no interval, said in a warning
        return None


def corpus_metric(name: str) -> Callable[[Sequence[str], Sequence[object]], float] | None:
    """The corpus metric ``name`` from ``tasks.metrics`` as ``f(predictions, examples)``, or None if unknown.

    Imported lazily: only runs with corpus-level headline metrics need it.
    """
    metric = _tasks_metric(name)
    if metric is None:
        return None

    def score(predictions: Sequence[str], examples: Sequence[object]) -> float:
        return float(metric(list(predictions), list(examples)))

    return score


def corpus_scorers(
    name: str, predictions: Sequence[Sequence[str]], example_dicts: Sequence[dict]
) -> list[StatsScorer | CorpusScorer] | None:
    """One scorer of corpus metric ``name`` per run's ``predictions`` on the same stored examples; None if unknown.

    A metric with sufficient statistics (``Metric.stats``) gets
    :class:`~leaderboard.stats.StatsScorer` s, their rows computed in one call
    for all runs so that they share one encoding and a paired test may swap
    them. Otherwise, or when the statistics fail (the recomputing scorer then
    reports the failure where it is used), each scorer recomputes the metric.
    """
    metric = _tasks_metric(name)
    if metric is None:
        return None
    from tasks.types import Example

    examples = [Example.from_dict(d) for d in example_dicts]
    if metric.stats is not None and examples:
        try:
            flat = metric.stats([p for run in predictions for p in run], list(examples) * len(predictions))
            rows = np.asarray(flat, dtype=float).reshape(len(predictions), len(examples), -1)  # [runs, n, k]
        except Exception:  # noqa: BLE001 - fall back to recomputing, which fails or warns as before
            pass
        else:
            return [StatsScorer(run_rows, metric.from_stats) for run_rows in rows]
    score = corpus_metric(name)
    assert score is not None
    return [CorpusScorer(score, list(run), examples) for run in predictions]


def task_scorer(headline: str, rows: Sequence[dict]) -> tuple[MeanScorer | StatsScorer | CorpusScorer | None, str]:
    """The scorer of a task's headline metric over stored rows, and how its interval is computed.

    Decomposable when every row carries its per-example ``scores[headline]``;
    otherwise the corpus metric of ``tasks.metrics`` rescores each resample
    (:func:`corpus_scorers`).
    """
    if rows and all(headline in r["scores"] for r in rows):
        return MeanScorer(np.array([r["scores"][headline] for r in rows], dtype=float)), "bootstrap-mean"
    scorers = corpus_scorers(headline, [[r["prediction"] for r in rows]], [r["example"] for r in rows])
    if scorers is None:
        return None, "none"
    return scorers[0], "bootstrap-corpus"


def prepare_run(run: LoadedRun, n_boot: int = N_BOOT, n_boot_corpus: int = N_BOOT_CORPUS) -> tuple[list[PreparedTask], list[str]]:
    """Intervals and blobs for every task of a run (pure computation, no database); plus warnings."""
    prepared: list[PreparedTask] = []
    warnings: list[str] = []
    for position, task in enumerate(run.record.tasks):
        rows = run.predictions[task.name]
        blob = encode_predictions(rows)
        stored = decode_predictions(blob)
        scorer, method = task_scorer(task.headline, stored)
        low = high = se = None
        if scorer is None:
            warnings.append(
                f"{run.record.run_id}: task {task.name!r}: no per-example {task.headline!r} scores and no such metric in "
                "tasks.metrics, so no confidence interval"
            )
        else:
            boots = n_boot if method == "bootstrap-mean" else n_boot_corpus
            try:
                ci = bootstrap_ci(scorer, n_boot=boots, seed=seed_for(run.record.run_id, task.name))
            except Exception as err:  # noqa: BLE001 - a metric that fails on a resample must not lose the run
                warnings.append(f"{run.record.run_id}: task {task.name!r}: interval failed ({err}); stored without one")
                method = "none"
            else:
                low, high, se = ci.low, ci.high, ci.se
        prepared.append(
            PreparedTask(
                position=position,
                name=task.name,
                version=task.version,
                split=task.split,
                fingerprint=task.fingerprint,
                ids_sha256=example_ids_digest([p.id for p in rows]),
                examples=task.examples,
                headline=task.headline,
                higher_is_better=task.higher_is_better.get(task.headline, True),
                score=task.score,
                ci_low=low,
                ci_high=high,
                se=se,
                ci_method=method,
                metrics_json=json.dumps(dict(task.metrics)),
                blob=blob,
            )
        )
    return prepared, warnings


def _insert_run(conn: sqlite3.Connection, run: LoadedRun, tasks: Sequence[PreparedTask]) -> bool:
    """Insert one run inside the caller's transaction; False when its id is already there."""
    r = run.record
    cursor = conn.execute(
        "INSERT OR IGNORE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            r.run_id, r.created, _now(), r.model, r.backbone, r.preset, r.pretrained, r.parameters, r.head_mode,
            r.regime, r.mixture, r.steps, r.seed, r.deca_score, r.train_seconds, r.eval_seconds,
            r.train_examples_per_second, r.eval_examples_per_second, r.git_commit, r.qabench_version, run.sha256,
            json.dumps(r.data, ensure_ascii=False),
        ),
    )
    if cursor.rowcount == 0:
        return False
    conn.executemany(
        "INSERT INTO task_results VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            (r.run_id, t.position, t.name, t.version, t.split, t.fingerprint, t.ids_sha256, t.examples, t.headline,
             int(t.higher_is_better), t.score, t.ci_low, t.ci_high, t.se, t.ci_method, t.metrics_json)
            for t in tasks
        ],
    )
    conn.executemany("INSERT INTO predictions VALUES (?,?,?)", [(r.run_id, t.name, t.blob) for t in tasks])
    return True


def add_records(
    db_path: str | os.PathLike[str] | None,
    record_paths: Iterable[str | os.PathLike[str]],
    n_boot: int = N_BOOT,
    n_boot_corpus: int = N_BOOT_CORPUS,
) -> list[AddResult]:
    """Add run records to the database, all or none; idempotent by run id.

    Every record is read and validated before the database is opened for
    writing, so a malformed one leaves the database unchanged. Runs whose id
    is already present are skipped (``AddResult.added`` is False).
    """
    loaded = [load_run(p) for p in record_paths]
    # The same run id twice in one call counts once, like a second `add`: the first one wins.
    first: dict[str, LoadedRun] = {}
    for run in loaded:
        first.setdefault(run.record.run_id, run)
    runs = list(first.values())
    with connection(db_path, create=True) as conn:
        present = set(run_ids(conn))
        prepared = {
            run.record.run_id: prepare_run(run, n_boot=n_boot, n_boot_corpus=n_boot_corpus)
            for run in runs
            if run.record.run_id not in present
        }

        def write() -> set[str]:
            with transaction(conn):
                return {run.record.run_id for run in runs if run.record.run_id in prepared and _insert_run(conn, run, prepared[run.record.run_id][0])}

        inserted: set[str] = _retrying(write) if prepared else set()  # type: ignore[assignment]
    results: list[AddResult] = []
    for run in loaded:
        rid = run.record.run_id
        new = rid in inserted and run is first[rid]
        results.append(AddResult(run.path, rid, new, tuple(prepared[rid][1]) if new else ()))
    return results


def add_record(db_path: str | os.PathLike[str] | None, record_path: str | os.PathLike[str]) -> bool:
    """Add one run record (``record.json`` or its run directory); True if it was new.

    This is what ``qabench run`` calls after writing its record. ``db_path``
    None means :func:`default_db_path`. Raises :class:`LeaderboardError` for a
    bad record or database, leaving the database unchanged.
    """
    return add_records(db_path, [record_path])[0].added


# --- reading ---------------------------------------------------------------------------------------------------------


def run_ids(conn: sqlite3.Connection) -> list[str]:
    """Every run id, oldest first."""
    return [row[0] for row in conn.execute("SELECT run_id FROM runs ORDER BY created, run_id")]


def resolve_run_id(conn: sqlite3.Connection, ref: str) -> str:
    """A run id from itself or a unique prefix; errors list close candidates."""
    exact = conn.execute("SELECT run_id FROM runs WHERE run_id = ?", (ref,)).fetchone()
    if exact:
        return exact[0]
    escaped = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    matches = [r[0] for r in conn.execute("SELECT run_id FROM runs WHERE run_id LIKE ? ESCAPE '\\' LIMIT 6", (escaped + "%",))]
    if len(matches) == 1:
        return matches[0]
    if matches:
        shown = ", ".join(matches[:5])
        raise LeaderboardError(f"run {ref!r} is ambiguous: it starts {shown}{', ...' if len(matches) > 5 else ''}; give more of the id")
    import difflib

    close = difflib.get_close_matches(ref, run_ids(conn), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else "; `qabench leaderboard show` lists the run ids"
    raise LeaderboardError(f"no run {ref!r} in the leaderboard{hint}")


def stored_predictions(conn: sqlite3.Connection, run_id: str, task: str) -> list[dict]:
    """The stored ``{id, prediction, example, scores}`` rows of one run's task."""
    row = conn.execute("SELECT data FROM predictions WHERE run_id = ? AND task = ?", (run_id, task)).fetchone()
    if row is None:
        raise LeaderboardError(f"run {run_id!r} has no predictions for task {task!r}")
    return decode_predictions(row[0])


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
