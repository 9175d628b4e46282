"""Multitask training: one shared backbone, one head per format, one task per batch (MT-DNN).

AdamW with warm-up then linear decay (or ULMFiT's recipe: discriminative
learning rates per layer group, the slanted triangular schedule, gradual
unfreezing), gradient clipping and accumulation, bf16 autocast on CUDA,
resumable checkpoints written atomically, early stopping on the validation
decaScore, a progress bar, and several processes through torch.distributed
(launch with ``torchrun`` or ``accelerate launch``; every process draws the
same task and its own batches, DDP averages the gradients).

On CPU a run resumed from a checkpoint is bit-for-bit the run that was not
interrupted: the checkpoint holds the model, optimizer, scheduler, every RNG
state, the step, the mixture's position and the early-stopping state.

>>> # result = train(model, train_sets, config, device, pad_id, checkpoint_dir=run_dir / "checkpoints")
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import datasets
import torch
from torch import nn
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from harness import scaffold
from harness.adapters import AnswerAdapter
from harness.config import HeadsConfig, MixtureConfig, ModelConfig, OptimConfig, RunConfig
from harness.curves import CurveLog
from harness.errors import UserError
from harness.mixtures import Mixture
from harness.scaffold import adamw, autocast, bottom_up_groups, check_same_config, decay_groups, distributed, rng_state, save_checkpoint, set_rng_state
from models.heads import MultiTaskModel

CHECKPOINT_FORMAT = "qabench-train-checkpoint"
CHECKPOINT_VERSION = 1
LAST_CHECKPOINT = "last.safetensors"  # harness.checkpoint_file: no pickle
LEGACY_CHECKPOINT = "last.pt"  # an earlier qabench's torch.save checkpoint: found, so that it is refused by name

# Config sections a resumed run must share with its checkpoint (output, eval and paths may change).
RESUME_MUST_MATCH = ("model", "heads", "tasks", "mixture", "optim", "seed")
CHECK_EVERY = 25  # on GPU, steps between reads of the loss (each read waits for the GPU)


class TrainingDiverged(UserError):
    """The loss became NaN or infinite; the message names the step and the last good checkpoint."""


def diverged_value(loss: float, norm: float) -> str:
    """Which value stopped being finite: the loss, or (with a finite loss) the gradient norm.

    >>> diverged_value(float("nan"), float("nan")), diverged_value(2.5, float("inf"))
    ('the loss was nan', 'the gradient norm was inf (loss 2.5)')
    """
    return f"the loss was {loss}" if not math.isfinite(loss) else f"the gradient norm was {norm} (loss {loss:.4g})"


@dataclass(frozen=True)
class TrainSet:
    """One task's training features (rows are windows)."""

    name: str
    adapter: AnswerAdapter  # the answer format of the task's head: its columns and batches
    features: datasets.Dataset


@dataclass(frozen=True)
class TrainResult:
    """What training did, for the run record (examples and rates are this process's)."""

    steps: int
    seconds: float
    examples: int
    examples_per_second: float
    final_loss: float
    tokens_per_second: float = 0.0  # non-padding input tokens this process trained on, per second
    best_step: int | None = None
    best_score: float | None = None
    stopped_early: bool = False
    resumed_from_step: int | None = None


def resolve_recipe(optim: OptimConfig, backbone: str) -> str:
    """``adamw`` or ``ulmfit``; ``auto`` means ULMFiT's recipe for the ulmfit backbone."""
    if optim.recipe == "auto":
        return "ulmfit" if backbone == "ulmfit" else "adamw"
    return optim.recipe


# --- optimizer and schedule ------------------------------------------------------------------------------------------


def layer_groups(model: MultiTaskModel) -> list[list[nn.Parameter]]:
    """Bottom-up parameter groups: the backbone's own groups, then the heads on top."""
    return bottom_up_groups(model.backbone.layer_groups(), model)


def build_optimizer(model: MultiTaskModel, optim: OptimConfig, recipe: str) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW and its schedule.

    ``adamw``: no weight decay on biases and norms; linear warm-up over
    ``optim.warmup`` of the steps, then linear decay to 0; the heads peak at
    ``optim.head_lr`` where it is set, the backbone at ``optim.lr``. ``ulmfit``: one
    parameter group per layer group, group ``i`` of ``n`` at
    ``lr / lr_decay ** (n - 1 - i)``, under the slanted triangular schedule.
    """
    if recipe == "ulmfit":
        groups = layer_groups(model)
        params = [{"params": g, "lr": optim.lr / optim.lr_decay ** (len(groups) - 1 - i)} for i, g in enumerate(groups)]
        optimizer = adamw(params, optim.implementation, lr=optim.lr, weight_decay=optim.weight_decay)
        return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, SlantedTriangular(optim.steps, optim.cut_frac, optim.ratio))
    if optim.head_lr is None or optim.head_lr == optim.lr:
        groups = decay_groups(model.parameters(), optim.weight_decay)
    else:
        groups = decay_groups(model.backbone.parameters(), optim.weight_decay)
        groups += [group | {"lr": optim.head_lr} for group in decay_groups(model.heads.parameters(), optim.weight_decay)]
    optimizer = adamw(groups, optim.implementation, lr=optim.lr)
    warmup = int(round(optim.warmup * optim.steps))
    return optimizer, get_linear_schedule_with_warmup(optimizer, warmup, optim.steps)


@dataclass(frozen=True)
class SlantedTriangular:
    """ULMFiT's slanted triangular learning-rate multiplier (Howard and Ruder 2018, eq. 3).

    >>> stlr = SlantedTriangular(total=100, cut_frac=0.1, ratio=32)
    >>> round(stlr(0), 4), stlr(10), round(stlr(100), 4)
    (0.0312, 1.0, 0.0312)
    """

    total: int
    cut_frac: float = 0.1
    ratio: float = 32.0

    def __call__(self, step: int) -> float:
        cut = max(1, math.floor(self.total * self.cut_frac))
        if step < cut:
            p = step / cut
        else:
            p = max(0.0, 1 - (step - cut) / max(1, cut * (1 / self.cut_frac - 1)))
        return (1 + p * (self.ratio - 1)) / self.ratio


def unfrozen_groups(step: int, n_groups: int, every: int) -> int:
    """Gradual unfreezing: how many layer groups, counted from the top, train at ``step``.

    >>> [unfrozen_groups(s, 3, 10) for s in (0, 9, 10, 25)]
    [1, 1, 2, 3]
    """
    return min(n_groups, 1 + step // max(1, every))


# --- checkpoints -----------------------------------------------------------------------------------------------------


def find_checkpoint(path: str | os.PathLike[str], option: str = "--resume") -> Path:
    """The checkpoint file of ``--resume PATH``: a run directory, its checkpoints folder, or a file.

    ``option`` is what error messages name (``qabench eval`` passes ``eval``).
    """
    path = Path(path)
    for candidate in (path, *(folder / name for name in (LAST_CHECKPOINT, LEGACY_CHECKPOINT) for folder in (path, path / "checkpoints"))):
        if candidate.is_file():
            return candidate
    if option == "--resume":
        raise UserError(f"--resume {path}: no checkpoint there (looked for {path / 'checkpoints' / LAST_CHECKPOINT}); set output.checkpoint_every to write one")
    raise UserError(f"{option} {path}: neither a finished run directory (no model/) nor a training checkpoint (no checkpoints/{LAST_CHECKPOINT})")


def load_checkpoint(path: Path, option: str = "--resume") -> dict[str, Any]:
    """Read a training checkpoint; anything unreadable or foreign is a one-line :class:`UserError` naming ``option`` and the file."""
    return scaffold.load_checkpoint(path, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, "training", option)


def with_later_defaults(saved: Mapping[str, Any], config: RunConfig) -> dict[str, Any]:
    """A checkpoint's config with the keys added to its sections since it was written (``optim.batch_tokens``, ...) at their defaults.

    A run checkpointed by an older qabench then resumes as long as it left
    the new options at their defaults, which is what it ran with.
    """
    defaults = dataclasses.replace(config, model=ModelConfig(), heads=HeadsConfig(), mixture=MixtureConfig(), optim=OptimConfig()).to_dict()
    return {key: {**defaults[key], **value} if isinstance(value, dict) and isinstance(defaults.get(key), dict) else value for key, value in saved.items()}


def check_compatible(state: Mapping[str, Any], config: RunConfig, path: Path) -> None:
    """A checkpoint resumes only the run that wrote it: the same model, heads, tasks, mixture, optimisation and seed."""
    check_same_config(with_later_defaults(state["config"], config), config.to_dict(), RESUME_MUST_MATCH, path)


# --- the loop --------------------------------------------------------------------------------------------------------


def _to_device(batch: Mapping[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Move a batch to the GPU through pinned memory, so the copy does not wait for the GPU; on CPU, as is."""
    if device.type != "cuda":
        return dict(batch)
    return {k: v.pin_memory().to(device, non_blocking=True) for k, v in batch.items()}


def training_mixture(train_sets: Sequence[TrainSet], config: RunConfig, rank: int = 0, world_size: int = 1) -> Mixture:
    """The mixture :func:`train` draws its batches from: ``(task, rows)`` of every micro-step, a pure function of the config.

    ``bench/train_throughput.py`` draws the same plan to replay it through another trainer.
    """
    optim = config.optim
    return Mixture(
        [s.name for s in train_sets],
        [s.features["length"] for s in train_sets],
        optim.batch_size,
        strategy=config.mixture.strategy,
        temperature=config.mixture.temperature,
        first_task=config.mixture.first_task,
        first_steps=config.mixture.first_steps * optim.accumulate,
        then=config.mixture.then,
        seed=config.seed,
        rank=rank,
        world_size=world_size,
        batch_tokens=optim.batch_tokens,
        group_by_length=optim.group_by_length,
    )


def train(
    model: MultiTaskModel,
    train_sets: Sequence[TrainSet],
    config: RunConfig,
    device: torch.device,
    pad_id: int,
    checkpoint_dir: Path | None = None,
    evaluate: Callable[[MultiTaskModel], float] | None = None,
    resume: Path | None = None,
    progress: bool = True,
    curves: CurveLog | None = None,
    on_batch: Callable[[str, Sequence[int]], None] | None = None,
) -> TrainResult:
    """Train ``model`` on the mixture of ``train_sets`` for ``config.optim.steps`` optimizer steps.

    ``evaluate(model) -> decaScore`` runs every ``config.eval.every`` steps;
    with ``config.eval.patience`` training stops after that many evaluations
    without improvement, and the best weights are restored at the end.
    ``resume`` names a checkpoint written by an earlier, interrupted call.
    ``curves`` (main process only) receives every micro-batch's loss by task.
    ``on_batch(task, rows)`` sees the task and feature rows of every batch
    trained on (``bench/parity.py`` checks which examples each side saw).
    """
    optim = config.optim
    rank, world_size = distributed()
    recipe = resolve_recipe(optim, config.model.backbone)
    adapters = {s.name: s.adapter for s in train_sets}
    columns = {s.name: s.features.select_columns(list(s.adapter.train_columns)) for s in train_sets}
    mixture = training_mixture(train_sets, config, rank, world_size)
    optimizer, scheduler = build_optimizer(model, optim, recipe)
    groups = layer_groups(model) if recipe == "ulmfit" else []
    unfreeze_every = optim.unfreeze_every or max(1, optim.steps // max(1, len(groups)))
    early = {"best_score": None, "best_step": None, "bad_evals": 0, "best_model": None}
    step, examples, resumed_from = 0, 0, None

    if resume is not None:
        state = load_checkpoint(resume)
        check_compatible(state, config, resume)
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as err:
            raise UserError(f"--resume {resume}: weights do not fit this model ({str(err).splitlines()[0]})") from None
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        mixture.load_state_dict(state["mixture"])
        set_rng_state(state["rng"])
        early = dict(state["early_stopping"])
        step, examples, resumed_from = int(state["step"]), int(state["examples"]), int(state["step"])

    net: nn.Module = model
    if world_size > 1:
        net = nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
    model.train()
    last_checkpoint = resume
    started = time.perf_counter()
    start_examples = examples
    tokens = torch.zeros((), dtype=torch.long, device=device)  # non-padding input tokens, summed on the device (no sync per step)
    bar = tqdm(total=optim.steps, initial=step, disable=not progress or rank != 0, desc="train", unit="step", dynamic_ncols=True)
    loss_value = float("nan")
    stopped_early = False
    # A host sync per step would cost a GPU its lead over the CPU, so there the loss is read and
    # checked every CHECK_EVERY steps (and before every checkpoint and evaluation); on CPU, every step.
    check_every = 1 if device.type == "cpu" else CHECK_EVERY
    first_bad = torch.zeros((), dtype=torch.long, device=device)  # first step whose loss or gradients were not finite; 0: none
    bad_values = torch.zeros(2, device=device)  # the loss and the gradient norm at that step
    tasks_since_check: dict[int, str] = {}
    while step < optim.steps:
        loss_sum = torch.zeros((), device=device)
        for micro in range(optim.accumulate):
            task, rows = mixture.next()
            if on_batch is not None:
                on_batch(task, rows)
            batch = _to_device(adapters[task].collate(columns[task][rows], pad_id), device)
            sync = micro == optim.accumulate - 1 or world_size == 1
            with (contextlib.nullcontext() if sync else net.no_sync()), autocast(device):
                out = net(task, batch)
            (out.loss / optim.accumulate).backward()
            loss_sum += out.loss.detach().float()
            if curves is not None:
                curves.add_loss(task, out.loss)
            examples += len(rows)
            tokens += batch["attention_mask"].sum()
        if groups:  # gradual unfreezing: lower groups keep their weights until their turn
            for group in groups[: len(groups) - unfrozen_groups(step, len(groups), unfreeze_every)]:
                for p in group:
                    p.grad = None
        norm = nn.utils.clip_grad_norm_(model.parameters(), optim.clip if optim.clip > 0 else float("inf"))
        finite = torch.isfinite(loss_sum) & torch.isfinite(norm)
        newly_bad = ~finite & (first_bad == 0)
        bad_values = torch.where(newly_bad, torch.stack([loss_sum / optim.accumulate, norm.float()]), bad_values)
        first_bad = torch.where(finite | (first_bad > 0), first_bad, torch.full_like(first_bad, step + 1))
        tasks_since_check[step + 1] = task
        next_step = step + 1
        will_evaluate = evaluate is not None and config.eval.every and next_step % config.eval.every == 0
        will_save = checkpoint_dir is not None and config.output.checkpoint_every and (next_step % config.output.checkpoint_every == 0 or next_step == optim.steps)
        if next_step % check_every == 0 or next_step == optim.steps or will_evaluate or will_save:
            bad_step = int(first_bad.item())
            loss_value = (loss_sum / optim.accumulate).item()
            if bad_step:
                where = f"the last good checkpoint is {last_checkpoint}" if last_checkpoint else "no checkpoint was written (set output.checkpoint_every)"
                raise TrainingDiverged(f"training diverged at step {bad_step} (task {tasks_since_check[bad_step]}): {diverged_value(*bad_values.tolist())}; {where}; try a lower optim.lr")
            tasks_since_check.clear()
            elapsed = time.perf_counter() - started
            bar.set_postfix(loss=f"{loss_value:.4f}", ex_s=f"{(examples - start_examples) / max(elapsed, 1e-9):.0f}", refresh=False)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        bar.update(1)
        if curves is not None:
            curves.step_done(step)

        if evaluate is not None and config.eval.every and step % config.eval.every == 0:
            score = evaluate(model)
            model.train()
            if early["best_score"] is None or score > early["best_score"]:
                early.update(best_score=score, best_step=step, bad_evals=0, best_model=_cpu_copy(model.state_dict()))
            else:
                early["bad_evals"] += 1
            if rank == 0 and progress:
                bar.write(f"step {step}: decaScore {score:.2f} (best {early['best_score']:.2f} at step {early['best_step']})")
            stopped_early = bool(config.eval.patience) and early["bad_evals"] >= config.eval.patience

        if checkpoint_dir is not None and config.output.checkpoint_every and (step % config.output.checkpoint_every == 0 or step == optim.steps):
            if rank == 0:
                last_checkpoint = checkpoint_dir / LAST_CHECKPOINT
                save_checkpoint(
                    last_checkpoint,
                    {
                        "format": CHECKPOINT_FORMAT,
                        "version": CHECKPOINT_VERSION,
                        "step": step,
                        "examples": examples,
                        "config": config.to_dict(),
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "mixture": mixture.state_dict(),
                        "rng": rng_state(),
                        "early_stopping": early,
                    },
                )
            if world_size > 1:
                torch.distributed.barrier()
        if stopped_early:
            break
    bar.close()
    if early["best_model"] is not None:
        model.load_state_dict(early["best_model"])
    seconds = time.perf_counter() - started
    seen = examples - start_examples
    return TrainResult(
        steps=step,
        seconds=seconds,
        examples=examples,
        examples_per_second=seen / seconds if seconds > 0 else 0.0,
        final_loss=loss_value,
        tokens_per_second=int(tokens.item()) / seconds if seconds > 0 else 0.0,
        best_step=early["best_step"],
        best_score=early["best_score"],
        stopped_early=stopped_early,
        resumed_from_step=resumed_from,
    )


def _cpu_copy(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}

