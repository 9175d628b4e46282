"""Benchmark: time to first byte of the web leaderboard's pages with 1,000 runs, SQLite and PostgreSQL side by side.

Builds one set of synthetic run records (``bench/leaderboard.py``'s
generator: 1,000 runs x 10 tasks), adds them to an SQLite file and copies its
rows to a throwaway PostgreSQL server (``tests/pg_server.py``: initdb in a temp dir,
unix socket; skipped when the binaries are missing), starts ``qabench
leaderboard serve`` on a loopback port over each, and times, from a raw
socket, the interval between sending a GET and receiving the first byte of
the answer (after one warm-up request).

Pages: the ranked table as a browsing user meets it (a cache hit once the
server has read the store's current content); the ranked table right after
the store changed (before each request a spare run is added or
removed again, so the page is computed afresh); a run page; a compare page.

``--baseline REV`` also serves the same runs with the code of git revision
``REV`` (exported with ``git archive``), and the requests go round robin over
every (code, engine) server, so the before/after comparison sees the same
machine load. Where ``REV``'s schema revision is older than this code's (each
refuses the other's database), the baseline's code builds its own databases
and this code serves copies of them upgraded by its migrations; each code
then applies the changes to its own databases. The table gives median, p90 and best per page, each
median as a ratio of the 300 ms budget, and with a baseline the ratio
baseline / this code.

Run: ``PYTHONPATH=. python bench/web_first_byte.py [--runs 1000 --tasks 10 --examples 50 --repeats 10 --baseline REV]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

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


def serve(db: str, code: Path) -> tuple[subprocess.Popen, int]:
    """``qabench leaderboard --db DB serve`` of the code under ``code`` on a free loopback port, once it accepts connections."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    program = "import sys; from harness.cli import main; main(sys.argv[1:], prog_name='qabench')"
    proc = subprocess.Popen([sys.executable, "-c", program, "leaderboard", "--db", db, "serve", "--port", str(port)],
                            env={**os.environ, "PYTHONPATH": str(code)}, cwd=code, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"serve --db {db} ({code}) did not start") from None
            time.sleep(0.1)


#: The page whose requests follow a change of the store (each one computed afresh).
AFTER_CHANGE = "ranked table after a change"


#: Run in a process of another code (``PYTHONPATH`` = its tree): build its databases from the records, as ``main`` does.
BUILD = """
import json, sys
from leaderboard.schema import curves, predictions, runs, task_results
from leaderboard.store import add_records, open_store
args = json.loads(sys.argv[1])
for chunk in range(0, len(args["paths"]), 100):
    add_records(args["sqlite"], args["paths"][chunk : chunk + 100], n_boot=200)
if args["postgresql"]:
    src, dst = open_store(args["sqlite"]), open_store(args["postgresql"], create=True)
    with src.engine.connect() as read, dst.engine.begin() as write:
        for table in (runs, task_results, predictions, curves):
            rows = [dict(r) for r in read.execute(table.select()).mappings()]
            for chunk in range(0, len(rows), 1000):
                write.execute(table.insert(), rows[chunk : chunk + 1000])
    src.close()
    dst.close()
"""

#: Run in a process of another code: add the spare run to (or remove it from) that code's databases.
CHANGE = """
import json, sys
from leaderboard.store import add_records, remove_runs
args = json.loads(sys.argv[1])
for target in args["targets"]:
    add_records(target, [args["spare"]], n_boot=200) if args["add"] else remove_runs(target, [args["run_id"]])
"""


def run_code(code: Path, program: str, args: dict) -> str:
    """Run ``program`` with ``args`` (JSON) in a fresh interpreter on the code under ``code``; its standard output."""
    import json

    done = subprocess.run([sys.executable, "-c", program, json.dumps(args)], env={**os.environ, "PYTHONPATH": str(code)}, cwd=code,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{code}: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else 'failed'}")
    return done.stdout


def head_revision_of(code: Path) -> str:
    """The newest leaderboard schema revision of the code under ``code``."""
    return run_code(code, "from leaderboard.store import head_revision; print(head_revision())", {}).strip()


def apply_change(targets: dict[Path, dict[str, str]], spare: Path, add: bool) -> None:
    """Add the spare run to (``add``) or remove it from every database, each code's through that code's store."""
    from leaderboard.store import add_records, remove_runs

    for code, databases in targets.items():
        if code == REPO:
            for target in databases.values():
                add_records(target, [spare], n_boot=200) if add else remove_runs(target, [spare.parent.name])
        else:
            run_code(code, CHANGE, {"targets": list(databases.values()), "spare": str(spare), "run_id": spare.parent.name, "add": add})


def measure(servers: dict[tuple[str, str], int], targets: dict[Path, dict[str, str]], pages: dict[str, str], spare: Path,
            repeats: int) -> dict[tuple[str, str, str], list[float]]:
    """``{(code, engine, page): seconds}``: every page ``repeats`` times, round robin over the servers.

    Before each round of :data:`AFTER_CHANGE` requests the spare run is added to
    (or removed from) every database (``targets``: code -> engine -> database),
    so each server sees a changed store.
    """
    for port in servers.values():  # warm-up: imports, plans, page cache, the cached board
        for path in pages.values():
            first_byte(port, path)
    out: dict[tuple[str, str, str], list[float]] = {}
    for i in range(repeats):
        for name, path in pages.items():
            if name == AFTER_CHANGE:
                apply_change(targets, spare, add=i % 2 == 0)
            for (code, engine), port in servers.items():
                out.setdefault((code, engine, name), []).append(first_byte(port, path))
    return out


def baseline_tree(rev: str, into: Path) -> Path:
    """The repository's files at git revision ``rev``, exported under ``into``."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


@contextmanager
def pg_server() -> Iterator[Any]:
    """A throwaway PostgreSQL server (``tests/pg_server.py``'s ``PgServer``), stopped on exit; None when its binaries are missing."""
    from pg_server import PgServer, find_bin_dir, temporary_root

    if find_bin_dir() is None:
        print("postgresql: initdb/pg_ctl not found, measuring SQLite only")
        yield None
        return
    server = PgServer.start(temporary_root())
    try:
        yield server
    finally:
        server.stop()


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
    parser.add_argument("--baseline", metavar="REV", help="also serve with the code of this git revision, round robin with this code")
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
        spare = write_synthetic_run(root / "spare", args.runs, args.tasks, args.examples, rng)
        codes = {"this code": REPO}
        if args.baseline:
            codes = {f"baseline {args.baseline}": baseline_tree(args.baseline, root / "baseline"), **codes}
        from leaderboard.store import head_revision, upgrade_db

        procs: list[subprocess.Popen] = []
        with pg_server() as pg:
            ours = {"sqlite": str(root / "leaderboard.db"), **({"postgresql": pg.new_database()} if pg else {})}
            targets: dict[Path, dict[str, str]] = {REPO: ours}
            base = codes.get(f"baseline {args.baseline}")
            start = time.perf_counter()
            if base is not None and head_revision_of(base) != head_revision():
                # Each code refuses the other's schema: the baseline builds its databases, this code serves upgraded copies.
                theirs = {"sqlite": str(root / "baseline.db"), **({"postgresql": pg.new_database()} if pg else {})}
                run_code(base, BUILD, {"paths": [str(p) for p in paths], "sqlite": theirs["sqlite"], "postgresql": theirs.get("postgresql")})
                targets[base] = theirs
                shutil.copy(theirs["sqlite"], ours["sqlite"])  # every connection closed: no write-ahead log pending
                upgrade_db(ours["sqlite"])
                print(f"sqlite: the baseline added {args.runs} runs and this code upgraded a copy in {time.perf_counter() - start:.1f} s")
            else:
                for chunk in range(0, len(paths), 100):
                    add_records(ours["sqlite"], paths[chunk : chunk + 100], n_boot=200)
                print(f"sqlite: added {args.runs} runs in {time.perf_counter() - start:.1f} s")
            if "postgresql" in ours:  # the same rows, copied: re-adding would only recompute the same intervals
                start = time.perf_counter()
                copy_rows(ours["sqlite"], ours["postgresql"])
                print(f"postgresql: copied the same rows in {time.perf_counter() - start:.1f} s")
            first, second = paths[0].parent.name, paths[1].parent.name
            pages = {"ranked table /": "/", AFTER_CHANGE: "/", "run page": f"/run/{first}",
                     "compare page": f"/compare?a={first}&b={second}"}
            servers = {}
            try:
                for code, tree in codes.items():
                    for engine, target in targets.get(tree, ours).items():  # one schema: the baseline serves the same databases
                        proc, port = serve(target, tree)
                        procs.append(proc)
                        servers[(code, engine)] = port
                load_before = os.getloadavg()[0]
                results = measure(servers, targets, pages, spare, args.repeats)
            finally:
                for proc in procs:
                    proc.terminate()
                    proc.wait(timeout=30)

    print(f"\ntime to first byte, {args.runs} runs x {args.tasks} tasks, {args.repeats} requests each after one warm-up, "
          f"round robin over {len(servers)} servers ({os.cpu_count()} CPUs, load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after)")
    base = next((c for c in codes if c.startswith("baseline")), None)
    print(f"{'code':<22} {'engine':<11} {'page':<28} {'median ms':>10} {'p90 ms':>8} {'best ms':>8} {'median / 300 ms':>16}"
          + (f" {'baseline / this':>16}" if base else ""))
    for (code, engine, name), times in results.items():
        median = statistics.median(times)
        p90 = sorted(times)[int(0.9 * (len(times) - 1))]
        line = f"{code:<22} {engine:<11} {name:<28} {1000 * median:>10.1f} {1000 * p90:>8.1f} {1000 * min(times):>8.1f} {median / BUDGET_S:>16.2f}"
        if base and code == "this code":
            line += f" {statistics.median(results[(base, engine, name)]) / median:>16.2f}"
        print(line)
    print(conditions())


if __name__ == "__main__":
    main()
