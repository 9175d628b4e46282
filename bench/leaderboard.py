"""Benchmark: how fast is ``qabench leaderboard show`` with 1,000 runs of 10 tasks?

Builds a database of synthetic run records (docs/run-record.md) in a
temporary directory, then times ``show``:

- in a fresh subprocess running ``qabench leaderboard --db DB show`` (what a
  user waits for: interpreter start, imports, query, formatting), best of 5;
- in process (query and formatting only), best of 5;

and checks that the subprocess never imported torch. It also prints how long
adding a record takes (the bootstrap intervals are computed then, once), side
by side with the same adds trusting each record's stated scores instead of
computing every metric again from its stored predictions, as a ratio.

Run: ``cd /work/main && PYTHONPATH=. /work/venv/bin/python bench/leaderboard.py [--runs 1000 --tasks 10 --examples 200]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: Ten GLUE/decaNLP-like tasks; all with per-example scores so 1,000 records add quickly.
TASKS = [
    ("sst2", "accuracy"), ("mnli", "accuracy"), ("qnli", "accuracy"), ("rte", "accuracy"), ("squad", "nf1"),
    ("snli", "accuracy"), ("mwsc", "em"), ("woz", "joint_goal"), ("wnli", "accuracy"), ("qqp", "accuracy"),
]
BACKBONES = [("bert", 4.4e6), ("gpt", 4.2e6), ("xlnet", 5.1e6), ("ernie", 4.4e6), ("elmo", 3.0e6),
             ("ulmfit", 2.5e6), ("transformer", 3.3e6), ("word2vec", 0.8e6)]


def _answer(task: str, i: int) -> tuple[str, str]:
    """The gold answer of example ``i`` of ``task`` and a wrong prediction for it (woz answers are dialogue states)."""
    if task == "woz":
        return f"area: {('north', 'south', 'east')[i % 3]}; ", "area: west; "
    return f"the answer to question {i} of {task} is {i % 7}", f"an answer to question {i} is {(i + 3) % 7}"


def write_synthetic_run(root: Path, index: int, n_tasks: int, n_examples: int, rng: np.random.Generator,
                        backbone: str | None = None, corpus_tasks: int = 0) -> Path:
    """One record.json + predictions.jsonl with random but plausible scores; returns the record path.

    Each stated score and per-example score is what qabench's metric gives on
    the written predictions (``leaderboard add`` scores them again and would
    refuse anything else). The first ``corpus_tasks`` tasks are scored with
    corpus-level BLEU (no per-example scores).
    """
    from tasks.scoring import own_metrics, rescore
    from tasks.types import Example

    name, params = BACKBONES[index % len(BACKBONES)]
    name = backbone or name
    skill = 0.45 + 0.4 * rng.random()
    run_id = f"20261126T{index:06d}Z-{name}-{index:04x}"
    run_dir = root / run_id
    run_dir.mkdir(parents=True)
    tasks, lines = [], []
    for t, (task, headline) in enumerate(TASKS[:n_tasks]):
        headline = "bleu" if t < corpus_tasks else headline
        correct = rng.random(n_examples) < np.clip(skill + 0.2 * rng.standard_normal(), 0.05, 0.98)
        ids = [f"{i // 5}_{i % 5}" for i in range(n_examples)]  # "<dialogue>_<turn>", which the dialogue metrics read
        examples = [{"id": ids[i], "question": f"What is question {i} of {task}?", "context": f"context {i}", "answer": _answer(task, i)[0]}
                    for i in range(n_examples)]
        predictions = [_answer(task, i)[0 if correct[i] else 1] for i in range(n_examples)]
        scored = rescore(own_metrics([headline]), zip(predictions, map(Example.from_dict, examples)))
        lines.extend({"task": task, "id": ids[i], "prediction": predictions[i], "example": examples[i], "scores": scored.example_scores[i]}
                     for i in range(n_examples))
        tasks.append({"name": task, "version": "1", "split": "validation", "fingerprint": f"{task}-validation-v1",
                      "examples": n_examples, "headline": headline, "metrics": scored.metrics,
                      "higher_is_better": {headline: True}})
    record = {
        "schema_version": 1, "run_id": run_id, "created": f"2026-11-26T04:{index // 60 % 60:02d}:{index % 60:02d}+00:00",
        "git_commit": None, "qabench_version": "0.1.0", "config": {"seed": index % 3},
        "model": {"backbone": name, "preset": "small", "parameters": int(params * (1 + 0.1 * rng.random())),
                  "pretrained": None, "pretrained_sha256": None, "pretrain_record": None},
        "head_mode": "typed" if index % 2 else "text",
        "training": {"regime": "multitask", "mixture": ["proportional", "temperature", "round_robin", "anti_curriculum"][index % 4],
                     "steps": 1000, "seed": index % 3},
        "tasks": tasks, "deca_score": sum(t["metrics"][t["headline"]] for t in tasks), "predictions": "predictions.jsonl",
        "timings": {"train_seconds": float(60 + 600 * rng.random()), "eval_seconds": 5.0,
                    "train_examples_per_second": 400.0, "eval_examples_per_second": float(800 + 400 * rng.random())},
        "hardware": {"device": "cpu", "cpu_count": 2, "gpu": None, "torch": "2.13.0", "python": "3.11", "platform": "Linux"},
    }
    with open(run_dir / "predictions.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(line) + "\n" for line in lines)
    (run_dir / "record.json").write_text(json.dumps(record), encoding="utf-8")
    return run_dir / "record.json"


@contextlib.contextmanager
def stated_scores_trusted() -> Iterator[None]:
    """Within: ``add`` takes every stated metric as it stands (as before it scored stored predictions again), for a side-by-side timing."""
    import tasks.scoring

    own_metrics = tasks.scoring.own_metrics
    tasks.scoring.own_metrics = lambda names: ()  # leaderboard.records.check_scores looks it up at each call
    try:
        yield
    finally:
        tasks.scoring.own_metrics = own_metrics


def build_db(db: Path, root: Path, n_runs: int, n_tasks: int, n_examples: int, seed: int = 0) -> tuple[float, float]:
    """Write ``n_runs`` synthetic records and add them to ``db``, and to a second database trusting stated scores.

    Chunks of 100 records go to the two databases in turn, so machine load
    weighs on both alike. Returns the seconds adding took: (scores computed
    again, stated scores trusted).
    """
    from leaderboard.store import add_records

    rng = np.random.default_rng(seed)
    paths = [write_synthetic_run(root, i, n_tasks, n_examples, rng) for i in range(n_runs)]
    rescored = trusted = 0.0
    for chunk in range(0, len(paths), 100):
        start = time.perf_counter()
        add_records(db, paths[chunk : chunk + 100])
        rescored += time.perf_counter() - start
        with stated_scores_trusted():
            start = time.perf_counter()
            add_records(db.with_name("trusted.db"), paths[chunk : chunk + 100])
            trusted += time.perf_counter() - start
    return rescored, trusted


def time_subprocess_show(db: Path, repeats: int = 5) -> tuple[float, bool, int]:
    """Best wall time of ``qabench leaderboard --db DB show`` in a fresh interpreter; torch imported?; output lines."""
    code = (
        "import sys\nfrom harness.cli import main\n"
        "try:\n    main(['leaderboard', '--db', sys.argv[1], 'show'], prog_name='qabench')\n"
        "finally:\n    sys.stderr.write('TORCH=' + str('torch' in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    best, torch_seen, lines = float("inf"), False, 0
    for _ in range(repeats):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code, str(db)], env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if out.returncode != 0:
            raise SystemExit(f"show failed: {out.stderr}")
        best = min(best, elapsed)
        torch_seen |= "TORCH=True" in out.stderr
        lines = len(out.stdout.splitlines())
    return best, torch_seen, lines


def time_in_process_show(db: Path, repeats: int = 5) -> float:
    """Best time of load_board + text formatting inside this process (imports already done)."""
    from leaderboard.store import connection
    from leaderboard.table import load_board, text_frame

    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        with connection(db) as conn:
            board = load_board(conn)
        text_frame(board).to_string(max_colwidth=48)
        best = min(best, time.perf_counter() - start)
    return best


def time_corpus_add(root: Path, n_examples: int) -> tuple[float, float]:
    """Seconds to add one run whose 2 of 10 tasks have a corpus metric (BLEU): (scores computed again, stated scores trusted)."""
    from leaderboard.store import add_record

    rng = np.random.default_rng(1)
    path = write_synthetic_run(root / "corpus", 0, 10, n_examples, rng, corpus_tasks=2)
    start = time.perf_counter()
    add_record(root / "corpus.db", path)
    rescored = time.perf_counter() - start
    with stated_scores_trusted():
        start = time.perf_counter()
        add_record(root / "corpus-trusted.db", path)
        trusted = time.perf_counter() - start
    return rescored, trusted


def main() -> None:
    from _conditions import conditions  # bench/, beside this script

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--examples", type=int, default=200, help="examples per task per run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qabench-bench-") as tmp:
        root = Path(tmp)
        db = root / "leaderboard.db"
        add_seconds, trusted_seconds = build_db(db, root / "runs", args.runs, args.tasks, args.examples)
        size_mb = db.stat().st_size / 1e6
        print(f"database: {args.runs} runs x {args.tasks} tasks x {args.examples} examples, {size_mb:.1f} MB")
        print("add (validation + bootstrap intervals + insert), chunks of 100 to each database in turn:")
        print(f"  {'':<38}{'s in all':>10}{'ms per run':>12}{'ratio':>8}")
        for label, seconds in (("stated scores trusted", trusted_seconds), ("every score computed again", add_seconds)):
            print(f"  {label:<38}{seconds:>10.1f}{1000 * seconds / args.runs:>12.1f}{seconds / trusted_seconds:>8.2f}")
        sub, torch_seen, lines = time_subprocess_show(db)
        print(f"show, fresh `qabench leaderboard show` process (best of 5): {sub:.3f} s for {lines} output lines"
              f" ({'OK' if sub < 1.0 else 'OVER'} the 1 s budget)")
        print(f"show, in process (query + table, best of 5): {time_in_process_show(db):.3f} s")
        print(f"torch imported by show: {torch_seen}")
        rescored, trusted = time_corpus_add(root, args.examples)
        print(f"add one run with 2 BLEU tasks of {args.examples} examples (200 resamples each): {rescored:.2f} s"
              f" (stated scores trusted: {trusted:.2f} s, ratio {rescored / trusted:.2f})")
        print(conditions())
        if torch_seen or sub >= 1.0:
            sys.exit(1)


if __name__ == "__main__":
    main()
