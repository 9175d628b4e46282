"""qabench's leaderboard: run records -> a database (SQLite or PostgreSQL) -> tables, comparisons, reports, a web view.

It reads run records (``record.json`` + ``predictions.jsonl``, docs/run-record.md)
and nothing else, and never imports torch, ``models`` or ``harness``.

- :mod:`leaderboard.run_record`: the run record's schema as frozen dataclasses, shared with
  ``harness``, which writes it (standard library only).
- :mod:`leaderboard.records`: read and validate a record and its predictions.
- :mod:`leaderboard.store`: the database through SQLAlchemy (default ``~/.local/share/qabench/leaderboard.db``,
  or ``$QABENCH_DB``, a path or URL); :func:`leaderboard.store.add_record` is what ``qabench run`` calls.
- :mod:`leaderboard.schema`: the tables; ``leaderboard/migrations``: their Alembic revisions.
- :mod:`leaderboard.curves`: training curves (``curves.jsonl``).
- :mod:`leaderboard.stats`: bootstrap intervals and paired tests over examples.
- :mod:`leaderboard.table`: the per-run / per-group table behind ``show`` and the exports.
- :mod:`leaderboard.compare`: two runs, task by task, on the same examples.
- :mod:`leaderboard.export`: Markdown, CSV, LaTeX and self-contained HTML reports.
- :mod:`leaderboard.web`: the read-only web leaderboard (``qabench leaderboard serve``).

See leaderboard/README.md for the commands.
"""
