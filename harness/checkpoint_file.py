"""A training state as one safetensors file: its tensors as tensors, everything else as JSON in the file's header. No pickle.

A checkpoint (:func:`harness.scaffold.save_checkpoint`) is a nested state:
model and optimiser tensors, the optimiser's param groups, the scheduler's
counters, the mixture's position, every RNG state, the step. ``torch.save``
would pickle all of it, and reading a pickle runs whatever a hostile file
says; safetensors holds tensors only, and its header may carry string
metadata. So :func:`encode` takes the tensors out of the state, leaving a
JSON tree that names them, and :func:`write` puts both in one file, which
:func:`atomicio.write_atomic` renames into place whole: the tree and
the tensors can never come from two different steps.

Tensors, floats (non-finite ones too), ints, strings, booleans, None, lists,
tuples and dicts (any keys of those kinds: the optimiser's state is keyed by
int) come back as they went in, tensors bit for bit and floats exactly (JSON
writes a float's shortest repr). Tensors that are one view of one storage
(tied weights) are stored once and come back as one tensor.

>>> state = {"step": 3, "betas": (0.9, 0.999), "state": {0: {"exp_avg": torch.ones(2)}}, "best": float("nan")}
>>> tree, tensors = encode(state)
>>> tree["state"], sorted(tensors)
({'$items': [[0, {'exp_avg': {'$tensor': 'state/0/exp_avg'}}]]}, ['state/0/exp_avg'])
>>> again = decode(tree, tensors)
>>> again["betas"], again["state"][0]["exp_avg"].tolist(), again["best"]
((0.9, 0.999), [1.0, 1.0], nan)
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

META_KEY = "qabench_state"
"""The safetensors metadata key whose value is the JSON tree of everything but the tensors."""

_TENSOR, _TUPLE, _ITEMS, _FLOAT = "$tensor", "$tuple", "$items", "$float"


class DamagedState(ValueError):
    """The file is safetensors but its JSON tree is missing, invalid or names a tensor the file lacks."""


def encode(state: Any) -> tuple[Any, dict[str, torch.Tensor]]:
    """``state`` as a JSON-ready tree in which each tensor is ``{"$tensor": name}``, and the tensors by name.

    Raises TypeError for a value a checkpoint should not hold (an object, a
    function): that is a bug in the caller, not a user's error.
    """
    tensors: dict[str, torch.Tensor] = {}
    views: dict[tuple[Any, ...], str] = {}  # one storage viewed one way: stored once

    def walk(value: Any, path: str) -> Any:
        if isinstance(value, torch.Tensor):
            view = (value.device, value.dtype, value.data_ptr(), tuple(value.shape), tuple(value.stride())) if value.numel() else None
            if view is not None and view in views:
                return {_TENSOR: views[view]}
            name = path or "tensor"
            while name in tensors:  # a key holding "/" could repeat a path
                name += "'"
            tensors[name] = value
            if view is not None:
                views[view] = name
            return {_TENSOR: name}
        if isinstance(value, np.generic):
            return walk(value.item(), path)
        if value is None or isinstance(value, (bool, int, str)):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else {_FLOAT: repr(value)}
        if isinstance(value, tuple):
            return {_TUPLE: [walk(v, f"{path}/{i}") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [walk(v, f"{path}/{i}") for i, v in enumerate(value)]
        if isinstance(value, Mapping):
            children = {k: walk(v, f"{path}/{k}".lstrip("/")) for k, v in value.items()}
            if all(isinstance(k, str) and not k.startswith("$") for k in value):
                return children
            return {_ITEMS: [[walk(k, path), v] for k, v in children.items()]}
        raise TypeError(f"a checkpoint holds tensors, numbers, strings, lists and dicts, not {type(value).__name__} (at {path or 'the top'})")

    return walk(state, ""), tensors


def decode(tree: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """The state :func:`encode` took apart, from its tree and tensors; DamagedState for a tree it did not write."""
    if isinstance(tree, list):
        return [decode(v, tensors) for v in tree]
    if not isinstance(tree, dict):
        return tree
    if len(tree) == 1:
        ((key, value),) = tree.items()
        if key == _TENSOR:
            if value not in tensors:
                raise DamagedState(f"names tensor {value!r}, which the file does not hold")
            return tensors[value]
        if key == _TUPLE:
            return tuple(decode(v, tensors) for v in value)
        if key == _FLOAT:
            return float(value)
        if key == _ITEMS:
            return {decode(k, tensors): decode(v, tensors) for k, v in value}
    return {k: decode(v, tensors) for k, v in tree.items()}


def write(path: Path, state: Mapping[str, Any]) -> None:
    """Write ``state`` to ``path`` as one safetensors file (the caller makes it atomic)."""
    from safetensors.torch import save_file

    tree, tensors = encode(dict(state))
    tensors = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    # safetensors refuses tensors that share a storage; those still sharing one after the dedupe above (slices) get their own copy.
    owners: set[int] = set()
    for name, t in tensors.items():
        if t.numel():
            storage = t.untyped_storage().data_ptr()
            if storage in owners:
                tensors[name] = t.clone()
            owners.add(storage)
    save_file(tensors, str(path), metadata={"format": "pt", META_KEY: json.dumps(tree, allow_nan=False)})


def read(path: Path) -> Any:
    """The state :func:`write` wrote to ``path``; safetensors' own errors, OSError or DamagedState when it cannot be read."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt", device="cpu") as f:
        metadata = f.metadata() or {}
        tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118 - safe_open has keys(), not iteration
    if META_KEY not in metadata:
        raise DamagedState(f"its header has no {META_KEY!r} metadata, so it is not a qabench checkpoint")
    try:
        tree = json.loads(metadata[META_KEY])
    except json.JSONDecodeError as err:
        raise DamagedState(f"its {META_KEY!r} metadata is not valid JSON ({err.msg})") from None
    try:
        return decode(tree, tensors)
    except (TypeError, ValueError, AttributeError) as err:  # a tree this module did not write ({"$tuple": 5}, ...)
        raise DamagedState(f"its {META_KEY!r} metadata is not a state qabench wrote ({err})") from None
