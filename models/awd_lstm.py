"""ULMFiT's encoder: the AWD-LSTM (Merity et al., 2017; Howard & Ruder, 2018).

A three-layer forward LSTM language model regularised four ways:

- weight drop: DropConnect on each layer's hidden-to-hidden matrix, one mask
  per forward pass (shared by all time steps, so the recurrence stays fast);
- embedding dropout: whole rows of the embedding matrix (whole words) dropped;
- locked (variational) dropout: one mask per sequence, reused at every time
  step, on the embeddings and between the LSTM layers.

The weight-dropped layer keeps an ordinary ``nn.LSTM`` whose ``weight_hh_l0``
is the raw (undropped) matrix, and runs it through ``torch.func.functional_call``
with a dropped copy swapped in: no in-place parameter surgery, so it works on
current torch and its checkpoints are plain LSTM weights.

ULMFiT's language model reads left to right, so this backbone is causal.

>>> # backbone = build_backbone("ulmfit", "tiny", tok)
>>> # backbone.layer_groups()  # [embedding], [lstm 1], [lstm 2], [lstm 3]: ULMFiT's discriminative rates
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from transformers import PreTrainedTokenizerFast

from models.base import Backbone, Encoded
from models.rnn import compaction, in_float32


@dataclass(frozen=True)
class AwdLstmConfig:
    """Hyper-parameters of the AWD-LSTM (defaults: fastai's ULMFiT classifier configuration)."""

    vocab_size: int
    embedding_dim: int = 400  # also the last layer's output size, as in AWD-LSTM
    hidden_dim: int = 1152  # the inner layers' LSTM size
    num_layers: int = 3
    embed_p: float = 0.05  # embedding dropout: probability of dropping a whole word
    input_p: float = 0.4  # locked dropout on the embeddings
    hidden_p: float = 0.3  # locked dropout between LSTM layers
    weight_p: float = 0.5  # DropConnect on the hidden-to-hidden weights
    pad_id: int = 0


PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"embedding_dim": 32, "hidden_dim": 64},
    "small": {"embedding_dim": 200, "hidden_dim": 576},
    "base": {"embedding_dim": 400, "hidden_dim": 1152},  # ULMFiT's published size (AWD-LSTM: 1150)
}


class LockedDropout(nn.Module):
    """Variational dropout: one mask per sequence, the same at every time step."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, D] -> [B, T, D]
        if not self.training or self.p == 0.0:
            return x
        keep = x.new_empty(x.shape[0], 1, x.shape[2]).bernoulli_(1 - self.p) / (1 - self.p)  # [B, 1, D]
        return x * keep


class EmbeddingDropout(nn.Embedding):
    """An embedding that drops whole rows (words) of its matrix during training."""

    def __init__(self, num_embeddings: int, dim: int, p: float, padding_idx: int) -> None:
        super().__init__(num_embeddings, dim, padding_idx=padding_idx)
        self.p = p

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:  # [B, T] -> [B, T, D]
        weight = self.weight
        if self.training and self.p > 0.0:
            keep = weight.new_empty(weight.shape[0], 1).bernoulli_(1 - self.p) / (1 - self.p)  # [V, 1]
            weight = weight * keep
        return F.embedding(input_ids, weight, self.padding_idx)


class WeightDropLSTM(nn.Module):
    """One LSTM layer with DropConnect on its hidden-to-hidden matrix ``weight_hh_l0``."""

    def __init__(self, input_dim: int, hidden_dim: int, weight_p: float) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_dim, hidden_dim, batch_first=True)
        self.weight_p = weight_p

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, I] -> [B, T, H]
        return in_float32(self._run, x)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.weight_p == 0.0:
            output, _ = self.lstm(x)
            return output
        dropped = F.dropout(self.lstm.weight_hh_l0, p=self.weight_p, training=True)  # [4H, H]
        output, _ = functional_call(self.lstm, {"weight_hh_l0": dropped}, (x,))
        return output


class AwdLstmBackbone(Backbone):
    """ULMFiT: embedding dropout -> locked dropout -> 3 weight-dropped LSTMs with locked dropout between."""

    name = "ulmfit"
    causal = True

    def __init__(self, config: AwdLstmConfig, tokenizer: PreTrainedTokenizerFast | None) -> None:
        super().__init__()
        self.config = config
        self.tokenizer = tokenizer
        self.hidden_size = config.embedding_dim
        self.embedding = EmbeddingDropout(config.vocab_size, config.embedding_dim, config.embed_p, config.pad_id)
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)  # fastai's initialisation
        with torch.no_grad():
            self.embedding.weight[config.pad_id].zero_()
        sizes = [config.embedding_dim] + [config.hidden_dim] * (config.num_layers - 1) + [config.embedding_dim]
        self.layers = nn.ModuleList(
            WeightDropLSTM(sizes[i], sizes[i + 1], config.weight_p) for i in range(config.num_layers)
        )
        self.input_dropout = LockedDropout(config.input_p)
        # between layers only: the head applies its own (output) dropout to the top layer, as in fastai
        self.hidden_dropouts = nn.ModuleList(
            [LockedDropout(config.hidden_p) for _ in range(config.num_layers - 1)] + [nn.Identity()]
        )

    def encode(
        self,
        input_ids: torch.Tensor,  # [B, T]
        attention_mask: torch.Tensor,  # [B, T]
        token_type_ids: torch.Tensor | None = None,  # unused: AWD-LSTM has no segment embeddings
    ) -> Encoded:
        mask = attention_mask.bool()  # [B, T]
        plan = compaction(mask)  # real tokens first, so the LSTM never reads padding between them
        x = self.input_dropout(plan.gather(self.embedding(input_ids)))  # [B, T, E]
        for layer, dropout in zip(self.layers, self.hidden_dropouts):
            x = dropout(layer(x))  # [B, T, H] (E for the last layer)
        hidden = plan.scatter(x * plan.mask.unsqueeze(-1))  # [B, T, E]
        return Encoded(hidden, mask)

    def config_dict(self) -> dict[str, Any]:
        return asdict(self.config)

    def layer_groups(self) -> list[list[nn.Parameter]]:
        return [list(self.embedding.parameters())] + [list(layer.parameters()) for layer in self.layers]


def build(config: AwdLstmConfig, tokenizer: PreTrainedTokenizerFast | None) -> AwdLstmBackbone:
    """Build a randomly initialised AWD-LSTM from its config."""
    return AwdLstmBackbone(config, tokenizer)
