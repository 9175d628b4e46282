"""Bootstrap intervals and the paired test behave as statistics say they should."""

from __future__ import annotations

import numpy as np

from leaderboard.stats import CorpusScorer, MeanScorer, bootstrap_ci, paired_test, sum_interval


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
