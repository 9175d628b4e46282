"""``qabench tasks list | show | validate``: browse and check the task registry.

Imports only click and tasks/ (never torch), so these commands answer fast.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

import click

from harness.cli import data_dir_option
from harness.cli.table import format_table


def load_registry(ctx: click.Context) -> Any:
    """Import the built-in tasks and register the user's plugins named on the command line."""
    from tasks import registry

    obj = ctx.find_root().obj or {}
    registry.load_plugins(obj.get("task_dirs", ()), obj.get("includes", ()))
    return registry


@click.group()
def tasks() -> None:
    """Browse and check the registered tasks."""


@tasks.command("list")
@click.option("--family", default=None, help="Only tasks of this family (classification, pair, qa, tagging, ...).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def list_(ctx: click.Context, family: str | None, as_json: bool) -> None:
    """List tasks: family, format, headline metric, source and the splits present locally."""
    from tasks.data import local_splits

    registry = load_registry(ctx)
    chosen = registry.all_tasks(family)
    if family and not chosen:
        families = sorted({t.family for t in registry.all_tasks()})
        raise click.BadParameter(f"no task has family {family!r}; families: {', '.join(families)}", param_hint="--family")
    rows = []
    for task in chosen:
        local = local_splits(task, data_dir_option(ctx))
        rows.append({
            "name": task.name,
            "family": task.family,
            "format": task.format,
            "metric": task.headline.name,
            "source": task.source.describe(),
            "splits": list(task.splits),
            "train_split": task.train_split,
            "eval_split": task.eval_split,
            "local": local,
        })
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        row["local"] = ", ".join(f"{s} {n:,}" if isinstance(n, int) else f"{s} ({n or 'local'})" for s, n in row["local"].items()) or "-"
        row["train"] = row["train_split"] or "eval only"
    click.echo(format_table(rows, ["name", "family", "format", "metric", "source", "train", "local"]))


@tasks.command()
@click.argument("name")
@click.option("-n", "count", default=3, show_default=True, type=click.IntRange(min=1), help="How many examples.")
@click.option("--split", default=None, help="Split to show (default: the task's evaluation split).")
@click.pass_context
def show(ctx: click.Context, name: str, count: int, split: str | None) -> None:
    """Print a task's description and its first examples as question / context / answer."""
    from tasks.data import load_examples

    task = load_registry(ctx).get(name)
    split = split or task.eval_split
    examples = load_examples(task, split, data_dir_option(ctx), limit=count)
    click.echo(f"{task.name} v{task.version}  [{task.family}, {task.format}]  {task.description}")
    click.echo(f"source {task.source.describe()}  split {split}  metrics {', '.join(m.name for m in task.metrics)}")
    if task.notes:
        click.echo(textwrap.fill(f"note: {task.notes}", width=100))
    for example in examples:
        click.echo("")
        click.echo(f"[{example.id}]")
        click.echo(textwrap.fill(example.question, width=100, initial_indent="  question: ", subsequent_indent="            "))
        click.echo(textwrap.fill(example.context, width=100, initial_indent="  context:  ", subsequent_indent="            "))
        click.echo(textwrap.fill(example.answer, width=100, initial_indent="  answer:   ", subsequent_indent="            "))
    if not examples:
        click.echo("(no examples)")


@tasks.command()
@click.argument("names", nargs=-1)
@click.option("--split", default=None, help="Only this split (default: every split present locally).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def validate(ctx: click.Context, names: tuple[str, ...], split: str | None, as_json: bool) -> None:
    """Load each task's data, recast every row and report problems (exit 2 if any)."""
    from tasks.validate import splits_to_check, validate_split

    registry = load_registry(ctx)
    chosen = [registry.get(n) for n in names] if names else registry.all_tasks()
    reports = []
    for task in chosen:
        splits = splits_to_check(task, data_dir_option(ctx), split)
        if not splits:
            splits = [task.eval_split] if names else []
        if not splits:
            if not as_json:
                click.echo(f"{task.name:<16} no local data (skipped; set QABENCH_DATA or name the task to try the hub)")
            continue
        for name in splits:
            report = validate_split(task, name, data_dir_option(ctx))
            reports.append(report)
            if not as_json:
                click.echo(_describe(report))
    bad = [r for r in reports if not r.ok]
    if as_json:
        click.echo(json.dumps([r.__dict__ for r in reports], indent=2))
    else:
        total = sum(r.examples for r in reports)
        click.echo(f"\n{len(reports)} splits, {total:,} examples checked, {len(bad)} with problems")
    if bad:
        ctx.exit(2)


def _describe(report: Any) -> str:
    head = f"{report.task:<16} {report.split:<22}"
    if report.error:
        return f"{head} ERROR {report.error}"
    text = f"{head} {report.rows:>7,} rows -> {report.examples:>7,} examples"
    if report.skipped:
        text += f", {report.skipped:,} skipped ({report.skip_reason})"
    if report.ok:
        return text + ", ok"
    parts = [f"{kind}: {n:,} (first: {', '.join(report.first_ids.get(kind, []))})" for kind, n in report.problems.items()]
    return text + "\n    " + "\n    ".join(parts)
