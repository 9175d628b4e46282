"""bench/mfu.py: training throughput and MFU over a matmul peak measured in the same script."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_mfu_reports_throughput_and_a_utilisation_between_zero_and_one(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "mfu.py"), str(ROOT / "harness/quickstart/quickstart.yaml"), "--steps", "4", "--warmup", "1",
         "--set", f"cache_dir={tmp_path}", "--set", "threads=1"],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    table = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in result.stdout.splitlines() if line.strip())
    assert table["steps timed"].startswith("3 x batch")
    assert float(table["examples / s"]) > 0
    real_share = int(re.search(r"\((\d+)% of them real\)", table["padded tokens / s"]).group(1))
    assert 50 <= real_share <= 100
    mfu = float(table["MFU"].rstrip("%"))
    assert 0 < mfu <= 100, "model FLOPs per second cannot exceed the measured peak"
