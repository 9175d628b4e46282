"""The leaderboard's tables as SQLAlchemy Core objects, the same on SQLite and PostgreSQL.

These describe the schema at the newest Alembic revision
(``leaderboard/migrations/versions``); the migrations create and change the
tables, this module only names them for queries. Types are the portable
subset both engines share: text, integers, floats, binary blobs.

>>> sorted(metadata.tables)
['curves', 'predictions', 'runs', 'schema_version', 'task_results']
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, ForeignKey, Integer, LargeBinary, MetaData, Table, Text

metadata = MetaData()

#: One row per run: the record's headline fields and the whole record JSON.
runs = Table(
    "runs",
    metadata,
    Column("run_id", Text, primary_key=True),
    Column("created", Text, nullable=False),
    Column("added", Text, nullable=False),
    Column("model", Text, nullable=False),
    Column("backbone", Text, nullable=False),
    Column("preset", Text),
    Column("pretrained", Text),
    Column("parameters", BigInteger, nullable=False),
    Column("head_mode", Text, nullable=False),
    Column("regime", Text, nullable=False),
    Column("mixture", Text),
    Column("steps", Integer),
    Column("seed", BigInteger),
    Column("deca_score", Float, nullable=False),
    Column("train_seconds", Float),
    Column("eval_seconds", Float),
    Column("train_eps", Float),  # examples per second
    Column("eval_eps", Float),
    Column("git_commit", Text),
    Column("qabench_version", Text, nullable=False),
    Column("record_sha256", Text, nullable=False),
    Column("record_json", Text, nullable=False),
    Column("kind", Text, nullable=False, server_default="run"),  # run | evaluation | external
    Column("source_run", Text),  # the run an evaluation re-evaluates
    Column("suite", Text),  # the suite protocol the entry followed exactly (None: ad hoc)
    Column("suite_version", Text),
    Column("suite_fingerprint", Text),
    Column("suite_score", Text),  # "decaScore over 6 of 10 tasks"
    Column("prepare_seconds", Float),  # tasks, examples, model and features before training
    Column("train_tps", Float),  # non-padding input tokens per second
    Column("eval_tps", Float),
)

#: One row per (run, task): headline score and its 95% bootstrap interval, computed at ``add``.
task_results = Table(
    "task_results",
    metadata,
    Column("run_id", Text, ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("task", Text, primary_key=True),
    Column("version", Text, nullable=False),
    Column("split", Text, nullable=False),
    Column("fingerprint", Text, nullable=False),
    Column("ids_sha256", Text, nullable=False),
    Column("examples", Integer, nullable=False),
    Column("headline", Text, nullable=False),
    Column("higher_is_better", Integer, nullable=False),
    Column("score", Float, nullable=False),
    Column("ci_low", Float),
    Column("ci_high", Float),
    Column("se", Float),
    Column("ci_method", Text, nullable=False),
    Column("metrics_json", Text, nullable=False),
    Column("zero_shot", Text),  # JSON list of the label words no trained task offered; None: a trained task
)

#: One zlib-compressed JSON blob per (run, task) with every example, prediction and per-example score.
predictions = Table(
    "predictions",
    metadata,
    Column("run_id", Text, ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("task", Text, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

#: Training curves: per (run, task, kind, metric) one value per step.
#: ``kind`` is ``loss`` (smoothed training loss) or ``eval`` (a periodic evaluation's score of ``metric``).
curves = Table(
    "curves",
    metadata,
    Column("run_id", Text, ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("task", Text, primary_key=True),
    Column("kind", Text, primary_key=True),
    Column("metric", Text, primary_key=True),
    Column("step", Integer, primary_key=True),
    Column("value", Float, nullable=False),
)

#: The pre-Alembic version marker, kept so that an older qabench refuses a newer file instead of misreading it.
schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied", Text, nullable=False),
)
