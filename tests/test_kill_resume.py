"""Resume after a real ``kill -9``: the resumed run's weights, metrics and predictions are bitwise those of an uninterrupted run.

Each run is its own ``qabench run`` process. The killed one is held (never
slept) at a chosen point: right after the step-4 checkpoint is renamed into
place, or inside the step-4 checkpoint write, after the temporary file is
written and before it is renamed. The test polls the checkpoint files until
that point is on disk, sends SIGKILL, and resumes with ``--resume``. The hold
only fixes where the kill lands, so the test is deterministic; everything
else, the kill included, is what a user's crash does.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest
import torch
from safetensors import SafetensorError

from harness import checkpoint_file
from harness.config import QUICKSTART

REPO = Path(__file__).resolve().parents[1]
KILL_STEP = 4
CONFIG = ("--set", "optim.steps=8", "--set", "optim.batch_size=4", "--set", "output.checkpoint_every=2", "--set", "output.leaderboard=false",
          "--set", "tasks=[{name: sst2, limit: 8, eval_limit: 6}, {name: squad, limit: 8, eval_limit: 6}]", "-q")
FINAL_FILES = ("model/model.safetensors", "model/heads.safetensors", "model/heads.json", "predictions.jsonl")
CACHE: list[Path] = []

# The child: qabench's own CLI, with one hook that holds the process at HOLD (None: no hold) until it is killed.
CHILD = """
import signal, sys
from harness import checkpoint_file, train
from harness.cli import main

HOLD, STEP = sys.argv.pop(1), int(sys.argv.pop(1))

def hold_at(step):
    if step == STEP:
        while True:
            signal.pause()  # until SIGKILL

if HOLD == "after-checkpoint":
    real_save = train.save_checkpoint
    def save_checkpoint(path, state):
        real_save(path, state)
        hold_at(state["step"])
    train.save_checkpoint = save_checkpoint
elif HOLD == "inside-checkpoint-write":
    real_write = checkpoint_file.write
    def write(tmp, state):
        real_write(tmp, state)  # the temporary is whole; the rename over last.safetensors has not happened
        hold_at(state["step"])
    checkpoint_file.write = write
main(prog_name="qabench")
"""


def qabench(args: list[str], cwd: Path, hold: str = "none") -> subprocess.Popen[str]:
    """``qabench ARGS`` in a process of its own, held at ``hold`` (see CHILD); one cache for all (tokenizer and features)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "QABENCH_CACHE": str(CACHE[0])}
    return subprocess.Popen([sys.executable, "-c", CHILD, hold, str(KILL_STEP), *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(process: subprocess.Popen[str], cwd: Path) -> tuple[Path, dict]:
    """Wait for a run started in ``cwd`` to end well; its run directory and record."""
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-3000:]
    record = cwd / out.split("record: ")[1].split()[0]
    return record.parent, json.loads(record.read_text())


def checkpoint_step(path: Path) -> int | None:
    """The step of the checkpoint at ``path``; None while it does not exist or is still being written."""
    try:
        return int(checkpoint_file.read(path)["step"])
    except (OSError, SafetensorError, checkpoint_file.DamagedState, KeyError, TypeError):
        return None


def bitwise_equal(a: object, b: object) -> bool:
    """Equal trees whose tensors have the same dtype, shape and bits."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        bits = [t.detach().contiguous().reshape(-1).view(torch.uint8) for t in (a, b)]
        return a.dtype == b.dtype and a.shape == b.shape and torch.equal(*bits)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(bitwise_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(bitwise_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and (a == b or (a != a and b != b))  # NaN == NaN here


def kill_when(process: subprocess.Popen[str], reached: Callable[[], bool], what: str) -> None:
    """Poll until ``reached()`` (the process is then held there), SIGKILL it, and wait for it."""
    deadline = time.monotonic() + 600
    try:
        while not reached():
            assert process.poll() is None, f"the run ended (exit {process.returncode}) before {what}: {process.communicate()[1][-3000:]}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.02)  # polling interval only: the run is held at the kill point, so nothing races it
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The uninterrupted run of the same config, in a process of its own like the others."""
    CACHE[:] = [tmp_path_factory.mktemp("cache")]
    cwd = tmp_path_factory.mktemp("whole")
    return finished(qabench(["run", str(QUICKSTART), *CONFIG, "--set", "output.dir=runs"], cwd), cwd)


def resume_and_compare(run_dir: Path, cwd: Path, whole: tuple[Path, dict]) -> dict:
    whole_dir, whole_record = whole
    resumed_dir, record = finished(qabench(["run", str(QUICKSTART), *CONFIG, "--set", "output.dir=runs", "--resume", str(run_dir)], cwd), cwd)
    assert resumed_dir == run_dir
    for rel in FINAL_FILES:
        assert (run_dir / rel).read_bytes() == (whole_dir / rel).read_bytes(), f"{rel} differs from the uninterrupted run's"
    assert [t["metrics"] for t in record["tasks"]] == [t["metrics"] for t in whole_record["tasks"]]
    assert record["deca_score"] == whole_record["deca_score"]
    # The final checkpoint too (optimiser, scheduler, mixture, RNG states): equal content; safetensors orders its header's metadata keys freely.
    final = [checkpoint_file.read(d / "checkpoints" / "last.safetensors") for d in (run_dir, whole_dir)]
    assert bitwise_equal(*final)
    assert not list((run_dir / "checkpoints").glob(".*.tmp"))
    return record


@pytest.mark.slow
def test_kill_9_right_after_a_checkpoint_then_resume_is_bitwise_the_uninterrupted_run(tmp_path: Path, whole: tuple[Path, dict]) -> None:
    cwd = tmp_path / "work"
    cwd.mkdir()
    process = qabench(["run", str(QUICKSTART), *CONFIG, "--set", "output.dir=runs"], cwd, hold="after-checkpoint")
    checkpoint = lambda: next((cwd / "runs").glob("*/checkpoints/last.safetensors"), None)  # noqa: E731
    kill_when(process, lambda: checkpoint() is not None and checkpoint_step(checkpoint()) == KILL_STEP, f"the step-{KILL_STEP} checkpoint")
    (run_dir,) = (cwd / "runs").iterdir()
    assert not (run_dir / "record.json").exists() and not (run_dir / "model").exists()

    record = resume_and_compare(run_dir, cwd, whole)
    assert record["training"]["resumed_from_step"] == KILL_STEP


@pytest.mark.slow
def test_kill_9_inside_a_checkpoint_write_resumes_from_the_one_before(tmp_path: Path, whole: tuple[Path, dict]) -> None:
    cwd = tmp_path / "work"
    cwd.mkdir()
    process = qabench(["run", str(QUICKSTART), *CONFIG, "--set", "output.dir=runs"], cwd, hold="inside-checkpoint-write")
    written = lambda: [p for p in (cwd / "runs").glob("*/checkpoints/.last.safetensors.*.tmp") if checkpoint_step(p) == KILL_STEP]  # noqa: E731
    kill_when(process, lambda: bool(written()), f"the step-{KILL_STEP} checkpoint's temporary file")
    (run_dir,) = (cwd / "runs").iterdir()
    (stale,) = list((run_dir / "checkpoints").glob(".*.tmp"))  # whole, but never renamed: not a checkpoint
    assert checkpoint_step(run_dir / "checkpoints" / "last.safetensors") == KILL_STEP - 2

    record = resume_and_compare(run_dir, cwd, whole)
    assert record["training"]["resumed_from_step"] == KILL_STEP - 2
    assert not stale.exists()
