"""``qabench score``: a system built outside qabench, scored on a suite and recorded like a run.

The answers go through :func:`tasks.scoring.score_task`, the path the
harness's own evaluation takes, and the result is written as a run record of
kind ``external`` (with a ``predictions.jsonl`` in the harness's own shape,
so the leaderboard computes intervals and paired tests for it as for any
run). Nothing here imports torch.

>>> # outcome = score_external(load_suite_data(get_suite("lecture")), "answers.jsonl", "my-system", {}, Path("runs"))
>>> # outcome.record.suite.name, outcome.missing
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping

from atomicio import write_json_atomic
from harness.errors import UserError
from harness.record import build_record
from leaderboard.run_record import PREDICTIONS_FILE, RECORD_FILE, Hardware, ModelInfo, RunRecord, SuiteRef, Timings, TrainingInfo
from tasks.data import fingerprint
from tasks.errors import TaskError
from tasks.scoring import read_answers, score_task
from tasks.suite import SuiteData


@dataclass(frozen=True)
class ExternalOutcome:
    """Where ``qabench score`` wrote the record, the record, and how many ids each task had no answer for."""

    run_dir: Path
    record_path: Path
    record: RunRecord
    missing: Mapping[str, int]


def parse_meta(items: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``--meta key=value`` items as a dict; a malformed one is a :class:`UserError` naming it.

    >>> parse_meta(["parameters=110000000", "url=https://example.org"])
    {'parameters': '110000000', 'url': 'https://example.org'}
    """
    meta: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--meta {item!r}: expected KEY=VALUE")
        meta[key.strip()] = value
    if "parameters" in meta and not meta["parameters"].isdigit():
        raise UserError(f"--meta parameters={meta['parameters']}: the parameter count must be a whole number")
    return meta


def external_run_id(created: datetime, name: str, digest: str) -> str:
    """``<UTC time>-external-<name as a slug>-<6 hex>``.

    >>> external_run_id(datetime(2026, 12, 3, tzinfo=timezone.utc), "First span!", "ab12cd34")
    '20261203T000000Z-external-first-span-ab12cd'
    """
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "system"
    return f"{created:%Y%m%dT%H%M%SZ}-external-{slug}-{digest[:6]}"


def score_external(data: SuiteData, predictions: str | os.PathLike[str], name: str, meta: Mapping[str, str], out_dir: Path) -> ExternalOutcome:
    """Score a predictions file on a suite and write the record of kind ``external`` under ``out_dir``.

    A bad predictions file raises before anything is written.
    """
    if not name.strip():
        raise UserError("--name: give the system a name")
    tasks = {task.name: (task, data.examples[task.name]) for task in data.tasks}
    try:
        answers = read_answers(predictions, tasks)
    except TaskError as err:
        raise UserError(str(err)) from None
    scored = [
        score_task(task, entry.split, fingerprint(examples), examples, answers[task.name])
        for entry, (task, examples) in zip(data.suite.tasks, tasks.values())
    ]
    results = [s.result for s in scored]
    created = datetime.now(timezone.utc)
    raw = Path(predictions).read_bytes()
    run_id = external_run_id(created, name, hashlib.sha256(raw + created.isoformat().encode()).hexdigest())
    run_dir = out_dir / run_id
    record = build_record(
        run_id=run_id,
        created=created,
        config={"suite": data.suite.name, "predictions": str(predictions), "predictions_sha256": hashlib.sha256(raw).hexdigest()},
        model=ModelInfo(backbone=name, preset=None, parameters=int(meta.get("parameters", 0)), meta=dict(meta)),
        head_mode="external",
        training=TrainingInfo(regime="external", mixture=None, steps=None, seed=None),
        results=results,
        timings=Timings(),
        hardware=Hardware(),
        kind="external",
        suite=SuiteRef(**data.info()),
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / f".{PREDICTIONS_FILE}.tmp"
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            for s in scored:
                for line in s.lines:
                    fh.write(json.dumps(line, ensure_ascii=False) + "\n")
        os.replace(tmp, run_dir / PREDICTIONS_FILE)
        write_json_atomic(run_dir / RECORD_FILE, record.to_dict())
    finally:
        tmp.unlink(missing_ok=True)
    return ExternalOutcome(run_dir, run_dir / RECORD_FILE, record, {s.result.name: s.missing for s in scored})

