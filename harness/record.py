"""The run record of docs/run-record.md: one ``record.json`` per run, written atomically.

>>> # write_json_atomic(run_dir / "record.json", build_record(...))
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from harness import __version__
from tasks.scoring import TaskResult, deca_score

if TYPE_CHECKING:  # torch is imported where hardware is read, so qabench score (which writes records) stays torch-free
    import torch

SCHEMA_VERSION = 1
RECORD_FILE = "record.json"
PREDICTIONS_FILE = "predictions.jsonl"


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


def hardware_info(device: torch.device) -> dict[str, Any]:
    """Where the run ran."""
    import torch

    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    return {
        "device": device.type,
        "cpu_count": os.cpu_count(),
        "gpu": gpu,
        "processes": torch.distributed.get_world_size() if distributed else 1,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


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
    model: Mapping[str, Any],
    head_mode: str,
    training: Mapping[str, Any],
    results: Sequence[TaskResult],
    timings: Mapping[str, float],
    hardware: Mapping[str, Any],
    kind: str = "run",
    source_run: str | None = None,
    suite: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The record as a dict, in docs/run-record.md's order.

    ``kind`` is ``run`` (trained and evaluated here), ``evaluation`` (a saved
    run evaluated again: ``source_run`` names it) or ``external`` (answers of
    a system built elsewhere, scored by ``qabench score``). ``suite`` is the
    suite's name, version, fingerprint and score label when the evaluation
    followed a suite's protocol exactly.
    """
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "kind": kind,
        "source_run": source_run,
        "suite": dict(suite) if suite else None,
        "created": created.isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "qabench_version": __version__,
        "config": dict(config),
        "model": dict(model),
        "head_mode": head_mode,
        "training": dict(training),
        "tasks": [r.to_record() for r in results],
        "deca_score": deca_score(results),
        "predictions": PREDICTIONS_FILE,
        "timings": dict(timings),
        "hardware": dict(hardware),
    }


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> None:
    """Write JSON to a temporary file beside ``path``, then rename it over ``path``: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def print_table(record: Mapping[str, Any], echo: Any = print) -> None:
    """The per-task table of a record: task, split, examples, headline metric, other metrics."""
    rows = [(t["name"], t["split"], str(t["examples"]), f"{t['headline']} {t['metrics'][t['headline']]:.2f}",
             "  ".join(f"{k} {v:.2f}" for k, v in t["metrics"].items() if k != t["headline"])) for t in record["tasks"]]
    header = ("task", "split", "examples", "headline", "other metrics")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    echo(f"decaScore {record['deca_score']:.2f}")
    suite = record.get("suite")
    if suite:
        echo(f"suite {suite['name']} v{suite['version']} ({suite['score']}), fingerprint {suite['fingerprint'][:12]}")


if __name__ == "__main__":  # pragma: no cover - print the table of a record: python -m harness.record runs/<id>/record.json
    print_table(json.loads(Path(sys.argv[1]).read_text()))
