"""Hugging Face ``evaluate`` metrics in qabench: a task names one by hub id or, offline, by script path.

The metric script tests/metric_scripts/first_word.py is loaded with
``evaluate.load(path)``; no test touches the network.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from leaderboard.stats import bootstrap_ci, task_scorer
from tasks.errors import TaskError
from tasks.metrics import evaluate_metric, get_metric
from tasks.recipes import template_task
from tasks.taskdir import task_from_directory
from tasks.types import Example, Source

SCRIPT = Path(__file__).parent / "metric_scripts" / "first_word.py"

GOLD = [
    Example("0", "Which city?", "Paris is the capital.", "Paris"),
    Example("1", "Which river?", "Rome lies on the Tiber.", "the Tiber"),
    Example("2", "Which sea?", "Venice is on the Adriatic.", "Adriatic Sea"),
    Example("3", "Which mountain?", "Turin sees the Alps.", "Alps"),
]
PREDICTIONS = ["paris", "The Tiber river", "Adriatic Sea", "Mont Blanc"]  # first words agree on 3 of 4; 1 of 4 exactly


def test_a_local_metric_script_scores_through_evaluates_compute() -> None:
    first_word = evaluate_metric(str(SCRIPT), key="first_word", scale=100)
    exact = evaluate_metric(str(SCRIPT), key="exact", scale=100)
    assert (first_word.name, exact.name) == ("evaluate:first_word#first_word*100", "evaluate:first_word#exact*100")
    assert first_word(PREDICTIONS, GOLD) == 75.0 and exact(PREDICTIONS, GOLD) == 25.0
    assert get_metric(first_word.name) is first_word  # a record's metric name finds it again


def test_a_metric_with_several_numbers_needs_a_key_and_a_wrong_key_is_named() -> None:
    with pytest.raises(TaskError, match=r"gives several numbers \(first_word, exact\); name one"):
        evaluate_metric(str(SCRIPT))(PREDICTIONS, GOLD)
    with pytest.raises(TaskError, match=r"gives no number 'f1'; it gives first_word, exact"):
        evaluate_metric(str(SCRIPT), key="f1")(PREDICTIONS, GOLD)


def test_a_missing_script_is_a_one_line_error() -> None:
    with pytest.raises(TaskError, match=r"evaluate metric '.*no_such_metric.py': evaluate.load failed") as err:
        evaluate_metric("no_such_metric.py")(PREDICTIONS, GOLD)
    assert "\n" not in str(err.value)


def test_a_task_json_names_a_metric_script_beside_its_rows(tmp_path: Path) -> None:
    task_dir = tmp_path / "capitals"
    task_dir.mkdir()
    shutil.copy(SCRIPT, task_dir / "answer_overlap.py")
    rows = [{"id": ex.id, "question": ex.question, "context": ex.context, "answer": ex.answer} for ex in GOLD]
    (task_dir / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    metrics = ["evaluate:answer_overlap.py#first_word", {"evaluate": "answer_overlap.py", "key": "exact", "scale": 100}, "nf1"]
    (task_dir / "task.json").write_text(json.dumps({"metrics": metrics}))
    task = task_from_directory(task_dir)
    assert [m.name for m in task.metrics] == ["evaluate:answer_overlap#first_word", "evaluate:answer_overlap#exact*100", "nf1"]
    scores = task.score(PREDICTIONS, GOLD)
    assert scores["evaluate:answer_overlap#first_word"] == 0.75 and scores["evaluate:answer_overlap#exact*100"] == 25.0


def test_a_plugin_task_headlines_an_evaluate_metric_and_the_leaderboard_bootstraps_it() -> None:
    task = template_task(
        "capital_words", family="qa", source=Source("example/capitals"), context="{context}", question="{question} {choices}?",
        labels=("Paris", "Rome"), metrics=(f"evaluate:{SCRIPT}#first_word", "accuracy"), id_column="id",
    )
    assert task.headline.name == "evaluate:first_word#first_word"
    assert task.score(PREDICTIONS, GOLD) == {"evaluate:first_word#first_word": 0.75, "accuracy": 50.0}  # accuracy ignores case
    rows = [{"prediction": p, "example": ex.to_dict(), "scores": {}} for p, ex in zip(PREDICTIONS, GOLD)]
    scorer, how = task_scorer(task.headline.name, rows)  # no per-example score is stored: resample examples, compute again
    assert how == "bootstrap-corpus"
    interval = bootstrap_ci(scorer, n_boot=20, seed=0)
    assert 0.0 <= interval.low <= 0.75 <= interval.high <= 1.0
