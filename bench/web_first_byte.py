"""Benchmark: time to first byte of the web leaderboard's pages with 1,000 runs, SQLite and PostgreSQL side by side.

Builds one set of synthetic run records (``bench/leaderboard.py``'s
generator: 1,000 runs x 10 tasks), adds them to an SQLite file and copies its
rows to a throwaway PostgreSQL server (``tests/pg_server.py``: initdb in a temp dir,
unix socket; skipped when the binaries are missing), starts ``qabench
leaderboard serve`` on a loopback port over each, and times, from a raw
socket, the interval between sending a GET and receiving the first byte of
the answer (after one warm-up request). It prints one table: median, p90 and
best over the repeats for the ranked table, a run page and a compare page,
and each median as a ratio of the 300 ms budget.

Run: ``PYTHONPATH=. python bench/web_first_byte.py [--runs 1000 --tasks 10 --examples 50 --repeats 10]``
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

BUDGET_S = 0.300


def first_byte(port: int, path: str) -> float:
    """Seconds from sending ``GET path`` to the first byte of the response (the rest is read and discarded)."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        start = time.perf_counter()
        s.sendall(request)
        first = s.recv(1)
        elapsed = time.perf_counter() - start
        if not first:
            raise SystemExit(f"GET {path}: connection closed without an answer")
        status = (first + s.recv(64)).split(b" ", 2)[1]
        if status != b"200":
            raise SystemExit(f"GET {path}: HTTP {status.decode()}")
        while s.recv(65536):
            pass
    return elapsed


def serve(db: str) -> tuple[subprocess.Popen, int]:
    """``qabench leaderboard --db DB serve`` on a free loopback port, once it accepts connections."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = "import sys; from harness.cli import main; main(sys.argv[1:], prog_name='qabench')"
    proc = subprocess.Popen([sys.executable, "-c", code, "leaderboard", "--db", db, "serve", "--port", str(port)],
                            env={**os.environ, "PYTHONPATH": str(REPO)}, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"serve --db {db} did not start") from None
            time.sleep(0.1)


def measure(db: str, pages: dict[str, str], repeats: int) -> dict[str, list[float]]:
    proc, port = serve(db)
    try:
        out = {}
        for name, path in pages.items():
            first_byte(port, path)  # warm-up: imports, plans, page cache
            out[name] = [first_byte(port, path) for _ in range(repeats)]
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def copy_rows(source: str, target: str) -> None:
    """Every row of the store at ``source`` into a new store at ``target`` (schema created by the migrations)."""
    from leaderboard.schema import curves, predictions, runs, task_results
    from leaderboard.store import open_store

    src, dst = open_store(source), open_store(target, create=True)
    try:
        with src.engine.connect() as read, dst.engine.begin() as write:
            for table in (runs, task_results, predictions, curves):
                rows = [dict(r) for r in read.execute(table.select()).mappings()]
                for chunk in range(0, len(rows), 1000):
                    write.execute(table.insert(), rows[chunk : chunk + 1000])
    finally:
        src.close()
        dst.close()


def main() -> None:
    from _conditions import conditions  # bench/, beside this script

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--examples", type=int, default=50, help="examples per task per run")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()

    import importlib.util

    import numpy as np

    from leaderboard.store import add_records

    # bench/leaderboard.py's record generator (its module name is taken by the leaderboard package).
    spec = importlib.util.spec_from_file_location("bench_leaderboard", REPO / "bench" / "leaderboard.py")
    generator = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(generator)  # type: ignore[union-attr]
    write_synthetic_run = generator.write_synthetic_run

    with tempfile.TemporaryDirectory(prefix="qabench-web-bench-") as tmp:
        root = Path(tmp)
        rng = np.random.default_rng(0)
        paths = [write_synthetic_run(root / "runs", i, args.tasks, args.examples, rng) for i in range(args.runs)]
        from pg_server import database_targets

        with database_targets(root / "leaderboard.db") as targets:
            start = time.perf_counter()
            for chunk in range(0, len(paths), 100):
                add_records(targets["sqlite"], paths[chunk : chunk + 100], n_boot=200)
            print(f"sqlite: added {args.runs} runs in {time.perf_counter() - start:.1f} s")
            if "postgresql" in targets:  # the same rows, copied: re-adding would only recompute the same intervals
                start = time.perf_counter()
                copy_rows(targets["sqlite"], targets["postgresql"])
                print(f"postgresql: copied the same rows in {time.perf_counter() - start:.1f} s")
            first, second = paths[0].parent.name, paths[1].parent.name
            pages = {"ranked table /": "/", "run page": f"/run/{first}", "compare page": f"/compare?a={first}&b={second}"}
            results = {engine: measure(target, pages, args.repeats) for engine, target in targets.items()}

    print(f"\ntime to first byte, {args.runs} runs x {args.tasks} tasks, {args.repeats} requests each after one warm-up")
    print(f"{'engine':<11} {'page':<15} {'median ms':>10} {'p90 ms':>8} {'best ms':>8} {'median / 300 ms':>16}")
    for engine, pages_ in results.items():
        for name, times in pages_.items():
            median = statistics.median(times)
            p90 = sorted(times)[int(0.9 * (len(times) - 1))]
            print(f"{engine:<11} {name:<15} {1000 * median:>10.1f} {1000 * p90:>8.1f} {1000 * min(times):>8.1f} {median / BUDGET_S:>16.2f}")
    print(conditions())


if __name__ == "__main__":
    main()
