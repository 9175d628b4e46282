"""Left-to-right (and right-to-left) language models: GPT, ELMo's biLM, ULMFiT's AWD-LSTM LM.

- :class:`CausalLM` (gpt): predict token t+1 from the state at t; the output
  projection is the tied input embedding, as in GPT and GPT-2.
- :class:`BidirectionalLM` (elmo): ELMo's two language models trained jointly,
  the forward LSTMs predicting the next token and the backward LSTMs the
  previous one, with the token encoder (the char CNN) and the softmax layer
  shared by both directions; the loss is the mean of the two directions'
  cross-entropies.
- :class:`AwdLstmLM` (ulmfit): the AWD-LSTM's next-token LM with its decoder
  tied to the embedding (Merity et al., 2017). ULMFiT's second stage, LM
  fine-tuning on the target task's text, is the same objective started from a
  pretrained directory on that text (``qabench pretrain --init DIR``), with
  discriminative learning rates and the slanted triangular schedule.

Every row is ``[CLS] text [SEP]``: [CLS] acts as the beginning-of-sequence
token and [SEP] as the end, which the forward models learn to predict. Logits
are computed only at real positions that have a next (previous) token.

>>> # objective = CausalLM(build_backbone("gpt", "tiny", tok))
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from models.base import Backbone
from models.pretrain.base import Objective, ObjectiveOutput, TokenSequence, next_token_loss, pad_rows, with_specials
from models.rnn import reverse_within_length


class _RowsObjective(Objective):
    """Shared batching of the LMs: ``[CLS] ids [SEP]`` rows, right-padded."""

    def __init__(self, backbone: Backbone, max_length: int = 128) -> None:
        super().__init__(backbone)
        self.max_length = max_length

    def make_batch(self, sequences: Sequence[TokenSequence], generator: torch.Generator, progress: float = 0.0) -> dict[str, torch.Tensor]:
        rows = [with_specials(s, self.special, self.max_length) for s in sequences]
        return {"input_ids": pad_rows(rows, self.special.pad), "attention_mask": pad_rows([[1] * len(r) for r in rows], 0)}


class CausalLM(_RowsObjective):
    """GPT's causal LM: next-token prediction through the tied token embedding."""

    name = "causal-lm"

    def forward(self, batch: dict[str, torch.Tensor]) -> ObjectiveOutput:
        encoded = self.backbone.encode(batch["input_ids"], batch["attention_mask"])  # hidden [B, T, D]
        embedding = self.backbone.model.get_input_embeddings().weight  # [V, D]
        loss, count = next_token_loss(encoded.hidden, batch["input_ids"], batch["attention_mask"], lambda s: F.linear(s, embedding))
        return ObjectiveOutput(loss, count, {"lm": float(loss.detach())})


class BidirectionalLM(_RowsObjective):
    """ELMo's biLM: forward and backward LMs over the shared char-CNN input and one shared softmax."""

    name = "bilm"

    def __init__(self, backbone: Backbone, max_length: int = 128) -> None:
        super().__init__(backbone, max_length)
        self.direction_size = backbone.config.projection_dim
        self.softmax = nn.Linear(self.direction_size, self.special.vocab_size)  # shared by both directions
        self.dropout = nn.Dropout(backbone.config.dropout)

    def forward(self, batch: dict[str, torch.Tensor]) -> ObjectiveOutput:
        input_ids, attention_mask = batch["input_ids"], batch["attention_mask"]
        layers, _ = self.backbone.language_model_layers(input_ids, attention_mask)
        top = self.dropout(layers[-1])  # [B, T, 2P]: [forward; backward], reading order
        forward_states, backward_states = top.split(self.direction_size, dim=-1)  # [B, T, P] each
        forward_loss, count = next_token_loss(forward_states, input_ids, attention_mask, self.softmax)
        # The backward LM predicts token t-1 from its state at t: in reversed rows that is "next token" again.
        lengths = attention_mask.sum(dim=1)  # [B]
        reversed_ids = reverse_within_length(input_ids.unsqueeze(-1), lengths).squeeze(-1)  # [B, T]
        backward_loss, _ = next_token_loss(reverse_within_length(backward_states, lengths), reversed_ids, attention_mask, self.softmax)
        loss = (forward_loss + backward_loss) / 2
        return ObjectiveOutput(loss, 2 * count, {"forward": float(forward_loss.detach()), "backward": float(backward_loss.detach())})


class AwdLstmLM(_RowsObjective):
    """ULMFiT's AWD-LSTM language model: next-token prediction through the tied embedding plus an output bias."""

    name = "awd-lm"

    def __init__(self, backbone: Backbone, max_length: int = 128) -> None:
        super().__init__(backbone, max_length)
        self.decoder_bias = nn.Parameter(torch.zeros(self.special.vocab_size))

    def forward(self, batch: dict[str, torch.Tensor]) -> ObjectiveOutput:
        encoded = self.backbone.encode(batch["input_ids"], batch["attention_mask"])  # hidden [B, T, E], dropped out
        embedding = self.backbone.embedding.weight  # [V, E]: the decoder is tied to it
        loss, count = next_token_loss(
            encoded.hidden, batch["input_ids"], batch["attention_mask"], lambda s: F.linear(s, embedding, self.decoder_bias)
        )
        return ObjectiveOutput(loss, count, {"lm": float(loss.detach())})
