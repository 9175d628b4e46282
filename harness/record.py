"""Building the run record of docs/run-record.md (schema: :mod:`leaderboard.run_record`), written atomically.

>>> # atomicio.write_json_atomic(run_dir / RECORD_FILE, build_record(...).to_dict())
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from harness import __version__
from leaderboard.run_record import PREDICTIONS_FILE, Hardware, ModelInfo, RunRecord, SuiteRef, Timings, TrainingInfo
from tasks.metrics import deca_score
from tasks.scoring import TaskResult

if TYPE_CHECKING:  # torch is imported where hardware is read, so qabench score (which writes records) stays torch-free
    import torch


def new_run_id(created: datetime, backbone: str, preset: str | None, config: Mapping[str, Any]) -> str:
    """``<UTC time>-<backbone>-<preset>-<6 hex>``, e.g. ``20261126T043000Z-bert-tiny-3f9a2c``."""
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode() + created.isoformat().encode()).hexdigest()
    return f"{created:%Y%m%dT%H%M%SZ}-{backbone}-{preset or 'pretrained'}-{digest[:6]}"


def git_commit() -> str | None:
    """The commit of the qabench checkout this code runs from, or None (an installed copy, no git)."""
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if len(commit) == 40 else None


def hardware_info(device: torch.device) -> Hardware:
    """Where the run ran."""
    import torch

    from harness.scaffold import distributed

    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    return Hardware(
        device=device.type,
        cpu_count=os.cpu_count(),
        gpu=gpu,
        processes=distributed()[1],
        torch=torch.__version__,
        python=platform.python_version(),
        platform=platform.platform(),
    )


def directory_sha256(path: str | os.PathLike[str]) -> str | None:
    """sha256 over the relative names and bytes of every file of a pretrained directory (or a file); None for a hub id."""
    root = Path(path).expanduser()
    if root.is_file():
        files = [root]
        root = root.parent
    elif root.is_dir():
        files = sorted(p for p in root.rglob("*") if p.is_file())
    else:
        return None
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(root)).encode() + b"\0")
        with file.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def build_record(
    *,
    run_id: str,
    created: datetime,
    config: Mapping[str, Any],
    model: ModelInfo,
    head_mode: str,
    training: TrainingInfo,
    results: Sequence[TaskResult],
    timings: Timings,
    hardware: Hardware,
    kind: str = "run",
    source_run: str | None = None,
    suite: SuiteRef | None = None,
) -> RunRecord:
    """The run's record, stamped with this checkout's git commit and qabench version; decaScore sums the headlines.

    ``kind`` is ``run`` (trained and evaluated here), ``evaluation`` (a saved
    run evaluated again: ``source_run`` names it) or ``external`` (answers of
    a system built elsewhere, scored by ``qabench score``). ``suite`` is set
    when the evaluation followed a suite's protocol exactly.
    """
    return RunRecord(
        run_id=run_id,
        created=created.isoformat(timespec="seconds"),
        git_commit=git_commit(),
        qabench_version=__version__,
        config=dict(config),
        model=model,
        head_mode=head_mode,
        training=training,
        tasks=tuple(results),
        deca_score=deca_score({r.name: r.score for r in results}),
        timings=timings,
        hardware=hardware,
        predictions=PREDICTIONS_FILE,
        kind=kind,
        source_run=source_run,
        suite=suite,
    )


def print_table(record: RunRecord, echo: Any = print) -> None:
    """The per-task table of a record: task, split, examples, headline metric, other metrics."""
    rows = [(t.name, t.split, str(t.examples), f"{t.headline} {t.score:.2f}",
             "  ".join(f"{k} {v:.2f}" for k, v in t.metrics.items() if k != t.headline)) for t in record.tasks]
    header = ("task", "split", "examples", "headline", "other metrics")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    echo(f"decaScore {record.deca_score:.2f}")
    if record.suite:
        suite = record.suite
        echo(f"suite {suite.label} ({suite.score}), fingerprint {suite.fingerprint[:12]}")


if __name__ == "__main__":  # pragma: no cover - print the table of a record: python -m harness.record runs/<id>/record.json
    print_table(RunRecord.from_dict(json.loads(Path(sys.argv[1]).read_text()), sys.argv[1]))
