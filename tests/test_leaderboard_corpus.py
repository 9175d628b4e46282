"""Corpus-level metrics (BLEU, MCC): intervals and tests resample examples and recompute through tasks.metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from leaderboard_fixtures import corpus_task, write_run
from sqlalchemy import text

from harness.cli import main
from leaderboard.compare import compare_runs
from leaderboard.store import add_records, connection

metrics = pytest.importorskip("tasks.metrics", reason="tasks.metrics is not importable")
from tasks.types import Example  # noqa: E402

ANSWERS = [f"the cat number {i} sat on the mat near door {i % 5}" for i in range(60)]


def _bleu(predictions: list[str]) -> float:
    return metrics.get_metric("bleu")(predictions, [Example(str(i), "q", "c", a) for i, a in enumerate(ANSWERS)])


def _translation_run(root: Path, run_id: str, wrong_every: int) -> Path:
    predictions = [a if i % wrong_every else f"a dog number {i} stood there" for i, a in enumerate(ANSWERS)]
    return write_run(root, run_id, [corpus_task("iwslt", "bleu", predictions, ANSWERS)])


def test_a_bleu_interval_comes_from_resampling_and_recomputing(tmp_path: Path) -> None:
    db = tmp_path / "lb.db"
    add_records(db, [_translation_run(tmp_path, "mt-a", 3)])
    with connection(db) as conn:
        score, low, high, method = conn.execute(text("SELECT score, ci_low, ci_high, ci_method FROM task_results")).one()
    assert method == "bootstrap-corpus"
    assert low < score < high and high - low > 1.0


def test_comparing_bleu_runs_recomputes_both_on_the_same_resamples(tmp_path: Path) -> None:
    db = tmp_path / "lb.db"
    add_records(db, [_translation_run(tmp_path, "mt-good", 10), _translation_run(tmp_path, "mt-bad", 2)])
    with connection(db) as conn:
        result = compare_runs(conn, "mt-good", "mt-bad", resamples=200).tasks[0]
    assert result.method == "corpus"
    good = [a if i % 10 else f"a dog number {i} stood there" for i, a in enumerate(ANSWERS)]
    assert result.a == pytest.approx(_bleu(good))
    assert result.delta > 10 and result.low > 0 and result.p_value < 0.02


def test_mcc_over_choice_examples(tmp_path: Path) -> None:
    gold = ["acceptable", "unacceptable"] * 20
    predicted = [g if i % 4 else ("unacceptable" if g == "acceptable" else "acceptable") for i, g in enumerate(gold)]
    extra = {"choices": ["unacceptable", "acceptable"]}
    examples = [Example(str(i), "q", "c", g, choices=("unacceptable", "acceptable")) for i, g in enumerate(gold)]
    mcc = metrics.get_metric("mcc")(predicted, examples)
    record = write_run(tmp_path, "cola-run", [corpus_task("cola", "mcc", predicted, gold, mcc, extra_example=extra)])
    result = CliRunner().invoke(main, ["leaderboard", "--db", str(tmp_path / "lb.db"), "add", str(record)])
    assert result.exit_code == 0, result.output
    shown = json.loads(CliRunner().invoke(main, ["leaderboard", "--db", str(tmp_path / "lb.db"), "show", "--json"]).output)
    low, high = shown[0]["tasks"]["cola"]["ci"]
    assert low < mcc == shown[0]["tasks"]["cola"]["score"] < high


def test_an_unknown_corpus_metric_is_stored_without_an_interval_and_not_compared(tmp_path: Path) -> None:
    db = tmp_path / "lb.db"
    runs = [write_run(tmp_path, f"odd-{i}", [corpus_task("mine", "my_metric", ["x", "y"], ["x", "z"], 50.0)]) for i in range(2)]
    result = CliRunner().invoke(main, ["leaderboard", "--db", str(db), "add", *map(str, runs)])
    assert result.exit_code == 0 and "no confidence interval" in result.output
    assert "50.0" in CliRunner().invoke(main, ["leaderboard", "--db", str(db), "show"]).output
    refused = CliRunner().invoke(main, ["leaderboard", "--db", str(db), "compare", "odd-0", "odd-1"])
    assert refused.exit_code == 2 and "cannot be resampled" in refused.output
