"""Two CPU processes on the gloo backend train one model and stay in sync (DDP averages their gradients)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

WORLD_SIZE = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_one_process(rank: int, port: int, out_dir: str, cache_dir: str) -> None:
    """One process of the run: join the group as torchrun would, train, save its parameters."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(WORLD_SIZE), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD_SIZE)
    try:
        from harness.config import load_config
        from harness.prepare import prepare
        from harness.train import train

        config = load_config(
            None,
            [
                "tasks=[{name: sst2, train_limit: 16, eval_limit: 4}, {name: conll2003, train_limit: 16, eval_limit: 4}]",
                "optim.steps=3",
                "optim.batch_size=4",
                "output.progress=false",
                f"cache_dir={cache_dir}",
            ],
        )
        prep = prepare(config)
        before = [p.detach().clone() for p in prep.model.parameters()]
        result = train(prep.model, prep.train_sets, config, prep.device, prep.pad_id, progress=False)
        moved = any(not torch.equal(p, q) for p, q in zip(prep.model.parameters(), before))
        torch.save({"state": prep.model.state_dict(), "moved": moved, "examples": result.examples}, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_processes_keep_identical_parameters(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    from harness.config import load_config
    from harness.prepare import prepare

    # Build the shared vocabulary and features once, so the two processes only read the cache.
    prepare(load_config(None, ["tasks=[{name: sst2, train_limit: 16, eval_limit: 4}, {name: conll2003, train_limit: 16, eval_limit: 4}]", f"cache_dir={cache}"]))
    mp.spawn(train_one_process, args=(free_port(), str(tmp_path), str(cache)), nprocs=WORLD_SIZE, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD_SIZE)]
    assert all(r["moved"] for r in ranks)  # both trained
    assert ranks[0]["examples"] == ranks[1]["examples"] == 3 * 4  # each drew its own batches
    for name, value in ranks[0]["state"].items():
        assert torch.equal(value, ranks[1]["state"][name]), name
