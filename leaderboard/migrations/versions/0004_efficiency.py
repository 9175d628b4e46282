"""Efficiency columns: preparation seconds and tokens per second beside the seconds and examples per second.

``runs`` gains ``prepare_seconds`` (tasks, examples, model and features
before training), ``train_tps`` and ``eval_tps`` (non-padding input tokens
per second of training and evaluation); NULL where a record does not carry
them (records from before the timings split, or ``train_*`` of an
evaluation). Existing rows are filled from their stored record JSON. Also
records version 4 in the legacy ``schema_version`` table, so a qabench from
before Alembic refuses the upgraded file.

Revision ID: 0004_efficiency
Revises: 0003_suites
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004_efficiency"
down_revision = "0003_suites"
branch_labels = None
depends_on = None

#: New column -> the record's ``timings`` field it is filled from.
COLUMNS = {"prepare_seconds": "prepare_seconds", "train_tps": "train_tokens_per_second", "eval_tps": "eval_tokens_per_second"}


def _number(value: Any) -> float | None:
    """A timing as stored: a finite number, else NULL (a record validated at ``add`` holds nothing else; this is belt and braces)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def upgrade() -> None:
    # Plain ADD COLUMN on both engines (a batch rebuild of runs would fire its ON DELETE CASCADE on SQLite).
    for name in COLUMNS:
        op.add_column("runs", sa.Column(name, sa.Float))

    bind = op.get_bind()
    runs = sa.table("runs", sa.column("run_id", sa.Text), sa.column("record_json", sa.Text), *(sa.column(c, sa.Float) for c in COLUMNS))
    for run_id, record_json in bind.execute(sa.select(runs.c.run_id, runs.c.record_json)).all():
        timings = json.loads(record_json).get("timings") or {}
        values = {column: _number(timings.get(field)) for column, field in COLUMNS.items()}
        if any(v is not None for v in values.values()):
            bind.execute(runs.update().where(runs.c.run_id == run_id).values(**values))
    version = sa.table("schema_version", sa.column("version", sa.Integer), sa.column("applied", sa.Text))
    op.bulk_insert(version, [{"version": 4, "applied": datetime.now(timezone.utc).isoformat(timespec="seconds")}])
