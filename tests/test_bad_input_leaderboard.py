"""Reliability sweep, the leaderboard: records it recomputes, refuses or cannot write.

``qabench leaderboard add`` recomputes what it can (decaScore from the
per-task headline scores; every metric qabench defines, corpus ones such as
BLEU and MCC included, and every stored per-example score, from the stored
predictions and examples) and refuses what is inconsistent or unsafe; every refusal is one line, exit
status 2, with the database file byte for byte as it was.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence

import pytest
from bad_input import Case, check
from click.testing import CliRunner
from leaderboard_fixtures import FakeTask, accuracy_task, corpus_task, write_run

from harness.cli import main

TASKS = [accuracy_task("sst2", [100, 100, 100, 0, 100]), accuracy_task("rte", [100, 0, 0, 100])]  # 80 + 50 = 130
MT_GOLD = ["a man rides a red bike down the hill", "two dogs play in the snow together", "a woman reads a book in the park"]
MT = corpus_task("multi30k", "bleu", ["a man rides a bike down the hill", "two dogs play in the snow together", "a girl reads in a park"], MT_GOLD)
MT_TASKS, MT_BLEU = [*TASKS, MT], MT.score
COLA_GOLD = ["acceptable", "unacceptable"] * 5
MCC_TASKS = [corpus_task("cola", "mcc", [g if i % 3 else "acceptable" for i, g in enumerate(COLA_GOLD)], COLA_GOLD,
                         extra_example={"choices": ["unacceptable", "acceptable"]})]
# Four tokens, three gold tags: no prediction can be read against these examples (the score is stated, not computable).
BROKEN_TAGS = corpus_task("conll2003", "entity_f1", ["EU (ORG)"], ["EU (ORG)"], 100.0,
                          extra_example={"tokens": ["EU", "rejects", "German", "call"], "tags": ["B-ORG", "O", "B-MISC"]})


def with_db(root: Path) -> None:
    """A leaderboard that already holds one good run, so 'unchanged' means something."""
    good = write_run(root / "good", "run-good", TASKS)
    result = CliRunner().invoke(main, ["leaderboard", "--db", str(root / "lb.db"), "add", str(good)])
    assert result.exit_code == 0, result.output


def altered(
    change: Callable[[dict[str, Any]], None] | None = None,
    lines: Callable[[list[dict[str, Any]]], None] | None = None,
    tasks: Sequence[FakeTask] = TASKS,
    **fields: Any,
) -> Callable[[Path], list[str]]:
    """Setup: a good leaderboard, then a run of ``tasks`` whose record.json ``change`` alters (and its predictions ``lines``), given to ``add``."""

    def setup(root: Path) -> list[str]:
        with_db(root)
        path = write_run(root / "runs", "run-bad", tasks, **fields)
        if change is not None:
            record = json.loads(path.read_text())
            change(record)
            path.write_text(json.dumps(record), encoding="utf-8")
        if lines is not None:
            predictions = path.parent / "predictions.jsonl"
            rows = [json.loads(line) for line in predictions.read_text().splitlines()]
            lines(rows)
            predictions.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
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


def set_line(index: int, *keys: str, value: Any) -> Callable[[list[dict[str, Any]]], None]:
    """Set a field of the ``index``-th predictions line (``"example", "answer"``: its stored gold answer)."""

    def change(rows: list[dict[str, Any]]) -> None:
        node: Any = rows[index]
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

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
    Case("prediction-changed-under-its-stored-score", altered(lines=set_line(3, "prediction", value="positive")),
         ("run-bad/record.json", "task 'sst2', example '3': stored accuracy score 0.0, but its prediction scores 100.0")),
    Case("gold-answer-changed-under-its-stored-score", altered(lines=set_line(5, "example", "answer", value="negative")),
         ("task 'rte', example '0': stored accuracy score 100.0, but its prediction scores 0.0",)),
    Case("bleu-stated-above-what-its-predictions-score", altered(both(set_field("tasks", 2, "metrics", "bleu", value=61.5), set_field("deca_score", value=191.5)),
                                                                 tasks=MT_TASKS),
         ("task 'multi30k' states bleu 61.5", f"predictions score {MT_BLEU!r}")),
    Case("secondary-metric-stated-wrong", altered(set_field("tasks", 0, "metrics", "em", value=100.0)),
         ("task 'sst2' states em 100.0", "5 stored predictions score 80.0")),
    Case("mcc-predictions-edited", altered(lines=set_line(9, "prediction", value="unacceptable"), tasks=MCC_TASKS),
         ("task 'cola' states mcc", "stored predictions score")),
    Case("examples-that-cannot-be-scored", altered(tasks=[accuracy_task("sst2", [100]), BROKEN_TAGS]),
         ("task 'conll2003': its stored predictions cannot be scored again",)),
    Case("negative-parameters", altered(set_field("model", "parameters", value=-5)), ("'model.parameters' is -5", "cannot be negative")),
    Case("negative-head-parameters", altered(set_field("model", "head_parameters", value=-1)), ("'model.head_parameters' is -1", "cannot be negative")),
    Case("negative-best-step", altered(set_field("training", "best_step", value=-3)), ("'training.best_step' is -3",)),
    Case("negative-cpu-count", altered(set_field("hardware", "cpu_count", value=-2)), ("'hardware.cpu_count' is -2",)),
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
    Case("suite-name-newline", altered(set_field("suite", value={"name": "lecture\nfake", "version": "1", "fingerprint": "f" * 64})),
         ("field 'suite.name' holds a control character ('\\n')",)),
    Case("source-run-carriage-return", altered(both(set_field("kind", value="evaluation"), set_field("source_run", value="run\rx"))),
         ("field 'source_run'", "'\\r'")),
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
