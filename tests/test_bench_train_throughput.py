"""bench/train_throughput.py: both loops train on the same planned batches and the table says so, with its conditions."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_sides_do_identical_work_and_the_table_shows_each_against_the_trainer(tmp_path: Path) -> None:
    pytest.importorskip("accelerate", reason="the Trainer needs accelerate (installed by install.sh, the bench extra)")
    env = {k: v for k, v in os.environ.items() if k != "QABENCH_DATA"} | {"QABENCH_CACHE": str(tmp_path)}  # the bundled sample: small and always there
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "train_throughput.py"), "--tasks", "sst2,squad", "--limit", "24", "--max-length", "64",
         "--batch-tokens", "256", "--steps", "5", "--warmup", "1", "--rounds", "2"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    work = re.search(r"3 timed steps per round, each side: (\d+) examples, (\d+) real tokens, (\d+) padded tokens", out)
    assert work and int(work[3]) <= 3 * 256 and int(work[2]) <= int(work[3])  # every batch within the token budget
    throughput, phases = out.split("where a step's CPU time goes")
    rows = {line[:28].strip(): line[28:].split() for line in throughput.splitlines() if line.startswith(("qabench,", "Trainer,"))}
    assert set(rows) == {"qabench, AdamW auto", "qabench, AdamW single", "Trainer, adamw_torch_fused"}
    assert rows["Trainer, adamw_torch_fused"][1] == "1.00x" and all(float(r[0]) > 0 for r in rows.values())
    split = {line[:28].strip(): line[28:].split() for line in phases.splitlines() if line.startswith(("qabench,", "Trainer,"))}
    assert set(split) == set(rows)
    for step, _, forward, backward, rest, _, _ in split.values():  # CPU ms (medians): a step holds its forward and backward, the rest is what is left
        assert 0 < float(forward) < float(step) and 0 < float(backward) < float(step) and float(rest) >= 0
    assert re.search(r"^conditions: .*torch threads 1.*load average .*torch 2\.\d+", out, re.M)
