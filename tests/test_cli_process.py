"""What the ``qabench`` command sets up for its process before any sub-command runs: the garbage collector's pace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness.cli import GC_THRESHOLDS

REPO = Path(__file__).resolve().parents[1]

# A qabench process, then its exit handlers run by hand so that their effect can be printed.
PROBE = """
import atexit, gc
from harness.cli import main
print(gc.get_threshold(), gc.get_freeze_count())
try:
    main(["--version"])
except SystemExit:
    pass
print(gc.get_threshold(), gc.get_freeze_count())
atexit._run_exitfuncs()
print(gc.get_freeze_count() > 0)
"""


def test_the_command_raises_the_collector_thresholds_and_freezes_every_object_at_exit() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, cwd=REPO, check=True)
    before, after, frozen = [line for line in done.stdout.splitlines() if not line.startswith("qabench")]
    assert before == f"{(700, 10, 10)} 0"  # Python's defaults, nothing frozen: importing harness.cli changes nothing
    assert after == f"{GC_THRESHOLDS} 0"  # set when the command starts; frozen only at exit
    assert frozen == "True"


def test_thresholds_a_process_raised_further_are_kept() -> None:
    code = "import gc; gc.set_threshold(100000, 30, 30)\nfrom harness.cli import collect_less\ncollect_less(); print(gc.get_threshold())"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, check=True)
    assert done.stdout.strip() == "(100000, 30, 30)"
