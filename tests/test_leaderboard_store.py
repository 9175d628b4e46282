"""The SQLite store: idempotent adds, stored predictions, migrations, refusals and concurrent writers."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from leaderboard_fixtures import accuracy_task, write_run

from leaderboard import store
from leaderboard.compare import compare_runs
from leaderboard.errors import LeaderboardError
from leaderboard.store import add_record, add_records, connection, stored_predictions

REPO = Path(__file__).resolve().parents[1]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _count(db: Path) -> int:
    with connection(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]


def test_adding_is_idempotent_by_run_id(tmp_path: Path) -> None:
    db = tmp_path / "lb.db"
    record = write_run(tmp_path, "run-a", [accuracy_task("sst2", [100, 0, 100])])
    assert add_record(db, record) is True
    assert add_record(db, record.parent) is False
    results = add_records(db, [record, write_run(tmp_path, "run-b", [accuracy_task("sst2", [0, 0, 100])])])
    assert [(r.run_id, r.added) for r in results] == [("run-a", False), ("run-b", True)]
    assert _count(db) == 2


def test_intervals_are_stored_when_a_run_is_added(tmp_path: Path) -> None:
    db = tmp_path / "lb.db"
    add_record(db, write_run(tmp_path, "run-a", [accuracy_task("sst2", [100, 0] * 100)]))
    with connection(db) as conn:
        score, low, high, method = conn.execute("SELECT score, ci_low, ci_high, ci_method FROM task_results").fetchone()
    assert (score, method) == (50.0, "bootstrap-mean")
    assert 42 < low < 50 < high < 58


def test_predictions_live_in_the_database_not_the_run_directory(tmp_path: Path) -> None:
    db = tmp_path / "lb.db"
    a = write_run(tmp_path / "runs", "run-a", [accuracy_task("sst2", [100, 100, 0, 100])])
    b = write_run(tmp_path / "runs", "run-b", [accuracy_task("sst2", [0, 100, 0, 0])])
    add_records(db, [a, b])
    shutil.rmtree(tmp_path / "runs")
    with connection(db) as conn:
        assert [r["prediction"] for r in stored_predictions(conn, "run-a", "sst2")] == ["positive", "positive", "negative", "positive"]
        assert compare_runs(conn, "run-a", "run-b", resamples=200).tasks[0].delta == 50.0


def test_one_bad_record_adds_nothing(tmp_path: Path) -> None:
    db = tmp_path / "lb.db"
    add_record(db, write_run(tmp_path, "run-a", [accuracy_task("sst2", [100])]))
    before = _digest(db)
    good = write_run(tmp_path, "run-b", [accuracy_task("sst2", [100])])
    bad = write_run(tmp_path, "run-c", [accuracy_task("sst2", [100])])
    bad.write_text(bad.read_text()[:-10])
    with pytest.raises(LeaderboardError, match="run-c"):
        add_records(db, [good, bad])
    assert _digest(db) == before and _count(db) == 1


def test_a_database_that_is_not_qabenchs_is_refused_unchanged(tmp_path: Path) -> None:
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


def test_a_database_from_a_newer_qabench_is_refused_unchanged(tmp_path: Path) -> None:
    db = tmp_path / "lb.db"
    add_record(db, write_run(tmp_path, "run-a", [accuracy_task("sst2", [100])]))
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO schema_version VALUES (?, 'the future')", (store.schema_version_supported() + 1,))
    conn.close()
    before = _digest(db)
    with pytest.raises(LeaderboardError, match="newer than this qabench supports"):
        add_record(db, write_run(tmp_path, "run-b", [accuracy_task("sst2", [0])]))
    assert _digest(db) == before


def test_opening_a_missing_database_for_reading_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LeaderboardError, match="no leaderboard database here"):
        store.open_db(tmp_path / "missing.db")
    assert not (tmp_path / "missing.db").exists()


def test_pending_migrations_are_applied_in_order_and_keep_the_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "lb.db"
    add_record(db, write_run(tmp_path, "run-a", [accuracy_task("sst2", [100, 0])]))

    def add_notes_column(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE runs ADD COLUMN notes TEXT")
        conn.execute("UPDATE runs SET notes = 'migrated ' || run_id")

    monkeypatch.setattr(store, "MIGRATIONS", [*store.MIGRATIONS, add_notes_column])
    with connection(db) as conn:
        assert [v for (v,) in conn.execute("SELECT version FROM schema_version ORDER BY version")] == [1, 2]
        assert conn.execute("SELECT notes FROM runs").fetchone() == ("migrated run-a",)


def test_a_failing_migration_leaves_the_database_at_its_old_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "lb.db"
    add_record(db, write_run(tmp_path, "run-a", [accuracy_task("sst2", [100])]))

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE runs ADD COLUMN half_done TEXT")
        raise RuntimeError("migration bug")

    monkeypatch.setattr(store, "MIGRATIONS", [*store.MIGRATIONS, broken])
    with pytest.raises(RuntimeError, match="migration bug"):
        store.open_db(db)
    monkeypatch.undo()
    with connection(db) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
        assert "half_done" not in columns
        assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone() == (1,)


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


def test_eight_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for worker in range(8):
        for i in range(50):
            write_run(runs, f"w{worker}-{i:02d}", [accuracy_task("sst2", [100, 0, 100][: 1 + i % 3]), accuracy_task("rte", [0, 100])])
    db = tmp_path / "lb.db"  # not created yet: the writers race to create it, too
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(db), str(runs), str(worker)], cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
                         stderr=subprocess.PIPE, text=True)
        for worker in range(8)
    ]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, errors
    with connection(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone() == (400,)
        assert conn.execute("SELECT COUNT(*) FROM task_results").fetchone() == (800,)
        assert conn.execute("SELECT COUNT(*) FROM predictions").fetchone() == (800,)
        assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone() == (1,)
