"""harness.scaffold: what task training and pretraining share (device, processes, optimiser groups, checkpoints)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from harness import scaffold
from harness.errors import UserError


def test_auto_device_takes_the_gpu_of_local_rank(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert scaffold.resolve_device("auto") == torch.device("cuda", 3)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert scaffold.resolve_device("auto") == torch.device("cpu")
    assert scaffold.resolve_device("cpu") == torch.device("cpu")


def test_outside_a_process_group_this_is_the_only_and_main_process() -> None:
    assert scaffold.distributed() == (0, 1) and scaffold.is_main_process()


def test_no_weight_decay_on_biases_and_norms() -> None:
    model = nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3))
    decay, no_decay = scaffold.decay_groups(model.parameters(), weight_decay=0.1)
    assert decay["weight_decay"] == 0.1 and [p.shape for p in decay["params"]] == [torch.Size([3, 4])]
    assert no_decay["weight_decay"] == 0.0 and len(no_decay["params"]) == 3  # linear bias, norm weight and bias


def test_bottom_up_groups_put_every_other_parameter_on_top() -> None:
    lower, upper, head = nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 1)
    model = nn.Sequential(lower, upper, head)
    groups = scaffold.bottom_up_groups([list(lower.parameters()), [], list(upper.parameters())], model)
    assert [len(g) for g in groups] == [2, 2, 2]  # the empty group is dropped
    assert groups[-1][0] is head.weight


def test_checkpoints_round_trip_and_foreign_or_damaged_ones_are_one_line_errors(tmp_path: Path) -> None:
    path = tmp_path / "ckpt" / "last.safetensors"
    scaffold.save_checkpoint(path, {"format": "fmt", "version": 2, "step": torch.tensor(7)})
    assert int(scaffold.load_checkpoint(path, "fmt", 2, "training")["step"]) == 7
    with pytest.raises(UserError, match="not a qabench pretraining checkpoint"):
        scaffold.load_checkpoint(path, "other", 2, "pretraining")
    with pytest.raises(UserError, match="checkpoint version 2 is not 3"):
        scaffold.load_checkpoint(path, "fmt", 3, "training")
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(UserError, match="not a readable checkpoint") as caught:
        scaffold.load_checkpoint(path, "fmt", 2, "training")
    assert "\n" not in str(caught.value)


def test_a_checkpoint_resumes_only_the_config_that_wrote_it(tmp_path: Path) -> None:
    saved = {"optim": {"lr": 0.001, "steps": 5}, "seed": 0, "output": {"dir": "a"}}
    scaffold.check_same_config(saved, {**saved, "output": {"dir": "b"}}, ["optim", "seed"], tmp_path)
    with pytest.raises(UserError, match=r"incompatible with this config: optim\.lr was 0\.001 in the checkpoint, is 0\.01 now"):
        scaffold.check_same_config(saved, {**saved, "optim": {"lr": 0.01, "steps": 5}}, ["optim", "seed"], tmp_path)


def _trained_state() -> tuple[nn.Module, torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR, dict]:
    """A module with tied weights after two AdamW steps, its optimiser, scheduler and a checkpoint-like state of all three."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(5, 3), nn.Linear(3, 5))
    model[1].weight = model[0].weight  # tied, as a text head ties its output to the embeddings
    optimizer = scaffold.adamw(scaffold.decay_groups(model.parameters(), 0.01), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 / (1 + step))
    for _ in range(2):
        model(torch.tensor([1, 2, 3])).sum().backward()
        optimizer.step()
        scheduler.step()
    state = {"format": "fmt", "version": 1, "step": 2, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "rng": scaffold.rng_state(), "early_stopping": {"best_score": None, "bad_evals": 0},
             "losses": torch.tensor([0.5, float("nan")], dtype=torch.float64), "loss": float("inf"), "half": torch.ones(2, dtype=torch.bfloat16)}
    return model, optimizer, scheduler, state


def test_a_checkpoint_is_one_safetensors_file_without_pickle_that_gives_every_value_back_exactly(tmp_path: Path) -> None:
    model, optimizer, scheduler, state = _trained_state()
    path = tmp_path / "last.safetensors"
    scaffold.save_checkpoint(path, state)
    assert path.read_bytes()[8:9] == b"{"  # a safetensors header, not a zip or a pickle
    again = scaffold.load_checkpoint(path, "fmt", 1, "training")
    assert again["optimizer"]["param_groups"] == state["optimizer"]["param_groups"]  # int parameter ids, tuple betas, flags
    assert sorted(again["optimizer"]["state"]) == sorted(state["optimizer"]["state"])  # keyed by int, as torch keys it
    for key, tensor in state["optimizer"]["state"][0].items():
        assert torch.equal(again["optimizer"]["state"][0][key], tensor)
    assert again["scheduler"] == state["scheduler"] and again["early_stopping"] == state["early_stopping"]
    assert again["rng"]["python"] == state["rng"]["python"] and torch.equal(again["rng"]["torch"], state["rng"]["torch"])
    torch.testing.assert_close(again["losses"], state["losses"], rtol=0, atol=0, equal_nan=True)  # float64, NaN kept
    assert again["loss"] == float("inf") and again["half"].dtype == torch.bfloat16
    tied = again["model"]
    assert tied["0.weight"] is tied["1.weight"]  # stored once, one tensor again

    # Restoring it continues exactly where the uninterrupted run goes.
    twin, twin_optimizer, twin_scheduler, _ = _trained_state()
    twin.load_state_dict(again["model"])
    twin_optimizer.load_state_dict(again["optimizer"])
    twin_scheduler.load_state_dict(again["scheduler"])
    scaffold.set_rng_state(again["rng"])
    for module, opt, sched in ((model, optimizer, scheduler), (twin, twin_optimizer, twin_scheduler)):
        module(torch.tensor([0, 4])).sum().backward()
        opt.step()
        sched.step()
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), twin.state_dict().values()))


def test_an_older_pickled_checkpoint_is_refused_unread(tmp_path: Path) -> None:
    import os
    import pickle

    class Evil:
        def __reduce__(self) -> tuple:
            return (os.system, (f"touch {tmp_path / 'PWNED'}",))

    legacy = tmp_path / "last.pt"
    torch.save({"format": "fmt", "version": 1}, legacy)
    with pytest.raises(UserError, match=r"^--resume .*last\.pt: a checkpoint of an older qabench, written by torch\.save \(pickle\)"):
        scaffold.load_checkpoint(legacy, "fmt", 1, "training")
    renamed = tmp_path / "renamed.safetensors"  # a pickle is refused by its bytes too, whatever its name
    renamed.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(UserError, match="older qabench"):
        scaffold.load_checkpoint(renamed, "fmt", 1, "training", option="eval")
    assert not (tmp_path / "PWNED").exists()


def test_a_safetensors_file_that_is_not_a_checkpoint_is_named(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "weights.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(UserError, match="not a readable checkpoint .*no 'qabench_state' metadata"):
        scaffold.load_checkpoint(path, "fmt", 1, "training")
    save_file({"w": torch.zeros(2)}, str(path), metadata={"qabench_state": '{"model": {"$tensor": "gone"}}'})
    with pytest.raises(UserError, match="names tensor 'gone', which the file does not hold"):
        scaffold.load_checkpoint(path, "fmt", 1, "training")
