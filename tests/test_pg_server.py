"""The throwaway PostgreSQL servers of the tests never outlive their test process: a watchdog stops a killed
session's server at once, and the next session stops any that a dead process left (tests/pg_server.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pg_server import PREFIX, UNNAMED_ORPHAN_AFTER_S, PgServer, stop_orphans

REPO = Path(__file__).resolve().parents[1]

#: Starts a server in a process of its own, prints its directory, postmaster pid and watchdog pid, then waits to be killed.
OWNER = """
import sys, time
sys.path.insert(0, 'tests')
from pg_server import PgServer, temporary_root
server = PgServer.start(temporary_root())
postmaster = (server.data_dir / 'postmaster.pid').read_text().split()[0]
print(server.root, postmaster, server._watchdog.pid, flush=True)
time.sleep(600)
"""


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_stop_orphans_removes_the_directories_of_dead_owners_only(tmp_path: Path) -> None:
    dead, alive = tmp_path / f"{PREFIX}{_dead_pid()}-a1", tmp_path / f"{PREFIX}{os.getpid()}-b2"
    old_unnamed, new_unnamed = tmp_path / f"{PREFIX}c3", tmp_path / f"{PREFIX}d4"
    for path in (dead, alive, old_unnamed, new_unnamed):
        (path / "socket").mkdir(parents=True)
    long_ago = time.time() - UNNAMED_ORPHAN_AFTER_S - 60
    os.utime(old_unnamed, (long_ago, long_ago))
    assert stop_orphans(tmp_path) == [dead, old_unnamed]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, new_unnamed.name])


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (not yet reaped by its parent) has stopped serving: count it as gone.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def _start_owner() -> tuple[subprocess.Popen, Path, int, int]:
    owner = subprocess.Popen([sys.executable, "-c", OWNER], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    root, postmaster, watchdog = owner.stdout.readline().split()
    return owner, Path(root), int(postmaster), int(watchdog)


def _gone(root: Path, postmaster: int, within_s: float = 60.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not root.exists() and not _running(postmaster):
            return True
        time.sleep(0.2)
    return False


def test_a_killed_sessions_server_is_stopped_by_its_watchdog_or_by_the_next_session(postgres_server: PgServer) -> None:
    # kill -9 of the process that started the server: its watchdog stops the server and removes the directory.
    owner, root, postmaster, _ = _start_owner()
    assert root.name.startswith(f"{PREFIX}{owner.pid}-") and _running(postmaster)
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    assert _gone(root, postmaster), f"{root} (postmaster {postmaster}) outlived its owner"

    # Owner and watchdog both killed (a whole process group): the next session's sweep stops the server.
    owner, root, postmaster, watchdog = _start_owner()
    os.kill(watchdog, signal.SIGKILL)
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    assert _running(postmaster) and root.exists()
    assert root in stop_orphans()
    assert _gone(root, postmaster, within_s=30)
    assert postgres_server.data_dir.exists()  # a live session's server is left alone
