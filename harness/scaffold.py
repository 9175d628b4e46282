"""The training scaffold that task training (:mod:`harness.train`) and pretraining (:mod:`harness.pretrain`) share.

What both loops need and must do the same way: the device (one GPU per
process under torchrun, from ``LOCAL_RANK``), bf16 autocast on CUDA, which
process this is, one seed for every random generator and the generators'
states in a checkpoint, AdamW (fused where torch can) and its parameter groups (no weight decay on biases
and norms; ULMFiT's bottom-up layer groups), and checkpoints: one safetensors
file each (:mod:`harness.checkpoint_file`, no pickle), written atomically
(:mod:`atomicio`), read back and validated with one-line errors.

>>> # device = resolve_device("auto"); rank, world_size = distributed()
>>> # optimizer = adamw(decay_groups(model.parameters(), weight_decay=0.01), lr=3e-4)
>>> # save_checkpoint(path, {"format": FORMAT, "version": 1, ...}); state = load_checkpoint(path, FORMAT, 1, "training")
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from atomicio import write_atomic
from harness import checkpoint_file
from harness.errors import UserError

# --- device and processes ------------------------------------------------------------------------------------------


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when present, else CPU; under torchrun each process takes the GPU of its ``LOCAL_RANK``."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {name}: CUDA is not available on this machine; use auto or cpu")
    return torch.device(name)


def autocast(device: torch.device) -> torch.autocast:
    """bf16 autocast on CUDA; a no-op elsewhere."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def distributed() -> tuple[int, int]:
    """``(rank, world_size)`` of this process: ``(0, 1)`` outside torch.distributed."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    """Whether this process writes files and prints (rank 0, or no process group at all)."""
    return distributed()[0] == 0


def join_process_group() -> None:
    """Join the process group when launched by torchrun / accelerate (``WORLD_SIZE`` > 1); else do nothing."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        torch.distributed.init_process_group(backend)


# --- randomness ----------------------------------------------------------------------------------------------------


def seed_everything(seed: int) -> None:
    """One seed for Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every RNG state, in types a checkpoint holds (:mod:`harness.checkpoint_file`: tensors, numbers, strings, lists)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore :func:`rng_state`."""
    random.setstate(_tuples(state["python"]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


# --- optimiser groups ----------------------------------------------------------------------------------------------


def adamw(params: Sequence[Any], implementation: str = "auto", **options: Any) -> torch.optim.AdamW:
    """torch's AdamW over parameter groups ``params``, with the kernels ``implementation`` names (a run's ``optim.implementation``).

    ``fused``: one kernel updates every parameter (torch has it for CPU and
    CUDA tensors of floating types); ``foreach``: each update op runs once over
    all tensors; ``single``: a Python loop over the tensors, torch's default on
    CPU; ``auto``: fused where torch has it for these parameters, else foreach.
    On MiniLM's 22.7M parameters on one CPU thread the fused update is about
    5x faster than the loop, a whole training step 1.15-1.2x
    (``bench/train_throughput.py``); the results agree to rounding.

    >>> adamw([torch.nn.Parameter(torch.zeros(2))], lr=0.1).defaults["fused"]  # torch 2.13 fuses on CPU too
    True
    """
    if implementation == "auto":
        try:
            return torch.optim.AdamW(params, fused=True, **options)
        except RuntimeError:  # no fused kernel for this device or dtype
            return torch.optim.AdamW(params, foreach=True, **options)
    flags = {"fused": {"fused": True}, "foreach": {"foreach": True}, "single": {"foreach": False}}[implementation]
    try:
        return torch.optim.AdamW(params, **flags, **options)
    except RuntimeError as err:
        raise UserError(f"optim.implementation {implementation}: {str(err).splitlines()[0]}; use auto") from None


def decay_groups(parameters: Iterable[nn.Parameter], weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: weight decay on matrices, none on biases and norms (parameters of fewer than 2 dimensions)."""
    parameters = list(parameters)
    return [
        {"params": [p for p in parameters if p.ndim >= 2], "weight_decay": weight_decay},
        {"params": [p for p in parameters if p.ndim < 2], "weight_decay": 0.0},
    ]


def bottom_up_groups(layer_groups: Iterable[Iterable[nn.Parameter]], module: nn.Module) -> list[list[nn.Parameter]]:
    """ULMFiT's layer groups: the backbone's own groups bottom-up, then every other parameter of ``module`` on top."""
    groups = [list(g) for g in layer_groups if g]
    seen = {id(p) for g in groups for p in g}
    return groups + [[p for p in module.parameters() if id(p) not in seen]]


# --- checkpoints -------------------------------------------------------------------------------------------------


LEGACY_SUFFIXES = (".pt", ".pth")
"""Earlier qabench wrote checkpoints as ``last.pt`` with ``torch.save`` (pickle): refused, never read."""


def save_checkpoint(path: Path, state: Mapping[str, Any]) -> None:
    """Write ``state`` as one safetensors file (:mod:`harness.checkpoint_file`: no pickle), atomically.

    A crash never leaves half a checkpoint; a full disk or a read-only
    directory is one line naming the file, and no temporary file is left.
    """
    from safetensors import SafetensorError

    try:
        write_atomic(path, lambda tmp: checkpoint_file.write(tmp, state))
    except (OSError, RuntimeError, SafetensorError) as err:  # safetensors reports a failed write as either
        raise UserError(f"{path}: cannot write the checkpoint ({str(err).splitlines()[0][:120] if str(err) else type(err).__name__})") from None


def load_checkpoint(path: Path, format_name: str, version: int, what: str, option: str = "--resume") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` and check its ``format`` and ``version``.

    ``what`` names the kind of checkpoint in errors ("training",
    "pretraining"); anything unreadable or foreign, and an older qabench's
    pickled ``.pt`` checkpoint, is a one-line :class:`UserError` naming
    ``option`` (``qabench eval`` passes ``eval``) and the file.
    """
    from safetensors import SafetensorError

    refuse_legacy_checkpoint(path, option)
    try:
        state = checkpoint_file.read(path)
    except (SafetensorError, OSError, checkpoint_file.DamagedState) as err:  # truncated, corrupt or not a safetensors file
        detail = f"{type(err).__name__}: {str(err).splitlines()[0][:120]}" if str(err) else type(err).__name__
        raise UserError(f"{option} {path}: not a readable checkpoint ({detail}); it may be truncated or corrupt") from None
    if not isinstance(state, dict) or state.get("format") != format_name:
        raise UserError(f"{option} {path}: not a qabench {what} checkpoint")
    if state.get("version") != version:
        raise UserError(f"{option} {path}: checkpoint version {state.get('version')} is not {version}; use the qabench that wrote it")
    return state


def refuse_legacy_checkpoint(path: Path, option: str = "--resume") -> None:
    """One line for an older qabench's ``torch.save`` checkpoint (a pickle, which qabench does not read): what it is, what to do."""
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError:
        return  # reading it is where the error is named
    safetensors = head[8:9] == b"{"  # an 8-byte header length, then the JSON header
    pickled = head[:4] == b"PK\x03\x04" or (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"))  # torch.save's zip, a bare pickle
    if path.suffix in LEGACY_SUFFIXES or (pickled and not safetensors):
        raise UserError(
            f"{option} {path}: a checkpoint of an older qabench, written by torch.save (pickle), which qabench no longer reads; "
            f"finish or evaluate that run with the qabench that wrote it, or delete the file and train from the start"
        )


def check_same_config(saved: Mapping[str, Any], current: Mapping[str, Any], keys: Sequence[str], path: Path) -> None:
    """A checkpoint resumes only what wrote it: ``keys`` of the saved and current config must be equal; the error names the first difference."""
    for key in keys:
        if saved.get(key) != current.get(key):
            raise UserError(f"--resume {path}: checkpoint is incompatible with this config: {_first_difference(saved.get(key), current.get(key), key)}")


def _first_difference(a: Any, b: Any, path: str) -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{path}.{key}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_difference(x, y, f"{path}.{i}")
    return f"{path} was {a!r} in the checkpoint, is {b!r} now"
