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
