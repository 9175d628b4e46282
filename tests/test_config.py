"""The run config: YAML onto frozen dataclasses, errors that name the key, file and line, --set overrides."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.config import QUICKSTART, RunConfig, from_dict, load_config, parse_config
from harness.errors import UserError


def test_a_config_names_only_what_it_changes() -> None:
    config = parse_config("tasks: [sst2, {name: squad, train_split: validation_a, eval_split: validation_b, train_limit: 50}]\noptim: {steps: 10}")
    assert config.optim.steps == 10 and config.optim.lr == 5e-5
    assert [t.name for t in config.tasks] == ["sst2", "squad"]
    assert (config.tasks[1].train_split, config.tasks[1].eval_split, config.tasks[1].train_limit) == ("validation_a", "validation_b", 50)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 3  # type: ignore[misc]


def test_the_quickstart_config_loads_and_finds_its_bundled_data() -> None:
    config = load_config()
    assert config.origin == str(QUICKSTART)
    assert Path(config.data_dir, "nyu-mll", "glue", "sst2", "train.jsonl").is_file()


def test_unknown_keys_name_the_key_the_file_and_the_line(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("tasks: [sst2]\nmodel:\n  backbone: bert\n  presett: tiny\n")
    with pytest.raises(UserError, match=rf"config {path}:4: unknown key 'model.presett'; did you mean 'preset'\?"):
        load_config(path)


def test_bad_values_name_the_key() -> None:
    with pytest.raises(UserError, match=r"inline:2: optim.steps must be int, got str 'ten'"):
        parse_config("tasks: [sst2]\noptim: {steps: ten}", origin="inline")
    with pytest.raises(UserError, match=r"mixture.strategy must be one of proportional"):
        parse_config("tasks: [sst2]\nmixture: {strategy: random}")
    with pytest.raises(UserError, match=r"no tasks"):
        parse_config("seed: 1")


def test_set_overrides_keys_lists_and_list_items() -> None:
    config = parse_config(
        "tasks: [sst2, rte]\noptim: {lr: 1.0}",
        overrides=["optim.lr=3e-4", "tasks.1.train_limit=5", "model.pretrained=some/dir", "heads.task_specific=true"],
    )
    assert config.optim.lr == 3e-4 and config.tasks[1].train_limit == 5
    assert config.model.pretrained == "some/dir" and config.heads.task_specific is True
    assert [t.name for t in parse_config("tasks: [sst2]", overrides=["tasks=[rte, squad]"]).tasks] == ["rte", "squad"]


def test_a_bad_override_names_the_set_option() -> None:
    with pytest.raises(UserError, match=r"\(--set optim.batch_size\): optim.batch_size must be int"):
        parse_config("tasks: [sst2]", origin="run.yaml", overrides=["optim.batch_size=big"])
    with pytest.raises(UserError, match="expected KEY=VALUE"):
        parse_config("tasks: [sst2]", overrides=["optim.lr"])


def test_to_dict_and_from_dict_round_trip() -> None:
    config = parse_config("tasks: [sst2, {name: rte, train_limit: 3}]\nseed: 4")
    again = from_dict(config.to_dict())
    assert isinstance(again, RunConfig) and again == config


def test_a_task_limit_samples_at_random_by_the_run_seed_unless_told_first() -> None:
    from harness.prepare import resolve_tasks

    config = parse_config("seed: 7\ntasks: [{name: sst2, train_limit: 50}, {name: rte, train_limit: 5, sample: first}]")
    sst2, rte = resolve_tasks(config)
    assert (sst2.train_limit, sst2.sample_seed) == (50, 7)
    assert (rte.train_limit, rte.sample_seed) == (5, None)
    with pytest.raises(UserError, match=r"run.yaml:1.*sample must be one of random, first"):
        parse_config("tasks: [{name: sst2, train_limit: 5, sample: head}]", origin="run.yaml")


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads_and_names_registered_tasks(path: Path) -> None:
    from harness.prepare import resolve_tasks

    config = load_config(str(path), [])
    assert [t.task.name for t in resolve_tasks(config)] == [t.name for t in config.tasks]


def test_the_old_limit_keys_read_as_their_new_names() -> None:
    config = parse_config("tasks: [{name: sst2, limit: 50, eval_limit: 8}]\neval: {limit: 4}")
    assert (config.tasks[0].train_limit, config.tasks[0].eval_limit, config.eval.periodic_limit) == (50, 8, 4)
    with pytest.raises(UserError, match=r"run.yaml:1: 'tasks.0.limit' is the old name of 'train_limit'; give only 'train_limit'"):
        parse_config("tasks: [{name: sst2, limit: 50, train_limit: 8}]", origin="run.yaml")
