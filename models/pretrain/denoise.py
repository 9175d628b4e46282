"""Denoising pretraining of the 2017 encoder with its own decoder (models/transformer.py).

The encoder reads a corrupted row; the paper's decoder, sharing the token
embedding and its tied output projection, writes back what was corrupted:

- ``span-denoise`` (masked spans, as T5): spans with lengths drawn around a
  mean of 3 cover 15% of the tokens; each span becomes a single ``[MASK]`` in
  the encoder's input, and the decoder writes ``[MASK] span1 [MASK] span2 ...
  [SEP]``, spans in their order. Only the spans are predicted, so the decoder
  is short and the logits cover the predicted tokens only.
- ``shuffle-denoise`` (shuffled tokens, as Lample et al. 2018's word-shuffle
  noise): every token moves at most ``shuffle_distance`` positions (sort by
  ``i + U(0, k + 1)``), and the decoder writes the original order.

>>> # objective = Denoising(build_backbone("transformer", "tiny", tok), noise="span")
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from models.base import Backbone
from models.pretrain.base import Objective, ObjectiveOutput, TokenSequence, pad_rows
from models.transformer import TransformerDecoder

NOISES = ("span", "shuffle")


def span_corruption(
    ids: Sequence[int], generator: torch.Generator, density: float = 0.15, mean_span: float = 3.0
) -> tuple[list[tuple[int, int]], int]:
    """Non-overlapping ``[start, end)`` spans covering about ``density`` of ``ids``, in order; and the tokens covered.

    Span lengths are 1 + Poisson(mean_span - 1); starts are drawn uniformly
    among the positions still free.
    """
    n = len(ids)
    budget = max(1, round(density * n)) if n else 0
    taken = [False] * n
    covered = 0
    for _ in range(4 * n):  # a few draws per token always suffice; the bound keeps degenerate rows finite
        if covered >= budget:
            break
        length = 1 + int(torch.poisson(torch.tensor(mean_span - 1.0), generator=generator))
        length = min(length, budget - covered)
        start = int(torch.randint(n, (), generator=generator))
        end = min(n, start + length)
        # Spans never touch: a gap keeps two spans from merging into one [MASK].
        if any(taken[max(0, start - 1) : min(n, end + 1)]):
            continue
        for i in range(start, end):
            taken[i] = True
        covered += end - start
    spans, i = [], 0
    while i < n:
        if taken[i]:
            j = i
            while j < n and taken[j]:
                j += 1
            spans.append((i, j))
            i = j
        else:
            i += 1
    return spans, covered


def local_shuffle(length: int, generator: torch.Generator, distance: int = 3) -> list[int]:
    """A permutation of ``range(length)`` that moves no item more than ``distance`` places.

    >>> order = local_shuffle(10, torch.Generator().manual_seed(0))
    >>> sorted(order) == list(range(10)) and all(abs(o - i) <= 3 for i, o in enumerate(order))
    True
    """
    keys = torch.arange(length, dtype=torch.float) + torch.rand(length, generator=generator) * (distance + 1)  # [n]
    return torch.argsort(keys, stable=True).tolist()


class Denoising(Objective):
    """Encoder reads corrupted text, the 2017 decoder reconstructs it (masked spans or shuffled tokens)."""

    name = "span-denoise"

    def __init__(self, backbone: Backbone, max_length: int = 128, noise: str = "span", shuffle_distance: int = 3,
                 density: float = 0.15, mean_span: float = 3.0) -> None:
        super().__init__(backbone)
        if noise not in NOISES:
            raise ValueError(f"noise must be one of {NOISES}, not {noise!r}")
        self.name = f"{noise}-denoise"
        self.noise = noise
        self.max_length = max_length
        self.shuffle_distance = shuffle_distance
        self.density = density
        self.mean_span = mean_span
        self.decoder = TransformerDecoder(backbone.config, embedding=backbone.embedding)

    def _corrupt(self, ids: list[int], generator: torch.Generator) -> tuple[list[int], list[int]]:
        """(encoder input, decoder target) of one row's text tokens."""
        s = self.special
        if self.noise == "shuffle":
            order = local_shuffle(len(ids), generator, self.shuffle_distance)
            return [s.cls, *(ids[i] for i in order), s.sep], [*ids, s.sep]
        spans, _ = span_corruption(ids, generator, self.density, self.mean_span)
        source, target, cursor = [s.cls], [], 0
        for start, end in spans:
            source += [*ids[cursor:start], s.mask]
            target += [s.mask, *ids[start:end]]
            cursor = end
        source += [*ids[cursor:], s.sep]
        return source, [*target, s.sep]

    def make_batch(self, sequences: Sequence[TokenSequence], generator: torch.Generator, progress: float = 0.0) -> dict[str, torch.Tensor]:
        sources, targets = [], []
        for sequence in sequences:
            source, target = self._corrupt(list(sequence.ids[: self.max_length - 2]), generator)
            sources.append(source)
            targets.append(target)
        decoder_inputs = [[self.special.cls, *t[:-1]] for t in targets]  # teacher forcing: shifted right
        return {
            "input_ids": pad_rows(sources, self.special.pad),
            "attention_mask": pad_rows([[1] * len(r) for r in sources], 0),
            "decoder_input_ids": pad_rows(decoder_inputs, self.special.pad),
            "decoder_mask": pad_rows([[1] * len(t) for t in targets], 0),
            "labels": pad_rows(targets, -100),
        }

    def forward(self, batch: dict[str, torch.Tensor]) -> ObjectiveOutput:
        encoded = self.backbone.encode(batch["input_ids"], batch["attention_mask"])  # [B, T, D]
        decoder_mask = batch["decoder_mask"].bool()  # [B, S]
        states = self.decoder(batch["decoder_input_ids"], encoded.hidden, encoded.mask, decoder_mask)  # [B, S, D]
        labels = batch["labels"]  # [B, S]
        logits = self.decoder.logits(states[decoder_mask])  # [N, V]: the predicted positions only
        loss = F.cross_entropy(logits, labels[decoder_mask])
        return ObjectiveOutput(loss, int(decoder_mask.sum()), {"reconstruction": float(loss.detach())})
