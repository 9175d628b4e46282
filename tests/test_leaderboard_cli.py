"""``qabench leaderboard add|show|compare|export`` through click's CliRunner."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from leaderboard_fixtures import accuracy_task, write_run

from harness.cli import main
from leaderboard.store import head_revision

REPO = Path(__file__).resolve().parents[1]


def qabench(db: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["leaderboard", "--db", str(db), *args], catch_exceptions=False)


def _runs(root: Path) -> list[Path]:
    """Three runs on sst2 and rte: bert (two seeds) clearly beats gpt."""
    sst2 = {"bert0": [100] * 90 + [0] * 10, "bert1": [100] * 86 + [0] * 14, "gpt0": [100] * 55 + [0] * 45}
    rte = {"bert0": [100, 0] * 25, "bert1": [100] * 30 + [0] * 20, "gpt0": [0, 100] * 25}
    return [
        write_run(root, name, [accuracy_task("sst2", sst2[name]), accuracy_task("rte", rte[name])],
                  backbone=name[:-1], seed=int(name[-1]), parameters=4_000_000 if name.startswith("bert") else 1_000_000,
                  train_seconds=30.0 if name.startswith("bert") else 10.0)
        for name in ("bert0", "bert1", "gpt0")
    ]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "lb.db"
    result = qabench(path, "add", *map(str, _runs(tmp_path / "runs")))
    assert result.exit_code == 0, result.output
    return path


def test_add_reports_new_and_present_runs(tmp_path: Path, db: Path) -> None:
    result = qabench(db, "add", str(tmp_path / "runs" / "gpt0"))
    assert result.exit_code == 0
    assert "already present: gpt0" in result.output and "0 added, 1 already present" in result.output


def test_show_lists_runs_best_first_with_intervals(db: Path) -> None:
    result = qabench(db, "show")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    # Runs outside any suite: one "ad hoc" table, without rank or decaScore (still ordered by it).
    assert lines[0].startswith("== ad hoc")
    assert "decaScore" not in lines[1] and "sst2 (accuracy)" in lines[1] and "rte (accuracy)" in lines[1]
    assert [line.split()[:2] for line in lines[2:5]] == [["–", "bert1"], ["–", "bert0"], ["–", "gpt0"]]  # 146, 140, 105
    assert "86.0 [" in lines[2]


def test_show_json_carries_numbers_and_intervals(db: Path) -> None:
    rows = json.loads(qabench(db, "show", "--json").output)
    top = rows[0]
    assert top["run_id"] == "bert1" and top["deca_score"] == 146.0
    low, high = top["tasks"]["sst2"]["ci"]
    assert low < top["tasks"]["sst2"]["score"] == 86.0 < high
    assert top["deca_score_ci"][0] < 146.0 < top["deca_score_ci"][1]


def test_show_tasks_restricts_columns_and_rescored_decascore(db: Path) -> None:
    rows = json.loads(qabench(db, "show", "--tasks", "rte", "--json").output)
    assert list(rows[0]["tasks"]) == ["rte"]
    assert {r["run_id"]: r["deca_score"] for r in rows} == {"bert1": 60.0, "bert0": 50.0, "gpt0": 50.0}


def test_show_group_by_backbone_averages_seeds(db: Path) -> None:
    rows = json.loads(qabench(db, "show", "--group-by", "backbone", "--json").output)
    bert = next(r for r in rows if r["group"] == "bert")
    assert bert["runs"] == 2 and bert["deca_score"] == 143.0
    assert bert["tasks"]["sst2"] == {"metric": "accuracy", "split": "validation", "examples": 100, "score": 88.0, "std": pytest.approx(2.8284, abs=1e-3)}
    assert "88.0 ± 2.8" in qabench(db, "show", "--group-by", "backbone").output


def test_show_has_the_efficiency_columns_with_unmeasured_ones_as_a_dash(tmp_path: Path) -> None:
    db = tmp_path / "lb.db"
    timed = {"prepare_seconds": 4.0, "eval_seconds": 2.0, "train_tokens_per_second": 9000.0, "eval_tokens_per_second": 15000.0}
    runs = [write_run(tmp_path, "timed", [accuracy_task("sst2", [100, 0])], timings=timed),
            write_run(tmp_path, "older", [accuracy_task("sst2", [0, 0])])]  # a record from before the timings split
    assert qabench(db, "add", *map(str, runs)).exit_code == 0
    lines = qabench(db, "show").output.splitlines()
    assert lines[1].endswith(" params prep s train s eval s train ex/s train tok/s eval ex/s eval tok/s")
    assert lines[2].split()[-7:] == ["4.0", "12.5", "2.0", "512", "9000", "581", "15000"]
    assert lines[3].split()[-7:] == ["–", "12.5", "1.5", "512", "–", "581", "–"]
    rows = {r["run_id"]: r for r in json.loads(qabench(db, "show", "--json").output)}
    assert (rows["timed"]["prepare_seconds"], rows["timed"]["train_tokens_per_second"], rows["timed"]["eval_tokens_per_second"]) == (4.0, 9000.0, 15000.0)
    assert (rows["older"]["prepare_seconds"], rows["older"]["train_tokens_per_second"], rows["older"]["eval_seconds"]) == (None, None, 1.5)
    group = json.loads(qabench(db, "show", "--json", "--group-by", "backbone").output)[0]
    assert (group["eval_seconds"], group["prepare_seconds"]) == (1.75, 4.0)  # the mean over the runs that measured it
    assert [r["run_id"] for r in json.loads(qabench(db, "show", "--json", "--sort", "eval_tps").output)] == ["timed", "older"]


def test_show_sort_by_a_column_and_direction(db: Path) -> None:
    ids = lambda *args: [r["run_id"] for r in json.loads(qabench(db, "show", "--json", *args).output)]  # noqa: E731
    assert ids("--sort", "rte") == ["bert1", "bert0", "gpt0"]
    assert ids("--sort", "train_seconds:asc")[0] == "gpt0"
    assert ids("--sort", "run_id") == ["bert0", "bert1", "gpt0"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "--sort", "decascore"], "--sort 'decascore': no such column; did you mean 'decaScore'?"),
        (["show", "--tasks", "sst"], "--tasks: no run in the leaderboard has task 'sst'; did you mean 'sst2'?"),
        (["compare", "bert0", "gtp0"], "no run 'gtp0' in the leaderboard; did you mean 'gpt0'?"),
        (["compare", "bert", "gpt0"], "run 'bert' is ambiguous"),
    ],
)
def test_user_errors_are_one_line_with_exit_status_2(db: Path, args: list[str], message: str) -> None:
    result = qabench(db, *args)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1
    assert lines[0].startswith("error: ") and message in lines[0]


def test_show_on_a_missing_database_says_how_to_fill_it_and_creates_nothing(tmp_path: Path) -> None:
    result = qabench(tmp_path / "none.db", "show")
    assert result.exit_code == 0 and "qabench leaderboard add" in result.output
    assert not (tmp_path / "none.db").exists()
    assert qabench(tmp_path / "none.db", "compare", "a", "b").exit_code == 2


def test_the_database_comes_from_qabench_db_when_no_option_is_given(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QABENCH_DB", str(db))
    result = CliRunner().invoke(main, ["leaderboard", "show", "--json"])
    assert result.exit_code == 0 and len(json.loads(result.output)) == 3


def test_compare_reports_difference_interval_and_p_value(db: Path) -> None:
    result = qabench(db, "compare", "bert0", "gpt0", "--json")
    assert result.exit_code == 0
    report = json.loads(result.output)
    sst2 = next(t for t in report["tasks"] if t["task"] == "sst2")
    assert (sst2["a"], sst2["b"], sst2["delta"]) == (90.0, 55.0, 35.0)
    assert sst2["p_value"] < 0.001 and 20 < sst2["low"] < 35 < sst2["high"] < 50
    rte = next(t for t in report["tasks"] if t["task"] == "rte")
    assert rte["delta"] == 0.0 and rte["p_value"] == 1.0
    table = qabench(db, "compare", "bert0", "gpt0", "--tasks", "sst2").output
    assert "+35.00" in table and "rte" not in table.split("A-B")[1]


def test_compare_refuses_runs_evaluated_on_different_examples(tmp_path: Path, db: Path) -> None:
    other = write_run(tmp_path / "runs", "gpt-test", [accuracy_task("sst2", [100] * 100, split="test")], backbone="gpt")
    shifted = write_run(tmp_path / "runs", "gpt-ids", [accuracy_task("sst2", [100] * 100, ids=[str(i + 1) for i in range(100)])])
    assert qabench(db, "add", str(other), str(shifted)).exit_code == 0
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    result = qabench(db, "compare", "bert0", "gpt-test")
    assert result.exit_code == 2
    assert "evaluated on different examples" in result.output and "split 'validation' vs 'test'" in result.output
    assert "evaluated on different examples" in qabench(db, "compare", "bert0", "gpt-ids").output
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_add_of_a_bad_record_is_one_line_exit_2_and_leaves_the_db_unchanged(tmp_path: Path, db: Path) -> None:
    bad = write_run(tmp_path / "bad", "bad", [accuracy_task("sst2", [100])])
    bad.write_text(bad.read_text()[:40])
    newer = write_run(tmp_path / "newer", "newer", [accuracy_task("sst2", [100])], schema_version=9)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    for record in (bad, newer):
        result = qabench(db, "add", str(record))
        assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
        assert str(record) in result.output
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_add_into_a_file_that_is_not_a_leaderboard_is_refused(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping list\n" * 100)
    result = qabench(notes, "add", str(_runs(tmp_path / "runs")[0]))
    assert result.exit_code == 2 and "not a qabench leaderboard database" in result.output
    assert notes.read_text() == "shopping list\n" * 100


def test_show_does_not_import_torch(db: Path) -> None:
    code = (
        "import sys\nfrom harness.cli import main\n"
        f"try:\n    main(['leaderboard', '--db', {str(db)!r}, 'show'], standalone_mode=False)\n"
        "finally:\n    print('torch imported' if 'torch' in sys.modules else 'no torch')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("no torch")


def test_show_on_an_empty_database_says_so(tmp_path: Path) -> None:
    from leaderboard.store import open_store

    open_store(tmp_path / "empty.db", create=True).close()
    result = qabench(tmp_path / "empty.db", "show")
    assert result.exit_code == 0 and "the leaderboard is empty" in result.output
    assert json.loads(qabench(tmp_path / "empty.db", "show", "--json").output) == []


def test_upgrade_creates_then_leaves_alone_and_reports_rows(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    first = qabench(db, "upgrade")
    assert first.exit_code == 0 and f"upgraded from an empty database to {head_revision()} (0 runs" in first.output
    assert qabench(db, "add", str(_runs(tmp_path / "runs")[0])).exit_code == 0
    again = qabench(db, "upgrade")
    assert again.exit_code == 0 and f"already at schema revision {head_revision()} (1 runs, 2 task_results" in again.output


def test_upgrade_brings_a_pre_alembic_file_up_to_date(tmp_path: Path) -> None:
    import shutil

    db = tmp_path / "old.db"
    shutil.copy(REPO / "tests" / "fixtures" / "leaderboard-v1.db", db)
    result = qabench(db, "upgrade")
    assert result.exit_code == 0 and f"upgraded from legacy schema version 1 to {head_revision()} (2 runs, 4 task_results" in result.output
    assert [r["run_id"] for r in json.loads(qabench(db, "show", "--json").output)] == ["bert-v1", "gpt-v1"]


def test_a_postgresql_url_works_like_a_file(tmp_path: Path, postgres_server) -> None:  # type: ignore[no-untyped-def]
    url = postgres_server.new_database()
    result = CliRunner().invoke(main, ["leaderboard", "--db", url, "add", *map(str, _runs(tmp_path / "runs"))])
    assert result.exit_code == 0 and "3 added, 0 already present -> postgresql+psycopg://postgres@/" in result.output
    rows = json.loads(CliRunner().invoke(main, ["leaderboard", "--db", url, "show", "--json"]).output)
    assert [r["run_id"] for r in rows] == ["bert1", "bert0", "gpt0"]


@pytest.mark.parametrize(
    ("db", "message"),
    [
        ("mysql://me@host/lb", "qabench stores leaderboards in SQLite or PostgreSQL, not mysql"),
        ("postgresql+psycopg://me:hunter2@/lb?host=/nonexistent&port=1", "cannot open the database"),
    ],
)
def test_a_bad_database_url_is_one_line_and_hides_the_password(db: str, message: str) -> None:
    result = CliRunner().invoke(main, ["leaderboard", "--db", db, "show"])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert message in result.output and "hunter2" not in result.output


def test_show_json_writes_null_for_missing_text_never_nan(tmp_path: Path) -> None:
    db = tmp_path / "lb.db"
    assert qabench(db, "add", str(write_run(tmp_path / "runs", "no-mixture", [accuracy_task("sst2", [100, 0])], mixture=None))).exit_code == 0
    output = qabench(db, "show", "--json").output
    row = json.loads(output, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))[0]  # type: ignore[arg-type]
    assert (row["mixture"], row["source_run"]) == (None, None)
