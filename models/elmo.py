"""ELMo: deep contextualised word representations (Peters et al., 2018).

The pieces, as in the paper:

- a character-aware token encoder: each token's UTF-8 bytes (with begin/end
  of word markers) go through a char CNN with max-pooling over several filter
  widths, highway layers and a linear projection, so every piece of the shared
  subword vocabulary gets a representation built from its spelling;
- a bidirectional language-model stack: *separate* forward and backward LSTMs
  (the backward one reads each sequence right to left from its own last
  token), each layer an LSTM with a projection (4096 cells -> 512 in the
  original) and a residual connection from the second layer up;
- the representation handed to heads, ELMo's task-specific mix of all layers
  ``gamma * sum_j softmax(s)_j * h_j``, where layer 0 is the token encoding
  (repeated for both directions) and layer j concatenates the forward and
  backward states.

>>> # backbone = build_backbone("elmo", "tiny", tok)
>>> # backbone.encode(ids, mask).hidden.shape[-1] == 2 * backbone.config.projection_dim
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedTokenizerFast

from models.base import Backbone, Encoded
from models.rnn import compaction, in_float32, reverse_within_length

# torch notes once that oneDNN has no LSTM-with-projection kernel and uses its default one; nothing to act on.
warnings.filterwarnings("ignore", message="LSTM with projections is not supported with oneDNN")

# Character ids: 0 pads, 1/2 mark the beginning/end of a token, 3 + byte for each UTF-8 byte.
CHAR_PAD, CHAR_BOW, CHAR_EOW, CHAR_OFFSET = 0, 1, 2, 3
NUM_CHARS = CHAR_OFFSET + 256


@dataclass(frozen=True)
class ElmoConfig:
    """Hyper-parameters of ELMo's char CNN and bi-LSTM language-model stack."""

    vocab_size: int  # tokens of the (shared) vocabulary whose spellings feed the char CNN
    char_dim: int = 16  # byte embedding size
    filters: tuple[tuple[int, int], ...] = ((1, 32), (2, 32), (3, 64))  # (width, count) of each char convolution
    highway_layers: int = 2  # highway layers over the pooled filters
    max_chars: int = 50  # bytes per token, markers included (longer tokens are cut)
    projection_dim: int = 512  # token encoding and LSTM output size (one direction)
    lstm_dim: int = 4096  # LSTM cell size before the projection
    num_layers: int = 2  # LSTM layers per direction
    dropout: float = 0.1  # between layers
    pad_id: int = 0

    def __post_init__(self) -> None:  # JSON round-trips give lists; keep the config hashable
        object.__setattr__(self, "filters", tuple(tuple(pair) for pair in self.filters))


_ORIGINAL_FILTERS = ((1, 32), (2, 32), (3, 64), (4, 128), (5, 256), (6, 512), (7, 1024))

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"char_dim": 8, "filters": ((1, 16), (2, 16), (3, 32)), "highway_layers": 1, "max_chars": 20,
             "projection_dim": 32, "lstm_dim": 64, "num_layers": 2},
    # the published "small" ELMo: 1024 cells projected to 128
    "small": {"filters": _ORIGINAL_FILTERS, "highway_layers": 1, "projection_dim": 128, "lstm_dim": 1024},
    # the original ELMo: 2 x 4096 cells projected to 512, 2048 char filters, 2 highway layers
    "base": {"filters": _ORIGINAL_FILTERS, "highway_layers": 2, "projection_dim": 512, "lstm_dim": 4096},
}


def char_table(tokenizer: PreTrainedTokenizerFast | None, vocab_size: int, max_chars: int) -> torch.Tensor:
    """[V, max_chars] byte ids of each vocabulary token's spelling, with begin/end markers."""
    table = torch.zeros(vocab_size, max_chars, dtype=torch.long)
    if tokenizer is None:  # only when counting parameters
        return table
    for token, token_id in tokenizer.get_vocab().items():
        if token_id >= vocab_size:
            continue
        data = token.encode("utf-8")[: max_chars - 2]
        ids = [CHAR_BOW, *(CHAR_OFFSET + byte for byte in data), CHAR_EOW]
        table[token_id, : len(ids)] = torch.tensor(ids)
    return table


class Highway(nn.Module):
    """``y = g * relu(W x) + (1 - g) * x`` with a learned gate ``g`` (Srivastava et al., 2015)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.transform = nn.Linear(dim, 2 * dim)
        nn.init.constant_(self.transform.bias[dim:], 1.0)  # start by carrying the input through

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, D] -> [N, D]
        nonlinear, gate = self.transform(x).chunk(2, dim=-1)
        gate = torch.sigmoid(gate)
        return gate * F.relu(nonlinear) + (1 - gate) * x


class CharCNNEncoder(nn.Module):
    """ELMo's token encoder: byte embeddings -> convolutions -> max-pool -> highway -> projection."""

    def __init__(self, config: ElmoConfig, tokenizer: PreTrainedTokenizerFast | None) -> None:
        super().__init__()
        self.register_buffer("chars", char_table(tokenizer, config.vocab_size, config.max_chars), persistent=False)
        self.char_embedding = nn.Embedding(NUM_CHARS, config.char_dim, padding_idx=CHAR_PAD)
        self.convolutions = nn.ModuleList(nn.Conv1d(config.char_dim, count, width) for width, count in config.filters)
        pooled = sum(count for _, count in config.filters)
        self.highways = nn.ModuleList(Highway(pooled) for _ in range(config.highway_layers))
        self.projection = nn.Linear(pooled, config.projection_dim)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:  # [B, T] -> [B, T, P]
        # Encode each distinct token of the batch once, then look the results up.
        unique, position = torch.unique(input_ids, return_inverse=True)  # [U], [B, T]
        chars = self.char_embedding(self.chars[unique]).transpose(1, 2)  # [U, C, max_chars]
        pooled = torch.cat([conv(chars).max(dim=-1).values for conv in self.convolutions], dim=-1)  # [U, F]
        x = F.relu(pooled)
        for highway in self.highways:
            x = highway(x)  # [U, F]
        return self.projection(x)[position]  # [B, T, P]


class ScalarMix(nn.Module):
    """ELMo's task-specific layer mix: ``gamma * sum_j softmax(s)_j * h_j``."""

    def __init__(self, num_layers: int) -> None:
        super().__init__()
        self.scalars = nn.Parameter(torch.zeros(num_layers))  # s: equal weights at the start
        self.gamma = nn.Parameter(torch.ones(()))

    def forward(self, layers: list[torch.Tensor]) -> torch.Tensor:  # L x [B, T, D] -> [B, T, D]
        weights = torch.softmax(self.scalars, dim=0)  # [L]
        return self.gamma * torch.einsum("l,lbtd->btd", weights, torch.stack(layers))


class ElmoBackbone(Backbone):
    """Char CNN + separate forward/backward LSTM language models, mixed by learned layer weights."""

    name = "elmo"
    causal = False  # the backward LM sees right context; each direction alone is causal

    def __init__(self, config: ElmoConfig, tokenizer: PreTrainedTokenizerFast | None) -> None:
        super().__init__()
        self.config = config
        self.tokenizer = tokenizer
        self.hidden_size = 2 * config.projection_dim
        self.token_encoder = CharCNNEncoder(config, tokenizer)

        def stack() -> nn.ModuleList:
            return nn.ModuleList(
                nn.LSTM(config.projection_dim, config.lstm_dim, proj_size=config.projection_dim, batch_first=True)
                for _ in range(config.num_layers)
            )

        self.forward_lstms = stack()
        self.backward_lstms = stack()
        self.dropout = nn.Dropout(config.dropout)
        self.mix = ScalarMix(config.num_layers + 1)

    def language_model_layers(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """All layers of the biLM, layer 0 first, each [B, T, 2P] = [forward; backward]; and the mask [B, T]."""
        mask = attention_mask.bool()  # [B, T]
        plan = compaction(mask)
        tokens = plan.gather(self.token_encoder(input_ids)).float()  # [B, T, P], real tokens first
        layers = [torch.cat([tokens, tokens], dim=-1)]  # [B, T, 2P]
        fwd, bwd = tokens, reverse_within_length(tokens, plan.lengths)  # [B, T, P] each
        for depth, (forward_lstm, backward_lstm) in enumerate(zip(self.forward_lstms, self.backward_lstms)):
            fwd_out = in_float32(lambda x: forward_lstm(x)[0], self.dropout(fwd))  # [B, T, P]  # noqa: B023 - called at once
            bwd_out = in_float32(lambda x: backward_lstm(x)[0], self.dropout(bwd))  # [B, T, P], right to left  # noqa: B023 - called at once
            if depth > 0:  # residual connections between LSTM layers, as in the paper
                fwd_out, bwd_out = fwd_out + fwd, bwd_out + bwd
            fwd, bwd = fwd_out, bwd_out
            layers.append(torch.cat([fwd, reverse_within_length(bwd, plan.lengths)], dim=-1))  # [B, T, 2P]
        keep = plan.mask.unsqueeze(-1)  # [B, T, 1]
        return [plan.scatter(layer * keep) for layer in layers], mask

    def encode(
        self,
        input_ids: torch.Tensor,  # [B, T]
        attention_mask: torch.Tensor,  # [B, T]
        token_type_ids: torch.Tensor | None = None,  # unused: ELMo has no segment embeddings
    ) -> Encoded:
        layers, mask = self.language_model_layers(input_ids, attention_mask)
        return Encoded(self.mix(layers), mask)  # [B, T, 2P]

    def config_dict(self) -> dict[str, Any]:
        return asdict(self.config)

    def layer_groups(self) -> list[list[nn.Parameter]]:
        groups = [list(self.token_encoder.parameters())]
        for forward_lstm, backward_lstm in zip(self.forward_lstms, self.backward_lstms):
            groups.append([*forward_lstm.parameters(), *backward_lstm.parameters()])
        groups[-1].extend(self.mix.parameters())
        return groups


def build(config: ElmoConfig, tokenizer: PreTrainedTokenizerFast | None) -> ElmoBackbone:
    """Build a randomly initialised ELMo from its config."""
    return ElmoBackbone(config, tokenizer)
