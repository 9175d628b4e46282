"""Paired comparison of two runs, task by task, on the same examples.

For each task both runs evaluated, :func:`compare_runs` lines their stored
predictions up by example id and reports both scores, the difference, a 95%
paired-bootstrap interval of the difference and a two-sided approximate
randomisation p-value (:func:`leaderboard.stats.paired_test`). Runs scored on
different examples of a task (another split, task version or data
fingerprint, or other example ids) are refused: their difference would not
mean anything.

>>> # with connection(db) as conn: result = compare_runs(conn, "run-a", "run-b", tasks=["sst2"])
>>> # result.tasks[0].delta, result.tasks[0].p_value
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from sqlalchemy import Connection, select

from leaderboard.errors import LeaderboardError
from leaderboard.schema import runs, task_results
from leaderboard.stats import N_TEST, MeanScorer, Scorer, corpus_scorers, paired_test, seed_for
from leaderboard.store import resolve_run_id, stored_predictions

#: Resamples for a corpus-level metric, which is rescored four times per resample.
N_TEST_CORPUS = 300


@dataclass(frozen=True)
class TaskComparison:
    """One task of a comparison; ``delta = a - b``."""

    task: str
    headline: str
    a: float
    b: float
    delta: float
    low: float
    high: float
    p_value: float
    examples: int
    resamples: int
    method: str  # "per-example" or "corpus"


@dataclass(frozen=True)
class Comparison:
    """Two runs compared on the tasks they share."""

    run_a: str
    run_b: str
    model_a: str
    model_b: str
    tasks: tuple[TaskComparison, ...]
    skipped: tuple[tuple[str, str], ...]  # (task, why)


_TASK_FIELDS = ("task", "version", "split", "fingerprint", "ids_sha256", "examples", "headline")


def tasks_of(conn: Connection, run_id: str) -> dict[str, dict]:
    """``{task: {version, split, fingerprint, ids_sha256, examples, headline}}`` of one run, in record order."""
    query = select(*(task_results.c[c] for c in _TASK_FIELDS)).where(task_results.c.run_id == run_id).order_by(task_results.c.position)
    return {r[0]: dict(zip(_TASK_FIELDS, r)) for r in conn.execute(query)}


def check_same_examples(task: str, a: dict, b: dict, run_a: str, run_b: str) -> None:
    """Raise unless the two runs scored ``task`` on the same examples with the same headline metric."""
    differences = [
        f"{label} {a[key]!r} vs {b[key]!r}"
        for key, label in (("split", "split"), ("version", "task version"), ("examples", "example count"))
        if a[key] != b[key]
    ]
    if a["fingerprint"] and b["fingerprint"] and a["fingerprint"] != b["fingerprint"]:
        differences.append(f"data fingerprint {a['fingerprint'][:12]} vs {b['fingerprint'][:12]}")
    if a["ids_sha256"] != b["ids_sha256"] and not differences:
        differences.append("different example ids")
    if differences:
        raise LeaderboardError(
            f"cannot compare {run_a} and {run_b} on {task!r}: they were evaluated on different examples "
            f"({'; '.join(differences)}); evaluate both on the same data, or leave the task out with --tasks"
        )
    if a["headline"] != b["headline"]:
        raise LeaderboardError(
            f"cannot compare {run_a} and {run_b} on {task!r}: headline metrics differ ({a['headline']!r} vs {b['headline']!r})"
        )


def check_same_suite(conn: Connection, run_a: str, run_b: str, tasks_a: dict[str, dict], tasks_b: dict[str, dict]) -> None:
    """Raise, saying which difference, when both runs followed a suite but not the same protocol (name, version, fingerprint)."""
    def protocol(run_id: str) -> tuple[str | None, str | None, str | None]:
        row = conn.execute(select(runs.c.suite, runs.c.suite_version, runs.c.suite_fingerprint).where(runs.c.run_id == run_id)).one()
        return (row[0], row[1], row[2])

    a, b = protocol(run_a), protocol(run_b)
    if a[0] is None or b[0] is None or a == b:
        return
    if a[:2] != b[:2]:
        why = f"suite {a[0]} v{a[1]} vs {b[0]} v{b[1]}"
    else:
        differing = [
            t for t in tasks_a
            if t in tasks_b and any(tasks_a[t][k] != tasks_b[t][k] for k in ("version", "split", "fingerprint", "ids_sha256"))
        ]
        what = f"task {differing[0]!r} was scored on other examples" if differing else "the same examples were scored by other metric definitions"
        why = f"suite {a[0]} v{a[1]} fingerprints differ ({str(a[2])[:12]} vs {str(b[2])[:12]}): {what}"
    raise LeaderboardError(f"cannot compare {run_a} and {run_b}: {why}; compare entries of one suite protocol")


def _scorers(task: str, headline: str, rows_a: list[dict], rows_b: list[dict]) -> tuple[Scorer, Scorer, str]:
    by_id = {r["id"]: r for r in rows_b}
    rows_b = [by_id[r["id"]] for r in rows_a]  # same order: row i is the same example in both
    if all(headline in r["scores"] for r in rows_a) and all(headline in r["scores"] for r in rows_b):
        import numpy as np

        values = lambda rows: np.array([r["scores"][headline] for r in rows], dtype=float)  # noqa: E731
        return MeanScorer(values(rows_a)), MeanScorer(values(rows_b)), "per-example"
    predictions = [[r["prediction"] for r in rows_a], [r["prediction"] for r in rows_b]]
    scorers = corpus_scorers(headline, predictions, [r["example"] for r in rows_a])
    if scorers is None:
        raise LeaderboardError(
            f"task {task!r}: metric {headline!r} has no per-example scores and tasks.metrics does not know it, "
            "so it cannot be resampled; leave the task out with --tasks"
        )
    return scorers[0], scorers[1], "corpus"


def compare_runs(
    conn: Connection,
    ref_a: str,
    ref_b: str,
    tasks: Sequence[str] | None = None,
    resamples: int | None = None,
) -> Comparison:
    """Compare run ``ref_a`` with run ``ref_b`` (ids or unique prefixes) on their shared tasks.

    ``resamples`` overrides :data:`~leaderboard.stats.N_TEST` (per-example
    metrics) and :data:`N_TEST_CORPUS` (corpus metrics).
    """
    run_a, run_b = resolve_run_id(conn, ref_a), resolve_run_id(conn, ref_b)
    if run_a == run_b:
        raise LeaderboardError(f"compare needs two different runs; both arguments name {run_a}")
    tasks_a, tasks_b = tasks_of(conn, run_a), tasks_of(conn, run_b)
    check_same_suite(conn, run_a, run_b, tasks_a, tasks_b)
    wanted = list(tasks) if tasks else list(dict.fromkeys([*tasks_a, *tasks_b]))
    for task in wanted:
        if task not in tasks_a and task not in tasks_b:
            raise LeaderboardError(f"--tasks: neither {run_a} nor {run_b} evaluated task {task!r}")
    skipped = tuple(
        (t, f"only {run_a if t in tasks_a else run_b} evaluated it") for t in wanted if (t in tasks_a) != (t in tasks_b)
    )
    shared = [t for t in wanted if t in tasks_a and t in tasks_b]
    if not shared:
        raise LeaderboardError(f"{run_a} and {run_b} share no evaluated task; nothing to compare")
    for task in shared:  # refuse before any (slow) resampling
        check_same_examples(task, tasks_a[task], tasks_b[task], run_a, run_b)

    results = []
    for task in shared:
        headline = tasks_a[task]["headline"]
        scorer_a, scorer_b, method = _scorers(task, headline, stored_predictions(conn, run_a, task), stored_predictions(conn, run_b, task))
        count = resamples or (N_TEST if method == "per-example" else N_TEST_CORPUS)
        test = paired_test(scorer_a, scorer_b, n_resamples=count, seed=seed_for(run_a, run_b, task))
        results.append(TaskComparison(task, headline, test.a, test.b, test.delta, test.low, test.high, test.p_value,
                                      test.n_examples, test.n_resamples, method))
    model = lambda rid: conn.execute(select(runs.c.model).where(runs.c.run_id == rid)).scalar_one()  # noqa: E731
    return Comparison(run_a, run_b, model(run_a), model(run_b), tuple(results), skipped)
