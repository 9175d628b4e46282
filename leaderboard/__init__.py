"""qabench's leaderboard: run records -> an SQLite database -> tables, comparisons and reports.

It reads run records (``record.json`` + ``predictions.jsonl``, docs/run-record.md)
and nothing else, and never imports torch, ``models`` or ``harness``.

- :mod:`leaderboard.records`: read and validate a record and its predictions.
- :mod:`leaderboard.store`: the database (default ``~/.local/share/qabench/leaderboard.db``,
  or ``$QABENCH_DB``); :func:`leaderboard.store.add_record` is what ``qabench run`` calls.
- :mod:`leaderboard.stats`: bootstrap intervals and paired tests over examples.
- :mod:`leaderboard.table`: the per-run / per-group table behind ``show`` and the exports.
- :mod:`leaderboard.compare`: two runs, task by task, on the same examples.
- :mod:`leaderboard.export`: Markdown, CSV, LaTeX and self-contained HTML reports.

See leaderboard/README.md for the commands.
"""
