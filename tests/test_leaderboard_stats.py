"""Bootstrap intervals and the paired test behave as statistics say they should."""

from __future__ import annotations

import numpy as np
import pytest

from leaderboard.stats import CorpusScorer, MeanScorer, StatsScorer, bootstrap_ci, corpus_scorers, paired_test, sum_interval, task_scorer


def test_interval_of_a_mean_matches_the_normal_approximation() -> None:
    values = np.array([100.0] * 300 + [0.0] * 200)  # accuracy 60% on 500 examples
    ci = bootstrap_ci(MeanScorer(values), n_boot=2000, seed=1)
    se = np.sqrt(0.6 * 0.4 / 500) * 100  # binomial standard error, in points
    assert abs(ci.se - se) < 0.1 * se
    assert ci.low < 60.0 < ci.high
    assert abs((ci.high - ci.low) - 2 * 1.96 * se) < 0.15 * (2 * 1.96 * se)


def test_the_same_seed_gives_the_same_interval() -> None:
    scorer = MeanScorer(np.arange(50, dtype=float))
    assert bootstrap_ci(scorer, seed=3) == bootstrap_ci(scorer, seed=3)


def test_a_corpus_scorer_resamples_examples_and_recomputes() -> None:
    # A mean written as a corpus metric must give the mean scorer's interval exactly.
    values = [100.0 if i % 3 else 0.0 for i in range(60)]
    corpus = CorpusScorer(lambda preds, exs: float(np.mean([float(p) for p in preds])), [str(v) for v in values], list(range(60)))
    assert bootstrap_ci(corpus, n_boot=200, seed=5) == bootstrap_ci(MeanScorer(np.array(values)), n_boot=200, seed=5)


def test_identical_systems_are_not_significantly_different() -> None:
    values = np.array([100.0, 0.0] * 50)
    test = paired_test(MeanScorer(values), MeanScorer(values.copy()), n_resamples=500)
    assert test.delta == 0.0 and test.p_value == 1.0


def test_a_clearly_better_system_has_a_small_p_value_and_a_positive_interval() -> None:
    rng = np.random.default_rng(0)
    a = (rng.random(400) < 0.8) * 100.0
    b = (rng.random(400) < 0.6) * 100.0
    test = paired_test(MeanScorer(a), MeanScorer(b), n_resamples=2000)
    assert test.p_value < 0.01
    assert 0 < test.low < test.delta < test.high


def test_the_corpus_path_of_the_paired_test_agrees_with_the_vectorised_one() -> None:
    rng = np.random.default_rng(1)
    a, b = (rng.random(80) < 0.7) * 100.0, (rng.random(80) < 0.5) * 100.0
    mean = lambda preds, exs: float(np.mean([float(p) for p in preds]))  # noqa: E731
    corpus = paired_test(CorpusScorer(mean, [str(x) for x in a], list(range(80))),
                         CorpusScorer(mean, [str(x) for x in b], list(range(80))), n_resamples=400)
    vectorised = paired_test(MeanScorer(a), MeanScorer(b), n_resamples=400)
    assert corpus.delta == vectorised.delta
    assert abs(corpus.p_value - vectorised.p_value) < 0.05


def test_a_sum_of_independent_scores_adds_variances() -> None:
    low, high = sum_interval([50.0, 30.0], [3.0, 4.0])
    assert abs((high - low) / 2 - 1.959964 * 5.0) < 1e-4 and (low + high) / 2 == 80.0


# --- corpus metrics scored from sufficient statistics --------------------------------

COLA = ("unacceptable", "acceptable")


def _cola_runs() -> tuple[list[str], list[str], list[object]]:
    """Two runs on 80 CoLA-like examples; each answers outside the choices in its own words."""
    from tasks.types import Example

    rng = np.random.default_rng(2)
    gold = [COLA[int(g)] for g in rng.random(80) < 0.6]
    examples = [Example(str(i), "q", "c", g, choices=COLA) for i, g in enumerate(gold)]
    run_a = [g if r < 0.7 else str(rng.choice(["maybe", "acceptable", ""])) for g, r in zip(gold, rng.random(80))]
    run_b = [g if r < 0.5 else str(rng.choice(["perhaps", "unacceptable", "no idea"])) for g, r in zip(gold, rng.random(80))]
    return run_a, run_b, examples


def test_a_stats_scorer_gives_the_recomputing_scorers_interval_exactly() -> None:
    metrics = pytest.importorskip("tasks.metrics")
    run_a, _, examples = _cola_runs()
    scorer = StatsScorer(np.array(metrics.MCC.stats(run_a, examples)), metrics.MCC.from_stats)
    assert isinstance(task_scorer("mcc", [{"prediction": p, "example": e.to_dict(), "scores": {}}
                                          for p, e in zip(run_a, examples)])[0], StatsScorer)
    assert bootstrap_ci(scorer, n_boot=200, seed=4) == bootstrap_ci(CorpusScorer(metrics.MCC, run_a, examples), n_boot=200, seed=4)


def test_a_paired_test_on_statistics_equals_the_recomputing_one_when_runs_share_an_encoding() -> None:
    # The two runs answer outside the choices with different words: their label indices agree only
    # because corpus_scorers computes both runs' rows in one call, so swapping rows swaps answers.
    metrics = pytest.importorskip("tasks.metrics")
    run_a, run_b, examples = _cola_runs()
    scorers = corpus_scorers("mcc", [run_a, run_b], [e.to_dict() for e in examples])
    assert scorers is not None and all(isinstance(s, StatsScorer) for s in scorers)
    fast = paired_test(scorers[0], scorers[1], n_resamples=150, seed=7)
    slow = paired_test(CorpusScorer(metrics.MCC, run_a, examples), CorpusScorer(metrics.MCC, run_b, examples),
                       n_resamples=150, seed=7)
    assert fast == slow
    assert fast.a == metrics.MCC(run_a, examples) and fast.b == metrics.MCC(run_b, examples)


def test_a_metric_without_usable_statistics_falls_back_to_recomputing() -> None:
    pytest.importorskip("tasks.metrics")
    from tasks.types import Example

    no_choices = [Example("0", "q", "c", "yes"), Example("1", "q", "c", "no")]  # f1's statistics refuse these
    scorers = corpus_scorers("f1", [["yes", "no"]], [e.to_dict() for e in no_choices])
    assert scorers is not None and isinstance(scorers[0], CorpusScorer)
    assert corpus_scorers("no-such-metric", [["yes"]], [{"id": "0"}]) is None  # not even read


def test_the_docstring_example_of_the_module_runs() -> None:
    import doctest

    import leaderboard.stats

    failed, attempted = doctest.testmod(leaderboard.stats)
    assert failed == 0 and attempted > 0
