"""Bootstrap confidence intervals and paired significance tests over examples.

Two kinds of score reach the leaderboard:

- decomposable metrics (accuracy, EM, nF1): the score is the mean of stored
  per-example scores, so resampling is a vectorised mean over index draws;
- corpus metrics (BLEU, entity F1, MCC, Pearson): when the metric gives
  per-example sufficient statistics (``Metric.stats``), each resample is
  scored from its rows (:class:`StatsScorer`); otherwise the metric is
  called again on the resampled predictions and examples
  (:class:`CorpusScorer`).

All go through one :class:`Scorer` (``indices -> score``), so the interval
and the tests are written once. Randomness comes from an explicit seed: the
same run added twice gets the same interval.

>>> import numpy as np
>>> ci = bootstrap_ci(MeanScorer(np.array([100.0, 0.0] * 50)), n_boot=500, seed=0)
>>> 35 < ci.low < 50 < ci.high < 65
True
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

import numpy as np

#: Default number of bootstrap resamples for an interval.
N_BOOT = 1000
#: Bootstrap resamples for corpus metrics (each one rescores the resampled examples).
N_BOOT_CORPUS = 200
#: Default number of resamples for a comparison's p-value.
N_TEST = 2000
#: Resamples drawn per vectorised chunk (bounds memory at chunk x n indices).
_CHUNK = 64


class Scorer(Protocol):
    """A score computed on a subset (with repeats) of a task's examples."""

    n: int

    def scores(self, indices: np.ndarray) -> np.ndarray:
        """Scores for each row of ``indices`` ([R, n] ints) -> [R]."""
        ...


@dataclass(frozen=True)
class MeanScorer:
    """A decomposable metric: the mean of per-example scores."""

    values: np.ndarray  # [n]

    @property
    def n(self) -> int:
        return int(self.values.shape[0])

    def scores(self, indices: np.ndarray) -> np.ndarray:
        return self.values[indices].mean(axis=1)  # [R, n] -> [R]


@dataclass(frozen=True)
class CorpusScorer:
    """A corpus-level metric recomputed from predictions and examples on every resample."""

    metric: Callable[[Sequence[str], Sequence[object]], float]
    predictions: Sequence[str]
    examples: Sequence[object]

    @property
    def n(self) -> int:
        return len(self.examples)

    def scores(self, indices: np.ndarray) -> np.ndarray:
        out = np.empty(indices.shape[0])
        for r, row in enumerate(indices):
            out[r] = self.metric([self.predictions[i] for i in row], [self.examples[i] for i in row])
        return out


@dataclass(frozen=True)
class StatsScorer:
    """A corpus-level metric scored from per-example sufficient statistics.

    ``rows[i]`` holds example ``i``'s statistics and ``from_stats`` scores any
    selection of rows (``Metric.from_stats``), so a resample costs a few array
    operations instead of recomputing the metric from strings.
    """

    rows: np.ndarray  # [n, k]
    from_stats: Callable[[np.ndarray], float]

    @property
    def n(self) -> int:
        return int(self.rows.shape[0])

    def scores(self, indices: np.ndarray) -> np.ndarray:
        return np.array([self.from_stats(self.rows[row]) for row in indices], dtype=float)  # [R, n] -> [R]


@dataclass(frozen=True)
class Interval:
    """A percentile bootstrap interval; ``se`` is the bootstrap standard error."""

    low: float
    high: float
    se: float
    n_boot: int


@dataclass(frozen=True)
class PairedTest:
    """A comparison of two runs' scores on the same examples (``delta = a - b``)."""

    a: float
    b: float
    delta: float
    low: float  # 95% paired-bootstrap interval of delta
    high: float
    p_value: float  # two-sided, approximate randomisation
    n_examples: int
    n_resamples: int


def seed_for(*parts: str) -> int:
    """A stable 32-bit seed from strings (run id, task), so intervals are reproducible."""
    return int.from_bytes(hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()[:4], "little")


def _bootstrap_indices(rng: np.random.Generator, n: int, count: int) -> np.ndarray:
    return rng.integers(0, n, size=(count, n))  # [count, n]


def bootstrap_replicates(scorer: Scorer, n_boot: int = N_BOOT, seed: int = 0) -> np.ndarray:
    """``n_boot`` scores, each on ``n`` examples drawn with replacement -> [n_boot]."""
    rng = np.random.default_rng(seed)
    out = [scorer.scores(_bootstrap_indices(rng, scorer.n, min(_CHUNK, n_boot - done))) for done in range(0, n_boot, _CHUNK)]
    return np.concatenate(out)


def bootstrap_ci(scorer: Scorer, n_boot: int = N_BOOT, seed: int = 0, level: float = 0.95) -> Interval:
    """Percentile bootstrap interval of a score at ``level`` (95% by default)."""
    reps = bootstrap_replicates(scorer, n_boot, seed)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(reps, [alpha, 1.0 - alpha])
    return Interval(float(low), float(high), float(reps.std(ddof=1)) if n_boot > 1 else 0.0, n_boot)


def z_value(level: float = 0.95) -> float:
    """The two-sided normal quantile of ``level`` (1.96 for 95%)."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + level / 2.0)


def sum_interval(scores: Sequence[float], ses: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Normal interval of a sum of independent scores (decaScore) from their standard errors."""
    z = z_value(level)
    total = float(np.sum(scores))
    half = z * float(np.sqrt(np.sum(np.square(ses))))
    return total - half, total + half


def paired_test(a: Scorer, b: Scorer, n_resamples: int = N_TEST, seed: int = 0) -> PairedTest:
    """Compare two scorers over the same ``n`` examples (row ``i`` of each is the same example).

    The p-value is two-sided approximate randomisation (Noreen 1989; Riezler &
    Maxwell 2005): under the null hypothesis the two systems' outputs on an
    example are exchangeable, so each resample swaps them on a random half of
    the examples; p = (1 + #{|delta*| >= |delta|}) / (1 + R). The interval of
    the difference is a paired bootstrap: both systems are scored on the same
    resampled examples.
    """
    if a.n != b.n:
        raise ValueError(f"paired test needs the same examples: {a.n} vs {b.n}")
    n = a.n
    identity = np.arange(n)[None, :]  # [1, n]
    score_a = float(a.scores(identity)[0])
    score_b = float(b.scores(identity)[0])
    delta = score_a - score_b
    rng = np.random.default_rng(seed)

    if isinstance(a, MeanScorer) and isinstance(b, MeanScorer):
        # Swapping outputs on example i flips the sign of d_i: a vectorised test.
        d = a.values - b.values  # [n]
        extreme = 0
        for done in range(0, n_resamples, _CHUNK):
            signs = rng.choice(np.array([-1.0, 1.0]), size=(min(_CHUNK, n_resamples - done), n))  # [R, n]
            extreme += int(np.sum(np.abs((signs * d).mean(axis=1)) >= abs(delta) - 1e-12))
        boot_delta = MeanScorer(d)
    else:
        extreme = 0
        for _ in range(n_resamples):
            swap = rng.random(n) < 0.5  # [n]
            perm_a, perm_b = _swapped(a, b, swap)
            d_star = float(perm_a.scores(identity)[0] - perm_b.scores(identity)[0])
            extreme += int(abs(d_star) >= abs(delta) - 1e-12)
        boot_delta = _DifferenceScorer(a, b)
    p_value = (extreme + 1) / (n_resamples + 1)
    ci = bootstrap_ci(boot_delta, n_boot=n_resamples, seed=seed + 1)
    return PairedTest(score_a, score_b, delta, ci.low, ci.high, p_value, n, n_resamples)


@dataclass(frozen=True)
class _DifferenceScorer:
    """score(a) - score(b) on the same resampled examples."""

    a: Scorer
    b: Scorer

    @property
    def n(self) -> int:
        return self.a.n

    def scores(self, indices: np.ndarray) -> np.ndarray:
        return self.a.scores(indices) - self.b.scores(indices)


def _swapped(a: Scorer, b: Scorer, swap: np.ndarray) -> tuple[Scorer, Scorer]:
    """The two corpus scorers with their predictions exchanged where ``swap`` is True.

    Rows of two :class:`StatsScorer` are swapped as they stand, so they must
    share one encoding (computed in one ``Metric.stats`` call).
    """
    if isinstance(a, StatsScorer) and isinstance(b, StatsScorer):
        exchange = swap[:, None]  # [n, 1]
        return StatsScorer(np.where(exchange, b.rows, a.rows), a.from_stats), StatsScorer(np.where(exchange, a.rows, b.rows), b.from_stats)
    assert isinstance(a, CorpusScorer) and isinstance(b, CorpusScorer)
    pa = [pb_i if s else pa_i for pa_i, pb_i, s in zip(a.predictions, b.predictions, swap)]
    pb = [pa_i if s else pb_i for pa_i, pb_i, s in zip(a.predictions, b.predictions, swap)]
    return CorpusScorer(a.metric, pa, a.examples), CorpusScorer(b.metric, pb, b.examples)


# --- scoring a task's stored predictions ---------------------------------------------------------------------------


def _tasks_metric(name: str) -> Any | None:
    """The ``tasks.metrics`` metric called ``name``, or None if unknown (imported lazily)."""
    try:
        from tasks.metrics import get_metric
    except ImportError:
        return None
    try:
        return get_metric(name)
    except Exception:  # noqa: BLE001 - an unknown or plugin metric: no interval, said in a warning
        return None


def corpus_metric(name: str) -> Callable[[Sequence[str], Sequence[object]], float] | None:
    """The corpus metric ``name`` from ``tasks.metrics`` as ``f(predictions, examples)``, or None if unknown.

    Imported lazily: only runs with corpus-level headline metrics need it.
    """
    metric = _tasks_metric(name)
    if metric is None:
        return None

    def score(predictions: Sequence[str], examples: Sequence[object]) -> float:
        return float(metric(list(predictions), list(examples)))

    return score


def corpus_scorers(
    name: str, predictions: Sequence[Sequence[str]], example_dicts: Sequence[dict]
) -> list[StatsScorer | CorpusScorer] | None:
    """One scorer of corpus metric ``name`` per run's ``predictions`` on the same stored examples; None if unknown.

    A metric with sufficient statistics (``Metric.stats``) gets
    :class:`~leaderboard.stats.StatsScorer` s, their rows computed in one call
    for all runs so that they share one encoding and a paired test may swap
    them. Otherwise, or when the statistics fail (the recomputing scorer then
    reports the failure where it is used), each scorer recomputes the metric.
    """
    metric = _tasks_metric(name)
    if metric is None:
        return None
    from tasks.types import Example

    examples = [Example.from_dict(d) for d in example_dicts]
    if metric.stats is not None and examples:
        try:
            flat = metric.stats([p for run in predictions for p in run], list(examples) * len(predictions))
            rows = np.asarray(flat, dtype=float).reshape(len(predictions), len(examples), -1)  # [runs, n, k]
        except Exception:  # noqa: BLE001 - fall back to recomputing, which fails or warns as before
            pass
        else:
            return [StatsScorer(run_rows, metric.from_stats) for run_rows in rows]
    score = corpus_metric(name)
    assert score is not None
    return [CorpusScorer(score, list(run), examples) for run in predictions]


def task_scorer(headline: str, rows: Sequence[dict]) -> tuple[MeanScorer | StatsScorer | CorpusScorer | None, str]:
    """The scorer of a task's headline metric over stored rows, and how its interval is computed.

    Decomposable when every row carries its per-example ``scores[headline]``;
    otherwise the corpus metric of ``tasks.metrics`` rescores each resample
    (:func:`corpus_scorers`).
    """
    if rows and all(headline in r["scores"] for r in rows):
        return MeanScorer(np.array([r["scores"][headline] for r in rows], dtype=float)), "bootstrap-mean"
    scorers = corpus_scorers(headline, [[r["prediction"] for r in rows]], [r["example"] for r in rows])
    if scorers is None:
        return None, "none"
    return scorers[0], "bootstrap-corpus"


@dataclass(frozen=True)
class HeadlineInterval:
    """A task's headline interval as the leaderboard stores it, how it was computed, and why there is none."""

    interval: Interval | None
    method: str  # "bootstrap-mean" | "bootstrap-corpus" | "none"
    problem: str | None = None  # one line saying why there is no interval


def headline_interval(headline: str, rows: Sequence[dict], seed: int, n_boot: int = N_BOOT, n_boot_corpus: int = N_BOOT_CORPUS) -> HeadlineInterval:
    """The bootstrap interval of metric ``headline`` over a task's stored ``rows`` (``{prediction, example, scores}``).

    A mean of per-example scores resamples ``n_boot`` times; a corpus metric,
    which rescores each resample, ``n_boot_corpus`` times. A metric that is
    unknown, or fails on a resample, gives no interval and says why.
    """
    scorer, method = task_scorer(headline, rows)
    if scorer is None:
        return HeadlineInterval(None, "none", f"no per-example {headline!r} scores and no such metric in tasks.metrics, so no confidence interval")
    try:
        interval = bootstrap_ci(scorer, n_boot=n_boot if method == "bootstrap-mean" else n_boot_corpus, seed=seed)
    except Exception as err:  # noqa: BLE001 - a metric that fails on a resample must not lose the run
        return HeadlineInterval(None, "none", f"interval failed ({err}); stored without one")
    return HeadlineInterval(interval, method)
