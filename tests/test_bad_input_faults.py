"""Reliability sweep, resource faults: a full disk or an unwritable path during a run, a checkpoint, an export or leaderboard add.

A full disk is simulated with ``RLIMIT_FSIZE`` in a subprocess (SIGXFSZ
ignored, so a write past the limit fails with EFBIG as a full disk fails with
ENOSPC). Each fault must end in exit status 2 with one line naming the path,
no temporary file left, and no half-made run directory or export.
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from bad_input import snapshot
from click.testing import CliRunner
from leaderboard_fixtures import accuracy_task, write_run

from harness.cli import main
from harness.config import QUICKSTART

REPO = Path(__file__).resolve().parents[1]
SQLITE_ROOM = 40_000  # room for SQLite's 32 KiB shared-memory file, too little for an HTML page with plots or a run's write-ahead log
TRAIN = ("--set", "optim.steps=2", "--set", "optim.batch_size=4", "-q", "--set", "tasks=[{name: sst2, limit: 8, eval_limit: 4}]",
         "--set", "output.leaderboard=false")


def qabench_limited(args: list[str], cwd: Path, max_file_bytes: int | None, cache: Path, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """``qabench ARGS`` in a subprocess that may not write any file beyond ``max_file_bytes`` (None: no limit), run under ``prefix``."""

    def limit() -> None:
        if max_file_bytes is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    env = {**os.environ, "PYTHONPATH": str(REPO), "QABENCH_CACHE": str(cache)}
    code = "from harness.cli import main; main(prog_name='qabench')"
    return subprocess.run([*prefix, sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True, preexec_fn=limit,
                          timeout=600)


def obeying_permissions() -> tuple[str, ...]:
    """A command prefix under which even root obeys file permissions, so the read-only cases run in CI (as root) too.

    Root without ``CAP_DAC_OVERRIDE`` and ``CAP_DAC_READ_SEARCH`` is held to
    a directory's mode like any user; ``setpriv`` (util-linux) drops them for
    the command it runs. Nothing is needed for another user.
    """
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv (util-linux): a read-only directory cannot be simulated")
    caps = "-dac_override,-dac_read_search"
    return (setpriv, "--bounding-set", caps, "--inh-caps", caps, "--")


def assert_one_line(done: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert done.returncode == 2, f"exit {done.returncode}\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def no_temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.tmp") if "cache" not in p.parts]


def fill_board(root: Path) -> Path:
    """``root/lb.db`` holding run-0 and run-1 of ``root/runs``; run-2 is written but not added (also bench/sweep_table.py's)."""
    db = root / "lb.db"
    rng = random.Random(0)  # varied scores: a stored run takes more room than a few pages
    suite = {"name": "demo", "version": "1", "fingerprint": "d" * 64, "score": "decaScore over 1 task"}  # ranked: its export has plots
    runs = [write_run(root / "runs", f"run-{i}", [accuracy_task("sst2", [rng.choice([0, 100]) for _ in range(2000)])], suite=suite) for i in range(3)]
    result = CliRunner().invoke(main, ["leaderboard", "--db", str(db), "add", *map(str, runs[:2])])
    assert result.exit_code == 0, result.output
    return db


@pytest.fixture
def board(tmp_path: Path) -> Path:
    return fill_board(tmp_path)


def test_disk_full_during_export_leaves_no_file(board: Path, tmp_path: Path) -> None:
    done = qabench_limited(["leaderboard", "--db", str(board), "export", "--format", "html", "-o", "board.html"], tmp_path, SQLITE_ROOM, tmp_path / "cache")
    assert_one_line(done, "-o board.html", "cannot write the html export")
    assert not (tmp_path / "board.html").exists() and not no_temporaries(tmp_path)


def test_disk_full_during_add_leaves_the_database_unchanged(board: Path, tmp_path: Path) -> None:
    before = board.read_bytes()
    done = qabench_limited(["leaderboard", "--db", str(board), "add", str(tmp_path / "runs" / "run-2")], tmp_path, SQLITE_ROOM, tmp_path / "cache")
    assert_one_line(done, "cannot write the leaderboard", "nothing was added")
    assert board.read_bytes() == before
    shown = CliRunner().invoke(main, ["leaderboard", "--db", str(board), "show", "--json"])
    assert shown.exit_code == 0 and shown.output.count('"run_id"') == 2


@pytest.mark.slow
def test_disk_full_during_a_checkpoint_and_the_model_save_leaves_no_run_directory(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    warm = qabench_limited(["train", str(QUICKSTART), *TRAIN, "--set", f"output.dir={tmp_path / 'warm'}"], tmp_path, 2**40, cache)
    assert warm.returncode == 0, warm.stderr[-3000:]  # the tokenizer and features are cached now: only the run writes
    for extra, needle in ((("--set", "output.checkpoint_every=1"), "cannot write the checkpoint"), ((), "cannot write the model")):
        out = tmp_path / "runs"
        done = qabench_limited(["train", str(QUICKSTART), *TRAIN, *extra, "--set", f"output.dir={out}"], tmp_path, 64 * 1024, cache)
        assert_one_line(done, needle)
        assert not out.exists() or not any(out.iterdir()), "a half-made run directory was left behind"
        assert not no_temporaries(tmp_path)


def test_a_diverged_run_leaves_no_run_directory(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    result = CliRunner().invoke(main, ["run", str(QUICKSTART), *TRAIN, "--set", "optim.lr=1e30", "--set", f"output.dir={out}"])
    assert result.exit_code == 2, result.output
    assert "training diverged" in result.stderr and "the loss was nan" in result.stderr
    assert not out.exists() or not any(out.iterdir())


def test_stale_temporaries_of_an_interrupted_checkpoint_are_removed_on_resume(tmp_path: Path) -> None:
    from harness.runner import remove_stale_temporaries

    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    (checkpoints / "last.safetensors").write_bytes(b"kept")
    stale = [checkpoints / ".last.safetensors.abc123.tmp", checkpoints / ".last.safetensors.zz.tmp"]
    for path in stale:
        path.write_bytes(b"half a checkpoint")
    assert remove_stale_temporaries(checkpoints) == sorted(stale)
    assert sorted(p.name for p in checkpoints.iterdir()) == ["last.safetensors"]


def test_a_database_in_a_read_only_directory_is_still_readable(board: Path, tmp_path: Path) -> None:
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    db = readonly / "lb.db"
    shutil.copy(board, db)
    before = snapshot(readonly)
    run = lambda target, *args: qabench_limited(["leaderboard", "--db", str(target), *args], tmp_path, None, tmp_path / "cache",  # noqa: E731
                                                 obeying_permissions())
    readonly.chmod(0o555)
    try:
        shown, exported = run(db, "show"), run(db, "export", "--format", "csv")
        added, created = run(db, "add", str(tmp_path / "runs" / "run-2")), run(readonly / "new.db", "add", str(tmp_path / "runs" / "run-2"))
    finally:
        readonly.chmod(0o755)
    assert shown.returncode == 0 and "run-0" in shown.stdout, shown.stderr
    assert exported.returncode == 0 and "run-1" in exported.stdout, exported.stderr
    assert_one_line(added, "lb.db: cannot write the database", f"{readonly} must be writable")
    assert_one_line(created, "new.db: cannot create the database", f"{readonly} must be writable")
    assert snapshot(readonly) == before


def test_reading_on_a_full_disk_works_and_writing_names_the_cause(board: Path, tmp_path: Path) -> None:
    """With no byte left, SQLite cannot create the shared-memory file it reads a WAL database through: readers still read."""
    before = board.read_bytes()
    for args in (["show"], ["export", "--format", "csv"]):
        done = qabench_limited(["leaderboard", "--db", str(board), *args], tmp_path, 0, tmp_path / "cache")
        assert done.returncode == 0 and "run-1" in done.stdout, done.stderr[-3000:]
    done = qabench_limited(["leaderboard", "--db", str(board), "add", str(tmp_path / "runs" / "run-2")], tmp_path, 0, tmp_path / "cache")
    assert_one_line(done, "lb.db: cannot write the database", "disk have room")
    assert "not a qabench leaderboard" not in done.stderr and board.read_bytes() == before


@pytest.mark.slow
def test_a_read_only_output_directory_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    readonly.chmod(0o555)
    try:
        done = qabench_limited(["train", str(QUICKSTART), *TRAIN, "--set", f"output.dir={readonly / 'runs'}"], tmp_path, None, tmp_path / "cache",
                               obeying_permissions())
    finally:
        readonly.chmod(0o755)
    assert_one_line(done, str(readonly / "runs"), "cannot write the run", "Permission denied")
    assert list(readonly.iterdir()) == [] and not no_temporaries(tmp_path)
