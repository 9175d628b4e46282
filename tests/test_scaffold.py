"""harness.scaffold: what task training and pretraining share (device, processes, optimiser groups, checkpoints)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from harness import atomic, scaffold
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


def test_an_atomic_write_that_fails_leaves_neither_the_file_nor_a_temporary(tmp_path: Path) -> None:
    def fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic.write_atomic(tmp_path / "out.json", fail)
    assert list(tmp_path.iterdir()) == []
    atomic.write_json_atomic(tmp_path / "out.json", {"é": 1})
    assert json.loads((tmp_path / "out.json").read_text(encoding="utf-8")) == {"é": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_checkpoints_round_trip_and_foreign_or_damaged_ones_are_one_line_errors(tmp_path: Path) -> None:
    path = tmp_path / "ckpt" / "last.pt"
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
