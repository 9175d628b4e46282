"""Cold against warm start, side by side: preparation of a mirror config, and the whole quickstart.

Two jobs, each run in fresh processes, cold and warm in interleaved rounds
(cold then warm, then warm then cold, ...), so drifting load hits both alike:

- ``prepare``: :func:`harness.prepare.prepare` of ``--config`` (default
  ``configs/mirror-word2vec.yaml`` with ``optim.steps=20``), timed as a run
  record's ``prepare_seconds`` is: tasks, examples, model, features;
- ``quickstart``: ``qabench run`` with no arguments, as a user types it, in
  a scratch directory with its own leaderboard; its wall clock from start to
  exit, and the record's preparation, training and evaluation seconds (the
  rest is Python's imports, writing the run and the leaderboard).

*Cold* is an empty ``QABENCH_CACHE`` and ``HF_DATASETS_CACHE`` (examples,
tokenizer, features and datasets' Arrow copies of the data all made anew);
*warm* is a cache that one unmeasured run filled. The table gives medians
over rounds of wall seconds and of the process's CPU seconds (user + system,
less sensitive to other jobs on a shared machine), and the warm/cold ratio
as the median of the per-round ratios. Every warm quickstart must print the
same decaScore as the cold one.

    QABENCH_DATA=../shared/data python bench/warm_start.py
    QABENCH_DATA=../shared/data python bench/warm_start.py --rounds 5 --jobs quickstart --floor
    QABENCH_DATA=../shared/data python bench/warm_start.py --baseline /path/to/other/checkout   # its rows beside this one's

A warm quickstart is a user's second ``qabench run``: the same cache and the
same leaderboard database (``QABENCH_DB``), which the first run created; a
cold one starts with neither.

``--baseline`` runs the same jobs with another checkout of qabench first on
``PYTHONPATH`` (a worktree of an older commit), in the same rounds, the two
checkouts' order alternating from round to round.

``--floor`` also measures, once a round, a process that does only what no
BERT run can skip: start Python, import torch and transformers' BERT
modelling code, exit (with the collector settings qabench uses). Under the
table, each checkout's warm quickstart is split into that floor, training,
evaluation and the rest (qabench's own work and every other import).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _conditions import conditions  # noqa: E402  (bench/, beside this script)

PREPARE = """
import json, sys, time
from harness.config import load_config
from harness.prepare import prepare
config = load_config(sys.argv[1], tuple(sys.argv[2:]))
print(json.dumps({"prepare_seconds": prepare(config).seconds}))
"""

# What every run of a transformers BERT pays before doing anything, at qabench's collector settings (harness.cli.collect_less).
FLOOR = """
import atexit, gc
gc.set_threshold(50_000, 20, 20)
atexit.register(gc.freeze)
import torch
import transformers.models.bert.modeling_bert
"""


@dataclass(frozen=True)
class Measure:
    """One process: wall and CPU seconds from start to exit, and what it reported."""

    wall: float
    cpu: float
    phases: dict[str, float]
    score: str = ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved cold/warm rounds (default 3)")
    parser.add_argument("--jobs", default="prepare,quickstart", help="comma-separated: prepare, quickstart")
    parser.add_argument("--config", default=str(REPO / "configs" / "mirror-word2vec.yaml"), help="the config the prepare job prepares")
    parser.add_argument("--set", dest="overrides", action="append", default=None, help="overrides of the prepare job (default optim.steps=20)")
    parser.add_argument("--baseline", default=None, help="another qabench checkout to measure beside this one")
    parser.add_argument("--nice", type=int, default=0, help="run the measured processes at this niceness")
    parser.add_argument("--floor", action="store_true", help="also measure Python + torch + transformers' BERT modelling imports, once a round")
    args = parser.parse_args()
    overrides = args.overrides or ["optim.steps=20"]
    jobs = [job for job in args.jobs.split(",") if job]
    unknown = sorted(set(jobs) - {"prepare", "quickstart"})
    if unknown:
        parser.error(f"--jobs: unknown job {unknown[0]!r}; the jobs are prepare, quickstart")
    checkouts = {"this": REPO} | ({"baseline": Path(args.baseline).resolve()} if args.baseline else {})
    scratch = Path(tempfile.mkdtemp(prefix="qabench-warm-start-"))
    try:
        warm_caches = {name: scratch / f"warm-{name}" for name in checkouts}
        for name, checkout in checkouts.items():  # fill each warm cache once, unmeasured
            for job in jobs:
                run_job(job, checkout, warm_caches[name], scratch, args, overrides)
        results: dict[tuple[str, str, str], list[Measure]] = {}
        floor: list[Measure] = []
        for round_index in range(args.rounds):
            if args.floor:
                floor.append(run_job("floor", REPO, scratch / "floor", scratch, args, overrides))
            names = list(checkouts) if round_index % 2 == 0 else list(checkouts)[::-1]
            for name in names:
                checkout = checkouts[name]
                for job in jobs:
                    order = ("cold", "warm") if round_index % 2 == 0 else ("warm", "cold")
                    for state in order:
                        cache = warm_caches[name] if state == "warm" else scratch / f"cold-{name}-{job}-{round_index}"
                        results.setdefault((name, job, state), []).append(run_job(job, checkout, cache, scratch, args, overrides))
                        if state == "cold":
                            shutil.rmtree(cache, ignore_errors=True)
        print_table(results, checkouts, jobs, args, overrides)
        if floor:
            print_floor(results, floor, checkouts, jobs)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_job(job: str, checkout: Path, cache: Path, scratch: Path, args: argparse.Namespace, overrides: list[str]) -> Measure:
    """Run one job in a fresh process with ``cache`` as every cache; a failure stops the benchmark with its output."""
    env = {
        **os.environ,
        "PYTHONPATH": str(checkout),
        "QABENCH_CACHE": str(cache / "qabench"),
        "HF_DATASETS_CACHE": str(cache / "datasets"),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
    }
    nice = ["nice", "-n", str(args.nice)] if args.nice else []
    if job == "prepare":
        command = [*nice, sys.executable, "-c", PREPARE, args.config, *overrides]
        cwd = scratch
    elif job == "quickstart":
        cwd = scratch / "quickstart"
        shutil.rmtree(cwd, ignore_errors=True)
        cwd.mkdir()
        env["QABENCH_DB"] = str(cache / "leaderboard.db")  # a warm run's leaderboard is the one the first run made
        command = [*nice, sys.executable, "-c", "import sys; from harness.cli import main; sys.exit(main())", "run"]  # the qabench script
    else:  # the floor
        command = [*nice, sys.executable, "-c", FLOOR]
        cwd = scratch
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"{job} ({checkout}) failed with status {done.returncode}:\n{done.stdout}\n{done.stderr}")
    if job == "floor":
        return Measure(wall, cpu, {})
    if job == "prepare":
        return Measure(wall, cpu, json.loads(done.stdout.strip().splitlines()[-1]))
    record = json.loads(next((cwd / "runs").glob("*/record.json")).read_text())
    timings = record["timings"]
    phases = {"prepare": timings["prepare_seconds"], "train": timings["train_seconds"], "eval": timings["eval_seconds"]}
    score = re.search(r"decaScore ([0-9.]+)", done.stdout)
    return Measure(wall, cpu, phases, score.group(1) if score else "?")


def print_table(results: dict[tuple[str, str, str], list[Measure]], checkouts: dict[str, Path], jobs: list[str], args: argparse.Namespace, overrides: list[str]) -> None:
    """The medians and warm/cold ratios, one row per checkout, job and state."""
    print(conditions())
    print(f"rounds {args.rounds}, interleaved; prepare job: {Path(args.config).name} {' '.join(overrides)}; niceness {args.nice}")
    for name, path in checkouts.items():
        commit = subprocess.run(["git", "-C", str(path), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(path), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
        print(f"checkout {name}: {path} at {commit or '?'}{' (uncommitted changes)' if dirty else ''}")
    header = ["checkout", "job", "state", "wall s", "cpu s", "prepare s", "train s", "eval s", "rest s", "decaScore", "warm/cold wall", "warm/cold cpu", "warm/cold prepare"]
    rows = []
    for name in checkouts:
        for job in jobs:
            cold, warm = results[name, job, "cold"], results[name, job, "warm"]
            for state, runs in (("cold", cold), ("warm", warm)):
                med = {key: statistics.median(m.phases.get(key, float("nan")) for m in runs) for key in ("prepare", "prepare_seconds", "train", "eval")}
                prepare = med["prepare"] if job == "quickstart" else med["prepare_seconds"]
                rest = statistics.median(m.wall - m.phases["prepare"] - m.phases["train"] - m.phases["eval"] for m in runs) if job == "quickstart" else float("nan")
                scores = sorted({m.score for m in runs if m.score})
                ratio = ["", "", ""]
                if state == "warm":
                    ratio = [
                        f"{statistics.median(w.wall / c.wall for w, c in zip(warm, cold)):.3f}",
                        f"{statistics.median(w.cpu / c.cpu for w, c in zip(warm, cold)):.3f}",
                        f"{statistics.median(_prep(w, job) / _prep(c, job) for w, c in zip(warm, cold)):.3f}",
                    ]
                rows.append([
                    name, job, state, f"{statistics.median(m.wall for m in runs):.2f}", f"{statistics.median(m.cpu for m in runs):.2f}",
                    f"{prepare:.2f}", _num(med["train"]), _num(med["eval"]), _num(rest), "/".join(scores) or "-", *ratio,
                ])
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip())
    print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


def print_floor(results: dict[tuple[str, str, str], list[Measure]], floor: list[Measure], checkouts: dict[str, Path], jobs: list[str]) -> None:
    """The floor's medians, and each checkout's warm quickstart split into floor, training, evaluation and the rest."""
    floor_wall, floor_cpu = statistics.median(m.wall for m in floor), statistics.median(m.cpu for m in floor)
    print(f"floor (python, import torch and transformers' BERT modelling, exit): wall {floor_wall:.2f} s, cpu {floor_cpu:.2f} s, median of {len(floor)}")
    if "quickstart" not in jobs:
        return
    for name in checkouts:
        warm = results[name, "quickstart", "warm"]
        wall = statistics.median(m.wall for m in warm)
        train, evaluate = statistics.median(m.phases["train"] for m in warm), statistics.median(m.phases["eval"] for m in warm)
        print(
            f"{name}: warm quickstart {wall:.2f} s wall = floor {floor_wall:.2f} + train {train:.2f} + eval {evaluate:.2f}"
            f" + the rest {wall - floor_wall - train - evaluate:.2f} (medians)"
        )


def _prep(measure: Measure, job: str) -> float:
    return measure.phases["prepare"] if job == "quickstart" else measure.phases["prepare_seconds"]


def _num(value: float) -> str:
    return "-" if value != value else f"{value:.2f}"


if __name__ == "__main__":
    main()
