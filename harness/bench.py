"""``qabench bench SUITE``: train a model by the suite's protocol (or a user's config) and evaluate exactly the suite.

The training config comes from the suite's training protocol (its tasks,
mixture, steps, batch and learning rate) for ``--model``/``--preset`` or
``--pretrained``, or from the user's own ``--config`` file; ``--set``
overrides either. Evaluation is never the config's: it is the suite's tasks,
splits, example ids and metric variant, and the record carries the suite's
name, version and fingerprint.

>>> # outcome = bench(suite_data, protocol_config(suite_data.suite, model="bert", preset="tiny"))
>>> # outcome.record.suite.fingerprint
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable, Sequence

import yaml

from harness.config import RunConfig, load_config, parse_config
from harness.errors import UserError
from harness.prepare import prepare
from harness.runner import RunOutcome, eval_only, evaluate_run, new_run_dir, train_run
from tasks.suite import Suite, SuiteData


def protocol_config(
    suite: Suite,
    model: str | None = None,
    preset: str | None = None,
    pretrained: str | None = None,
    config_path: str | None = None,
    overrides: Sequence[str] = (),
) -> RunConfig:
    """The training config of a bench run: the user's ``config_path``, else the suite's protocol for the model named."""
    if config_path is not None:
        if model or preset or pretrained:
            raise UserError("--config: give the model in the config file, not also with --model/--preset/--pretrained")
        return load_config(config_path, overrides)
    protocol = suite.training
    tasks: list[dict[str, Any]] = []
    for item in protocol.tasks:
        entry: dict[str, Any] = {"name": item.name}
        if item.train_split:
            entry["train_split"] = item.train_split
        if protocol.train_limit:
            entry["train_limit"] = protocol.train_limit
        tasks.append(entry)
    data: dict[str, Any] = {
        "model": {"backbone": model or "bert", "preset": preset or "tiny", **({"pretrained": pretrained} if pretrained else {})},
        "tasks": tasks,
        "mixture": {"strategy": protocol.mixture},
        "optim": {
            "steps": protocol.steps, "batch_size": protocol.batch_size, "warmup": protocol.warmup,
            "lr": protocol.pretrained_lr if pretrained else protocol.lr,
        },
    }
    if suite.data_dir:
        data["data_dir"] = suite.data_dir
    return parse_config(yaml.safe_dump(data, sort_keys=False), origin=f"suite {suite.name} training protocol", overrides=overrides)


def bench(
    suite: SuiteData,
    config: RunConfig | None = None,
    overrides: Sequence[str] = (),
    run: str | None = None,
    leaderboard: bool = True,
    echo: Callable[[str], None] = print,
) -> RunOutcome:
    """Train by ``config`` and evaluate the suite's protocol; with ``run``, evaluate that trained run instead (``overrides`` changing its saved config)."""
    if run is not None:
        return eval_only(run, overrides=overrides, suite=suite, leaderboard=leaderboard)
    if config is None:
        raise UserError("bench: give a model (--model, --pretrained or --config) or a trained run (--run)")
    if not leaderboard:
        import dataclasses

        config = dataclasses.replace(config, output=dataclasses.replace(config.output, leaderboard=False))
    created = datetime.now(timezone.utc)
    run_id, run_dir = new_run_dir(config, created)
    echo(f"run: {run_dir}")
    prep = prepare(config, suite=suite)
    result = train_run(prep, run_dir)
    return evaluate_run(prep, run_dir, run_id, created, result, suite=suite)
