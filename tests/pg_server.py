"""A throwaway PostgreSQL server for the tests: initdb in a temp dir, listen on a unix socket only, stop afterwards.

PostgreSQL refuses to run as root, so under root the server runs as the
``postgres`` system user (``runuser``). Each test gets its own database
(:meth:`PgServer.new_database`), created from ``template0`` in a few
milliseconds, so tests never see each other's rows.

>>> # server = PgServer.start(Path(tempfile.mkdtemp()))
>>> # url = server.new_database()   # postgresql+psycopg://postgres@/t_1?host=/tmp/.../socket&port=54321
>>> # server.stop()
>>> # with database_targets(tmp / "lb.db") as targets:   # what a leaderboard bench measures: {"sqlite": ..., "postgresql": ...}
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

#: The port number names the socket file (nothing listens on TCP); one per process, so xdist workers never clash.
PORT = 40000 + os.getpid() % 20000


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


@dataclass
class PgServer:
    """A running PostgreSQL cluster under ``root``; ``stop`` shuts it down and removes the directory."""

    bin_dir: Path
    root: Path
    _counter: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @classmethod
    def start(cls, root: Path, bin_dir: Path | None = None) -> PgServer:
        """initdb + pg_ctl start (waits until it accepts connections)."""
        bin_dir = bin_dir or find_bin_dir()
        if bin_dir is None:
            raise FileNotFoundError("PostgreSQL binaries (initdb, pg_ctl) not found")
        server = cls(bin_dir, root)
        server.socket_dir.mkdir(parents=True)
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            for path in (root, server.socket_dir):
                os.chown(path, user.pw_uid, user.pw_gid)
        run = lambda args: subprocess.run(_as_server_user(args), check=True, capture_output=True, text=True, timeout=120)  # noqa: E731
        run([str(bin_dir / "initdb"), "-D", str(server.data_dir), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
        options = f"-c listen_addresses='' -k {server.socket_dir} -p {PORT} -c fsync=off -c max_connections=100"
        run([str(bin_dir / "pg_ctl"), "-D", str(server.data_dir), "-o", options, "-l", str(root / "server.log"), "-w", "start"])
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
        """Stop the server at once and delete its files."""
        subprocess.run(
            _as_server_user([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"]),
            capture_output=True, timeout=60,
        )
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def database_targets(sqlite_path: Path) -> Iterator[dict[str, str]]:
    """The databases a leaderboard bench measures, engine -> path or URL: SQLite at ``sqlite_path``, and
    a fresh database on a throwaway PostgreSQL server when its binaries are installed (stopped on exit)."""
    targets = {"sqlite": str(sqlite_path)}
    if find_bin_dir() is None:
        print("postgresql: initdb/pg_ctl not found, measuring SQLite only")
        yield targets
        return
    server = PgServer.start(Path(tempfile.mkdtemp(prefix="qbpg-")))
    try:
        targets["postgresql"] = server.new_database()
        yield targets
    finally:
        server.stop()
