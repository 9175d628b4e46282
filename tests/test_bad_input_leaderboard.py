"""Reliability sweep, the leaderboard: records it recomputes, refuses or cannot write.

``qabench leaderboard add`` recomputes what it can (decaScore from the
per-task headline scores, each headline from its stored per-example scores)
and refuses what is inconsistent or unsafe; every refusal is one line, exit
status 2, with the database file byte for byte as it was.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest
from bad_input import Case, check
from click.testing import CliRunner
from leaderboard_fixtures import accuracy_task, write_run

from harness.cli import main

TASKS = [accuracy_task("sst2", [100, 100, 100, 0, 100]), accuracy_task("rte", [100, 0, 0, 100])]  # 80 + 50 = 130


def with_db(root: Path) -> None:
    """A leaderboard that already holds one good run, so 'unchanged' means something."""
    good = write_run(root / "good", "run-good", TASKS)
    result = CliRunner().invoke(main, ["leaderboard", "--db", str(root / "lb.db"), "add", str(good)])
    assert result.exit_code == 0, result.output


def altered(change: Callable[[dict[str, Any]], None], **fields: Any) -> Callable[[Path], list[str]]:
    """Setup: a good leaderboard, then a run whose record.json ``change`` alters, given to ``add``."""

    def setup(root: Path) -> list[str]:
        with_db(root)
        path = write_run(root / "runs", "run-bad", TASKS, **fields)
        record = json.loads(path.read_text())
        change(record)
        path.write_text(json.dumps(record), encoding="utf-8")
        return ["leaderboard", "--db", "lb.db", "add", str(path.relative_to(root))]

    return setup


def set_field(*keys: str | int, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(record: dict[str, Any]) -> None:
        node: Any = record
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return change


def both(*changes: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def change(record: dict[str, Any]) -> None:
        for one in changes:
            one(record)

    return change


def raw(text: str) -> Callable[[Path], list[str]]:
    def setup(root: Path) -> list[str]:
        with_db(root)
        (root / "record.json").write_text(text, encoding="utf-8")
        return ["leaderboard", "--db", "lb.db", "add", "record.json"]

    return setup


def lb(*args: str) -> Callable[[Path], list[str]]:
    def setup(root: Path) -> list[str]:
        with_db(root)
        return ["leaderboard", "--db", "lb.db", *args]

    return setup


CASES = [
    # --- integrity (item 1) ---
    Case("decascore-claims-9999", altered(set_field("deca_score", value=9999.0)), ("run-bad/record.json", "'deca_score' is 9999.0", "sum to 130")),
    Case("decascore-slightly-off", altered(set_field("deca_score", value=130.01)), ("'deca_score' is 130.01",)),
    Case("headline-not-the-mean-of-its-predictions", altered(both(set_field("tasks", 0, "metrics", "accuracy", value=95.0), set_field("deca_score", value=145.0))),
         ("task 'sst2' states accuracy 95.0", "average 80")),
    Case("negative-parameters", altered(set_field("model", "parameters", value=-5)), ("'model.parameters' is -5", "cannot be negative")),
    Case("negative-train-seconds", altered(set_field("timings", "train_seconds", value=-1.5)), ("'timings.train_seconds' is -1.5",)),
    Case("negative-eval-speed", altered(set_field("timings", "eval_examples_per_second", value=-3)), ("'timings.eval_examples_per_second'",)),
    Case("negative-steps", altered(set_field("training", "steps", value=-1)), ("'training.steps' is -1",)),
    Case("nan-decascore", raw('{"schema_version": 1}'.replace("}", ', "deca_score": NaN}')), ("record.json",)),
    Case("infinite-metric", altered(set_field("tasks", 1, "metrics", "accuracy", value=float("inf"))), ("tasks[1].metrics.accuracy", "finite number")),
    Case("nan-timing", altered(set_field("timings", "train_seconds", value=float("nan"))), ("timings.train_seconds", "finite number")),
    Case("predictions-outside-the-run", altered(set_field("predictions", value="../../good/run-good/predictions.jsonl")),
         ("'predictions' '../../good/run-good/predictions.jsonl' leaves the record's directory",)),
    Case("predictions-absolute", altered(set_field("predictions", value="/etc/passwd")), ("'predictions' '/etc/passwd' leaves",)),
    Case("run-id-newline", altered(set_field("run_id", value="run-bad\nrun-evil")), ("field 'run_id' holds a control character ('\\n')",)),
    Case("run-id-carriage-return", altered(set_field("run_id", value="run\rbad")), ("field 'run_id'", "'\\r'")),
    Case("run-id-tab", altered(set_field("run_id", value="run\tbad")), ("field 'run_id'", "'\\t'")),
    Case("backbone-newline", altered(set_field("model", "backbone", value="bert\nevil")), ("field 'model.backbone' holds a control character",)),
    Case("pretrained-escape", altered(set_field("model", "pretrained", value="dir\x1b[31m")), ("field 'model.pretrained'",)),
    Case("task-name-tab", altered(both(set_field("tasks", 0, "name", value="sst\t2"))), ("field 'tasks[0].name' holds a control character",)),
    # --- malformed records (handled before the sweep; kept so they cannot regress) ---
    Case("record-not-json", raw("{not json"), ("record.json line 1", "not valid JSON")),
    Case("record-truncated", raw('{"schema_version": 1, "run_id": "x"'), ("record.json", "truncated")),
    Case("record-a-list", raw("[]"), ("record.json", "a run record is a JSON object")),
    Case("record-newer-schema", raw('{"schema_version": 99}'), ("record.json", "newer than this qabench reads")),
    Case("record-missing", lb("add", "nowhere/record.json"), ("nowhere/record.json", "no such record file")),
    Case("predictions-missing", altered(set_field("predictions", value="gone.jsonl")), ("gone.jsonl", "missing")),
    Case("empty-tasks", altered(set_field("tasks", value=[])), ("'tasks' is empty",)),
    # --- reading commands ---
    Case("compare-unknown-run", lb("compare", "run-good", "run-nope"), ("run-nope",)),
    Case("show-unknown-sort", lb("show", "--sort", "nonsense"), ("nonsense",)),
    Case("export-into-missing-dir", lb("export", "--format", "md", "-o", "no/such/dir/board.md"), ("-o no/such/dir/board.md", "cannot write")),
    Case("export-unknown-format", lb("export", "--format", "pdf"), ("'--format'", "'pdf' is not one of")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_bad_record_is_refused_in_one_line_and_the_database_is_unchanged(case: Case, tmp_path: Path) -> None:
    check(case, tmp_path)


def test_a_consistent_record_is_still_accepted(tmp_path: Path) -> None:
    path = write_run(tmp_path, "run-ok", TASKS)
    result = CliRunner().invoke(main, ["leaderboard", "--db", str(tmp_path / "lb.db"), "add", str(path)])
    assert result.exit_code == 0, result.output
