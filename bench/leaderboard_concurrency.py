"""Benchmark: many processes adding runs to one leaderboard at once, SQLite and PostgreSQL side by side.

Writes ``--procs`` x ``--adds`` small synthetic run records, then starts
``--procs`` Python processes that each ``add_record`` their own records one
by one into a database none of them has created yet (so they also race to
create the schema): an SQLite file, and a database on a throwaway PostgreSQL
server (``tests/pg_server.py``; skipped when initdb/pg_ctl are missing). It
prints one table: wall seconds, adds per second, runs stored, lost (records
added but not stored) and duplicates (run ids stored twice), and each
engine's time as a ratio of SQLite's.

Run: ``PYTHONPATH=. python bench/leaderboard_concurrency.py [--procs 8 --adds 50]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from leaderboard.store import add_record
    db, root, worker = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    for record in sorted(root.glob(f"w{worker}-*/record.json")):
        if not add_record(db, record):
            sys.exit(f"{record}: reported as already present")
    """
)


def race(db: str, runs: Path, procs: int) -> tuple[float, list[str]]:
    """Seconds until every writer is done, and their error outputs (empty when all succeeded)."""
    env = {"PYTHONPATH": str(REPO), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    start = time.perf_counter()
    workers = [subprocess.Popen([sys.executable, "-c", WRITER, db, str(runs), str(w)], env=env, stderr=subprocess.PIPE, text=True)
               for w in range(procs)]
    errors = [p.communicate()[1] for p in workers]
    seconds = time.perf_counter() - start
    return seconds, [e for p, e in zip(workers, errors) if p.returncode != 0]


def main() -> None:
    from _conditions import conditions  # bench/, beside this script

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", type=int, default=8)
    parser.add_argument("--adds", type=int, default=50, help="records per process")
    args = parser.parse_args()

    from leaderboard_fixtures import accuracy_task, write_run
    from sqlalchemy import text

    from leaderboard.store import connection

    with tempfile.TemporaryDirectory(prefix="qabench-race-") as tmp:
        root = Path(tmp)
        runs = root / "runs"
        for w in range(args.procs):
            for i in range(args.adds):
                write_run(runs, f"w{w}-{i:03d}", [accuracy_task("sst2", [100, 0, 100][: 1 + i % 3]), accuracy_task("rte", [0, 100])])
        expected = {f"w{w}-{i:03d}" for w in range(args.procs) for i in range(args.adds)}
        from pg_server import database_targets

        with database_targets(root / "lb.db") as targets:
            rows = []
            for engine, db in targets.items():
                seconds, errors = race(db, runs, args.procs)
                with connection(db) as conn:
                    stored = list(conn.execute(text("SELECT run_id FROM runs")).scalars())
                    results = conn.execute(text("SELECT COUNT(*) FROM task_results")).scalar()
                rows.append((engine, seconds, len(stored), len(expected - set(stored)), len(stored) - len(set(stored)), results, len(errors)))
                for e in errors:
                    print(f"{engine}: a writer failed:\n{e[-2000:]}")

    base = rows[0][1]
    print(f"\n{args.procs} processes x {args.adds} adds, each add its own transaction")
    print(f"{'engine':<11} {'seconds':>8} {'adds/s':>7} {'stored':>7} {'lost':>5} {'dups':>5} {'task rows':>9} {'failed':>7} {'time / sqlite':>14}")
    for engine, seconds, stored, lost, dups, results, failed in rows:
        print(f"{engine:<11} {seconds:>8.1f} {stored / seconds:>7.1f} {stored:>7} {lost:>5} {dups:>5} {results:>9} {failed:>7} {seconds / base:>14.2f}")
    print(conditions())


if __name__ == "__main__":
    main()
