"""Padding helpers shared by the recurrent backbones (ELMo, ULMFiT).

A recurrent layer must never read a padding token between two real ones, and
the backward LSTM of ELMo must start at each sequence's own last token. Both
follow from one move: gather the real tokens of each row to the front (any
padding side), run the LSTMs on that compact, right-padded batch, and scatter
the states back. Padding then only ever comes *after* the real tokens, where
neither direction reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch


@dataclass(frozen=True)
class Compaction:
    """How to move each row's real tokens to the front and back again."""

    order: torch.Tensor  # [B, T] long: source position of each compact position
    inverse: torch.Tensor  # [B, T] long: compact position of each source position
    lengths: torch.Tensor  # [B] long: real tokens per row
    mask: torch.Tensor  # [B, T] bool: real tokens of the compact batch (a right-padded prefix)

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        """[B, T, D] in source order -> [B, T, D] with real tokens first."""
        return torch.gather(x, 1, self.order.unsqueeze(-1).expand_as(x))

    def scatter(self, x: torch.Tensor) -> torch.Tensor:
        """[B, T, D] compact -> [B, T, D] in source order."""
        return torch.gather(x, 1, self.inverse.unsqueeze(-1).expand_as(x))


def compaction(mask: torch.Tensor) -> Compaction:
    """Plan the move of real tokens (``mask`` True, [B, T]) to the front of each row, keeping their order."""
    mask = mask.bool()
    order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)  # [B, T]
    inverse = torch.argsort(order, dim=1)  # [B, T]
    lengths = mask.sum(dim=1)  # [B]
    positions = torch.arange(mask.shape[1], device=mask.device)  # [T]
    return Compaction(order, inverse, lengths, positions.unsqueeze(0) < lengths.unsqueeze(1))


def reverse_within_length(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first ``lengths[b]`` steps of right-padded ``x`` [B, T, D]; padding stays put.

    Applying it twice is the identity, so it both prepares the input of a
    backward LSTM and puts its outputs back in reading order.
    """
    positions = torch.arange(x.shape[1], device=x.device).unsqueeze(0)  # [1, T]
    flipped = lengths.unsqueeze(1) - 1 - positions  # [B, T]
    index = torch.where(flipped >= 0, flipped, positions)  # [B, T]
    return torch.gather(x, 1, index.unsqueeze(-1).expand_as(x))


def in_float32(run: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Run a recurrent layer on ``x`` in float32, even inside an autocast region.

    CUDA autocast runs cuDNN's LSTM in float16 even when bfloat16 was asked
    for, and the trainer's bf16 autocast uses no gradient scaler, so small
    float16 gradients could underflow. LSTMs at these sizes are bound by their
    sequential steps, not by matrix throughput, so float32 costs little.
    """
    with torch.autocast(x.device.type, enabled=False):
        return run(x.float())
