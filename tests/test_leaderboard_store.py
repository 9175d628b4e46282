"""The store on both engines (SQLite file, PostgreSQL server): idempotent adds, stored predictions, Alembic
migrations, refusals, concurrent writers, a writer killed mid-add, and the same answers from both engines."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from leaderboard_fixtures import accuracy_task, corpus_task, write_run
from sqlalchemy import create_engine, text

from leaderboard import store
from leaderboard.compare import compare_runs
from leaderboard.errors import LeaderboardError
from leaderboard.store import add_record, add_records, connection, count_rows, stored_predictions
from leaderboard.table import board_json, load_board

REPO = Path(__file__).resolve().parents[1]
#: A leaderboard written by the last release before Alembic (schema version 1): runs bert-v1 and gpt-v1.
LEGACY_DB = REPO / "tests" / "fixtures" / "leaderboard-v1.db"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(target: str) -> list[tuple]:
    """Every row of every table, in a stable order: equal snapshots mean an unchanged database (either engine)."""
    engine = create_engine(store.database_url(target))
    try:
        with engine.connect() as conn:
            tables = sorted(store._tables(conn))
            return [(t, *map(repr, row)) for t in tables for row in sorted(conn.execute(text(f"SELECT * FROM {t}")).all(), key=repr)]
    finally:
        engine.dispose()


def _count(db: str) -> int:
    with connection(db) as conn:
        return count_rows(conn)["runs"]


def test_adding_is_idempotent_by_run_id(tmp_path: Path, db_target: str) -> None:
    record = write_run(tmp_path, "run-a", [accuracy_task("sst2", [100, 0, 100])])
    assert add_record(db_target, record) is True
    assert add_record(db_target, record.parent) is False
    results = add_records(db_target, [record, write_run(tmp_path, "run-b", [accuracy_task("sst2", [0, 0, 100])])])
    assert [(r.run_id, r.added) for r in results] == [("run-a", False), ("run-b", True)]
    assert _count(db_target) == 2


def test_intervals_are_stored_when_a_run_is_added(tmp_path: Path, db_target: str) -> None:
    add_record(db_target, write_run(tmp_path, "run-a", [accuracy_task("sst2", [100, 0] * 100)]))
    with connection(db_target) as conn:
        score, low, high, method = conn.execute(text("SELECT score, ci_low, ci_high, ci_method FROM task_results")).one()
    assert (score, method) == (50.0, "bootstrap-mean")
    assert 42 < low < 50 < high < 58


def test_predictions_live_in_the_database_not_the_run_directory(tmp_path: Path, db_target: str) -> None:
    a = write_run(tmp_path / "runs", "run-a", [accuracy_task("sst2", [100, 100, 0, 100])])
    b = write_run(tmp_path / "runs", "run-b", [accuracy_task("sst2", [0, 100, 0, 0])])
    add_records(db_target, [a, b])
    shutil.rmtree(tmp_path / "runs")
    with connection(db_target) as conn:
        assert [r["prediction"] for r in stored_predictions(conn, "run-a", "sst2")] == ["positive", "positive", "negative", "positive"]
        assert compare_runs(conn, "run-a", "run-b", resamples=200).tasks[0].delta == 50.0


def test_training_curves_are_stored_with_the_run(tmp_path: Path, db_target: str) -> None:
    record = write_run(tmp_path, "run-a", [accuracy_task("sst2", [100, 0])])
    lines = [{"step": s, "kind": "loss", "task": "sst2", "metric": "loss", "value": 1.0 / s} for s in (10, 20, 30)]
    lines.append({"step": 30, "kind": "eval", "task": "sst2", "metric": "accuracy", "value": 50.0})
    (record.parent / "curves.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    add_record(db_target, record)
    with connection(db_target) as conn:
        points = store.stored_curves(conn, "run-a")
    assert [(p.kind, p.step, p.value) for p in points] == [("eval", 30, 50.0), ("loss", 10, 0.1), ("loss", 20, 0.05), ("loss", 30, 1 / 30)]


def test_a_malformed_curves_file_adds_nothing_and_names_the_line(tmp_path: Path, db_target: str) -> None:
    record = write_run(tmp_path, "run-a", [accuracy_task("sst2", [100])])
    (record.parent / "curves.jsonl").write_text('{"step": 1, "kind": "loss", "task": "sst2", "metric": "loss", "value": 0.5}\n{"step": -3}\n')
    with pytest.raises(LeaderboardError, match=r"curves.jsonl:2: missing kind"):
        add_record(db_target, record)


def test_one_bad_record_adds_nothing(tmp_path: Path, db_target: str) -> None:
    add_record(db_target, write_run(tmp_path, "run-a", [accuracy_task("sst2", [100])]))
    before = snapshot(db_target)
    good = write_run(tmp_path, "run-b", [accuracy_task("sst2", [100])])
    bad = write_run(tmp_path, "run-c", [accuracy_task("sst2", [100])])
    bad.write_text(bad.read_text()[:-10])
    with pytest.raises(LeaderboardError, match="run-c"):
        add_records(db_target, [good, bad])
    assert snapshot(db_target) == before and _count(db_target) == 1


def test_an_sqlite_file_that_is_not_qabenchs_is_refused_unchanged(tmp_path: Path) -> None:
    record = write_run(tmp_path, "run-a", [accuracy_task("sst2", [100])])
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
        conn.execute("INSERT INTO notes VALUES ('mine')")
    conn.close()
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is a text file, not a database\n" * 50)
    for db in (other, garbage):
        before = _digest(db)
        with pytest.raises(LeaderboardError, match="not a qabench leaderboard"):
            add_record(db, record)
        assert _digest(db) == before


def test_a_postgresql_database_with_other_tables_is_refused_unchanged(tmp_path: Path, postgres_server) -> None:  # type: ignore[no-untyped-def]
    url = postgres_server.new_database()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE notes (text TEXT)"))
        conn.execute(text("INSERT INTO notes VALUES ('mine')"))
    engine.dispose()
    before = snapshot(url)
    with pytest.raises(LeaderboardError, match="not a qabench leaderboard"):
        add_record(url, write_run(tmp_path, "run-a", [accuracy_task("sst2", [100])]))
    assert snapshot(url) == before


def test_an_unreachable_server_is_one_clear_error(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://nobody@/qabench?host={tmp_path}&port=1"
    with pytest.raises(LeaderboardError, match=r"cannot open the database .*check --db or QABENCH_DB"):
        store.open_store(url)


def test_a_database_from_a_newer_qabench_is_refused_unchanged(tmp_path: Path, db_target: str) -> None:
    add_record(db_target, write_run(tmp_path, "run-a", [accuracy_task("sst2", [100])]))
    engine = create_engine(store.database_url(db_target))
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00d_from_the_future'"))
    engine.dispose()
    before = snapshot(db_target)
    with pytest.raises(LeaderboardError, match="revision f00d_from_the_future is newer than this qabench supports"):
        add_record(db_target, write_run(tmp_path, "run-b", [accuracy_task("sst2", [0])]))
    assert snapshot(db_target) == before


def test_opening_a_missing_database_for_reading_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LeaderboardError, match="no leaderboard database here"):
        store.open_store(tmp_path / "missing.db")
    assert not (tmp_path / "missing.db").exists()


def _legacy_runs(root: Path) -> list[Path]:
    """The records tests/fixtures/leaderboard-v1.db was built from (by the pre-Alembic store)."""
    return [
        write_run(root, "bert-v1", [accuracy_task("sst2", [100, 0, 100, 100]), accuracy_task("rte", [0, 100, 100])], backbone="bert", seed=0),
        write_run(root, "gpt-v1", [accuracy_task("sst2", [0, 0, 100, 100]), accuracy_task("rte", [100, 100, 0])], backbone="gpt", seed=1,
                  parameters=1_000_000),
    ]


def test_a_file_from_the_release_before_alembic_upgrades_in_place_with_nothing_lost(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    shutil.copy(LEGACY_DB, db)
    with sqlite3.connect(db) as conn:
        old_rows = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in ("runs", "task_results", "predictions")}
        old_columns = {t: ", ".join(row[1] for row in conn.execute(f"PRAGMA table_info({t})")) for t in old_rows}
    conn.close()

    report = store.upgrade_db(db)
    assert (report.before, report.after) == ("legacy schema version 1", store.head_revision())
    assert report.rows == {"runs": 2, "task_results": 4, "predictions": 4, "curves": 0}
    with sqlite3.connect(db) as conn:
        # Later revisions add columns (suites: kind, suite, ...); the old columns keep every value.
        assert {t: conn.execute(f"SELECT {old_columns[t]} FROM {t} ORDER BY 1, 2").fetchall() for t in old_rows} == old_rows
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(store.head_revision(),)]
        assert [v for (v,) in conn.execute("SELECT version FROM schema_version ORDER BY version")] == [1, 2, 3, 4]
        assert conn.execute("SELECT DISTINCT kind, suite FROM runs").fetchall() == [("run", None)]
        # Its records predate the timings split: no preparation time, no tokens/s.
        assert conn.execute("SELECT DISTINCT prepare_seconds, train_tps, eval_tps FROM runs").fetchall() == [(None, None, None)]
    conn.close()

    # Upgraded, it answers exactly as a database built by this code from the same records.
    fresh = tmp_path / "fresh.db"
    add_records(fresh, _legacy_runs(tmp_path / "runs"))
    with connection(db) as old, connection(fresh) as new:
        assert board_json(load_board(old)) == board_json(load_board(new))
        assert stored_predictions(old, "gpt-v1", "rte") == stored_predictions(new, "gpt-v1", "rte")
    assert store.upgrade_db(db).before == store.head_revision()  # a second upgrade does nothing


def _database_at(target: str, revision: str) -> None:
    """Create an empty leaderboard at ``target`` as the release whose newest revision was ``revision`` did: its migrations, no later ones."""
    from alembic import command
    from alembic.config import Config

    engine = store.create_store_engine(store.database_url(target))
    try:
        with store.write_transaction(engine) as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql(f"PRAGMA application_id = {store.APPLICATION_ID}")
            config = Config()
            config.set_main_option("script_location", str(store.MIGRATIONS_DIR))
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def _copy_rows(source: str, target: str) -> None:
    """Every stored row of ``source`` into ``target``, keeping the columns ``target``'s (older) schema has."""
    engines = [create_engine(store.database_url(t)) for t in (source, target)]
    try:
        with engines[0].connect() as read, engines[1].begin() as write:
            older = sa.MetaData()
            older.reflect(write, only=["runs", "task_results", "predictions", "curves"])
            for name in ("runs", "task_results", "predictions", "curves"):  # parents first
                table = older.tables[name]
                rows = [{c: row[c] for c in table.columns.keys()} for row in read.execute(text(f"SELECT * FROM {name}")).mappings()]
                if rows:
                    write.execute(table.insert(), rows)
    finally:
        for engine in engines:
            engine.dispose()


def test_a_database_from_before_the_efficiency_columns_upgrades_filling_them_from_each_record(tmp_path: Path, db_target: str) -> None:
    runs = tmp_path / "runs"
    records = [
        write_run(runs, "timed", [accuracy_task("sst2", [100, 100, 100])],
                  timings={"prepare_seconds": 3.1, "train_tokens_per_second": 18400.0, "eval_tokens_per_second": 21300.0}),
        write_run(runs, "untrained", [accuracy_task("sst2", [0, 0, 100])],
                  timings={"prepare_seconds": 0.8, "train_tokens_per_second": None, "eval_tokens_per_second": 20100.0}),
        write_run(runs, "older", [accuracy_task("sst2", [100, 100, 0])]),  # a record from before the timings split
    ]
    reference = str(tmp_path / "reference.db")  # the same records added by this code
    add_records(reference, records)
    _database_at(db_target, "0003_suites")
    _copy_rows(reference, db_target)

    report = store.upgrade_db(db_target)
    assert (report.before, report.after) == ("0003_suites", store.head_revision())
    assert report.rows == {"runs": 3, "task_results": 3, "predictions": 3, "curves": 0}
    with connection(db_target) as conn:
        stored = conn.execute(text("SELECT run_id, prepare_seconds, train_tps, eval_tps, train_seconds, eval_eps FROM runs ORDER BY run_id")).all()
        assert [tuple(r) for r in stored] == [
            ("older", None, None, None, 12.5, 581.0),
            ("timed", 3.1, 18400.0, 21300.0, 12.5, 581.0),
            ("untrained", 0.8, None, 20100.0, 12.5, 581.0),
        ]
        assert [v for (v,) in conn.execute(text("SELECT version FROM schema_version ORDER BY version"))][-1] == 4
    # Upgraded, it answers exactly as a database built by this code from the same records.
    with connection(db_target) as old, connection(reference) as new:
        assert board_json(load_board(old)) == board_json(load_board(new))
    assert store.upgrade_db(db_target).before == store.head_revision()


def _migrations_with(tmp_path: Path, body: str) -> Path:
    """A copy of the migrations with one more revision after head whose upgrade() runs ``body``."""
    copy = tmp_path / "migrations"
    shutil.copytree(store.MIGRATIONS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "versions" / "9000_extra.py").write_text(
        textwrap.dedent(
            f"""
            import sqlalchemy as sa
            from alembic import op

            revision = "9000_extra"
            down_revision = {store.head_revision()!r}
            branch_labels = None
            depends_on = None


            def upgrade():
            """
        )
        + textwrap.indent(textwrap.dedent(body), "    ")
    )
    return copy


def _use_migrations(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setattr(store, "MIGRATIONS_DIR", path)
    store._script.cache_clear()


@pytest.fixture
def fresh_script_cache():  # type: ignore[no-untyped-def]
    store._script.cache_clear()
    yield
    store._script.cache_clear()


def test_pending_migrations_are_applied_on_open_and_keep_the_data(
    tmp_path: Path, db_target: str, monkeypatch: pytest.MonkeyPatch, fresh_script_cache: None
) -> None:
    add_record(db_target, write_run(tmp_path, "run-a", [accuracy_task("sst2", [100, 0])]))
    body = """
    op.add_column("runs", sa.Column("notes", sa.Text))
    op.execute("UPDATE runs SET notes = 'migrated ' || run_id")
    """
    _use_migrations(monkeypatch, _migrations_with(tmp_path, body))
    with connection(db_target) as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "9000_extra"
        assert conn.execute(text("SELECT notes FROM runs")).one() == ("migrated run-a",)


def test_a_failing_migration_leaves_the_database_at_its_old_revision(
    tmp_path: Path, db_target: str, monkeypatch: pytest.MonkeyPatch, fresh_script_cache: None
) -> None:
    add_record(db_target, write_run(tmp_path, "run-a", [accuracy_task("sst2", [100])]))
    before = snapshot(db_target)
    _use_migrations(monkeypatch, _migrations_with(tmp_path, 'op.add_column("runs", sa.Column("half_done", sa.Text))\nraise RuntimeError("migration bug")\n'))
    with pytest.raises(RuntimeError, match="migration bug"):
        store.open_store(db_target)
    monkeypatch.undo()
    store._script.cache_clear()
    assert snapshot(db_target) == before
    with connection(db_target) as conn:
        assert "half_done" not in conn.execute(text("SELECT * FROM runs")).keys()
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == store.head_revision()


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from leaderboard.store import add_record
    db, root, worker = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    for record in sorted(root.glob(f"w{worker}-*/record.json")):
        assert add_record(db, record)
    """
)


def _env() -> dict[str, str]:
    return {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}


def test_eight_concurrent_writers_lose_nothing(tmp_path: Path, db_target: str) -> None:
    runs = tmp_path / "runs"
    for worker in range(8):
        for i in range(50):
            write_run(runs, f"w{worker}-{i:02d}", [accuracy_task("sst2", [100, 0, 100][: 1 + i % 3]), accuracy_task("rte", [0, 100])])
    # Small records on purpose: the test is about the database, not the bootstrap.
    # Not created yet: the writers race to create the schema, too.
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, db_target, str(runs), str(worker)], cwd=REPO, env=_env(), stderr=subprocess.PIPE, text=True)
        for worker in range(8)
    ]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, errors
    with connection(db_target) as conn:
        if conn.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        assert count_rows(conn) == {"runs": 400, "task_results": 800, "predictions": 800, "curves": 0}
        ids = conn.execute(text("SELECT run_id FROM runs")).scalars().all()
        assert sorted(ids) == sorted(f"w{w}-{i:02d}" for w in range(8) for i in range(50))  # none lost, none twice
        assert conn.execute(text("SELECT COUNT(*) FROM alembic_version")).scalar() == 1


_PAUSED_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from leaderboard import store
    db, record, flag = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    insert = store._insert_run

    def insert_then_hang(conn, *args):
        inserted = insert(conn, *args)   # every row of the run is written, the transaction not yet committed
        flag.touch()
        time.sleep(600)
        return inserted

    store._insert_run = insert_then_hang
    store.add_record(db, record)
    """
)


def test_a_writer_killed_in_the_middle_of_an_add_leaves_nothing_half_added(tmp_path: Path, db_target: str) -> None:
    add_record(db_target, write_run(tmp_path, "before", [accuracy_task("sst2", [100])]))
    record = write_run(tmp_path, "victim", [accuracy_task("sst2", [100, 0] * 50), accuracy_task("rte", [0, 100] * 50)])
    flag = tmp_path / "inserted"
    proc = subprocess.Popen([sys.executable, "-c", _PAUSED_WRITER, db_target, str(record), str(flag)], cwd=REPO, env=_env())
    try:
        deadline = time.monotonic() + 120
        while not flag.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the writer died before inserting"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    # PostgreSQL rolls the dead client's transaction back; SQLite never committed it. Either way: nothing of it.
    deadline = time.monotonic() + 30
    while True:
        with connection(db_target) as conn:
            rows = count_rows(conn)
        if rows == {"runs": 1, "task_results": 1, "predictions": 1, "curves": 0} or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert rows == {"runs": 1, "task_results": 1, "predictions": 1, "curves": 0}
    assert add_record(db_target, record) is True  # and the lock is free again
    with connection(db_target) as conn:
        assert count_rows(conn) == {"runs": 2, "task_results": 3, "predictions": 3, "curves": 0}


def test_both_engines_answer_every_query_the_same(tmp_path: Path, postgres_server) -> None:  # type: ignore[no-untyped-def]
    records = [
        write_run(tmp_path, name, [accuracy_task("sst2", scores), corpus_task("iwslt", "bleu", preds, ["das ist gut", "ein haus", "wir gehen"])],
                  backbone=name.split("-")[0], seed=seed, head_mode=mode, mixture=mix, train_seconds=float(len(name)))
        for name, scores, preds, seed, mode, mix in [
            ("bert-0", [100, 0, 100, 100], ["das ist gut", "ein hund", "wir gehen"], 0, "typed", "proportional"),
            ("bert-1", [100, 100, 100, 0], ["das ist gut", "ein haus", "wir"], 1, "text", "uniform"),
            ("gpt-0", [0, 0, 100, 0], ["das", "ein haus", "wir gehen"], 0, "typed", None),
        ]
    ]
    sqlite_db, pg_db = str(tmp_path / "lb.db"), postgres_server.new_database()
    for db in (sqlite_db, pg_db):
        add_records(db, records, n_boot=200, n_boot_corpus=50)

    def answers(db: str) -> dict:
        with connection(db) as conn:
            out = {
                "board": board_json(load_board(conn)),
                "group": board_json(load_board(conn, group_by="backbone")),
                "tasks": board_json(load_board(conn, tasks=["iwslt"], sort="run_id")),
                "ids": store.run_ids(conn),
                "prefix": store.resolve_run_id(conn, "gpt"),
                "predictions": stored_predictions(conn, "bert-1", "iwslt"),
            }
            comparison = compare_runs(conn, "bert-0", "gpt-0", resamples=200)
            out["compare"] = [(t.task, t.a, t.b, t.delta, t.low, t.high, t.p_value) for t in comparison.tasks]
            return out

    assert answers(sqlite_db) == answers(pg_db)


def test_the_content_token_changes_with_every_add_and_removal_and_only_then(tmp_path: Path, db_target: str) -> None:
    def token() -> str:
        with connection(db_target) as conn:
            return store.content_token(conn)

    first = write_run(tmp_path, "run-a", [accuracy_task("sst2", [100, 0])])
    add_record(db_target, first)
    before = token()
    assert token() == before
    add_record(db_target, first)  # already stored: nothing changes
    assert token() == before
    add_record(db_target, write_run(tmp_path, "run-b", [accuracy_task("sst2", [0, 0])]))
    assert token() != before
    store.remove_runs(db_target, ["run-b"])
    assert token() == before  # the same runs as before: the same rows
    store.remove_runs(db_target, ["run-a"])
    assert token() not in (before, "")
