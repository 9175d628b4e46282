"""Shared fixtures: where the real data mirror is, and a clean environment.

No test touches the network: the hub is switched to offline mode here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Hugging Face evaluate metric scripts that tests load by path; --doctest-modules must not import them.
collect_ignore_glob = ["metric_scripts/*"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# pytest -n 2 runs two workers on two cores: one math thread each keeps them from stalling each other.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


def mirror_path() -> Path | None:
    """The real data mirror: $QABENCH_DATA, else ../shared/data beside the repo; None if absent."""
    for candidate in (os.environ.get("QABENCH_DATA"), REPO.parent / "shared" / "data"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One intra-op torch thread per test module that uses torch.

    Tiny models gain nothing from intra-op threads, and on a shared CPU their
    barriers stall each other (two threads can be ten times slower). Modules
    that never import torch do not pay for importing it here.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def mirror() -> Path:
    """The real data mirror, or skip the test with the reason."""
    path = mirror_path()
    if path is None:
        pytest.skip("real data mirror absent: set QABENCH_DATA or place it at ../shared/data")
    return path


@pytest.fixture(autouse=True)
def _no_user_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests name their data explicitly; the leaderboard DB and caches go to a temp dir."""
    monkeypatch.setenv("QABENCH_DB", str(tmp_path / "leaderboard.db"))
    monkeypatch.setenv("QABENCH_CACHE", str(tmp_path / "qabench-cache"))


# --- PostgreSQL: one throwaway server per test session (per xdist worker), a fresh database per test ------------------


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A PostgreSQL server on a unix socket for this session; skipped (outside CI) or failed (in CI) without binaries."""
    from pg_server import PgServer, find_bin_dir, stop_orphans, temporary_root

    bin_dir = find_bin_dir()
    if bin_dir is None:
        message = "PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install -y postgresql"
        if _in_ci():
            pytest.fail(f"CI=true but {message}; .ci/run installs them", pytrace=False)
        pytest.skip(message)
    stop_orphans(bin_dir=bin_dir)  # servers of killed test runs (each also has a watchdog that stops it)
    # Not under tmp_path_factory: the socket path must stay short (107 bytes) and be reachable by the postgres user.
    server = PgServer.start(temporary_root(), bin_dir)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, not yet created leaderboard database on each engine: an SQLite path, or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "lb.db")
    return request.getfixturevalue("postgres_server").new_database()
