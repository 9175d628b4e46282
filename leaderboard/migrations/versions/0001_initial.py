"""Schema version 1: runs, task_results, predictions (what qabench wrote before Alembic).

A SQLite file written by that code has exactly these tables; the store stamps
it with this revision instead of running it (see ``leaderboard.store``).

Revision ID: 0001_initial
Revises:
"""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("created", sa.Text, nullable=False),
        sa.Column("added", sa.Text, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("backbone", sa.Text, nullable=False),
        sa.Column("preset", sa.Text),
        sa.Column("pretrained", sa.Text),
        sa.Column("parameters", sa.BigInteger, nullable=False),
        sa.Column("head_mode", sa.Text, nullable=False),
        sa.Column("regime", sa.Text, nullable=False),
        sa.Column("mixture", sa.Text),
        sa.Column("steps", sa.Integer),
        sa.Column("seed", sa.BigInteger),
        sa.Column("deca_score", sa.Float, nullable=False),
        sa.Column("train_seconds", sa.Float),
        sa.Column("eval_seconds", sa.Float),
        sa.Column("train_eps", sa.Float),
        sa.Column("eval_eps", sa.Float),
        sa.Column("git_commit", sa.Text),
        sa.Column("qabench_version", sa.Text, nullable=False),
        sa.Column("record_sha256", sa.Text, nullable=False),
        sa.Column("record_json", sa.Text, nullable=False),
    )
    op.create_table(
        "task_results",
        sa.Column("run_id", sa.Text, sa.ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("task", sa.Text, primary_key=True),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("split", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("ids_sha256", sa.Text, nullable=False),
        sa.Column("examples", sa.Integer, nullable=False),
        sa.Column("headline", sa.Text, nullable=False),
        sa.Column("higher_is_better", sa.Integer, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("ci_low", sa.Float),
        sa.Column("ci_high", sa.Float),
        sa.Column("se", sa.Float),
        sa.Column("ci_method", sa.Text, nullable=False),
        sa.Column("metrics_json", sa.Text, nullable=False),
    )
    op.create_index("task_results_task", "task_results", ["task"])
    op.create_table(
        "predictions",
        sa.Column("run_id", sa.Text, sa.ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
        sa.Column("task", sa.Text, primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    version = op.create_table(
        "schema_version",
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("applied", sa.Text, nullable=False),
    )
    op.bulk_insert(version, [{"version": 1, "applied": datetime.now(timezone.utc).isoformat(timespec="seconds")}])
