"""leaderboard.run_record: the one typed schema harness writes and the leaderboard reads."""

from __future__ import annotations

import dataclasses

import pytest
from leaderboard_fixtures import accuracy_task, record_dict

from leaderboard.errors import LeaderboardError
from leaderboard.run_record import Hardware, ModelInfo, RunRecord, SuiteRef, Timings, TrainingInfo
from tasks.scoring import TaskResult


def full_record() -> RunRecord:
    return RunRecord(
        run_id="20261126T043000Z-bert-tiny-3f9a2c",
        created="2026-11-26T04:30:00+00:00",
        git_commit=None,
        qabench_version="0.1.0",
        config={"seed": 0},
        model=ModelInfo("bert", "tiny", 1234, head_parameters=56, heads={"sst2": "choice"}),
        head_mode="typed",
        training=TrainingInfo("single-task", "proportional", 6, 0, recipe="adamw", train_tasks=("sst2",)),
        tasks=(TaskResult("sst2", "1", "validation", "ab", 4, "accuracy", {"accuracy": 75.0}, {"accuracy": True}),),
        deca_score=75.0,
        timings=Timings(1.0, 0.5, 40.0, 8.0),
        hardware=Hardware("cpu", 2, None, 1, "2.13.0", "3.11.7", "Linux"),
    )


def test_what_harness_writes_reads_back_as_the_same_record() -> None:
    record = full_record()
    data = record.to_dict()
    assert list(data) == ["schema_version", "run_id", "kind", "source_run", "suite", "created", "git_commit", "qabench_version", "config",
                          "model", "head_mode", "training", "tasks", "deca_score", "predictions", "timings", "hardware"]
    assert RunRecord.from_dict(data) == record
    assert record.model.label == "bert-tiny" and record.tasks[0].score == 75.0


def test_the_suites_fields_read_back_and_default_for_older_records() -> None:
    suite = SuiteRef("quick", "1", "ef465df4a38c", "decaScore over 4 tasks", tasks=4)
    zero_shot = TaskResult("snli", "1", "validation", "cd", 2, "accuracy", {"accuracy": 50.0}, {"accuracy": True}, zero_shot=("neutral",))
    external = dataclasses.replace(
        full_record(), kind="external", suite=suite, tasks=(zero_shot,), deca_score=50.0,
        model=ModelInfo("my-system", None, 0, meta={"url": "https://example.org"}),
    )
    data = external.to_dict()
    assert data["suite"]["name"] == "quick" and data["tasks"][0]["zero_shot"] == {"untrained_labels": ["neutral"]}
    assert data["model"]["meta"] == {"url": "https://example.org"} and "meta" not in full_record().to_dict()["model"]
    assert RunRecord.from_dict(data) == external
    again = dataclasses.replace(full_record(), kind="evaluation", source_run="20261126T043000Z-bert-tiny-3f9a2c")
    assert RunRecord.from_dict(again.to_dict()) == again
    older = record_dict("run-a", [accuracy_task("sst2", [100, 0])])
    for key in ("kind", "source_run", "suite"):
        older.pop(key, None)
    record = RunRecord.from_dict(older)
    assert (record.kind, record.source_run, record.suite) == ("run", None, None)


def test_an_unknown_kind_is_refused() -> None:
    data = full_record().to_dict() | {"kind": "guess"}
    with pytest.raises(LeaderboardError, match="field 'kind' is 'guess'; it is one of run, evaluation, external"):
        RunRecord.from_dict(data, "run-a/record.json")


def test_a_record_without_the_optional_fields_still_loads() -> None:
    data = record_dict("run-a", [accuracy_task("sst2", [100, 0])])
    del data["hardware"]
    record = RunRecord.from_dict(data)
    assert record.model.heads == {} and record.model.head_parameters is None
    assert record.training.recipe is None and record.training.train_tasks == ()
    assert record.hardware == Hardware()


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("training", "steps", "six", "field 'training.steps' should be an integer"),
        ("model", "heads", [], "field 'model.heads' should be an object"),
        ("timings", "eval_seconds", float("nan"), "field 'timings.eval_seconds' should be a finite number"),
    ],
)
def test_a_field_of_the_wrong_type_is_named(section: str, key: str, value: object, message: str) -> None:
    data = record_dict("run-a", [accuracy_task("sst2", [100])])
    data[section][key] = value
    with pytest.raises(LeaderboardError, match=message):
        RunRecord.from_dict(data, "run-a/record.json")
