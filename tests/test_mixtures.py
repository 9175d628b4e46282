"""Task mixtures: proportions, temperature, round-robin, anti-curriculum, determinism, resumable state."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from harness.mixtures import Mixture, TaskSchedule, mixture_weights


def shares(schedule: TaskSchedule, steps: int) -> list[float]:
    counts = Counter(schedule.task_at(s) for s in range(steps))
    return [counts[i] / steps for i in range(len(schedule.sizes))]


def test_proportional_draws_tasks_in_proportion_to_their_size() -> None:
    observed = shares(TaskSchedule([600, 300, 100], "proportional", seed=0), 5000)
    assert observed == pytest.approx([0.6, 0.3, 0.1], abs=0.03)


def test_temperature_flattens_the_proportions() -> None:
    assert mixture_weights([900, 100], "temperature", temperature=1.0).tolist() == pytest.approx([0.9, 0.1])
    assert mixture_weights([900, 100], "temperature", temperature=2.0).tolist() == pytest.approx([0.75, 0.25])
    assert mixture_weights([900, 100], "temperature", temperature=1e9).tolist() == pytest.approx([0.5, 0.5])
    observed = shares(TaskSchedule([900, 100], "temperature", temperature=2.0, seed=0), 4000)
    assert observed == pytest.approx([0.75, 0.25], abs=0.03)


def test_round_robin_takes_the_tasks_in_turn() -> None:
    schedule = TaskSchedule([5, 500, 50], "round_robin")
    assert [schedule.task_at(s) for s in range(7)] == [0, 1, 2, 0, 1, 2, 0]


def test_anti_curriculum_trains_one_task_alone_then_all() -> None:
    schedule = TaskSchedule([100, 100, 100], "anti_curriculum", first_task=2, first_steps=5, then="round_robin")
    assert [schedule.task_at(s) for s in range(11)] == [2, 2, 2, 2, 2, 0, 1, 2, 0, 1, 2]


def test_the_schedule_is_a_function_of_the_seed() -> None:
    first = [TaskSchedule([3, 2, 1], seed=7).task_at(s) for s in range(50)]
    again = [TaskSchedule([3, 2, 1], seed=7).task_at(s) for s in range(50)]
    other = [TaskSchedule([3, 2, 1], seed=8).task_at(s) for s in range(50)]
    assert first == again != other


def make_mixture(**kw) -> Mixture:
    return Mixture(["a", "b"], [[5, 9, 2, 7, 3], [4, 4, 8]], batch_size=2, strategy="proportional", seed=3, **kw)


def test_every_epoch_of_a_task_covers_each_row_once() -> None:
    mixture = make_mixture()
    rows_a = [rows for task, rows in (mixture.next() for _ in range(40)) if task == "a"]
    first_epoch = [i for rows in rows_a[:3] for i in rows]  # 5 rows in batches of 2: 3 batches an epoch
    assert sorted(first_epoch) == [0, 1, 2, 3, 4]


def test_a_restored_state_continues_exactly_where_it_stopped() -> None:
    whole = make_mixture()
    expected = [whole.next() for _ in range(30)]
    cut = make_mixture()
    head = [cut.next() for _ in range(12)]
    resumed = make_mixture()
    resumed.load_state_dict(cut.state_dict())
    assert head + [resumed.next() for _ in range(18)] == expected


def test_distributed_processes_draw_the_same_task_and_different_batches() -> None:
    ranks = [make_mixture(rank=r, world_size=2) for r in range(2)]
    for _ in range(20):
        (task0, rows0), (task1, rows1) = ranks[0].next(), ranks[1].next()
        assert task0 == task1
        assert rows0 != rows1


def budget_mixture(**kw) -> Mixture:
    lengths = [[int(x) for x in np.random.default_rng(0).integers(5, 300, size=200)], [int(x) for x in np.random.default_rng(1).integers(5, 30, size=80)]]
    return Mixture(["long", "short"], lengths, batch_size=16, strategy="proportional", seed=5, batch_tokens=600, **kw)


def test_token_budget_epochs_cover_each_row_once_within_the_budget() -> None:
    mixture = budget_mixture()
    stream = mixture.streams[0]
    lengths = stream.lengths
    per_epoch = [len(stream.epoch_batches(e)) for e in range(3)]
    drawn = [stream.batch(k) for k in range(sum(per_epoch))]
    for epoch, start in enumerate([0, per_epoch[0], per_epoch[0] + per_epoch[1]]):
        rows = [i for batch in drawn[start : start + per_epoch[epoch]] for i in batch]
        assert sorted(rows) == list(range(200)), f"epoch {epoch}"
    assert all(len(b) * max(lengths[i] for i in b) <= 600 for b in drawn)
    assert max(len(b) for b in mixture.streams[1].epoch_batches(0)) > 16  # short rows fill more than batch_size


def test_token_budget_batches_are_seeded_and_resume_exactly() -> None:
    first, again = budget_mixture(), budget_mixture()
    expected = [first.next() for _ in range(120)]
    assert [again.next() for _ in range(120)] == expected
    other = Mixture(["long", "short"], [s.lengths for s in first.streams], batch_size=16, seed=6, batch_tokens=600)
    assert [other.next() for _ in range(120)] != expected
    resumed = budget_mixture()
    stopped = budget_mixture()
    for _ in range(70):
        stopped.next()
    resumed.load_state_dict(stopped.state_dict())  # a fresh stream finds the epoch boundaries again
    assert [resumed.next() for _ in range(50)] == expected[70:]


def test_token_budget_batches_are_dealt_to_processes_without_overlap() -> None:
    ranks = [Mixture(["long"], [budget_mixture().streams[0].lengths], batch_size=16, seed=5, batch_tokens=600, rank=r, world_size=2) for r in range(2)]
    per_process = len(ranks[0].streams[0].epoch_batches(0)) // 2
    seen = [[i for _ in range(per_process) for i in m.next()[1]] for m in ranks]
    assert not set(seen[0]) & set(seen[1])


def padded_tokens(mixture: Mixture, steps: int) -> int:
    lengths = mixture.streams[0].lengths
    return sum(len(rows) * max(lengths[i] for i in rows) for _, rows in (mixture.next() for _ in range(steps)))


def test_batches_are_random_by_default_and_length_grouped_on_request() -> None:
    lengths = [[int(x) for x in np.random.default_rng(0).integers(5, 300, size=800)]]
    plain = Mixture(["t"], lengths, batch_size=16, seed=3)
    grouped = Mixture(["t"], lengths, batch_size=16, seed=3, group_by_length=True)
    # random batches: a batch holds the next 16 rows of the epoch's permutation, as a shuffled DataLoader gives them
    permutation = np.random.default_rng([3, 0, 0]).permutation(800).tolist()
    expected = {frozenset(permutation[i : i + 16]) for i in range(0, 800, 16)}
    assert {frozenset(b) for b in plain.streams[0].epoch_batches(0)} == expected
    assert {frozenset(b) for b in grouped.streams[0].epoch_batches(0)} != expected
    assert padded_tokens(grouped, 50) < 0.8 * padded_tokens(plain, 50)  # grouping pads less


def test_training_mixture_follows_optim_group_by_length() -> None:
    from types import SimpleNamespace

    from harness.config import load_config
    from harness.train import training_mixture

    train_set = SimpleNamespace(name="t", features={"length": [int(x) for x in np.random.default_rng(0).integers(5, 300, size=800)]})
    default, grouped = (training_mixture([train_set], load_config(None, overrides)) for overrides in ([], ["optim.group_by_length=true"]))
    assert default.streams[0].group == 1  # plain fine-tuning's random batches by default (README, fidelity)
    assert grouped.streams[0].group > 1
