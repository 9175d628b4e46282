"""``qabench tasks list | show | validate`` and ``--version``, through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness import __version__
from harness.cli import main

SST2_ROWS = [
    {"sentence": "a warm , funny and deeply moving film . ", "label": 1, "idx": 0},
    {"sentence": "the plot is a mess and the jokes fall flat . ", "label": 0, "idx": 1},
]
SQUAD_ROWS = [
    {"id": "q1", "title": "Lighthouses", "context": "The lighthouse was built in 1851 on a granite ledge.",
     "question": "When was the lighthouse built?", "answers": {"text": ["1851"], "answer_start": [28]}},
    {"id": "q2", "title": "Lighthouses", "context": "The lighthouse was built in 1851 on a granite ledge.",
     "question": "What was it built on?", "answers": {"text": ["a granite ledge"], "answer_start": [5]}},  # wrong offset
]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture
def tiny_mirror(tmp_path: Path) -> Path:
    root = tmp_path / "mirror"
    write_jsonl(root / "nyu-mll/glue/sst2/train.jsonl", SST2_ROWS * 3)
    write_jsonl(root / "nyu-mll/glue/sst2/validation.jsonl", SST2_ROWS)
    return root


def invoke(*args: str) -> CliRunner:
    return CliRunner().invoke(main, list(args))


def test_version_and_help() -> None:
    assert invoke("--version").output.strip() == f"qabench, version {__version__}"
    result = invoke("--help")
    assert result.exit_code == 0 and "leaderboard" in result.output


def test_list_shows_every_family_with_local_row_counts(tiny_mirror: Path) -> None:
    result = invoke("--data-dir", str(tiny_mirror), "tasks", "list")
    assert result.exit_code == 0, result.output
    sst2 = next(line for line in result.output.splitlines() if line.startswith("sst2 "))
    assert "classification" in sst2 and "choice" in sst2 and "accuracy" in sst2
    assert "train 6, validation 2" in sst2
    for name in ("rte", "squad", "conll2003", "multi30k_en_de", "woz", "mwsc", "mnli"):
        assert any(line.startswith(name + " ") for line in result.output.splitlines()), name


def test_list_json_and_family_filter(tiny_mirror: Path) -> None:
    result = invoke("--data-dir", str(tiny_mirror), "tasks", "list", "--family", "classification", "--json")
    rows = json.loads(result.output)
    assert {r["name"] for r in rows} >= {"sst2", "cola"}
    assert all(r["family"] == "classification" for r in rows)
    assert next(r for r in rows if r["name"] == "sst2")["local"] == {"train": 6, "validation": 2}


def test_list_unknown_family_is_a_usage_error() -> None:
    result = invoke("tasks", "list", "--family", "poetry")
    assert result.exit_code == 2 and "no task has family 'poetry'" in result.output


def test_show_prints_triples(tiny_mirror: Path) -> None:
    result = invoke("--data-dir", str(tiny_mirror), "tasks", "show", "sst2", "-n", "1")
    assert result.exit_code == 0, result.output
    assert "question: Is this review negative or positive?" in result.output
    assert "context:  a warm , funny and deeply moving film ." in result.output
    assert "answer:   positive" in result.output


def test_show_unknown_task_suggests_a_name() -> None:
    result = invoke("tasks", "show", "sst")
    assert result.exit_code == 2
    assert result.output.strip() == "error: unknown task 'sst'; did you mean 'sst2'?"


def test_show_missing_split_is_one_line(tiny_mirror: Path) -> None:
    result = invoke("--data-dir", str(tiny_mirror), "tasks", "show", "sst2", "--split", "dev")
    assert result.exit_code == 2
    assert "has no split 'dev'" in result.output and "Traceback" not in result.output


def test_show_malformed_jsonl_names_file_and_line(tiny_mirror: Path) -> None:
    path = tiny_mirror / "nyu-mll/glue/sst2/validation.jsonl"
    path.write_text(path.read_text() + '{"sentence": "cut off\n', encoding="utf-8")
    result = invoke("--data-dir", str(tiny_mirror), "tasks", "show", "sst2")
    assert result.exit_code == 2
    assert f"{path}:3: not valid JSON" in result.output


def test_show_missing_column_is_one_line(tiny_mirror: Path) -> None:
    write_jsonl(tiny_mirror / "nyu-mll/glue/sst2/validation.jsonl", [{"text": "no sentence column", "label": 1}])
    result = invoke("--data-dir", str(tiny_mirror), "tasks", "show", "sst2")
    assert result.exit_code == 2
    assert "missing column 'sentence'" in result.output


@pytest.mark.parametrize(
    ("row", "failure"),
    [
        ({"text": "no sentence column", "label": 1, "idx": 0}, "recast failed (missing column 'sentence'; the row has idx, label, text)"),
        ({"sentence": "a label out of range", "label": 7, "idx": 0}, "label 7 is outside the label set (0 negative, 1 positive)"),
        ({"sentence": "a label word of another task", "label": "neutral", "idx": 0}, "label 'neutral' is outside the label set (0 negative, 1 positive)"),
    ],
)
def test_show_and_validate_give_the_same_one_line_error_for_a_row_that_does_not_recast(tiny_mirror: Path, row: dict, failure: str) -> None:
    path = tiny_mirror / "nyu-mll/glue/sst2/validation.jsonl"
    write_jsonl(path, [row])
    shown = invoke("--data-dir", str(tiny_mirror), "tasks", "show", "sst2")
    assert shown.exit_code == 2
    assert shown.output == f"error: {path}:1: {failure}\n"
    validated = invoke("--data-dir", str(tiny_mirror), "tasks", "validate", "sst2", "--split", "validation")
    assert validated.exit_code == 2
    assert f"{failure}: 1 (first: {path}:1)" in validated.output


def test_validate_clean_data_exits_zero(tiny_mirror: Path) -> None:
    result = invoke("--data-dir", str(tiny_mirror), "tasks", "validate", "sst2")
    assert result.exit_code == 0, result.output
    assert "sst2" in result.output and "6 rows -> " in result.output and ", ok" in result.output


def test_validate_reports_problems_with_ids_and_exits_two(tiny_mirror: Path) -> None:
    write_jsonl(tiny_mirror / "rajpurkar/squad/plain_text/validation.jsonl", SQUAD_ROWS)
    result = invoke("--data-dir", str(tiny_mirror), "tasks", "validate", "squad", "--split", "validation")
    assert result.exit_code == 2
    path = tiny_mirror / "rajpurkar/squad/plain_text/validation.jsonl"
    assert f"answers.answer_start 5 does not point at the answer 'a granite ledge': 1 (first: {path}:2)" in result.output


def test_missing_data_dir_option_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke("--data-dir", str(tmp_path / "nope"), "tasks", "list")
    assert result.exit_code == 2 and "--data-dir" in result.output
