"""BERT's pretraining: masked language modelling plus next-sentence prediction (Devlin et al., 2019).

Masked LM: 15% of each sequence's tokens are chosen for prediction; of those,
80% become ``[MASK]``, 10% a random token and 10% stay unchanged, so the model
cannot rely on seeing ``[MASK]`` where it must predict. Exactly
``round(0.15 * n)`` (at least one) of a row's ``n`` text tokens are chosen, as
BERT's ``create_pretraining_data`` does; the 80/10/10 decision is drawn per
chosen unit.

Masking works on *units*, tuples of token positions that are masked together
or not at all. For BERT a unit is one token; ERNIE's knowledge masking
(models/pretrain/ernie_masking.py) makes words, phrases and entities units and
reuses everything else here.

Next-sentence prediction: each row is ``[CLS] A [SEP] B [SEP]`` where B
continues A (label 0, half the time) or comes from another sequence of the
batch (label 1). A and B are the two sides of a cut, at a word boundary, of
one corpus sequence, so the objective needs no sentence splitter.

Only the chosen positions reach the vocabulary projection: their hidden states
are gathered first ([N, D] instead of [B, T, D]).

>>> # objective = MaskedLM(build_backbone("bert", "tiny", tok), next_sentence=True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers.models.bert.modeling_bert import BertPredictionHeadTransform

from models.base import Backbone
from models.pretrain.base import Objective, ObjectiveOutput, SpecialIds, TokenSequence, pad_rows

MASK_PROBABILITY = 0.15
MASK_TOKEN_FRACTION = 0.8  # of the chosen units: replaced by [MASK]
RANDOM_TOKEN_FRACTION = 0.1  # ... by a random token; the rest (0.1) stay unchanged
IGNORE = -100  # label of positions that are not predicted (torch's cross-entropy default)

Unit = tuple[int, ...]  # token positions masked together


@dataclass(frozen=True)
class RowPlan:
    """One assembled row before masking: its tokens, segment ids and maskable units (row positions)."""

    tokens: list[int]
    segments: list[int]
    preferred: list[Unit]  # units masked first (ERNIE's phrases or entities)
    others: list[Unit]


def mask_budget(text_tokens: int, probability: float = MASK_PROBABILITY) -> int:
    """How many tokens of a row with ``text_tokens`` maskable tokens are predicted: round(p * n), at least 1.

    >>> mask_budget(100), mask_budget(3), mask_budget(0)
    (15, 1, 0)
    """
    if text_tokens == 0:
        return 0
    return max(1, int(math.floor(probability * text_tokens + 0.5)))


def choose_units(plan: RowPlan, probability: float, generator: torch.Generator) -> list[Unit]:
    """Units of the row to predict: preferred units in random order, then the others, until the token budget is met.

    A unit is taken whole or not at all; the last one taken may overshoot
    the budget by its own length minus one.
    """
    budget = mask_budget(sum(len(u) for u in plan.preferred) + sum(len(u) for u in plan.others), probability)
    chosen: list[Unit] = []
    covered = 0
    for pool in (plan.preferred, plan.others):
        for index in torch.randperm(len(pool), generator=generator).tolist():
            if covered >= budget:
                return chosen
            chosen.append(pool[index])
            covered += len(pool[index])
    return chosen


def corrupt(
    plans: Sequence[RowPlan],
    special: SpecialIds,
    generator: torch.Generator,
    probability: float = MASK_PROBABILITY,
) -> dict[str, torch.Tensor]:
    """Pad the rows and apply BERT's 80/10/10 corruption to their chosen units.

    Returns ``input_ids`` (corrupted), ``token_type_ids``, ``attention_mask``
    and ``labels`` (the original token at predicted positions, -100 elsewhere),
    each [B, T].
    """
    original = pad_rows([p.tokens for p in plans], special.pad)  # [B, T]
    inputs = original.clone()
    labels = torch.full_like(original, IGNORE)
    for row, plan in enumerate(plans):
        for unit in choose_units(plan, probability, generator):
            positions = torch.tensor(unit, dtype=torch.long)
            labels[row, positions] = original[row, positions]
            draw = float(torch.rand((), generator=generator))
            if draw < MASK_TOKEN_FRACTION:
                inputs[row, positions] = special.mask
            elif draw < MASK_TOKEN_FRACTION + RANDOM_TOKEN_FRACTION:
                inputs[row, positions] = torch.randint(
                    special.first_regular, special.vocab_size, (len(unit),), generator=generator
                )
    return {
        "input_ids": inputs,
        "token_type_ids": pad_rows([p.segments for p in plans], 0),
        "attention_mask": pad_rows([[1] * len(p.tokens) for p in plans], 0),
        "labels": labels,
    }


class MaskedLMHead(nn.Module):
    """BERT's MLM head: dense + activation + LayerNorm, then the tied word embeddings plus an output bias."""

    def __init__(self, config: object, vocab_size: int) -> None:
        super().__init__()
        self.transform = BertPredictionHeadTransform(config)
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, states: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:  # [N, D], [V, D] -> [N, V]
        return F.linear(self.transform(states), embedding, self.bias)


class MaskedLM(Objective):
    """Masked LM (+ next-sentence prediction) over a BERT-layout transformers backbone (bert, ernie)."""

    name = "mlm"

    def __init__(
        self,
        backbone: Backbone,
        max_length: int = 128,
        next_sentence: bool = False,
        mask_probability: float = MASK_PROBABILITY,
    ) -> None:
        super().__init__(backbone)
        config = backbone.model.config
        self.max_length = max_length
        self.next_sentence = next_sentence
        self.mask_probability = mask_probability
        self.mlm_head = MaskedLMHead(config, self.special.vocab_size)
        if next_sentence:
            self.pooler = nn.Sequential(nn.Linear(config.hidden_size, config.hidden_size), nn.Tanh())
            self.nsp_head = nn.Linear(config.hidden_size, 2)

    # --- units and rows ---------------------------------------------------------------------------------------------

    def units(self, sequence: TokenSequence, generator: torch.Generator, progress: float) -> tuple[list[Unit], list[Unit]]:
        """(preferred, other) units of a sequence in its own token positions; BERT: every token alone."""
        return [], [(i,) for i in range(len(sequence))]

    def _plan(self, parts: Sequence[tuple[TokenSequence, int, int]], generator: torch.Generator, progress: float) -> RowPlan:
        """``[CLS] part1 [SEP] (part2 [SEP])``: each part is (sequence, start, end) of its tokens."""
        tokens, segments = [self.special.cls], [0]
        preferred: list[Unit] = []
        others: list[Unit] = []
        for segment, (sequence, start, end) in enumerate(parts):
            offset = len(tokens) - start
            tokens.extend(sequence.ids[start:end])
            tokens.append(self.special.sep)
            segments.extend([segment] * (end - start + 1))
            first, second = self.units(sequence, generator, progress)
            # Units cut by the part's bounds are dropped whole: a unit is never masked in part.
            preferred += [tuple(p + offset for p in u) for u in first if start <= u[0] and u[-1] < end]
            others += [tuple(p + offset for p in u) for u in second if start <= u[0] and u[-1] < end]
        return RowPlan(tokens, segments, preferred, others)

    def _pair(self, sequences: Sequence[TokenSequence], row: int, generator: torch.Generator) -> tuple[list[tuple[TokenSequence, int, int]], int]:
        """Parts of an NSP row and its label (0: B continues A; 1: B comes from another sequence)."""
        first = sequences[row]
        cut = _word_boundary_cut(first, generator)
        is_random = len(sequences) > 1 and float(torch.rand((), generator=generator)) < 0.5
        if is_random:
            step = int(torch.randint(1, len(sequences), (), generator=generator))
            other = sequences[(row + step) % len(sequences)]
            second = (other, _word_boundary_cut(other, generator), len(other))
        else:
            second = (first, cut, len(first))
        a_len, b_len = _truncate_pair(cut, second[2] - second[1], self.max_length - 3)
        return [(first, 0, a_len), (second[0], second[1], second[1] + b_len)], int(is_random)

    def make_batch(self, sequences: Sequence[TokenSequence], generator: torch.Generator, progress: float = 0.0) -> dict[str, torch.Tensor]:
        plans, nsp_labels = [], []
        for row, sequence in enumerate(sequences):
            if self.next_sentence:
                parts, label = self._pair(sequences, row, generator)
                nsp_labels.append(label)
            else:
                parts = [(sequence, 0, _fit(sequence, self.max_length - 2))]
            plans.append(self._plan(parts, generator, progress))
        batch = corrupt(plans, self.special, generator, self.mask_probability)
        if self.next_sentence:
            batch["next_sentence_label"] = torch.tensor(nsp_labels, dtype=torch.long)  # [B]
        return batch

    # --- loss -------------------------------------------------------------------------------------------------------

    def forward(self, batch: dict[str, torch.Tensor]) -> ObjectiveOutput:
        encoded = self.backbone.encode(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
        labels = batch["labels"]  # [B, T]
        predicted = labels != IGNORE  # [B, T]
        states = encoded.hidden[predicted]  # [N, D]: only the predicted positions reach the vocabulary
        embedding = self.backbone.model.get_input_embeddings().weight  # [V, D]
        mlm = F.cross_entropy(self.mlm_head(states, embedding), labels[predicted])
        parts = {"mlm": float(mlm.detach())}
        loss = mlm
        if self.next_sentence:
            pooled = self.pooler(encoded.hidden[:, 0])  # [B, D]: the [CLS] state
            nsp = F.cross_entropy(self.nsp_head(pooled), batch["next_sentence_label"])
            parts["nsp"] = float(nsp.detach())
            loss = mlm + nsp
        return ObjectiveOutput(loss, int(predicted.sum()), parts)


def _fit(sequence: TokenSequence, max_tokens: int) -> int:
    """End of the longest prefix of ``sequence`` within ``max_tokens`` tokens that ends at a word boundary."""
    if len(sequence) <= max_tokens:
        return len(sequence)
    end = max_tokens
    while end > 0 and sequence.word_index[end] == sequence.word_index[end - 1]:
        end -= 1
    return end or max_tokens


def _word_boundary_cut(sequence: TokenSequence, generator: torch.Generator) -> int:
    """A random cut strictly inside the sequence at a word boundary (its length when it has one word)."""
    cuts = [i for i in range(1, len(sequence)) if sequence.word_index[i] != sequence.word_index[i - 1]]
    if not cuts:
        return len(sequence)
    return cuts[int(torch.randint(len(cuts), (), generator=generator))]


def _truncate_pair(a_len: int, b_len: int, budget: int) -> tuple[int, int]:
    """BERT's ``truncate_seq_pair``: shorten the longer side one token at a time until both fit ``budget``."""
    while a_len + b_len > budget:
        if a_len > b_len:
            a_len -= 1
        else:
            b_len -= 1
    return a_len, b_len
