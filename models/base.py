"""The backbone contract: every encoder turns a batch of token ids into hidden states and a mask.

Heads (models/heads.py) and the harness see nothing else of a backbone, so any
of the lecture's models (word2vec ... XLNet) can sit under the same heads.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

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


class Backbone(nn.Module, abc.ABC):
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
    preset: str | None = None  # size preset it was built from; None when loaded as pretrained
    source: str | None = None  # pretrained directory, hub id or vectors it was loaded from
    load_report: Any = None  # what loading found (e.g. word2vec's vocabulary coverage)

    @abc.abstractmethod
    def encode(
        self,
        input_ids: torch.Tensor,  # [B, T] long
        attention_mask: torch.Tensor,  # [B, T] 0/1
        token_type_ids: torch.Tensor | None = None,  # [B, T] 0 = question, 1 = context
    ) -> Encoded:
        """Hidden states [B, T, D] and the real-token mask [B, T] of a batch."""

    def forward(self, input_ids, attention_mask, token_type_ids=None) -> Encoded:  # noqa: D401 - nn.Module hook
        return self.encode(input_ids, attention_mask, token_type_ids)

    def config_dict(self) -> dict[str, Any]:
        """JSON-ready hyper-parameters that rebuild this architecture (saved with checkpoints)."""
        return {}

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Parameters grouped bottom-up (embeddings first, top layer last).

        The trainer uses these for ULMFiT's discriminative learning rates and
        gradual unfreezing. Every parameter appears in exactly one group.
        """
        return [list(self.parameters())]

    def word_vectors(self) -> torch.Tensor | None:
        """The input embedding of each token id [V, D], where the backbone has one table of them (None otherwise)."""
        return None

    def num_parameters(self) -> int:
        """Number of parameters (trainable or not)."""
        return sum(p.numel() for p in self.parameters())
