"""``qabench suites`` and ``qabench score``: the benchmark's protocols, and scoring systems built elsewhere.

Neither imports torch (``tasks`` and ``leaderboard`` never do), so both start fast.

    qabench suites list
    qabench suites show lecture
    qabench suites export lecture --out lecture-inputs/
    qabench score lecture answers.jsonl --name my-system --meta parameters=110000000
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from harness.cli import data_dir_option
from harness.errors import UserError


def _load_plugins(ctx: click.Context) -> None:
    obj = ctx.find_root().obj or {}
    if obj.get("task_dirs") or obj.get("includes"):
        from tasks.registry import load_plugins

        load_plugins(obj.get("task_dirs", ()), obj.get("includes", ()))


def load_suite_data(ctx: click.Context, name: str) -> Any:
    """The suite called (or stored at) ``name`` with its evaluation examples (through the examples cache); problems are one-line user errors."""
    from tasks.cache import cache_root
    from tasks.errors import TaskError
    from tasks.suite import get_suite
    from tasks.suite import load_suite_data as load

    _load_plugins(ctx)
    try:
        return load(get_suite(name), data_dir_option(ctx), cache_root())
    except TaskError as err:
        raise UserError(f"suite {name}: {err}") from None


@click.group()
def suites() -> None:
    """Benchmark suites: versioned evaluation protocols (tasks, splits, exact examples, metrics)."""


@suites.command(name="list")
def list_() -> None:
    """Every built-in suite: version, tasks and what its score sums (reads no data)."""
    from tasks.suite import all_suites

    rows = [(s.name, s.version, ", ".join(s.task_names), s.score_label) for s in all_suites()]
    header = ("suite", "version", "tasks", "score")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    click.echo("\n'qabench suites show NAME' gives splits, sizes, metrics and the fingerprint.")


@suites.command()
@click.argument("name")
@click.pass_context
def show(ctx: click.Context, name: str) -> None:
    """One suite: its tasks with split, examples and metrics, what it lacks, its training protocol and fingerprint."""
    data = load_suite_data(ctx, name)
    suite = data.suite
    click.echo(f"suite {suite.name} version {suite.version}: {suite.description}")
    click.echo(f"fingerprint {data.fingerprint}")
    click.echo(f"score: {suite.score_label}\n")
    rows = []
    for entry, task in zip(suite.tasks, data.tasks):
        chosen = f"{len(entry.ids)} fixed ids" if entry.ids else "all"
        metrics = ", ".join(m.name for m in task.metrics)
        rows.append((task.name, f"v{task.version}", entry.split, str(len(data.examples[task.name])), chosen, metrics, entry.metric_variant))
    header = ("task", "version", "split", "examples", "chosen", "metrics (headline first)", "variant")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    if suite.covers:
        click.echo(f"\ncovers: {suite.covers}")
    if suite.lacks:
        click.echo(f"lacks: {suite.lacks}")
    for task, why in suite.absent:
        click.echo(f"absent: {task} ({why})")
    t = suite.training
    trained = ", ".join(f"{x.name}:{x.train_split}" if x.train_split else x.name for x in t.tasks)
    limit = f", at most {t.train_limit} examples per task" if t.train_limit else ""
    click.echo(f"\nbench trains on {trained}: {t.mixture} mixture, {t.steps} steps of {t.batch_size}, lr {t.lr:g} ({t.pretrained_lr:g} when pretrained){limit}")


@suites.command()
@click.argument("name")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Directory for <task>.jsonl inputs and suite.json.")
@click.pass_context
def export(ctx: click.Context, name: str, out: str) -> None:
    """Write each task's evaluation inputs (id, question, context, choices, tokens) as JSONL, without answers.

    A system answers them and writes {"task", "id", "answer"} lines for 'qabench score'.
    """
    data = load_suite_data(ctx, name)
    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "suite": data.suite.name, "version": data.suite.version, "fingerprint": data.fingerprint,
        "answer_format": '{"task": NAME, "id": ID, "answer": TEXT} per line', "tasks": [],
    }
    for entry, task in zip(data.suite.tasks, data.tasks):
        path = directory / f"{task.name}.jsonl"
        _write_lines(path, [input_line(e) for e in data.examples[task.name]])
        manifest["tasks"].append({"task": task.name, "split": entry.split, "format": task.format, "examples": len(data.examples[task.name]),
                                  "file": path.name, "metrics": [m.name for m in task.metrics]})
    _write_lines(directory / "suite.json", [manifest], indent=2)
    click.echo(f"wrote {len(data.tasks)} task files and suite.json to {directory} ({sum(len(v) for v in data.examples.values())} examples)")


def input_line(example: Any) -> dict[str, Any]:
    """What a system sees of an example: id, question, context, and choices or tokens where the format has them."""
    line: dict[str, Any] = {"id": example.id, "question": example.question, "context": example.context}
    if example.choices:
        line["choices"] = list(example.choices)
    if example.tokens:
        line["tokens"] = list(example.tokens)
    return line


def _write_lines(path: Path, objects: list[dict[str, Any]], indent: int | None = None) -> None:
    """JSONL (or, with ``indent``, one JSON document) written to a temporary file, then renamed."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            for obj in objects:
                fh.write(json.dumps(obj, ensure_ascii=False, indent=indent) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@click.command()
@click.argument("suite")
@click.argument("predictions", type=click.Path())
@click.option("--name", required=True, help="The system's name on the leaderboard.")
@click.option("--meta", "meta", multiple=True, metavar="KEY=VALUE", help="What the system is (repeatable): parameters=N, url=..., notes=...")
@click.option("--out", default="runs", show_default=True, type=click.Path(file_okay=False), help="The record goes to OUT/<run_id>/.")
@click.option("--db", default=None, type=click.Path(dir_okay=False), envvar="QABENCH_DB", help="Leaderboard database (env: QABENCH_DB).")
@click.option("--no-leaderboard", is_flag=True, help="Write the record only; do not add it to the leaderboard.")
@click.pass_context
def score(ctx: click.Context, suite: str, predictions: str, name: str, meta: tuple[str, ...], out: str, db: str | None, no_leaderboard: bool) -> None:
    """Score a system built elsewhere: PREDICTIONS has {"task", "id", "answer"} lines for the suite's evaluation ids.

    Scored by the harness's own metric code; the record (kind "external")
    is written and added to the leaderboard. Ids without a line score as
    empty answers and are counted. A bad line adds nothing (exit 2).
    """
    from harness.external import parse_meta, score_external
    from harness.record import print_table

    meta_map = parse_meta(meta)
    data = load_suite_data(ctx, suite)
    outcome = score_external(data, predictions, name, meta_map, Path(out))
    print_table(outcome.record, echo=click.echo)
    for task, count in outcome.missing.items():
        if count:
            click.echo(f"missing: {task}: {count} of {len(data.examples[task])} ids had no answer and scored as wrong")
    click.echo(f"record: {outcome.record_path}")
    if no_leaderboard:
        click.echo("leaderboard: skipped (--no-leaderboard)")
        return
    from leaderboard.store import add_record, default_db

    path = db or default_db()
    added = add_record(path, outcome.record_path)
    click.echo(f"leaderboard: {'added to' if added else 'already in'} {path}")
