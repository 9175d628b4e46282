"""Training curves: per (run, task) the smoothed training loss and periodic evaluation scores by step.

Also records version 2 in the legacy ``schema_version`` table, so a qabench
from before Alembic refuses the upgraded file ("newer than this qabench
supports") instead of misreading it.

Revision ID: 0002_curves
Revises: 0001_initial
"""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0002_curves"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "curves",
        sa.Column("run_id", sa.Text, sa.ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
        sa.Column("task", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, primary_key=True),
        sa.Column("metric", sa.Text, primary_key=True),
        sa.Column("step", sa.Integer, primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
    )
    version = sa.table("schema_version", sa.column("version", sa.Integer), sa.column("applied", sa.Text))
    op.bulk_insert(version, [{"version": 2, "applied": datetime.now(timezone.utc).isoformat(timespec="seconds")}])
