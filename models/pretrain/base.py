"""What every pretraining objective shares: the token sequences it reads and the interface it implements.

A corpus reaches an objective as :class:`TokenSequence` items: the token ids of
a stretch of text (no special tokens; the objective adds the ones it needs),
which word each token belongs to, the words themselves, and the words' NER tags
when the corpus has them (ERNIE's entity masking reads those).

An :class:`Objective` wraps a backbone with the layers its pretraining needs
(an output projection, a decoder, NSP's classifier) and turns a list of
sequences into a batch (:meth:`Objective.make_batch`, where the corruption
happens: masking, permutations, shuffling) and a batch into a loss
(:meth:`Objective.forward`). Output logits are computed only at the positions
that are predicted: the hidden states are gathered there first.

>>> # objective = build_objective("mlm-nsp", backbone)
>>> # batch = objective.make_batch(sequences[:32], torch.Generator().manual_seed(0))
>>> # out = objective(batch); out.loss.backward()
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from models.base import Backbone


@dataclass(frozen=True)
class TokenSequence:
    """One training sequence: token ids without special tokens, each token's word, the words and their tags.

    ``word_index[i]`` is the index in ``words`` of the word token ``i`` was cut
    from; a sequence never starts or ends inside a word. ``tags`` is empty, or
    one BIO NER tag per word (``B-PER``, ``I-PER``, ``O``, ...).
    """

    ids: tuple[int, ...]
    word_index: tuple[int, ...]
    words: tuple[str, ...]
    tags: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class ObjectiveOutput:
    """A batch's loss, and how many tokens were predicted to get it (for perplexity and throughput)."""

    loss: torch.Tensor  # scalar: mean cross-entropy over the predicted tokens (plus auxiliary terms)
    predicted: int  # tokens whose identity was predicted
    parts: dict[str, float] = field(default_factory=dict)  # named components (mlm, nsp, forward, backward ...)


@dataclass(frozen=True)
class SpecialIds:
    """The special token ids of the backbone's tokenizer that objectives use."""

    pad: int
    cls: int
    sep: int
    mask: int
    vocab_size: int
    first_regular: int  # random replacement tokens are drawn from [first_regular, vocab_size)

    @staticmethod
    def of(backbone: Backbone) -> SpecialIds:
        """Read them from ``backbone.tokenizer`` (the shared WordPiece vocabulary puts specials at ids 0-4)."""
        tok = backbone.tokenizer
        specials = [i for i in tok.all_special_ids if i is not None]
        vocab_size = len(tok)
        mask = tok.mask_token_id if tok.mask_token_id is not None else tok.unk_token_id
        cls = tok.cls_token_id if tok.cls_token_id is not None else tok.bos_token_id
        sep = tok.sep_token_id if tok.sep_token_id is not None else tok.eos_token_id
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        contiguous = sorted(specials) == list(range(len(specials)))
        return SpecialIds(pad=pad, cls=cls, sep=sep, mask=mask, vocab_size=vocab_size,
                          first_regular=len(specials) if contiguous else 0)


class Objective(nn.Module, abc.ABC):
    """Base class: a backbone plus the layers of one pretraining objective.

    Subclasses set ``name`` and implement :meth:`make_batch` and :meth:`forward`.
    Parameters outside ``self.backbone`` are the objective's own (heads,
    decoders); only the backbone is saved as the pretrained model.
    """

    name: str = ""
    perplexity: bool = True  # the loss is a mean token cross-entropy, so exp(loss) is a perplexity

    def __init__(self, backbone: Backbone) -> None:
        super().__init__()
        self.backbone = backbone
        self.special = SpecialIds.of(backbone)

    def prepare(self, corpus: Sequence[TokenSequence]) -> None:
        """Look at the whole corpus once before training (ERNIE learns its phrases here); default: nothing."""

    @abc.abstractmethod
    def make_batch(self, sequences: Sequence[TokenSequence], generator: torch.Generator, progress: float = 0.0) -> dict[str, torch.Tensor]:
        """Turn sequences into one corrupted, padded batch of tensors; ``progress`` is the fraction of training done."""

    @abc.abstractmethod
    def forward(self, batch: dict[str, torch.Tensor]) -> ObjectiveOutput:
        """The batch's loss."""

    def head_state(self) -> dict[str, torch.Tensor]:
        """The objective's own weights (everything outside the backbone), to save beside the pretrained backbone."""
        shared = {p.data_ptr() for p in self.backbone.state_dict().values()}  # tied weights belong to the backbone
        return {
            key: value for key, value in self.state_dict().items()
            if not key.startswith("backbone.") and value.data_ptr() not in shared
        }


def with_specials(sequence: TokenSequence, special: SpecialIds, max_tokens: int) -> list[int]:
    """``[CLS] ids [SEP]``, the ids cut so the whole fits in ``max_tokens``."""
    return [special.cls, *sequence.ids[: max_tokens - 2], special.sep]


def pad_rows(rows: Sequence[Sequence[int]], value: int) -> torch.Tensor:
    """[B, T] long tensor of ``rows`` right-padded with ``value`` to the longest row."""
    width = max(len(row) for row in rows)
    out = torch.full((len(rows), width), value, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.as_tensor(list(row), dtype=torch.long)
    return out


def next_token_loss(
    hidden: torch.Tensor,  # [B, T, D] states, position t reads tokens up to t (in its direction)
    input_ids: torch.Tensor,  # [B, T]
    attention_mask: torch.Tensor,  # [B, T]
    project: Any,  # [N, D] -> [N, V]
) -> tuple[torch.Tensor, int]:
    """Mean cross-entropy of predicting token t+1 from state t, logits only at the real positions that have a next token."""
    valid = (attention_mask[:, 1:] > 0) & (attention_mask[:, :-1] > 0)  # [B, T-1]
    states = hidden[:, :-1][valid]  # [N, D]
    targets = input_ids[:, 1:][valid]  # [N]
    return F.cross_entropy(project(states), targets), int(targets.numel())
