"""``qabench leaderboard``: add run records, show the table, compare two runs, export reports.

This module imports only click, the standard library and ``leaderboard``
(which never imports torch), so ``qabench leaderboard show`` stays fast.

The database is ``--db PATH|URL``, else ``$QABENCH_DB``, else
``~/.local/share/qabench/leaderboard.db`` (``$XDG_DATA_HOME`` respected); a
URL such as ``postgresql+psycopg://user@host/db`` names a PostgreSQL server
shared by a team.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from leaderboard.errors import LeaderboardError

if TYPE_CHECKING:
    from leaderboard.sections import SectionBoard


def _db(ctx: click.Context) -> str | None:
    return ctx.find_root().meta.get("qabench.leaderboard.db")


def _split_tasks(values: tuple[str, ...]) -> list[str] | None:
    """``--tasks sst2,rte --tasks cola`` -> ``['sst2', 'rte', 'cola']``; nothing -> None (all tasks)."""
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    return list(dict.fromkeys(names)) or None


_tasks_option = click.option(
    "--tasks", "tasks", multiple=True, metavar="NAME[,NAME...]", help="Only these tasks (comma-separated or repeated)."
)


@click.group()
@click.option(
    "--db",
    metavar="PATH|URL",
    envvar="QABENCH_DB",
    default=None,
    help="Leaderboard database: an SQLite file or a postgresql+psycopg://USER@HOST/DB URL "
    "(env: QABENCH_DB; default ~/.local/share/qabench/leaderboard.db).",
)
@click.pass_context
def leaderboard(ctx: click.Context, db: str | None) -> None:
    """Compare runs: a store of run records (SQLite or PostgreSQL) with confidence intervals, reports and a web view."""
    ctx.find_root().meta["qabench.leaderboard.db"] = db


@leaderboard.command()
@click.argument("records", nargs=-1, required=True, type=click.Path())
@click.option("--bootstrap", "n_boot", type=click.IntRange(min=10), default=None, help="Bootstrap resamples per interval (default 1000; 200 for corpus metrics).")
@click.pass_context
def add(ctx: click.Context, records: tuple[str, ...], n_boot: int | None) -> None:
    """Add run records (record.json files or run directories); runs already present are skipped.

    Every record is validated first: one bad file adds nothing.
    """
    from leaderboard.stats import N_BOOT, N_BOOT_CORPUS
    from leaderboard.store import add_records, database_url, describe

    results = add_records(_db(ctx), records, n_boot=n_boot or N_BOOT, n_boot_corpus=n_boot or N_BOOT_CORPUS)
    for result in results:
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
        click.echo(f"{'added' if result.added else 'already present'}: {result.run_id} ({result.path})")
    added = sum(r.added for r in results)
    click.echo(f"{added} added, {len(results) - added} already present -> {describe(database_url(_db(ctx)))}")


_suite_option = click.option("--suite", "suite", default=None, metavar="NAME", help="Only the entries of this suite: its current version and fingerprint ranked, older ones apart.")


@leaderboard.command()
@_tasks_option
@_suite_option
@click.option("--group-by", type=click.Choice(["model", "backbone", "head-mode", "mixture"]), default=None, help="One row per group: mean ± std over its runs (seeds).")
@click.option("--sort", "sort", metavar="COLUMN[:asc|desc]", default=None, help="decaScore (default), a task name, parameters, train_seconds, eval_tps (tokens/s), model, created, ...")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (numbers, intervals) instead of a table.")
@click.pass_context
def show(ctx: click.Context, tasks: tuple[str, ...], suite: str | None, group_by: str | None, sort: str | None, as_json: bool) -> None:
    """The leaderboard, one table per suite: entries of a suite's current protocol ranked, the rest shown apart.

    Each task's headline score with a 95% bootstrap interval. Runs outside
    any suite form an "ad hoc" table without rank or decaScore. With --json,
    every entry carries its section and standing, and a rank only where its
    section is ranked (with --suite: that suite's ranked entries only).
    """
    from leaderboard.sections import section_boards
    from leaderboard.store import connection, database_url
    from leaderboard.table import board_json, text_frame, zero_shot_notes

    url = database_url(_db(ctx))
    if url.get_backend_name() == "sqlite" and not Path(str(url.database)).exists():  # nothing added yet: say so, create nothing
        click.echo("[]" if as_json else f"no leaderboard at {url.database} yet; add runs with `qabench leaderboard add RECORD.json`")
        return
    with connection(_db(ctx)) as conn:
        parts = section_boards(conn, suite, tasks=_split_tasks(tasks), group_by=group_by, sort=sort)
    if as_json:
        if suite is not None:  # one suite: its ranked entries
            click.echo(json.dumps([dict(row, rank=i + 1) for i, row in enumerate(board_json(parts[0].board))] if parts and parts[0].section.ranked else [], indent=2))
            return
        click.echo(json.dumps([entry for part in parts for entry in section_json(part)], indent=2))
        return
    if not parts:
        click.echo("the leaderboard is empty; add runs with `qabench leaderboard add RECORD.json`")
        return
    for number, part in enumerate(parts):
        click.echo(("\n" if number else "") + f"== {part.section.title}")
        if part.section.note:
            click.echo(f"({part.section.note})")
        click.echo(text_frame(part.board).to_string(max_colwidth=48))
        for note in zero_shot_notes(part.board):
            click.echo(note)
    click.echo(
        "\nscores: headline metric [95% bootstrap interval]; decaScore: sum of headline metrics"
        if not group_by
        else f"\nscores: mean ± std over the trained runs of each {group_by}; decaScore: sum of headline metrics"
    )


def section_json(part: SectionBoard) -> list[dict[str, Any]]:
    """A section's entries as JSON: each with ``section`` (title, key, suite, version, fingerprint), ``standing`` and, when ranked, ``rank``."""
    from leaderboard.table import board_json

    section = part.section
    where = {"title": section.title, "key": section.key, "suite": section.suite, "version": section.version, "fingerprint": section.fingerprint}
    out = []
    for i, row in enumerate(board_json(part.board)):
        entry = dict(row, section=where, standing=section.standing)
        if section.ranked:
            entry["rank"] = i + 1
        out.append(entry)
    return out


@leaderboard.command()
@click.argument("runs", nargs=-1, required=True)
@click.pass_context
def rm(ctx: click.Context, runs: tuple[str, ...]) -> None:
    """Remove entries (run ids or unique prefixes) with their scores and predictions; an unknown id removes nothing."""
    from leaderboard.store import remove_runs

    for run_id in remove_runs(_db(ctx), runs):
        click.echo(f"removed: {run_id}")


@leaderboard.command()
@click.argument("run_a")
@click.argument("run_b")
@_tasks_option
@click.option("--resamples", type=click.IntRange(min=100), default=None, help="Resamples for the test (default 2000; 300 for corpus metrics).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def compare(ctx: click.Context, run_a: str, run_b: str, tasks: tuple[str, ...], resamples: int | None, as_json: bool) -> None:
    """Compare two runs (ids or unique prefixes) task by task on the same examples.

    Prints both scores, A - B with its 95% paired-bootstrap interval, and a
    two-sided approximate-randomisation p-value. Refuses tasks that the two
    runs evaluated on different examples.
    """
    from dataclasses import asdict

    from leaderboard.compare import compare_runs
    from leaderboard.store import connection

    with connection(_db(ctx)) as conn:
        result = compare_runs(conn, run_a, run_b, tasks=_split_tasks(tasks), resamples=resamples)
    if as_json:
        click.echo(json.dumps(asdict(result), indent=2))
        return
    import pandas as pd

    click.echo(f"A: {result.run_a} ({result.model_a})\nB: {result.run_b} ({result.model_b})\n")
    frame = pd.DataFrame(
        [
            {
                "task": t.task, "metric": t.headline, "A": f"{t.a:.2f}", "B": f"{t.b:.2f}", "A-B": f"{t.delta:+.2f}",
                "95% CI of A-B": f"[{t.low:+.2f}, {t.high:+.2f}]", "p": _fmt_p(t.p_value, t.resamples),
                "n": t.examples, "test": t.method,
            }
            for t in result.tasks
        ]
    )
    click.echo(frame.to_string(index=False))
    for task, why in result.skipped:
        click.echo(f"skipped {task}: {why}")
    click.echo("\np: two-sided approximate randomisation over examples; CI: paired bootstrap")


def _fmt_p(p: float, resamples: int) -> str:
    floor = 1.0 / (resamples + 1)
    return f"<{floor:.4f}" if p <= floor else f"{p:.4f}"


@leaderboard.command()
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "latex", "html"]), required=True, help="Report format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None, help="Write here instead of stdout.")
@_tasks_option
@click.option("--group-by", type=click.Choice(["model", "backbone", "head-mode", "mixture"]), default=None, help="One row per group: mean ± std.")
@click.option("--sort", "sort", metavar="COLUMN[:asc|desc]", default=None, help="As for `show`.")
@click.option("--title", default=None, help="Report title (default: qabench leaderboard, and the suite with --suite).")
@_suite_option
@click.pass_context
def export(
    ctx: click.Context, fmt: str, output: str | None, tasks: tuple[str, ...], group_by: str | None, sort: str | None, title: str | None, suite: str | None
) -> None:
    """Write the leaderboard as Markdown, CSV, LaTeX or an HTML page with plots.

    With --suite: that suite's ranked entries. Without: every section as
    `show` prints it, a table per suite protocol, ranked only within a
    suite's current protocol (CSV: one table whose rows name their section
    and standing, a rank only where ranked).
    """
    from leaderboard.export import curve_runs, export_sections
    from leaderboard.export import export as render
    from leaderboard.sections import section_boards, shared_column_boards, suite_sections
    from leaderboard.store import connection, stored_curves
    from leaderboard.table import load_board

    with connection(_db(ctx)) as conn:
        if suite is not None:
            ranked = [s for s in suite_sections(conn, suite) if s.ranked]
            if not ranked:
                raise LeaderboardError(f"--suite {suite}: no entry follows the current protocol of {suite!r}; 'qabench leaderboard show --suite {suite}' shows the others")
            board = load_board(conn, tasks=_split_tasks(tasks), group_by=group_by, sort=sort, run_ids=ranked[0].run_ids)
            curves = {run_id: stored_curves(conn, run_id) for run_id in curve_runs(board)} if fmt == "html" else None
            text, rows = render(board, fmt, title=title or f"qabench leaderboard: {ranked[0].title}", curves=curves), len(board)
        else:
            build = shared_column_boards if fmt == "csv" else section_boards
            parts = build(conn, tasks=_split_tasks(tasks), group_by=group_by, sort=sort)
            curves = {r: stored_curves(conn, r) for p in parts if p.section.ranked for r in curve_runs(p.board)} if fmt == "html" else None
            text, rows = export_sections(parts, fmt, title=title or "qabench leaderboard", curves=curves), sum(len(p.board) for p in parts)
    if output is None:
        click.echo(text, nl=False)
        return
    path = Path(output)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as err:
        tmp.unlink(missing_ok=True)  # never leave half an export behind
        raise LeaderboardError(f"-o {output}: cannot write the {fmt} export: {err.strerror}") from None
    click.echo(f"wrote {path} ({rows} rows, {fmt})", err=True)



@leaderboard.command()
@click.pass_context
def upgrade(ctx: click.Context) -> None:
    """Create the schema in an empty database, or apply pending migrations (Alembic) to an existing one.

    Safe to run any time, from any number of machines at once: a database
    already at the newest revision is left alone; a database newer than this
    qabench is refused.
    """
    from leaderboard.store import upgrade_db

    report = upgrade_db(_db(ctx))
    kept = ", ".join(f"{n} {table}" for table, n in report.rows.items())
    if report.before == report.after:
        click.echo(f"{report.where}: already at schema revision {report.after} ({kept})")
    else:
        click.echo(f"{report.where}: upgraded from {report.before or 'an empty database'} to {report.after} ({kept})")


@leaderboard.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default: only this machine can see it).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="TCP port (0: any free port).")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int) -> None:
    """A read-only web leaderboard: ranked table, run pages with predictions and curves, comparisons.

    It never writes to the database; a database behind this qabench's schema
    asks for `qabench leaderboard upgrade` first.
    """
    import uvicorn

    from leaderboard.store import open_store
    from leaderboard.web.app import create_app

    store = open_store(_db(ctx), read_only=True)
    try:
        config = uvicorn.Config(create_app(store), host=host, port=port, log_level="warning", access_log=False)
        server = uvicorn.Server(config)
        click.echo(f"serving {store.where} read-only on http://{host}:{port}/ (Ctrl-C stops)", err=True)
        server.run()
    finally:
        store.close()
