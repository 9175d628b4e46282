"""Training throughput, side by side: qabench's trainer against transformers' Trainer.

Both train the same model (the same backbone under the same shared heads,
from the same initial weights) on the same mixture and batch size:

- qabench: ``harness.train.train`` with its proportional mixture, one task per
  batch, length-grouped batches, dynamic padding;
- Trainer: the same features of both tasks pooled into one dataset, with its
  best settings (length-grouped sampling, dynamic padding via the same collate,
  no evaluation, no saving, no logging).

The mixture is sst2 + rte: both answer with the shared choice head, so a
Trainer batch that mixes them is valid and the two loops do the same work.

    python bench/train_throughput.py                       # quickstart data, tiny BERT
    QABENCH_DATA=../shared/data python bench/train_throughput.py --preset small --limit 2000 --steps 60

Prints examples (and padded tokens) per second for each, measured after a\nfew warm-up steps, and their ratio (qabench / Trainer).
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time
from typing import Callable

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="tiny", help="BERT size preset (tiny, small, base)")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--limit", type=int, default=2000, help="training examples per task")
    parser.add_argument("--max-length", type=int, default=128)
    args = parser.parse_args()

    from harness.config import load_config
    from harness.prepare import prepare
    from tasks.data import resolve_data_dir

    mirror = resolve_data_dir()
    overrides = [
        f"tasks=[{{name: sst2, limit: {args.limit}, eval_limit: 8}}, {{name: rte, limit: {args.limit}, eval_limit: 8}}]",
        "model.backbone=bert",
        f"model.preset={args.preset}",
        f"model.max_length={args.max_length}",
        f"optim.steps={args.steps}",
        f"optim.batch_size={args.batch_size}",
        "optim.lr=0.0005",
        "optim.warmup=0.1",
        "output.progress=false",
    ]
    if mirror is not None:
        overrides.append(f"data_dir={mirror}")
    config = load_config(None, overrides)
    prep = prepare(config)
    initial = copy.deepcopy(prep.model.state_dict())
    device = prep.device
    print(f"data: {mirror or 'bundled quickstart sample'}; bert-{args.preset} ({prep.model.backbone.num_parameters():,} parameters); "
          f"rows: {', '.join(f'{s.name} {len(s.features)}' for s in prep.train_sets)}; batch {args.batch_size}; {args.steps} steps; "
          f"device {device}; torch threads {torch.get_num_threads()}")

    warmup = max(3, args.steps // 10)
    # The first loop to run pays for growing the CUDA allocator and picking kernels for each new
    # shape; running qabench again after the Trainer shows both loops warm.
    first = run_qabench(prep, config, warmup, initial)
    trainer = run_trainer(prep, config, args, warmup, initial)
    second = run_qabench(prep, config, warmup, initial)

    print(f"steady state, after {warmup} warm-up steps:")
    for name, (examples, tokens, seconds) in (("qabench (first, cold)", first), ("Trainer", trainer), ("qabench (again, warm)", second)):
        print(f"{name:22s}: {examples / seconds:9.1f} examples/s {tokens / seconds:11.0f} padded tokens/s  ({examples} examples, {tokens} tokens in {seconds:.2f}s)")
    best = max((first, second), key=lambda r: r[0] / r[2])
    print(f"ratio qabench / Trainer: {(best[0] / best[2]) / (trainer[0] / trainer[2]):.2f} in examples/s, "
          f"{(best[1] / best[2]) / (trainer[1] / trainer[2]):.2f} in padded tokens/s (qabench's better run)")


def run_qabench(prep, config, warmup: int, initial: dict) -> tuple[int, int, float]:
    """qabench's own loop, timed and counted by a :class:`Meter`."""
    prep.model.load_state_dict(initial)
    meter = Meter(warmup, prep.device)
    train_counting(prep, config, meter.batch)
    return meter.result()


def train_counting(prep, config, on_batch: Callable[[dict[str, torch.Tensor]], None]) -> None:
    """qabench's own trainer, each task's collate wrapped only to show each training batch to ``on_batch``."""
    import dataclasses

    import harness.train

    class Counting:
        """A task's adapter as the trainer uses it (its columns, its collate), showing each batch it collates."""

        def __init__(self, adapter) -> None:
            self.adapter = adapter
            self.train_columns = adapter.train_columns

        def collate(self, columns: dict, pad_id: int) -> dict[str, torch.Tensor]:
            batch = self.adapter.collate(columns, pad_id)
            on_batch(batch)
            return batch

    train_sets = [dataclasses.replace(s, adapter=Counting(s.adapter)) for s in prep.train_sets]
    harness.train.train(prep.model, train_sets, config, prep.device, prep.pad_id, progress=False)


def run_trainer(prep, config, args: argparse.Namespace, warmup: int, initial: dict) -> tuple[int, int, float]:
    """transformers' Trainer on the same model, from the same weights, over both tasks' features pooled."""
    import datasets
    from transformers import Trainer, TrainingArguments

    from harness.adapters import adapter_for

    prep.model.load_state_dict(initial)
    device = prep.device
    pooled = datasets.concatenate_datasets([s.features.select_columns(["input_ids", "token_type_ids", "choice_spans", "label", "length"]) for s in prep.train_sets])
    task = prep.train_sets[0].name  # both tasks answer with the shared choice head

    class ChoiceModel(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, **batch: torch.Tensor) -> dict[str, torch.Tensor]:
            out = self.model(task, batch)
            return {"loss": out.loss, "logits": out.logits}

    meter = Meter(warmup, device)

    def collator(rows: list[dict]) -> dict[str, torch.Tensor]:
        batch = adapter_for("choice").collate({k: [r[k] for r in rows] for k in rows[0]}, prep.pad_id)
        meter.batch(batch)
        return batch

    # Length-grouped sampling: transformers 5.20+ names it train_sampling_strategy, older ones group_by_length.
    if "train_sampling_strategy" in TrainingArguments.__dataclass_fields__:
        grouping = {"train_sampling_strategy": "group_by_length"}
    else:
        grouping = {"group_by_length": True}
    with tempfile.TemporaryDirectory() as out:
        training_args = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=args.batch_size,
            max_steps=args.steps,
            learning_rate=config.optim.lr,
            weight_decay=config.optim.weight_decay,
            warmup_steps=int(config.optim.warmup * args.steps),
            lr_scheduler_type="linear",
            max_grad_norm=config.optim.clip,
            **grouping,
            length_column_name="length",
            remove_unused_columns=False,
            dataloader_num_workers=0,
            report_to=[],
            save_strategy="no",
            eval_strategy="no",
            logging_strategy="no",
            disable_tqdm=True,
            bf16=device.type == "cuda",
            use_cpu=device.type == "cpu",
            seed=config.seed,
        )
        trainer = Trainer(model=ChoiceModel(prep.model), args=training_args, train_dataset=pooled, data_collator=collator)
        trainer.train()
    return meter.result()


class Meter:
    """Counts the examples and padded tokens of each batch and times the steps after a warm-up.

    The clock starts when the batch after the warm-up is made and stops at
    :meth:`result` (after the last step), so start-up costs of either loop
    (optimizer, sampler, first CUDA kernels) do not count.
    """

    def __init__(self, warmup: int, device: torch.device) -> None:
        self.warmup, self.device = warmup, device
        self.batches = self.examples = self.tokens = 0
        self.started = 0.0

    def batch(self, batch: dict[str, torch.Tensor]) -> None:
        self.batches += 1
        if self.batches == self.warmup + 1:
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            self.started = time.perf_counter()
        if self.batches > self.warmup:
            self.examples += batch["input_ids"].size(0)
            self.tokens += batch["input_ids"].numel()

    def result(self) -> tuple[int, int, float]:
        """(examples, padded tokens, seconds) after the warm-up."""
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return self.examples, self.tokens, time.perf_counter() - self.started


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
