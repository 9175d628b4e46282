"""leaderboard.run_record: the one typed schema harness writes and the leaderboard reads."""

from __future__ import annotations

import pytest
from leaderboard_fixtures import accuracy_task, record_dict

from leaderboard.errors import LeaderboardError
from leaderboard.run_record import Hardware, ModelInfo, RunRecord, TaskResult, Timings, TrainingInfo


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
    assert list(data) == ["schema_version", "run_id", "created", "git_commit", "qabench_version", "config", "model", "head_mode",
                          "training", "tasks", "deca_score", "predictions", "timings", "hardware"]
    assert RunRecord.from_dict(data) == record
    assert record.model.label == "bert-tiny" and record.tasks[0].score == 75.0


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
