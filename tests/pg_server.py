"""A throwaway PostgreSQL server for the tests: initdb in a temp dir, listen on a unix socket only, stop afterwards.

PostgreSQL refuses to run as root, so under root the server runs as the
``postgres`` system user (``runuser``). Each test gets its own database
(:meth:`PgServer.new_database`), created from ``template0`` in a few
milliseconds, so tests never see each other's rows.

No server outlives the process that started it. Its directory is named
after that process (``/tmp/qbpg-<pid>-XXXX``, :func:`temporary_root`), and a
small watchdog started with it (a shell loop in its own session) stops the
server and removes the directory as soon as that process is gone, however it
ended: a finished session's teardown, an exception, ``kill -9``.
:func:`stop_orphans`, run before a session starts its server, also stops
those left by a dead process whose watchdog died with it (a reboot of the
container, a ``kill`` of the whole process group), and the directories of
older test runs that did not name their owner.

>>> # server = PgServer.start(temporary_root())
>>> # url = server.new_database()   # postgresql+psycopg://postgres@/t_1?host=/tmp/.../socket&port=54321
>>> # server.stop()
>>> # with database_targets(tmp / "lb.db") as targets:   # what a leaderboard bench measures: {"sqlite": ..., "postgresql": ...}
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

#: The port number names the socket file (nothing listens on TCP); one per process, so xdist workers never clash.
PORT = 40000 + os.getpid() % 20000
#: Server directories are ``<temp dir>/qbpg-<pid of the owner>-<random>``.
PREFIX = "qbpg-"
#: A server directory that does not name its owner (older qabench) counts as orphaned after this long.
UNNAMED_ORPHAN_AFTER_S = 3600.0
#: The watchdog: wait for the owner to exit, then stop the server (the command in "$@") and remove its directory.
_WATCHDOG = 'owner=$1; root=$2; shift 2; while kill -0 "$owner" 2>/dev/null; do sleep 1; done; "$@" >/dev/null 2>&1; rm -rf "$root"'


def find_bin_dir() -> Path | None:
    """The directory with ``initdb`` and ``pg_ctl``: on PATH, else Debian's ``/usr/lib/postgresql/<N>/bin``."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


def _as_server_user(args: list[str]) -> list[str]:
    """Run as ``postgres`` when we are root (the server refuses root), else as ourselves."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _stop_command(bin_dir: Path, root: Path) -> list[str]:
    return _as_server_user([str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "-w", "stop"])


def temporary_root(temp_dir: Path | None = None) -> Path:
    """A new directory for a server, short enough for a socket path and named after this process."""
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=temp_dir))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def stop_orphans(temp_dir: Path | None = None, bin_dir: Path | None = None) -> list[Path]:
    """Stop the servers, and remove the directories, of test processes that are gone; returns the directories.

    A directory names its owner's pid; one whose owner is alive is left alone
    (another session, an xdist worker). One that names no owner (made before
    owners were named) is removed once it is :data:`UNNAMED_ORPHAN_AFTER_S` old.
    """
    removed = []
    for root in sorted(Path(temp_dir or tempfile.gettempdir()).glob(f"{PREFIX}*")):
        if not root.is_dir() or root.is_symlink():
            continue
        owner = re.match(rf"{re.escape(PREFIX)}(\d+)-", root.name)
        if owner is not None and _alive(int(owner.group(1))):
            continue
        if owner is None and time.time() - root.stat().st_mtime < UNNAMED_ORPHAN_AFTER_S:
            continue
        bin_dir = bin_dir or find_bin_dir()
        if bin_dir is not None and (root / "data" / "postmaster.pid").exists():
            subprocess.run(_stop_command(bin_dir, root), capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)
        removed.append(root)
    return removed


@dataclass
class PgServer:
    """A running PostgreSQL cluster under ``root``; ``stop`` shuts it down and removes the directory."""

    bin_dir: Path
    root: Path
    _counter: itertools.count = field(default_factory=lambda: itertools.count(1))
    _watchdog: subprocess.Popen | None = None

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @classmethod
    def start(cls, root: Path, bin_dir: Path | None = None) -> PgServer:
        """initdb + pg_ctl start (waits until it accepts connections) + the watchdog; on failure nothing is left running."""
        bin_dir = bin_dir or find_bin_dir()
        if bin_dir is None:
            raise FileNotFoundError("PostgreSQL binaries (initdb, pg_ctl) not found")
        server = cls(bin_dir, root)
        try:
            server.socket_dir.mkdir(parents=True)
            if os.geteuid() == 0:
                user = pwd.getpwnam("postgres")
                for path in (root, server.socket_dir):
                    os.chown(path, user.pw_uid, user.pw_gid)
            # Started first, so that even a kill -9 during initdb or start leaves nothing behind.
            server._watchdog = subprocess.Popen(
                ["sh", "-c", _WATCHDOG, "qbpg-watchdog", str(os.getpid()), str(root), *_stop_command(bin_dir, root)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            )
            run = lambda args: subprocess.run(_as_server_user(args), check=True, capture_output=True, text=True, timeout=120)  # noqa: E731
            run([str(bin_dir / "initdb"), "-D", str(server.data_dir), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
            options = f"-c listen_addresses='' -k {server.socket_dir} -p {PORT} -c fsync=off -c max_connections=100"
            run([str(bin_dir / "pg_ctl"), "-D", str(server.data_dir), "-o", options, "-l", str(root / "server.log"), "-w", "start"])
        except BaseException:
            server.stop()
            raise
        return server

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database`` on this server (unix socket, user postgres, no password)."""
        return f"postgresql+psycopg://postgres@/{database}?host={self.socket_dir}&port={PORT}"

    def new_database(self) -> str:
        """Create an empty database and return its URL."""
        import psycopg

        name = f"t_{os.getpid()}_{next(self._counter)}"
        with psycopg.connect(host=str(self.socket_dir), port=PORT, user="postgres", dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server at once, delete its files, and end the watchdog."""
        if self.data_dir.joinpath("postmaster.pid").exists():
            subprocess.run(_stop_command(self.bin_dir, self.root), capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)
        if self._watchdog is not None:
            self._watchdog.terminate()
            self._watchdog.wait(timeout=30)


@contextmanager
def database_targets(sqlite_path: Path) -> Iterator[dict[str, str]]:
    """The databases a leaderboard bench measures, engine -> path or URL: SQLite at ``sqlite_path``, and
    a fresh database on a throwaway PostgreSQL server when its binaries are installed (stopped on exit)."""
    targets = {"sqlite": str(sqlite_path)}
    if find_bin_dir() is None:
        print("postgresql: initdb/pg_ctl not found, measuring SQLite only")
        yield targets
        return
    server = PgServer.start(temporary_root())
    try:
        targets["postgresql"] = server.new_database()
        yield targets
    finally:
        server.stop()
