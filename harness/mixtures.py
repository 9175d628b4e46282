"""Task mixtures: which task each training batch comes from, and which batch.

Each batch comes from one task (MT-DNN). The task of micro-step ``s`` is a
pure function of the seed and ``s``:

- ``proportional``: drawn with probability proportional to the task's size;
- ``temperature``: proportional to ``size ** (1 / T)`` (T=1 is proportional,
  large T tends to uniform);
- ``round_robin``: the tasks in turn;
- ``anti_curriculum`` (decaNLP): one task alone for the first N steps, then
  the ``then`` mixture over all tasks.

Within a task, epoch ``e`` is a shuffle seeded by (seed, task, e), in
batches of ``batch_size`` rows or, with ``batch_tokens``, of as many rows as
fit in that many padded tokens. By default the batches are random, as plain
fine-tuning draws them; ``group_by_length`` groups rows of similar length
(mega-batches of :data:`GROUPED` batches sorted by length), which pads less
but made SST-2 score lower than plain fine-tuning (README, fidelity). The only state is how many batches each task has given, so a checkpoint
stores a few integers and a resumed run draws exactly the batches an
uninterrupted one would. Under torch.distributed every process draws the same
task at each step and its own share of that task's batches.

>>> m = Mixture(["a", "b"], [[3, 1, 2, 2], [1, 1]], batch_size=2, strategy="round_robin")
>>> [m.next()[0] for _ in range(4)]
['a', 'b', 'a', 'b']
"""

from __future__ import annotations

import bisect
from typing import Sequence

import numpy as np

from harness.features import length_grouped_batches

GROUPED = 50  # batches per length-sorted mega-batch under group_by_length (transformers' LengthGroupedSampler)


def mixture_weights(sizes: Sequence[int], strategy: str, temperature: float = 1.0) -> np.ndarray:
    """Sampling probability of each task.

    >>> mixture_weights([300, 100], "proportional").tolist()
    [0.75, 0.25]
    >>> mixture_weights([400, 100], "temperature", temperature=2.0).tolist()
    [0.6666666666666666, 0.3333333333333333]
    """
    sizes_arr = np.asarray(sizes, dtype=np.float64)
    if strategy == "proportional":
        weights = sizes_arr
    elif strategy == "temperature":
        weights = sizes_arr ** (1.0 / temperature)
    elif strategy == "round_robin":
        weights = np.ones_like(sizes_arr)
    else:
        raise ValueError(f"unknown mixture strategy {strategy!r}")
    return weights / weights.sum()


class TaskSchedule:
    """The task index of every micro-step, a pure function of ``(seed, step)``."""

    def __init__(
        self,
        sizes: Sequence[int],
        strategy: str = "proportional",
        temperature: float = 2.0,
        first_task: int = 0,
        first_steps: int = 0,
        then: str = "round_robin",
        seed: int = 0,
    ) -> None:
        self.sizes = list(sizes)
        self.strategy = strategy
        self.first_task = first_task
        self.first_steps = first_steps if strategy == "anti_curriculum" else 0
        self.base = then if strategy == "anti_curriculum" else strategy
        self.weights = mixture_weights(self.sizes, self.base, temperature)
        self.seed = seed

    def task_at(self, step: int) -> int:
        """Index of the task that answers micro-step ``step``."""
        if step < self.first_steps:
            return self.first_task
        if self.base == "round_robin":
            return (step - self.first_steps) % len(self.sizes)
        rng = np.random.default_rng([self.seed, 7919, step])
        return int(rng.choice(len(self.sizes), p=self.weights))


class BatchStream:
    """The endless batches of one task, epoch after epoch; batch ``k`` is a pure function of ``k``.

    With ``world_size`` processes, each epoch's batches are dealt out in turn
    (process ``rank`` takes batches ``rank``, ``rank + world_size``, ...), the
    remainder dropped, so processes never share a batch of one epoch and all
    move to the next epoch together. With ``batch_tokens`` (token-budget
    batches) an epoch's number of batches depends on how its rows group, so
    the epochs' first batch numbers are found in order and remembered.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int, task_index: int, rank: int = 0, world_size: int = 1, batch_tokens: int = 0, group_by_length: bool = False) -> None:
        self.lengths = list(lengths)
        self.group = GROUPED if group_by_length else 1
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        self.seed = seed
        self.task_index = task_index
        self.rank = rank
        self.world_size = world_size
        self._epoch: int | None = None
        self._batches: list[list[int]] = []
        self._starts = [0]  # this process's number of its first batch of epoch e, for the epochs seen so far

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """Every batch of ``epoch``, all processes together, in the order they are dealt."""
        if epoch != self._epoch:
            rng = np.random.default_rng([self.seed, self.task_index, epoch])
            self._batches = length_grouped_batches(self.lengths, self.batch_size, rng, group=self.group, batch_tokens=self.batch_tokens)
            self._epoch = epoch
        return self._batches

    def _per_process(self, epoch: int) -> int:
        per_epoch = len(self.epoch_batches(epoch)) if self.batch_tokens else -(-len(self.lengths) // self.batch_size)
        return max(1, per_epoch // self.world_size)

    def batch(self, k: int) -> list[int]:
        """Row indices of this process's ``k``-th batch."""
        if not self.batch_tokens:  # every epoch has the same number of batches
            epoch, turn = divmod(k, self._per_process(0))
        else:
            while self._starts[-1] <= k:
                self._starts.append(self._starts[-1] + self._per_process(len(self._starts) - 1))
            epoch = bisect.bisect_right(self._starts, k) - 1
            turn = k - self._starts[epoch]
        batches = self.epoch_batches(epoch)
        return batches[(turn * self.world_size + self.rank) % len(batches)]


class Mixture:
    """Draws ``(task, row indices)`` for each micro-step; its state is the step and the batches drawn per task."""

    def __init__(
        self,
        names: Sequence[str],
        lengths: Sequence[Sequence[int]],
        batch_size: int,
        strategy: str = "proportional",
        temperature: float = 2.0,
        first_task: str | None = None,
        first_steps: int = 0,
        then: str = "round_robin",
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        batch_tokens: int = 0,
        group_by_length: bool = False,
    ) -> None:
        self.names = list(names)
        first = self.names.index(first_task) if first_task is not None else 0
        self.schedule = TaskSchedule([len(x) for x in lengths], strategy, temperature, first, first_steps, then, seed)
        self.streams = [BatchStream(x, batch_size, seed, i, rank, world_size, batch_tokens, group_by_length) for i, x in enumerate(lengths)]
        self.step = 0
        self.drawn = [0] * len(self.names)

    def next(self) -> tuple[str, list[int]]:
        """The task and row indices of the next micro-step."""
        task = self.schedule.task_at(self.step)
        rows = self.streams[task].batch(self.drawn[task])
        self.drawn[task] += 1
        self.step += 1
        return self.names[task], rows

    def state_dict(self) -> dict[str, object]:
        """What a checkpoint keeps."""
        return {"step": self.step, "drawn": dict(zip(self.names, self.drawn))}

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Continue from a :meth:`state_dict`."""
        drawn = state["drawn"]
        assert isinstance(drawn, dict)
        if sorted(drawn) != sorted(self.names):
            raise ValueError(f"checkpoint mixture has tasks {sorted(drawn)}, this run has {sorted(self.names)}")
        self.step = int(state["step"])  # type: ignore[arg-type]
        self.drawn = [int(drawn[name]) for name in self.names]

    def proportions(self) -> dict[str, float]:
        """Expected share of steps per task after any first phase (for logs and the record)."""
        return dict(zip(self.names, self.schedule.weights.round(4).tolist()))
