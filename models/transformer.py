"""The 2017 Transformer (Vaswani et al., "Attention is all you need"): encoder backbone and matching decoder.

Faithful to the paper: token embeddings scaled by sqrt(d_model) plus fixed
sinusoidal positions, dropout, then layers of multi-head self-attention and a
ReLU feed-forward block, each followed by residual + LayerNorm (post-LN).
torch's own ``nn.TransformerEncoderLayer`` / ``nn.TransformerDecoderLayer``
with ``norm_first=False`` are exactly these layers.

:class:`TransformerDecoder` is the paper's decoder (masked self-attention,
attention over the encoder's states, feed-forward) for a generative text head.

>>> # encoder = build_backbone("transformer", "tiny", tok)
>>> # enc = encoder.encode(ids, mask)
>>> # decoder = TransformerDecoder(encoder.config, embedding=encoder.embedding)
>>> # logits = decoder.logits(decoder(target_ids, enc.hidden, enc.mask))  # [B, S, V]
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedTokenizerFast

from models.base import Backbone, Encoded


@dataclass(frozen=True)
class TransformerConfig:
    """Hyper-parameters of the 2017 Transformer (defaults: the paper's base model)."""

    vocab_size: int
    d_model: int = 512
    num_layers: int = 6
    num_heads: int = 8
    d_ff: int = 2048  # inner size of the feed-forward block
    dropout: float = 0.1
    max_positions: int = 512  # rows of the sinusoid table (the sinusoids themselves extrapolate)
    pad_id: int = 0


PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"d_model": 64, "num_layers": 2, "num_heads": 2, "d_ff": 128},
    "small": {"d_model": 256, "num_layers": 4, "num_heads": 4, "d_ff": 1024},
    "base": {"d_model": 512, "num_layers": 6, "num_heads": 8, "d_ff": 2048},  # the paper's base encoder
}


def sinusoids(length: int, dim: int) -> torch.Tensor:
    """[length, dim] table: PE(pos, 2i) = sin(pos / 10000^(2i/dim)), PE(pos, 2i+1) = cos(...)."""
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)  # [L, 1]
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))  # [dim/2]
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: dim // 2])
    return table


class TokenAndPosition(nn.Module):
    """Embedding * sqrt(d_model) + sinusoidal position, then dropout (the paper's input layer)."""

    def __init__(self, config: TransformerConfig, embedding: nn.Embedding | None = None) -> None:
        super().__init__()
        self.scale = math.sqrt(config.d_model)
        self.embedding = embedding or nn.Embedding(config.vocab_size, config.d_model, padding_idx=config.pad_id)
        if embedding is None:
            nn.init.normal_(self.embedding.weight, std=config.d_model**-0.5)
        self.register_buffer("positions", sinusoids(config.max_positions, config.d_model), persistent=False)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:  # [B, T] -> [B, T, D]
        length = input_ids.shape[1]
        if length <= self.positions.shape[0]:
            positions = self.positions[:length]  # [T, D]
        else:
            positions = sinusoids(length, self.embedding.embedding_dim).to(input_ids.device)  # [T, D]
        return self.dropout(self.embedding(input_ids) * self.scale + positions)


class TransformerBackbone(Backbone):
    """The 2017 encoder: bidirectional multi-head self-attention, post-LN, sinusoidal positions."""

    name = "transformer"
    causal = False

    def __init__(self, config: TransformerConfig, tokenizer: PreTrainedTokenizerFast | None) -> None:
        super().__init__()
        self.config = config
        self.tokenizer = tokenizer
        self.hidden_size = config.d_model
        self.inputs = TokenAndPosition(config)
        layer = nn.TransformerEncoderLayer(
            config.d_model, config.num_heads, config.d_ff, config.dropout, activation="relu",
            batch_first=True, norm_first=False,
        )
        # No nested-tensor fast path: it would zero padding states differently in eval and train.
        self.encoder = nn.TransformerEncoder(layer, config.num_layers, enable_nested_tensor=False)

    @property
    def embedding(self) -> nn.Embedding:
        """The token embedding, to share with a :class:`TransformerDecoder`."""
        return self.inputs.embedding

    def encode(
        self,
        input_ids: torch.Tensor,  # [B, T]
        attention_mask: torch.Tensor,  # [B, T]
        token_type_ids: torch.Tensor | None = None,  # unused: the 2017 model has no segment embeddings
    ) -> Encoded:
        mask = attention_mask.bool()  # [B, T]
        hidden = self.encoder(self.inputs(input_ids), src_key_padding_mask=~mask)  # [B, T, D]
        return Encoded(hidden * mask.unsqueeze(-1), mask)

    def config_dict(self) -> dict[str, Any]:
        return asdict(self.config)

    def layer_groups(self) -> list[list[nn.Parameter]]:
        return [list(self.inputs.parameters())] + [list(layer.parameters()) for layer in self.encoder.layers]


class TransformerDecoder(nn.Module):
    """The 2017 decoder: masked self-attention, attention over encoder states, feed-forward; post-LN.

    Its output projection is tied to its token embedding (shared with the
    encoder's when one is passed), as in the paper.
    """

    def __init__(self, config: TransformerConfig, embedding: nn.Embedding | None = None) -> None:
        super().__init__()
        self.config = config
        self.inputs = TokenAndPosition(config, embedding)
        layer = nn.TransformerDecoderLayer(
            config.d_model, config.num_heads, config.d_ff, config.dropout, activation="relu",
            batch_first=True, norm_first=False,
        )
        self.decoder = nn.TransformerDecoder(layer, config.num_layers)

    def forward(
        self,
        target_ids: torch.Tensor,  # [B, S] shifted-right answer tokens
        memory: torch.Tensor,  # [B, T, D] encoder states
        memory_mask: torch.Tensor,  # [B, T] bool, True at real encoder tokens
        target_mask: torch.Tensor | None = None,  # [B, S] bool, True at real answer tokens
    ) -> torch.Tensor:
        """Decoder states [B, S, D]; position s sees answer tokens <= s and every real encoder token."""
        length = target_ids.shape[1]
        # True = may not attend; bool like the padding masks (mixing float and bool masks is deprecated)
        causal = torch.ones(length, length, dtype=torch.bool, device=target_ids.device).triu(1)  # [S, S]
        return self.decoder(
            self.inputs(target_ids),
            memory,
            tgt_mask=causal,
            tgt_is_causal=True,
            tgt_key_padding_mask=None if target_mask is None else ~target_mask.bool(),
            memory_key_padding_mask=~memory_mask.bool(),
        )

    def logits(self, states: torch.Tensor) -> torch.Tensor:  # [B, S, D] -> [B, S, V]
        """Scores over the vocabulary through the tied embedding matrix."""
        return states @ self.inputs.embedding.weight.T


def build(config: TransformerConfig, tokenizer: PreTrainedTokenizerFast | None) -> TransformerBackbone:
    """Build a randomly initialised 2017 encoder from its config."""
    return TransformerBackbone(config, tokenizer)
