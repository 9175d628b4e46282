"""Training curves of a run: each task's smoothed training loss every few steps and each periodic evaluation's scores.

:class:`CurveLog` appends them to ``<run_dir>/curves.jsonl`` (one point per
line, the format :mod:`leaderboard.curves` reads and ``qabench leaderboard
add`` stores) and, with ``output.tensorboard: true``, to TensorBoard event
files under ``<run_dir>/tensorboard/`` through ``torch.utils.tensorboard``.

Losses stay on the device between logging steps: :meth:`CurveLog.add_loss`
only adds tensors, and one host sync every ``every`` steps reads the window's
mean per task (the smoothing), so the log never costs a GPU its lead.

>>> # log = CurveLog(run_dir, every=10); log.add_loss("sst2", out.loss); log.step_done(step); log.add_eval(results)
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

import torch

from harness.errors import UserError

#: The file beside ``train.json``.
CURVES_FILE = "curves.jsonl"
#: Points per curve when ``output.curves_every`` is 0 (automatic).
AUTO_POINTS = 100


def curve_every(setting: int, steps: int) -> int:
    """Steps between loss points: the setting, or about :data:`AUTO_POINTS` points over the run when it is 0.

    >>> curve_every(0, 1000), curve_every(0, 30), curve_every(25, 1000)
    (10, 1, 25)
    """
    return setting if setting > 0 else max(1, steps // AUTO_POINTS)


class CurveLog:
    """Appends curve points to ``curves.jsonl`` (and TensorBoard); one per run, on the main process only."""

    def __init__(self, run_dir: Path, every: int, tensorboard: bool = False) -> None:
        self.path = Path(run_dir) / CURVES_FILE
        self.every = every
        self.step = 0
        self._sums: dict[str, list[Any]] = {}  # task -> [loss sum tensor, micro-batches]
        self._file = open(self.path, "a", encoding="utf-8")  # appended: a resumed run continues the same curves
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                self._file.close()
                raise UserError("output.tensorboard: true needs the tensorboard package: pip install tensorboard") from None
            self._tb = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))

    def add_loss(self, task: str, loss: torch.Tensor) -> None:
        """Count one micro-batch's loss of ``task`` (stays on the device)."""
        entry = self._sums.setdefault(task, [torch.zeros((), device=loss.device), 0])
        entry[0] += loss.detach().float()
        entry[1] += 1

    def step_done(self, step: int) -> None:
        """After optimizer step ``step``: every ``every`` steps, write each task's mean loss over the window."""
        self.step = step
        if step % self.every or not self._sums:
            return
        tasks = sorted(self._sums)
        means = torch.stack([self._sums[t][0] / self._sums[t][1] for t in tasks]).tolist()  # one host sync
        self._sums.clear()
        self._write([(task, "loss", "loss", value) for task, value in zip(tasks, means)])

    def add_eval(self, results: Sequence[Any]) -> None:
        """A periodic evaluation's scores (``TaskResult`` s: ``name`` and ``metrics``) at the current step."""
        self._write([(r.name, "eval", metric, float(value)) for r in results for metric, value in r.metrics.items()])

    def _write(self, points: Sequence[tuple[str, str, str, float]]) -> None:
        for task, kind, metric, value in points:
            if not math.isfinite(value):  # a diverged step: the trainer reports it; the curve skips it
                continue
            self._file.write(json.dumps({"step": self.step, "kind": kind, "task": task, "metric": metric, "value": value}) + "\n")
            if self._tb is not None:
                self._tb.add_scalar(f"{kind}/{task}" if kind == "loss" else f"{kind}/{task}/{metric}", value, self.step)
        self._file.flush()

    def close(self) -> None:
        """Flush and close the file (and the TensorBoard writer)."""
        self._file.close()
        if self._tb is not None:
            self._tb.close()
