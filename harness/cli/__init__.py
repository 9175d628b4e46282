"""The ``qabench`` command line.

Sub-commands live in their own modules and are imported only when used, so
``qabench tasks list`` and ``qabench leaderboard show`` never import torch.
Errors a user can cause carry ``qabench_user_error = True`` (see
harness/errors.py) and are printed as one line with exit status 2.
"""

from __future__ import annotations

import atexit
import functools
import gc
import importlib
import json
import sys
from pathlib import Path
from typing import Any

import click

from catalog import did_you_mean
from harness import __version__

# command name -> (module, attribute, one-line help); imported on first use.
_LAZY: dict[str, tuple[str, str, str]] = {
    "tasks": ("harness.cli.tasks_cmd", "tasks", "Browse and check the registered tasks."),
    "models": ("harness.cli.models_cmd", "models", "Browse the registered backbones and their presets."),
    "run": ("harness.cli.run_cmd", "run", "Train, evaluate and record a run (default: the quickstart)."),
    "train": ("harness.cli.run_cmd", "train", "Train from a config and save a checkpoint."),
    "eval": ("harness.cli.run_cmd", "eval_", "Evaluate a run or checkpoint and record the scores."),
    "pretrain": ("harness.cli.pretrain_cmd", "pretrain", "Pretrain a backbone with its own objective on a corpus."),
    "leaderboard": ("harness.cli.leaderboard_cmd", "leaderboard", "Compare runs: tables, paired tests, reports."),
    "suites": ("harness.cli.suites_cmd", "suites", "Benchmark suites: list, show, export their inputs."),
    "score": ("harness.cli.suites_cmd", "score", "Score a system built elsewhere on a suite and record it."),
    "bench": ("harness.cli.run_cmd", "bench", "Train and evaluate a model on a suite's exact protocol."),
}


GC_THRESHOLDS = (50_000, 20, 20)
"""The cyclic collector's thresholds in a qabench process (Python's default is (700, 10, 10))."""


def collect_less() -> None:
    """Keep Python's cyclic garbage collector from walking, again and again, the objects that imports leave.

    Importing torch and transformers makes about 500,000 objects that live as
    long as the process. At the default thresholds, a collection runs every
    700 allocations and a full one, which walks all of them, every 70,000: the
    warm quickstart spent 0.8 s of its 12 s in seven full collections during
    its imports, and about 1 s more at exit, when the interpreter walks every
    object once more before the operating system takes the memory back anyway.
    Here a collection runs every 50,000 allocations and a full one more rarely
    (``GC_THRESHOLDS``); cycles are still freed, only later, and memory freed
    by reference counts (nearly all of it) is not affected. At exit, every
    object is frozen (``gc.freeze``) after the other exit handlers have run,
    so that last walk is skipped. Nothing that a run computes depends on when
    cycles are collected.

    Only raises the thresholds (a process that set higher ones keeps them);
    the exit handler is registered once per process.
    """
    if gc.get_threshold()[0] < GC_THRESHOLDS[0]:
        gc.set_threshold(*GC_THRESHOLDS)
    _freeze_at_exit()


@functools.cache
def _freeze_at_exit() -> None:
    """Register ``gc.freeze`` to run at exit, once per process (exit handlers run last-registered first: this one runs late)."""
    atexit.register(gc.freeze)


class OneLineUsageError(click.ClickException):
    """A click usage error printed as one line (click prints the usage and a hint on three), exit status 2."""

    exit_code = 2

    def __init__(self, err: click.UsageError) -> None:
        super().__init__(err.format_message())
        self.command_path = err.ctx.command_path if err.ctx is not None else "qabench"

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()} (see '{self.command_path} --help')", err=True)


def data_dir_option(ctx: click.Context) -> str | None:
    """The global ``--data-dir`` as an absolute path; None when the command line does not give it.

    One rule for every command: ``--data-dir`` overrides the data directory
    of the command's config (``run``, ``train`` and ``eval``: as ``--set
    data_dir=DIR`` on the run's config; ``pretrain`` and ``tasks``: they have
    no config file, so it is theirs); without it, the config's ``data_dir``
    applies, then ``$QABENCH_DATA`` (``tasks.data.resolve_data_dir``).
    """
    value = (ctx.find_root().obj or {}).get("data_dir")
    return str(Path(value).resolve()) if value else None


def option_overrides(ctx: click.Context, quiet: bool = False) -> tuple[str, ...]:
    """The ``--set`` overrides that command-line options stand for: ``--data-dir DIR`` and ``--quiet`` (``output.progress=false``)."""
    items = []
    data_dir = data_dir_option(ctx)
    if data_dir is not None:
        items.append(f"data_dir={json.dumps(data_dir)}")  # a JSON string is YAML, whatever the path's characters
    if quiet:
        items.append("output.progress=false")
    return tuple(items)


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported on first use; every usage error is one line."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        collect_less()  # before any sub-command imports torch
        return super().main(*args, **kwargs)

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as err:
            raise OneLineUsageError(err) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_LAZY))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in _LAZY:
            module, attr, _ = _LAZY[name]
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help text comes from the table, so ``qabench --help`` imports no sub-command (nor torch).
        rows = [(name, _LAZY[name][2]) for name in _LAZY]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as err:
            if args and not args[0].startswith("-"):
                hint = did_you_mean(args[0], self.list_commands(ctx))
                if hint:
                    raise click.UsageError(f"no such command {args[0]!r}; {hint}", ctx) from err
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as err:  # a sub-command's options or arguments
            raise OneLineUsageError(err) from None
        except Exception as err:  # noqa: BLE001 - only user errors are caught, see below
            if not getattr(err, "qabench_user_error", False):
                raise
            click.echo(f"error: {err}", err=True)
            ctx.exit(2)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="qabench")
@click.option(
    "--data-dir",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Local mirror laid out as <hub_id>/<config>/<split>.jsonl; overrides a config's data_dir (default: the config's, then $QABENCH_DATA).",
)
@click.option("--task-dir", "task_dirs", multiple=True, type=click.Path(), help="A zero-code task: a directory of train/validation JSONL {question, context, answer}. Repeatable.")
@click.option("--include", "includes", multiple=True, type=click.Path(), help="A Python file that registers tasks. Repeatable.")
@click.pass_context
def main(ctx: click.Context, data_dir: str | None, task_dirs: tuple[str, ...], includes: tuple[str, ...]) -> None:
    """qabench: every NLP task as question answering, every model as one backbone under shared heads."""
    ctx.ensure_object(dict)
    ctx.obj["data_dir"] = data_dir
    ctx.obj["task_dirs"] = task_dirs
    ctx.obj["includes"] = includes


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(prog_name="qabench"))
