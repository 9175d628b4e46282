"""Suites and entry kinds: what each entry is, the suite protocol it followed, and which scores are zero-shot.

``runs`` gains ``kind`` (run, evaluation or external), ``source_run`` (the
run an evaluation re-evaluates) and the suite's name, version, fingerprint
and score label; ``task_results`` gains ``zero_shot`` (a JSON list of the
label words no trained task offered; NULL for a trained task). Existing rows
are filled from their stored record JSON. Also records version 3 in the
legacy ``schema_version`` table, so a qabench from before Alembic refuses
the upgraded file.

Revision ID: 0003_suites
Revises: 0002_curves
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0003_suites"
down_revision = "0002_curves"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN on both engines (a batch rebuild of runs would fire its ON DELETE CASCADE on SQLite).
    op.add_column("runs", sa.Column("kind", sa.Text, nullable=False, server_default="run"))
    for name in ("source_run", "suite", "suite_version", "suite_fingerprint", "suite_score"):
        op.add_column("runs", sa.Column(name, sa.Text))
    op.add_column("task_results", sa.Column("zero_shot", sa.Text))
    op.create_index("runs_suite", "runs", ["suite", "suite_version", "suite_fingerprint"])

    bind = op.get_bind()
    runs = sa.table("runs", *(sa.column(c, sa.Text) for c in ("run_id", "record_json", "kind", "source_run", "suite", "suite_version", "suite_fingerprint", "suite_score")))
    results = sa.table("task_results", sa.column("run_id", sa.Text), sa.column("task", sa.Text), sa.column("zero_shot", sa.Text))
    for run_id, record_json in bind.execute(sa.select(runs.c.run_id, runs.c.record_json)).all():
        record = json.loads(record_json)
        suite = record.get("suite") or {}
        bind.execute(
            runs.update().where(runs.c.run_id == run_id).values(
                kind=record.get("kind") or "run", source_run=record.get("source_run"), suite=suite.get("name"),
                suite_version=suite.get("version"), suite_fingerprint=suite.get("fingerprint"), suite_score=suite.get("score"),
            )
        )
        for task in record.get("tasks", []):
            if isinstance(task, dict) and isinstance(task.get("zero_shot"), dict):
                untrained = json.dumps(task["zero_shot"].get("untrained_labels", []))
                bind.execute(results.update().where(results.c.run_id == run_id, results.c.task == task.get("name")).values(zero_shot=untrained))
    version = sa.table("schema_version", sa.column("version", sa.Integer), sa.column("applied", sa.Text))
    op.bulk_insert(version, [{"version": 3, "applied": datetime.now(timezone.utc).isoformat(timespec="seconds")}])
