"""``qabench run``, ``qabench train`` and ``qabench eval``: the benchmark's main job.

``qabench run`` with no config runs the bundled quickstart (four tiny tasks,
a tiny local BERT) offline in about a minute on two CPU cores.

    qabench run                                   # the quickstart
    qabench run my.yaml --set optim.lr=3e-4       # any config, with overrides
    qabench run my.yaml --resume runs/<run_id>    # continue an interrupted run
    qabench train my.yaml && qabench eval runs/<run_id> --split validation
    torchrun --nproc_per_node 2 --no-python qabench run my.yaml   # several GPUs (or CPU processes)
"""

from __future__ import annotations

import os
from typing import Any

import click

from harness.errors import UserError


def _load_plugins(ctx: click.Context) -> None:
    obj = ctx.find_root().obj or {}
    if obj.get("task_dirs") or obj.get("includes"):
        from tasks.registry import load_plugins

        load_plugins(obj.get("task_dirs", ()), obj.get("includes", ()))


def _config(ctx: click.Context, path: str | None, overrides: tuple[str, ...], quiet: bool) -> Any:
    """The run config with ``--set`` overrides, then those the options stand for (``--data-dir``, ``--quiet``)."""
    from harness.cli import option_overrides
    from harness.config import load_config

    return load_config(path, overrides + option_overrides(ctx, quiet))


def _report(outcome: Any) -> None:
    from harness.record import print_table
    from tasks.scoring import zero_shot_note

    print_table(outcome.record)
    for task in outcome.record.tasks:
        if task.zero_shot is not None:
            click.echo(f"warning: {task.name} was not trained: {zero_shot_note(task.zero_shot)}", err=True)
    click.echo(f"record: {outcome.record_path}")
    click.echo(outcome.leaderboard_note)


_set_option = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key, e.g. --set optim.lr=3e-4 (repeatable).")
_resume_option = click.option("--resume", type=click.Path(), default=None, help="Continue from the last checkpoint of this run directory (or checkpoint file).")
_quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bar.")


@click.command()
@click.argument("config", required=False, type=click.Path())
@_set_option
@_resume_option
@_quiet_option
@click.pass_context
def run(ctx: click.Context, config: str | None, overrides: tuple[str, ...], resume: str | None, quiet: bool) -> None:
    """Train, evaluate and record a run; print the per-task table and the record's path.

    Without CONFIG, runs the bundled quickstart (sst2, rte, squad, conll2003
    on tiny samples with a tiny local BERT; offline, about a minute on CPU).
    """
    from harness.runner import run as run_job

    _load_plugins(ctx)
    cfg = _config(ctx, config, overrides, quiet)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, the first process speaks
        click.echo(f"config: {cfg.origin}")
    outcome = run_job(cfg, resume=resume, echo=click.echo)
    if outcome is not None:
        _report(outcome)


@click.command()
@click.argument("config", type=click.Path())
@_set_option
@_resume_option
@_quiet_option
@click.pass_context
def train(ctx: click.Context, config: str, overrides: tuple[str, ...], resume: str | None, quiet: bool) -> None:
    """Train only; the run directory then holds the model for 'qabench eval'."""
    from harness.runner import train_only

    _load_plugins(ctx)
    cfg = _config(ctx, config, overrides, quiet)
    run_dir, result = train_only(cfg, resume=resume)
    click.echo(f"trained {result.steps} steps in {result.seconds:.1f}s ({result.examples_per_second:.0f} examples/s), final loss {result.final_loss:.4f}")
    click.echo(f"run: {run_dir}")


@click.command(name="eval")
@click.argument("run_or_checkpoint", type=click.Path())
@click.option("--tasks", "task_names", default="", help="Comma-separated tasks to evaluate (default: all of the run's; others zero-shot).")
@click.option("--split", default=None, help="Evaluate this split of each task instead of the configured one.")
@click.option("--limit", "eval_limit", type=int, default=None, help="Evaluate N examples per task (a random subset drawn by the run's seed; sets each task's eval_limit).")
@click.option("--out", default=None, type=click.Path(file_okay=False), help="Write the record here (default: the run directory, or a new one beside it).")
@click.option("--suite", "suite_name", default=None, metavar="SUITE", help="Evaluate exactly this suite's protocol (tasks, splits, ids, metrics) instead of the run's tasks.")
@click.option("--no-leaderboard", is_flag=True, help="Write the record only; do not add it to the leaderboard.")
@click.pass_context
def eval_(
    ctx: click.Context, run_or_checkpoint: str, task_names: str, split: str | None, eval_limit: int | None, out: str | None,
    suite_name: str | None, no_leaderboard: bool,
) -> None:
    """Evaluate a trained run directory (or a training checkpoint) and write a run record.

    --tasks may name tasks the run did not train: they are answered zero-shot
    through the head of their format (e.g. wmt14 through the text head of a
    multi30k model).
    """
    from pathlib import Path

    from harness.cli import option_overrides
    from harness.runner import eval_only

    _load_plugins(ctx)
    if not Path(run_or_checkpoint).exists():
        raise UserError(f"eval {run_or_checkpoint}: no such run directory or checkpoint")
    names = [n.strip() for n in task_names.split(",") if n.strip()]
    suite = None
    if suite_name is not None:
        if names or split or eval_limit is not None:
            raise UserError("--suite fixes the tasks, splits and examples; leave out --tasks, --split and --limit")
        from harness.cli.suites_cmd import load_suite_data

        suite = load_suite_data(ctx, suite_name)
    outcome = eval_only(
        run_or_checkpoint, tasks=names, split=split, output=out, eval_limit=eval_limit, overrides=option_overrides(ctx), suite=suite, leaderboard=not no_leaderboard
    )
    _report(outcome)


@click.command()
@click.argument("suite_name", metavar="SUITE")
@click.option("--model", default=None, help="Backbone to build from a size preset (default bert).")
@click.option("--preset", default=None, help="Size preset of --model (default tiny).")
@click.option("--pretrained", default=None, metavar="DIR_OR_ID", help="Start from these pretrained weights (the backbone named by --model, default bert).")
@click.option("--config", "config_path", default=None, type=click.Path(), help="Your own training config; its evaluation is replaced by the suite's.")
@_set_option
@click.option("--run", "run_dir", default=None, type=click.Path(), help="Evaluate this trained run directory instead of training.")
@click.option("--no-leaderboard", is_flag=True, help="Write the record only; do not add it to the leaderboard.")
@_quiet_option
@click.pass_context
def bench(
    ctx: click.Context, suite_name: str, model: str | None, preset: str | None, pretrained: str | None, config_path: str | None,
    overrides: tuple[str, ...], run_dir: str | None, no_leaderboard: bool, quiet: bool,
) -> None:
    """Train by SUITE's protocol (or --config), evaluate exactly SUITE, record it and add it to the leaderboard.

    \b
      qabench bench lecture                                   # bert-tiny by the lecture protocol
      qabench bench lecture --pretrained DIR --set optim.steps=300
      qabench bench glue --config my.yaml                     # your training, the suite's evaluation
      qabench bench lecture --run runs/<run_id>               # score a trained run on the suite
    """
    from pathlib import Path

    from harness.bench import bench as run_bench
    from harness.bench import protocol_config
    from harness.cli import option_overrides
    from harness.cli.suites_cmd import load_suite_data

    _load_plugins(ctx)
    if run_dir is not None:
        if model or preset or pretrained or config_path or overrides:
            raise UserError("--run evaluates a trained run; leave out --model, --preset, --pretrained, --config and --set")
        if not Path(run_dir).exists():
            raise UserError(f"--run {run_dir}: no such run directory")
    suite = load_suite_data(ctx, suite_name)
    config = None
    if run_dir is None:
        config = protocol_config(suite.suite, model, preset, pretrained, config_path, overrides + option_overrides(ctx, quiet))
        click.echo(f"config: {config.origin}")
    outcome = run_bench(suite, config, overrides=option_overrides(ctx), run=run_dir, leaderboard=not no_leaderboard, echo=click.echo)
    _report(outcome)
