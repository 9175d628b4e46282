"""The leaderboard's store: runs, per-task scores with intervals, per-example predictions and training curves.

One store, two engines, through SQLAlchemy Core: an SQLite file (the default,
for one machine) or a PostgreSQL database (for a team's many machines).

Where it lives: ``--db PATH|URL``, else ``$QABENCH_DB``, else
``$XDG_DATA_HOME/qabench/leaderboard.db`` (``~/.local/share/qabench/leaderboard.db``);
see :func:`default_db`. A URL (``postgresql+psycopg://user@host/db``,
``sqlite:///path``) names the database; anything else is an SQLite file path.

What it holds (tables in :mod:`leaderboard.schema`):

- ``runs``: one row per run id, the record's headline fields and the whole
  record JSON (so later migrations can derive new columns from it);
- ``task_results``: one row per (run, task): headline score, its 95%
  bootstrap interval and standard error, computed once when the run is added,
  so ``show`` only reads numbers;
- ``predictions``: one zlib-compressed JSON blob per (run, task) with every
  example, prediction and per-example score, so intervals and comparisons never
  depend on the run directory staying where it was;
- ``curves``: the run's training curves (``curves.jsonl`` beside its record).

Schema and versions: Alembic migrations (``leaderboard/migrations/versions``)
create and upgrade the tables, all pending ones in one transaction, under a
lock (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL) so racing
processes migrate once. Opening a database checks its revision: a database
newer than this code, or one that is not qabench's, is refused before anything
is written. An SQLite file from before Alembic (schema version 1, marked by
``PRAGMA application_id``) is stamped with the first revision and upgraded in
place. ``qabench leaderboard upgrade`` applies migrations explicitly; writers
apply them on open, the read-only web view refuses an outdated database.

Concurrency: SQLite in WAL mode with a busy timeout, writes in ``BEGIN
IMMEDIATE`` transactions retried while the file is locked; PostgreSQL inserts
``ON CONFLICT DO NOTHING``. Either way one ``add`` is one transaction: all of
a run's rows or none of them, and a run id is stored once however many
processes add it at the same time.

>>> # from leaderboard.store import add_record
>>> # add_record("~/.local/share/qabench/leaderboard.db", "runs/<run_id>/record.json")  # True when new
>>> # add_record("postgresql+psycopg://qabench@db.lab/qabench", "runs/<run_id>")
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event, exc, func, insert, select, text
from sqlalchemy.engine import URL, make_url

from catalog import did_you_mean
from leaderboard.curves import CurvePoint, load_curves
from leaderboard.errors import LeaderboardError
from leaderboard.records import LoadedRun, Prediction, example_ids_digest, load_run
from leaderboard.schema import curves, predictions, runs, task_results
from leaderboard.stats import N_BOOT, N_BOOT_CORPUS, headline_interval, seed_for

#: ``PRAGMA application_id`` of a qabench SQLite leaderboard ("QBLB").
APPLICATION_ID = 0x51424C42
#: Key of the PostgreSQL advisory lock held while migrating (the same bytes, "QBLB").
MIGRATION_LOCK = APPLICATION_ID
#: Seconds an SQLite writer waits for the lock (per attempt) before retrying.
BUSY_TIMEOUT_S = 30.0
#: Attempts at a write transaction before giving up.
WRITE_ATTEMPTS = 20
#: Where the Alembic environment and revisions live.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: The revision an SQLite file from before Alembic (schema version 1) is equivalent to.
LEGACY_REVISION = "0001_initial"
#: SQL dialects the store supports.
DIALECTS = ("sqlite", "postgresql")

T = TypeVar("T")


def default_db() -> str:
    """``$QABENCH_DB`` (a path or a URL), else the default SQLite file (:func:`default_db_path`)."""
    return os.environ.get("QABENCH_DB") or str(default_db_path())


def default_db_path() -> Path:
    """``$QABENCH_DB`` when it is a path, else ``$XDG_DATA_HOME/qabench/leaderboard.db``, else ``~/.local/share/qabench/leaderboard.db``."""
    env = os.environ.get("QABENCH_DB")
    if env and not is_url(env):
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "qabench" / "leaderboard.db"


def is_url(target: str | os.PathLike[str]) -> bool:
    """True for a database URL (``dialect[+driver]://...``), False for a file path."""
    return "://" in str(target)


def database_url(target: str | os.PathLike[str] | None) -> URL:
    """The SQLAlchemy URL of ``--db``: a URL as given, a path as an SQLite file, None as :func:`default_db`.

    >>> database_url("/tmp/lb.db").render_as_string()
    'sqlite:////tmp/lb.db'
    >>> database_url("postgresql+psycopg://me:secret@db.lab/qabench").render_as_string(hide_password=True)
    'postgresql+psycopg://me:***@db.lab/qabench'
    """
    raw = str(target) if target is not None else default_db()
    if not is_url(raw):
        return URL.create("sqlite", database=str(Path(raw).expanduser()))
    try:
        url = make_url(raw)
    except exc.ArgumentError:
        raise LeaderboardError(f"--db {raw!r}: not a database URL; use postgresql+psycopg://USER@HOST/DB or a file path") from None
    if url.get_backend_name() not in DIALECTS:
        raise LeaderboardError(f"--db {url.render_as_string(hide_password=True)}: qabench stores leaderboards in SQLite or PostgreSQL, not {url.get_backend_name()}")
    if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")  # psycopg 3 is the driver qabench installs
    if url.get_backend_name() == "sqlite" and not url.database:
        raise LeaderboardError(f"--db {raw!r}: an in-memory SQLite database would vanish at exit; give a file path")
    return url


def describe(url: URL) -> str:
    """How messages name a database: the file path for SQLite, the URL without its password otherwise."""
    return str(url.database) if url.get_backend_name() == "sqlite" else url.render_as_string(hide_password=True)


# --- engines ---------------------------------------------------------------------------------------------------------


def create_store_engine(url: URL, read_only: bool = False) -> Engine:
    """An engine for ``url`` with qabench's connection settings; ``read_only`` refuses every write at the database.

    SQLite: WAL-friendly busy timeout, foreign keys on, and transactions that
    SQLAlchemy begins emitted as ``BEGIN`` (reads) or ``BEGIN IMMEDIATE``
    (connections with the ``qabench_write`` execution option), since the
    Python driver's own transaction handling would begin them too late.
    """
    if url.get_backend_name() == "sqlite":
        # check_same_thread off: the pool hands connections to the web server's worker threads, one at a time.
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below)
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if read_only:
                cursor.execute("PRAGMA query_only = ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("qabench_write") else "BEGIN")

        return engine
    options = {"connect_timeout": 10, **({"options": "-c default_transaction_read_only=on"} if read_only else {})}
    return create_engine(url, pool_pre_ping=True, connect_args=options)


def _is_retryable(err: exc.DBAPIError) -> bool:
    """SQLite busy/locked (or its WAL "locking protocol" error under heavy contention), or a PostgreSQL
    serialization failure or deadlock: try the transaction again."""
    if getattr(err.orig, "sqlstate", None) in ("40001", "40P01"):
        return True
    text_ = str(err.orig).lower()
    transient = ("database is locked", "database table is locked", "busy", "locking protocol")
    return isinstance(err, exc.OperationalError) and any(t in text_ for t in transient)


def _retrying(action: Callable[[], T]) -> T:
    """Run ``action``; retry with jittered back-off while the database reports a lock conflict."""
    for attempt in range(WRITE_ATTEMPTS):
        try:
            return action()
        except exc.DBAPIError as err:
            if not _is_retryable(err) or attempt == WRITE_ATTEMPTS - 1:
                raise
            time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")  # pragma: no cover


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One write transaction (``BEGIN IMMEDIATE`` on SQLite), committed on success, rolled back on any error."""
    with engine.connect() as conn:
        conn.execution_options(qabench_write=True)
        with conn.begin():
            yield conn


# --- identity and revisions ------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _script() -> Any:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS_DIR))


def head_revision() -> str:
    """The newest schema revision this code knows (what :func:`upgrade` brings a database to)."""
    head = _script().get_current_head()
    assert head is not None
    return head


def known_revisions() -> list[str]:
    """Every schema revision this code knows, oldest first."""
    return [rev.revision for rev in reversed(list(_script().walk_revisions()))]


@dataclass(frozen=True)
class DbState:
    """What :func:`inspect_db` found: an empty database, or a qabench one at ``revision``.

    ``revision`` is None for an SQLite file from before Alembic, whose legacy
    ``schema_version`` is ``legacy_version``.
    """

    empty: bool
    revision: str | None = None
    legacy_version: int = 0


def _tables(conn: Connection) -> set[str]:
    if conn.dialect.name == "sqlite":
        return {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")}
    rows = conn.execute(text("SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = current_schema()"))
    return {r[0] for r in rows}


def inspect_db(conn: Connection, where: str) -> DbState:
    """Classify the database behind ``conn``; raise :class:`LeaderboardError` for one that is not qabench's or is too new."""
    tables = _tables(conn)
    if conn.dialect.name == "sqlite":
        app_id = conn.exec_driver_sql("PRAGMA application_id").scalar()
        if app_id == 0 and not tables:
            return DbState(empty=True)
        if app_id != APPLICATION_ID:
            raise LeaderboardError(f"{where}: an SQLite database, but not a qabench leaderboard; pass another --db path")
    elif not tables:
        return DbState(empty=True)
    elif not {"runs", "alembic_version"} <= tables:
        raise LeaderboardError(f"{where}: a database with other tables ({', '.join(sorted(tables)[:3])}), not a qabench leaderboard; pass another --db")
    legacy = 0
    if "schema_version" in tables:
        legacy = int(conn.exec_driver_sql("SELECT MAX(version) FROM schema_version").scalar() or 0)
    revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() if "alembic_version" in tables else None
    if revision is not None and revision not in known_revisions():
        raise LeaderboardError(
            f"{where}: leaderboard schema revision {revision} is newer than this qabench supports ({head_revision()}); upgrade qabench"
        )
    if revision is None and legacy > 1:
        raise LeaderboardError(f"{where}: leaderboard schema version {legacy} is newer than this qabench supports; upgrade qabench")
    return DbState(empty=False, revision=revision, legacy_version=legacy)


def _apply_migrations(conn: Connection, where: str) -> bool:
    """Inside the caller's write transaction: take the lock, re-read the state, stamp a legacy file, upgrade to head.

    Returns True when anything changed.
    """
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    state = inspect_db(conn, where)  # again, under the lock: another process may have migrated meanwhile
    if state.revision == head_revision():
        return False
    if state.empty and conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"PRAGMA application_id = {APPLICATION_ID}")
    if not state.empty and state.revision is None:
        MigrationContext.configure(conn).stamp(_script(), LEGACY_REVISION)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = conn
    command.upgrade(config, "head")
    return True


def upgrade(engine: Engine, where: str) -> bool:
    """Bring the database to :func:`head_revision` (creating the schema in an empty one); True if anything changed.

    All pending migrations run in one transaction: a failing one leaves the
    database exactly at its old revision.
    """
    if engine.dialect.name == "sqlite":
        # WAL lets readers work while a writer commits; the mode is stored in the file, set once.
        def wal() -> None:
            raw = engine.raw_connection()  # outside any transaction: SQLite changes the journal mode only there
            try:
                try:
                    raw.driver_connection.execute("PRAGMA journal_mode = WAL")
                except Exception as err:  # the driver's own error: wrap it so that lock conflicts are retried
                    raise exc.OperationalError("PRAGMA journal_mode = WAL", (), err) from err
            finally:
                raw.close()

        _retrying(wal)

    def migrate() -> bool:
        with write_transaction(engine) as conn:
            return _apply_migrations(conn, where)

    return _retrying(migrate)


# --- opening ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Store:
    """An opened, checked leaderboard database: its engine and how messages name it."""

    engine: Engine
    where: str

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


#: SQLite result codes (prefixes) of a file it could not open because it could not write beside it: the
#: ``-wal`` and ``-shm`` files of WAL mode in a read-only directory (``SQLITE_READONLY_DIRECTORY``), a new file
#: there (``SQLITE_CANTOPEN``), or a full disk (``SQLITE_IOERR_*``, ``SQLITE_FULL``).
_CANNOT_WRITE_BESIDE = ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_FULL")


class _CannotWriteBeside(LeaderboardError):
    """An SQLite file that could not be opened because nothing could be written beside it (``reason``: the driver's words)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _check(engine: Engine, where: str) -> DbState:
    def read() -> DbState:
        with engine.connect() as conn:  # one read transaction: id, tables and revision from one snapshot
            return inspect_db(conn, where)

    try:
        return _retrying(read)
    except LeaderboardError:
        raise
    except exc.DBAPIError as err:
        if _is_retryable(err):
            raise
        first = str(err.orig).strip().splitlines()[0] if str(err.orig).strip() else type(err.orig).__name__
        if engine.dialect.name == "sqlite":
            if (getattr(err.orig, "sqlite_errorname", None) or "").startswith(_CANNOT_WRITE_BESIDE):
                raise _CannotWriteBeside(first) from None
            raise LeaderboardError(f"{where}: not a qabench leaderboard database ({first}); pass another --db path") from None
        raise LeaderboardError(f"{where}: cannot open the database ({first}); check --db or QABENCH_DB") from None


def _immutable_engine(url: URL, where: str, reason: str, reading: bool, existed: bool) -> Engine:
    """For a reader, the SQLite file at ``url`` opened read-only and immutable (nothing written beside it); else the error.

    SQLite in WAL mode writes ``-shm`` (and ``-wal``) files beside the
    database even to read it. Where it cannot (a read-only directory, a full
    disk), a command that only reads opens the file as immutable instead,
    which reads the file alone; that is exact unless a write-ahead log holds
    changes not yet merged into the file, which is then named.
    """
    path = Path(str(url.database))
    room = f"{path.parent} must be writable and its disk have room"
    if not existed:
        raise LeaderboardError(f"{where}: cannot create the database ({reason}); {room}")
    if not reading:
        raise LeaderboardError(f"{where}: cannot write the database ({reason}); SQLite writes {path.name}-wal and {path.name}-shm beside it, so {room}")
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise LeaderboardError(
            f"{where}: cannot read the database ({reason}): {wal.name} beside it holds changes not yet merged into it; "
            f"open it once where {path.parent} is writable and its disk has room"
        )
    immutable = URL.create("sqlite", database=f"file:{quote(str(path.resolve()))}", query={"mode": "ro", "immutable": "1", "uri": "true"})
    return create_store_engine(immutable, read_only=True)


def _engine_for(target: str | os.PathLike[str] | None, create: bool, read_only: bool = False) -> tuple[Engine, str]:
    """The engine of ``--db`` and how to name it; a missing SQLite file is an error unless ``create``."""
    url = database_url(target)
    where = describe(url)
    if url.get_backend_name() == "sqlite":
        path = Path(str(url.database))
        if not path.exists():
            if not create:
                raise LeaderboardError(
                    f"{path}: no leaderboard database here; add runs with `qabench leaderboard add RECORD.json` or pass --db"
                )
            path.parent.mkdir(parents=True, exist_ok=True)
        elif path.is_dir():
            raise LeaderboardError(f"{path}: is a directory; --db takes a database file path")
    try:
        return create_store_engine(url, read_only=read_only), where
    except ImportError as err:
        raise LeaderboardError(f"{where}: the database driver is not installed ({err}); pip install 'psycopg[binary]'") from None


def open_store(
    target: str | os.PathLike[str] | None = None, create: bool = False, migrate: bool = True, read_only: bool = False,
    reading: bool = False,
) -> Store:
    """Open a leaderboard database, check it, and (with ``migrate``) bring it to the current schema.

    ``target``: a path or URL (None: :func:`default_db`). Without ``create`` a
    missing SQLite file is an error rather than an empty new database, so a
    mistyped ``--db`` does not silently show nothing. Without ``migrate`` (the
    read-only web view) a database behind the code is refused with the
    command that upgrades it; ``read_only`` (which implies no ``migrate``)
    makes the database itself refuse writes on this store's connections.
    ``reading`` (implied by ``read_only``) says the caller only reads: an
    SQLite file in a read-only directory or on a full disk is then still
    opened (read-only, :func:`_immutable_engine`), and the others get one line
    naming the file and why it cannot be written.
    """
    migrate = migrate and not read_only
    reading = reading or read_only
    url = database_url(target)
    existed = url.get_backend_name() == "sqlite" and Path(str(url.database)).is_file()
    engine, where = _engine_for(target, create, read_only=read_only)
    try:
        try:
            state = _check(engine, where)
        except _CannotWriteBeside as err:
            engine.dispose()
            engine = _immutable_engine(url, where, err.reason, reading, existed)
            migrate = False  # nothing can be written here
            state = _check(engine, where)
        if state.revision != head_revision():
            if not migrate:
                found = "no leaderboard schema" if state.empty else f"schema revision {state.revision or f'legacy {state.legacy_version}'}"
                raise LeaderboardError(
                    f"{where}: {found}, this qabench needs {head_revision()}; run `qabench leaderboard --db ... upgrade` first"
                )
            upgrade(engine, where)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine, where)


@dataclass(frozen=True)
class UpgradeReport:
    """What :func:`upgrade_db` did: revisions before (None: empty or pre-Alembic) and after, rows kept per table."""

    where: str
    before: str | None
    after: str
    rows: dict[str, int]


def upgrade_db(target: str | os.PathLike[str] | None = None) -> UpgradeReport:
    """``qabench leaderboard upgrade``: create or migrate the database at ``target`` to :func:`head_revision`."""
    engine, where = _engine_for(target, create=True)
    try:
        before = _check(engine, where)
        upgrade(engine, where)
        with engine.connect() as conn:
            rows = count_rows(conn)
    finally:
        engine.dispose()
    legacy = None if before.empty else f"legacy schema version {before.legacy_version}"
    return UpgradeReport(where, before.revision or legacy, head_revision(), rows)


@contextmanager
def connection(target: str | os.PathLike[str] | None = None, create: bool = False) -> Iterator[Connection]:
    """A connection to an opened (:func:`open_store`) database for reading, closed afterwards; reads see one snapshot."""
    store = open_store(target, create=create, reading=True)
    try:
        with store.engine.connect() as conn:
            yield conn
    finally:
        store.close()


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
    zero_shot: str | None = None  # JSON list of untrained labels; None: trained


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


def prepare_run(run: LoadedRun, n_boot: int = N_BOOT, n_boot_corpus: int = N_BOOT_CORPUS) -> tuple[list[PreparedTask], list[str]]:
    """Intervals and blobs for every task of a run (pure computation, no database); plus warnings."""
    prepared: list[PreparedTask] = []
    warnings: list[str] = []
    for position, task in enumerate(run.record.tasks):
        rows = run.predictions[task.name]
        blob = encode_predictions(rows)
        stored = decode_predictions(blob)
        scored = headline_interval(task.headline, stored, seed_for(run.record.run_id, task.name), n_boot, n_boot_corpus)
        if scored.problem:
            warnings.append(f"{run.record.run_id}: task {task.name!r}: {scored.problem}")
        ci = scored.interval
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
                ci_low=ci.low if ci else None,
                ci_high=ci.high if ci else None,
                se=ci.se if ci else None,
                ci_method=scored.method,
                metrics_json=json.dumps(dict(task.metrics)),
                blob=blob,
                zero_shot=None if task.zero_shot is None else json.dumps(list(task.zero_shot)),
            )
        )
    return prepared, warnings


def _insert_ignoring_duplicates(conn: Connection, run_row: dict[str, Any]) -> bool:
    """``INSERT ... ON CONFLICT (run_id) DO NOTHING`` on either engine; True when the row went in."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    statement = dialect_insert(runs).values(**run_row).on_conflict_do_nothing(index_elements=["run_id"]).returning(runs.c.run_id)
    return conn.execute(statement).first() is not None


def _insert_run(conn: Connection, run: LoadedRun, tasks: Sequence[PreparedTask], points: Sequence[CurvePoint]) -> bool:
    """Insert one run inside the caller's transaction; False when its id is already there."""
    r = run.record
    row = {
        "run_id": r.run_id, "created": r.created, "added": _now(), "model": r.model.label, "backbone": r.model.backbone,
        "preset": r.model.preset, "pretrained": r.model.pretrained, "parameters": r.model.parameters, "head_mode": r.head_mode,
        "regime": r.training.regime, "mixture": r.training.mixture, "steps": r.training.steps, "seed": r.training.seed,
        "deca_score": r.deca_score, "train_seconds": r.timings.train_seconds, "eval_seconds": r.timings.eval_seconds,
        "train_eps": r.timings.train_examples_per_second, "eval_eps": r.timings.eval_examples_per_second,
        "prepare_seconds": r.timings.prepare_seconds, "train_tps": r.timings.train_tokens_per_second,
        "eval_tps": r.timings.eval_tokens_per_second,
        "git_commit": r.git_commit, "qabench_version": r.qabench_version,
        "record_sha256": run.sha256, "record_json": json.dumps(run.data, ensure_ascii=False),
        "kind": r.kind, "source_run": r.source_run, "suite": r.suite.name if r.suite else None,
        "suite_version": r.suite.version if r.suite else None, "suite_fingerprint": r.suite.fingerprint if r.suite else None,
        "suite_score": r.suite.score if r.suite else None,
    }
    if not _insert_ignoring_duplicates(conn, row):
        return False
    if tasks:
        conn.execute(
            insert(task_results),
            [
                {"run_id": r.run_id, "position": t.position, "task": t.name, "version": t.version, "split": t.split,
                 "fingerprint": t.fingerprint, "ids_sha256": t.ids_sha256, "examples": t.examples, "headline": t.headline,
                 "higher_is_better": int(t.higher_is_better), "score": t.score, "ci_low": t.ci_low, "ci_high": t.ci_high,
                 "se": t.se, "ci_method": t.ci_method, "metrics_json": t.metrics_json, "zero_shot": t.zero_shot}
                for t in tasks
            ],
        )
        conn.execute(insert(predictions), [{"run_id": r.run_id, "task": t.name, "data": t.blob} for t in tasks])
    if points:
        conn.execute(
            insert(curves),
            [{"run_id": r.run_id, "task": p.task, "kind": p.kind, "metric": p.metric, "step": p.step, "value": p.value} for p in points],
        )
    return True


def add_records(
    db: str | os.PathLike[str] | None,
    record_paths: Iterable[str | os.PathLike[str]],
    n_boot: int = N_BOOT,
    n_boot_corpus: int = N_BOOT_CORPUS,
) -> list[AddResult]:
    """Add run records to the database (a path or URL), all or none; idempotent by run id.

    Every record (and its training curves) is read and validated before the
    database is opened for writing, so a malformed one leaves the database
    unchanged. Runs whose id is already present are skipped
    (``AddResult.added`` is False).
    """
    loaded = [load_run(p) for p in record_paths]
    # The same run id twice in one call counts once, like a second `add`: the first one wins.
    first: dict[str, LoadedRun] = {}
    for run in loaded:
        first.setdefault(run.record.run_id, run)
    runs_ = list(first.values())
    points = {run.record.run_id: load_curves(run.path.parent) for run in runs_}
    store = open_store(db, create=True)
    try:
        with store.engine.connect() as conn:
            present = set(run_ids(conn))
        prepared = {
            run.record.run_id: prepare_run(run, n_boot=n_boot, n_boot_corpus=n_boot_corpus)
            for run in runs_
            if run.record.run_id not in present
        }

        def write() -> set[str]:
            with write_transaction(store.engine) as conn:
                return {
                    rid
                    for run in runs_
                    if (rid := run.record.run_id) in prepared and _insert_run(conn, run, prepared[rid][0], points[rid])
                }

        try:
            inserted = _retrying(write) if prepared else set()
        except exc.OperationalError as err:  # a full disk, a read-only file: the transaction rolled back, nothing was added
            reason = str(err.orig).splitlines()[0] if err.orig is not None else "write failed"
            raise LeaderboardError(f"{store.where}: cannot write the leaderboard ({reason}); nothing was added") from None
    finally:
        store.close()
    results: list[AddResult] = []
    for run in loaded:
        rid = run.record.run_id
        new = rid in inserted and run is first[rid]
        results.append(AddResult(run.path, rid, new, tuple(prepared[rid][1]) if new else ()))
    return results


def add_record(db: str | os.PathLike[str] | None, record_path: str | os.PathLike[str]) -> bool:
    """Add one run record (``record.json`` or its run directory); True if it was new.

    This is what ``qabench run`` calls after writing its record. ``db`` is a
    path or URL; None means :func:`default_db`. Raises :class:`LeaderboardError`
    for a bad record or database, leaving the database unchanged.
    """
    return add_records(db, [record_path])[0].added


# --- reading ---------------------------------------------------------------------------------------------------------


def run_ids(conn: Connection) -> list[str]:
    """Every run id, oldest first."""
    return list(conn.execute(select(runs.c.run_id).order_by(runs.c.created, runs.c.run_id)).scalars())


def resolve_run_id(conn: Connection, ref: str) -> str:
    """A run id from itself or a unique prefix; errors list close candidates."""
    exact = conn.execute(select(runs.c.run_id).where(runs.c.run_id == ref)).scalar()
    if exact is not None:
        return exact
    matches = list(conn.execute(select(runs.c.run_id).where(runs.c.run_id.startswith(ref, autoescape=True)).order_by(runs.c.run_id).limit(6)).scalars())
    if len(matches) == 1:
        return matches[0]
    if matches:
        shown = ", ".join(matches[:5])
        raise LeaderboardError(f"run {ref!r} is ambiguous: it starts {shown}{', ...' if len(matches) > 5 else ''}; give more of the id")
    close = did_you_mean(ref, run_ids(conn))
    hint = f"; {close}" if close else "; `qabench leaderboard show` lists the run ids"
    raise LeaderboardError(f"no run {ref!r} in the leaderboard{hint}")


def remove_runs(db: str | os.PathLike[str] | None, refs: Sequence[str]) -> list[str]:
    """Delete runs (ids or unique prefixes) with their scores, predictions and curves, all or none; returns their ids.

    Every reference is resolved before anything is deleted, so one unknown id removes nothing.
    """
    store = open_store(db)
    try:
        with store.engine.connect() as conn:
            ids = list(dict.fromkeys(resolve_run_id(conn, ref) for ref in refs))

        def delete() -> None:
            with write_transaction(store.engine) as conn:
                for table in (curves, predictions, task_results, runs):  # children first: no reliance on cascades
                    conn.execute(table.delete().where(table.c.run_id.in_(ids)))

        _retrying(delete)
    finally:
        store.close()
    return ids


def stored_predictions(conn: Connection, run_id: str, task: str) -> list[dict]:
    """The stored ``{id, prediction, example, scores}`` rows of one run's task."""
    blob = conn.execute(select(predictions.c.data).where(predictions.c.run_id == run_id, predictions.c.task == task)).scalar()
    if blob is None:
        raise LeaderboardError(f"run {run_id!r} has no predictions for task {task!r}")
    return decode_predictions(bytes(blob))


def stored_curves(conn: Connection, run_id: str) -> list[CurvePoint]:
    """A run's training curve points, by kind, task, metric and step."""
    rows = conn.execute(
        select(curves.c.task, curves.c.kind, curves.c.metric, curves.c.step, curves.c.value)
        .where(curves.c.run_id == run_id)
        .order_by(curves.c.kind, curves.c.task, curves.c.metric, curves.c.step)
    )
    return [CurvePoint(step=r.step, kind=r.kind, task=r.task, metric=r.metric, value=r.value) for r in rows]


@dataclass(frozen=True)
class StoreState:
    """What the store holds, for caches of values computed from it: its schema revision and its run ids (sorted).

    Stored rows are never edited in place: ``add`` inserts a run with all its
    rows in one transaction (an id already there is left as it was), ``rm``
    deletes a run with all its rows, and only a schema migration rewrites rows.
    So the revision and the set of run ids determine every row: a cache may
    keep a run's rows for as long as the revision stays, and read only the
    runs added since.
    """

    revision: str
    run_ids: tuple[str, ...]

    @property
    def token(self) -> str:
        """A digest that changes whenever what the store holds changes (:func:`content_token`)."""
        digest = hashlib.sha256(f"{self.revision}\n".encode())
        for run_id in self.run_ids:
            digest.update(run_id.encode("utf-8", "surrogatepass") + b"\0")
        return f"{len(self.run_ids)}:{digest.hexdigest()}"


def store_state(conn: Connection) -> StoreState:
    """The store's :class:`StoreState`, read in about a millisecond per thousand runs (an index-only scan of the primary key)."""
    revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    return StoreState(str(revision), tuple(conn.execute(select(runs.c.run_id).order_by(runs.c.run_id)).scalars()))


def content_token(conn: Connection) -> str:
    """A digest that changes whenever what the store holds changes, and only then: an exact change counter on both engines."""
    return store_state(conn).token


def count_rows(conn: Connection) -> dict[str, int]:
    """Rows per table (for ``upgrade`` reports and tests)."""
    return {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar() or 0) for t in (runs, task_results, predictions, curves)}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
