"""Training: ULMFiT's recipe, NaN handling, early stopping (that every backbone learns: tests/test_model_contract.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from harness.config import ADAMW_IMPLEMENTATIONS, load_config
from harness.errors import UserError
from harness.prepare import prepare
from harness.scaffold import adamw
from harness.train import (
    LAST_CHECKPOINT,
    SlantedTriangular,
    TrainingDiverged,
    build_optimizer,
    check_compatible,
    layer_groups,
    load_checkpoint,
    resolve_recipe,
    train,
)


def quick_config(tmp_path: Path, *overrides: str):
    """The quickstart's data and tiny BERT, on two tasks and a few examples."""
    return load_config(
        None,
        [
            "tasks=[{name: sst2, train_limit: 16, eval_limit: 8}, {name: conll2003, train_limit: 16, eval_limit: 8}]",
            "optim.batch_size=8",
            "output.progress=false",
            f"output.dir={tmp_path}",
            *overrides,
        ],
    )


def test_ulmfit_recipe_gives_each_layer_group_a_smaller_learning_rate_down_the_stack(tmp_path: Path) -> None:
    prep = prepare(quick_config(tmp_path, "optim.recipe=ulmfit", "optim.lr=0.01"))
    optimizer, scheduler = build_optimizer(prep.model, prep.config.optim, "ulmfit")
    peaks = [g["initial_lr"] for g in optimizer.param_groups]
    assert peaks[-1] == pytest.approx(0.01)  # the heads
    assert [a / b for a, b in zip(peaks[1:], peaks[:-1])] == pytest.approx([2.6] * (len(peaks) - 1))
    assert len(peaks) == len(prep.model.backbone.layer_groups()) + 1
    assert resolve_recipe(prep.config.optim, "ulmfit") == "ulmfit" and resolve_recipe(prep.config.optim, "bert") == "ulmfit"


def test_slanted_triangular_rises_fast_then_decays_slowly() -> None:
    stlr = SlantedTriangular(total=100, cut_frac=0.1, ratio=32)
    lrs = [stlr(t) for t in range(101)]
    assert max(lrs) == lrs[10] == 1.0
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:11])) and all(a >= b for a, b in zip(lrs[10:], lrs[11:]))


def test_gradual_unfreezing_trains_the_top_first(tmp_path: Path) -> None:
    prep = prepare(quick_config(tmp_path, "optim.recipe=ulmfit", "optim.steps=2", "optim.unfreeze_every=100"))
    groups = layer_groups(prep.model)
    before = [[p.detach().clone() for p in g] for g in groups]
    train(prep.model, prep.train_sets, prep.config, prep.device, prep.pad_id, progress=False)
    changed = [any(not torch.equal(p, q) for p, q in zip(g, b)) for g, b in zip(groups, before)]
    assert changed == [False] * (len(groups) - 1) + [True]  # only the heads have moved


def test_nan_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    prep = prepare(quick_config(tmp_path, "optim.steps=20", "optim.lr=1e30", "optim.warmup=0", "output.checkpoint_every=1"))
    with pytest.raises(TrainingDiverged, match=r"diverged at step (\d+) .*: the loss was nan; the last good checkpoint is .*last\.safetensors") as caught:
        train(prep.model, prep.train_sets, prep.config, prep.device, prep.pad_id, checkpoint_dir=tmp_path / "ckpt", progress=False)
    failed_step = int(caught.value.args[0].split(" at step ")[1].split()[0])
    saved = load_checkpoint(tmp_path / "ckpt" / LAST_CHECKPOINT)
    assert saved["step"] == failed_step - 1
    assert all(torch.isfinite(v).all() for v in saved["model"].values() if v.is_floating_point())


def test_early_stopping_stops_after_patience_and_restores_the_best_weights(tmp_path: Path) -> None:
    prep = prepare(quick_config(tmp_path, "optim.steps=50", "eval.every=2", "eval.patience=2"))
    scores = iter([10.0, 30.0, 20.0, 25.0, 99.0])
    snapshots = []

    def fake_validation(model) -> float:
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return next(scores)

    result = train(prep.model, prep.train_sets, prep.config, prep.device, prep.pad_id, evaluate=fake_validation, progress=False)
    assert (result.stopped_early, result.steps, result.best_step, result.best_score) == (True, 8, 4, 30.0)
    assert all(torch.equal(v, snapshots[1][k]) for k, v in prep.model.state_dict().items())


def test_the_recipe_follows_the_backbone_unless_set(tmp_path: Path) -> None:
    optim = dataclasses.replace(quick_config(tmp_path).optim, recipe="auto")
    assert resolve_recipe(optim, "ulmfit") == "ulmfit" and resolve_recipe(optim, "bert") == "adamw"


def test_token_budget_training_keeps_to_the_budget_and_repeats_exactly_under_a_seed(tmp_path: Path) -> None:
    def run() -> tuple[float, list[tuple[str, list[int]]], dict[str, list[int]]]:
        prep = prepare(quick_config(tmp_path, "optim.steps=6", "optim.batch_tokens=512"))
        drawn: list[tuple[str, list[int]]] = []
        result = train(prep.model, prep.train_sets, prep.config, prep.device, prep.pad_id, progress=False, on_batch=lambda task, rows: drawn.append((task, list(rows))))
        return result.final_loss, drawn, {s.name: s.features["length"] for s in prep.train_sets}

    loss, drawn, lengths = run()
    assert all(len(rows) * max(lengths[task][i] for i in rows) <= 512 for task, rows in drawn)
    assert any(len(rows) > 8 for _, rows in drawn)  # short sentences come more than batch_size (8) to a batch
    assert run()[:2] == (loss, drawn)


def test_head_lr_gives_the_heads_their_own_peak_under_the_same_schedule(tmp_path: Path) -> None:
    prep = prepare(quick_config(tmp_path, "optim.lr=1e-4", "optim.head_lr=1e-3", "optim.warmup=0.5", "optim.steps=4"))
    optimizer, scheduler = build_optimizer(prep.model, prep.config.optim, "adamw")
    backbone, heads = {id(p) for p in prep.model.backbone.parameters()}, {id(p) for p in prep.model.heads.parameters()}
    lr_of = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    assert set(lr_of) == backbone | heads  # every parameter once
    assert {lr_of[i] for i in backbone} == {0.0} and {lr_of[i] for i in heads} == {0.0}  # warm-up starts at 0 ...
    for _ in range(2):
        optimizer.step()
        scheduler.step()
    peaks = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    assert sorted({peaks[i] for i in backbone}) == pytest.approx([1e-4]) and sorted({peaks[i] for i in heads}) == pytest.approx([1e-3])  # ... and each peaks at its own
    assert sorted(g["weight_decay"] for g in optimizer.param_groups) == [0.0, 0.0, 0.01, 0.01]  # decay split kept on both sides
    with pytest.raises(UserError, match="optim.head_lr"):
        quick_config(tmp_path, "optim.head_lr=0")
    default, _ = build_optimizer(prep.model, quick_config(tmp_path, "optim.lr=1e-4", "optim.head_lr=1e-4").optim, "adamw")
    assert len(default.param_groups) == 2  # head_lr equal to lr (or unset): one decay / no-decay split, as before


def test_adamw_implementations_agree_and_auto_fuses_where_torch_can(tmp_path: Path) -> None:
    prep = prepare(quick_config(tmp_path))
    optimizer, _ = build_optimizer(prep.model, prep.config.optim, "adamw")
    assert optimizer.defaults["fused"]  # torch 2.13 has a fused AdamW for CPU tensors
    assert [g["weight_decay"] for g in optimizer.param_groups] == [prep.config.optim.weight_decay, 0.0]  # the decay / no-decay split stays
    weights = {}
    for name in ADAMW_IMPLEMENTATIONS:
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 3)
        step = adamw(list(model.parameters()), name, lr=0.01, weight_decay=0.01)
        for _ in range(5):
            model(torch.ones(2, 4)).square().sum().backward()
            step.step()
            step.zero_grad()
        weights[name] = model.weight.detach()
    for name in ADAMW_IMPLEMENTATIONS:
        torch.testing.assert_close(weights[name], weights["single"])


def test_a_checkpoint_from_before_an_option_existed_resumes_with_it_at_its_default(tmp_path: Path) -> None:
    config = quick_config(tmp_path)
    saved = config.to_dict()
    del saved["optim"]["batch_tokens"], saved["optim"]["implementation"]  # written before these options existed
    check_compatible({"config": saved}, config, tmp_path)
    with pytest.raises(UserError, match=r"optim.batch_tokens was 0 in the checkpoint, is 512 now"):
        check_compatible({"config": saved}, dataclasses.replace(config, optim=dataclasses.replace(config.optim, batch_tokens=512)), tmp_path)
