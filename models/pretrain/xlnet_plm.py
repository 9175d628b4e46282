"""XLNet's permutation language modelling with two-stream attention (Yang et al., 2019).

For each row a factorisation order ``z`` (a random permutation of its real
positions) is drawn; a token may attend to the tokens that come before it in
``z``. The last ``ceil(n / K)`` positions of the order are the targets
(partial prediction, K = 6 in the paper); the rest are context only.

transformers' ``XLNetLMHeadModel`` runs both streams from two inputs:

- ``perm_mask[b, i, j] = 1`` when position i may not attend to position j,
  here when ``rank(j) >= rank(i)``. The query stream uses it as is, so a
  target never sees its own token; the content stream adds the diagonal back,
  so a position's content state does see its own token.
- ``target_mapping[b, k, i] = 1`` when the k-th prediction of row b is position
  i: the query stream, and the vocabulary projection, run only there, so
  logits are [B, K, V], never [B, T, V].

The LM head is ``XLNetLMHeadModel.lm_loss`` with its weight tied to the
backbone's word embeddings; its ``transformer`` *is* the backbone's model.

>>> # objective = PermutationLM(build_backbone("xlnet", "tiny", tok))
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from transformers import XLNetLMHeadModel

from models.base import Backbone
from models.pretrain.base import Objective, ObjectiveOutput, TokenSequence, pad_rows, with_specials

PREDICT_ONE_IN = 6  # K: predict the last 1/K of each factorisation order


def permutation_inputs(
    lengths: Sequence[int],
    width: int,
    generator: torch.Generator,
    predict_one_in: int = PREDICT_ONE_IN,
    predictable: Sequence[Sequence[bool]] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One factorisation order per row and what XLNet needs from it.

    ``lengths[b]`` real positions of row b (right-padded to ``width``);
    ``predictable[b][i]`` False keeps position i out of the targets (special
    tokens) by putting it at the front of the order.

    Returns ``perm_mask`` [B, T, T] float (1: i may not attend to j),
    ``target_positions`` [B, K] long (-1 where a row has fewer targets) and
    ``rank`` [B, T] long (each position's place in the order; padding last).
    """
    batch = len(lengths)
    rank = torch.full((batch, width), width, dtype=torch.long)  # padding after every real position
    targets: list[list[int]] = []
    for b, n in enumerate(lengths):
        order = torch.randperm(n, generator=generator)  # [n]: a factorisation order of the real positions
        if predictable is not None:
            fixed = torch.tensor([not predictable[b][i] for i in range(n)])
            order = torch.cat([order[fixed[order]], order[~fixed[order]]])  # special tokens first: context only
            candidates = int((~fixed).sum())
        else:
            candidates = n
        count = min(candidates, max(1, math.ceil(candidates / predict_one_in))) if candidates else 0
        rank[b, order] = torch.arange(n)
        targets.append(order[n - count :].tolist())
    perm_mask = (rank.unsqueeze(1) >= rank.unsqueeze(2)).float()  # [B, T, T]: [b, i, j] = rank[j] >= rank[i]
    most = max((len(t) for t in targets), default=0)
    target_positions = torch.full((batch, max(most, 1)), -1, dtype=torch.long)
    for b, row in enumerate(targets):
        target_positions[b, : len(row)] = torch.tensor(row, dtype=torch.long)
    return perm_mask, target_positions, rank


class PermutationLM(Objective):
    """XLNet's permutation LM with partial prediction, through ``XLNetLMHeadModel``."""

    name = "plm"

    def __init__(self, backbone: Backbone, max_length: int = 128, predict_one_in: int = PREDICT_ONE_IN) -> None:
        super().__init__(backbone)
        self.max_length = max_length
        self.predict_one_in = predict_one_in
        lm = XLNetLMHeadModel(backbone.model.config)
        lm.transformer = backbone.model  # the backbone's own XLNetModel: one set of transformer weights
        lm.lm_loss.weight = backbone.model.word_embedding.weight  # tied output projection
        object.__setattr__(self, "_lm", lm)  # not a submodule: its weights are the backbone's plus lm_loss.bias
        self.lm_bias = lm.lm_loss.bias

    def make_batch(self, sequences: Sequence[TokenSequence], generator: torch.Generator, progress: float = 0.0) -> dict[str, torch.Tensor]:
        rows = [with_specials(s, self.special, self.max_length) for s in sequences]
        input_ids = pad_rows(rows, self.special.pad)  # [B, T]
        lengths = [len(r) for r in rows]
        predictable = [[0 < i < len(r) - 1 for i in range(len(r))] for r in rows]  # never [CLS] or [SEP]
        perm_mask, positions, _ = permutation_inputs(lengths, input_ids.shape[1], generator, self.predict_one_in, predictable)
        valid = positions >= 0  # [B, K]
        target_mapping = torch.zeros(len(rows), positions.shape[1], input_ids.shape[1])  # [B, K, T]
        b_index, k_index = valid.nonzero(as_tuple=True)
        target_mapping[b_index, k_index, positions[valid]] = 1.0
        labels = torch.full(positions.shape, -100, dtype=torch.long)  # [B, K]
        labels[valid] = input_ids[b_index, positions[valid]]
        return {
            "input_ids": input_ids,
            "attention_mask": pad_rows([[1] * n for n in lengths], 0),
            "perm_mask": perm_mask,
            "target_mapping": target_mapping,
            "labels": labels,
        }

    def forward(self, batch: dict[str, torch.Tensor]) -> ObjectiveOutput:
        out = self._lm(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            perm_mask=batch["perm_mask"],
            target_mapping=batch["target_mapping"],
            labels=batch["labels"],
            use_mems=False,
        )  # logits [B, K, V]: only the targets are projected
        return ObjectiveOutput(out.loss, int((batch["labels"] != -100).sum()), {"plm": float(out.loss.detach())})

