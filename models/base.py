"""The backbone contract: every encoder turns a batch of token ids into hidden states and a mask.

Heads (models/heads.py) and the harness see nothing else of a backbone, so any
of the lecture's models (word2vec ... XLNet) can sit under the same heads.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Encoded:
    """What every backbone returns.

    hidden: [B, T, D] float states, one per input token.
    mask:   [B, T] bool, True at real (non-padding) tokens.
    """

    hidden: torch.Tensor
    mask: torch.Tensor


class Backbone(nn.Module):
    """Base class of all backbones.

    Subclasses set ``name`` (registry name), ``hidden_size``, ``causal`` (sees
    left context only) and ``tokenizer`` (a ``transformers``
    ``PreTrainedTokenizerFast``), and implement :meth:`encode`.

    >>> # enc = backbone.encode(input_ids, attention_mask, token_type_ids)
    >>> # enc.hidden.shape == (B, T, backbone.hidden_size)
    """

    name: str = ""
    hidden_size: int = 0
    causal: bool = False

    def encode(
        self,
        input_ids: torch.Tensor,  # [B, T] long
        attention_mask: torch.Tensor,  # [B, T] 0/1
        token_type_ids: torch.Tensor | None = None,  # [B, T] 0 = question, 1 = context
    ) -> Encoded:
        raise NotImplementedError

    def forward(self, input_ids, attention_mask, token_type_ids=None) -> Encoded:  # noqa: D401 - nn.Module hook
        return self.encode(input_ids, attention_mask, token_type_ids)

    def num_parameters(self) -> int:
        """Number of parameters (trainable or not)."""
        return sum(p.numel() for p in self.parameters())
