"""decaNLP's generative answer head: a transformer decoder that writes the answer, copying where it can.

MQAN (McCann et al. 2018, "The Natural Language Decathlon") answers every
task as text. At each answer position its decoder mixes three distributions
over the vocabulary with two learned gates:

    p(w) = g_vocab * p_vocab(w)
         + (1 - g_vocab) * (  g_context  * sum of context attention on positions holding w
                            + (1 - g_context) * sum of question attention on positions holding w)

so a label named in the question ("... negative or positive?"), a span of the
context (SQuAD, NER) or a rare word can be written by pointing at it, and
anything else (a German word, a dialogue slot) comes from the vocabulary.

Here the backbone has already encoded question and context as the two
segments of one input; the question and context positions are given as masks
(:func:`segment_masks` builds them from ``token_type_ids``). The target
vocabulary is the backbone tokenizer's, so a copied source token is its own
input id: no extended vocabulary is needed.

Training uses teacher forcing and the negative log-likelihood of the mixture.
Evaluation decodes greedily or with beam search (beam size, length penalty,
maximum and minimum length). Decoding keeps a :class:`KVCache` of each
layer's self-attention keys and values and projects the encoder memory once
(:class:`Memory`), so a step costs one token's work, not the prefix's.

>>> # head = TextHead(backbone.hidden_size, len(tok), special_ids(tok), TextHeadConfig(**TEXT_HEAD_PRESETS["tiny"]))
>>> # question_mask, context_mask = segment_masks(ids, attention, token_types, tok.all_special_ids)
>>> # enc = backbone.encode(ids, attention, token_types)
>>> # head(enc, ids, question_mask, context_mask, answer_ids).loss.backward()
>>> # answers = head.generate(enc, ids, question_mask, context_mask, DecodeConfig(beam_size=4))
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from models.base import Encoded
from models.transformer import sinusoids

IGNORE_INDEX = -100
"""Target of answer positions that carry no loss (padding); the same value as :data:`models.heads.IGNORE_INDEX`."""


@dataclass(frozen=True)
class TextHeadConfig:
    """Hyper-parameters of the text head's decoder."""

    d_model: int = 256  # width of the decoder; the backbone's states are projected to it
    num_layers: int = 2
    num_heads: int = 4
    d_ff: int = 1024  # inner size of the feed-forward block
    dropout: float = 0.1
    tie_embeddings: bool = True  # the vocabulary projection is the target embedding, transposed
    copy: bool = True  # mix in copying from question and context; False leaves a plain generator (an ablation)
    copy_spans: bool = False  # the pointer copies spans as a span head points: start and end scores over the encoder states and a bonus for continuing the stretch just copied (see TextHead)


TEXT_HEAD_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"d_model": 64, "num_layers": 1, "num_heads": 2, "d_ff": 128},
    "small": {"d_model": 256, "num_layers": 2, "num_heads": 4, "d_ff": 1024},
    "base": {"d_model": 512, "num_layers": 3, "num_heads": 8, "d_ff": 2048},
}
"""Decoder sizes by name, matched to the backbones' presets of the same name."""


@dataclass(frozen=True)
class SpecialIds:
    """The token ids the decoder treats specially."""

    pad: int  # padding of answers; never generated
    bos: int  # the first decoder input
    eos: int  # ends an answer


def special_ids(tokenizer: Any) -> SpecialIds:
    """BOS/EOS/PAD of a tokenizer: BERT-style ``[CLS]``/``[SEP]``/``[PAD]``, else GPT-style ``bos``/``eos``.

    A tokenizer without a pad token (GPT-2) pads with its EOS, which is safe:
    padding positions carry no loss.
    """
    bos = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    eos = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    if bos is None or eos is None:
        raise ValueError(f"tokenizer {type(tokenizer).__name__} has neither [CLS]/[SEP] nor bos/eos tokens to start and end answers")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    return SpecialIds(pad=pad, bos=bos, eos=eos)


@dataclass(frozen=True)
class DecodeConfig:
    """How answers are decoded at evaluation.

    beam_size 1 is greedy decoding. A finished beam hypothesis of ``n``
    tokens (EOS included) scores ``sum(log p) / n ** length_penalty``; an
    example stops once ``beam_size`` hypotheses have finished (fairseq's rule),
    so beam 1 is exactly greedy.
    """

    beam_size: int = 1
    length_penalty: float = 1.0
    max_length: int = 64  # answer tokens, EOS included
    min_length: int = 0  # EOS is blocked until this many tokens have been written


def segment_masks(
    input_ids: torch.Tensor,  # [B, T]
    attention_mask: torch.Tensor,  # [B, T] 0/1
    token_type_ids: torch.Tensor | None,  # [B, T] 0 = question, 1 = context; None = all context
    special: Sequence[int] = (),  # ids never to copy ([CLS], [SEP], padding)
) -> tuple[torch.Tensor, torch.Tensor]:
    """Question and context masks, [B, T] bool each, over the real, non-special tokens.

    >>> ids = torch.tensor([[2, 7, 3, 8, 9, 3, 0]])
    >>> types = torch.tensor([[0, 0, 0, 1, 1, 1, 0]])
    >>> q, c = segment_masks(ids, ids.ne(0).long(), types, special=(0, 2, 3))
    >>> q.long().tolist(), c.long().tolist()
    ([[0, 1, 0, 0, 0, 0, 0]], [[0, 0, 0, 1, 1, 0, 0]])
    """
    real = attention_mask.bool()
    if special:
        real = real & ~torch.isin(input_ids, torch.tensor(list(special), device=input_ids.device))
    if token_type_ids is None:
        return torch.zeros_like(real), real
    return real & token_type_ids.eq(0), real & token_type_ids.ne(0)


def answer_tensor(answers: Sequence[Sequence[int]], special: SpecialIds, max_length: int) -> torch.Tensor:
    """Answer token ids (without specials) -> [B, S] targets: at most ``max_length - 1`` tokens, EOS, then IGNORE_INDEX.

    Padding is :data:`IGNORE_INDEX`, not PAD, so a tokenizer whose PAD is
    its EOS (GPT-2) still learns to write EOS.

    >>> answer_tensor([[7, 8, 9], [5]], SpecialIds(pad=0, bos=2, eos=3), max_length=3).tolist()
    [[7, 8, 3], [5, 3, -100]]
    """
    rows = [list(ids)[: max_length - 1] + [special.eos] for ids in answers]
    width = max(len(row) for row in rows)
    return torch.tensor([row + [IGNORE_INDEX] * (width - len(row)) for row in rows], dtype=torch.long)


class KVCache:
    """Self-attention keys and values of the answer tokens decoded so far, one preallocated buffer per layer.

    ``keys[layer]`` and ``values[layer]`` are [N, H, max_length, head_dim],
    allocated at the first step in the dtype and device of what is stored
    (bf16 under autocast); the first ``length`` positions are filled. Beam
    search reorders the rows with :meth:`reorder` when beams are re-ranked.
    """

    def __init__(self, num_layers: int, max_length: int) -> None:
        self.max_length = max_length
        self.keys: list[torch.Tensor | None] = [None] * num_layers
        self.values: list[torch.Tensor | None] = [None] * num_layers
        self.length = 0

    def extend(self, layer: int, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store one step's [N, H, s, head_dim] keys and values; return all so far, [N, H, length + s, head_dim]."""
        if self.keys[layer] is None:
            rows, heads, _, head_dim = keys.shape
            self.keys[layer] = keys.new_empty(rows, heads, self.max_length, head_dim)
            self.values[layer] = values.new_empty(rows, heads, self.max_length, head_dim)
        cached_keys, cached_values = self.keys[layer], self.values[layer]
        end = self.length + keys.shape[2]
        cached_keys[:, :, self.length : end] = keys
        cached_values[:, :, self.length : end] = values
        return cached_keys[:, :, :end], cached_values[:, :, :end]

    def advance(self, steps: int) -> None:
        """Mark ``steps`` more positions as filled (after every layer has stored them)."""
        self.length += steps

    def reorder(self, rows: torch.Tensor) -> None:
        """Keep rows ``rows`` ([N] long), in that order (beam search's re-ranking)."""
        for buffers in (self.keys, self.values):
            for layer, buffer in enumerate(buffers):
                if buffer is not None:
                    reordered = torch.empty_like(buffer)
                    reordered[:, :, : self.length] = buffer[rows, :, : self.length]
                    buffers[layer] = reordered


@dataclass(frozen=True)
class Memory:
    """What every decoding step reads from the encoder, computed once per batch.

    states:        [N, T, d] encoder states projected to the decoder width.
    attention_mask: [N, 1, 1, T] bool, real tokens, for cross-attention; None when all are real
                   (the attention kernels are faster without a mask).
    source_ids:    [N, T] token ids, where copied probability lands.
    question_mask: [N, T] bool, positions the question pointer may copy from.
    context_mask:  [N, T] bool, positions the context pointer may copy from.
    has_question, has_context: [N, 1] bool, whether those masks hold any position.
    cross_keys, cross_values: per layer [N, H, T, head_dim], cross-attention's projections.
    start_scores:  [N, T] float, the span-copying start score of each position (``copy_spans``), else None.
    end_scores:    [N, T] float, the span-copying end score of each position (``copy_spans``), else None.

    The copy pointer scores ``pointer_query(state) . states`` (bilinear
    attention), so it needs no keys of its own: one [d, d] product per step
    instead of one per memory position.
    """

    states: torch.Tensor
    attention_mask: torch.Tensor | None
    source_ids: torch.Tensor
    question_mask: torch.Tensor
    context_mask: torch.Tensor
    has_question: torch.Tensor
    has_context: torch.Tensor
    cross_keys: tuple[torch.Tensor, ...]
    cross_values: tuple[torch.Tensor, ...]
    start_scores: torch.Tensor | None = None
    end_scores: torch.Tensor | None = None

    @property
    def rows(self) -> int:
        """N, the number of sequences decoded side by side."""
        return self.states.shape[0]

    def repeat(self, times: int) -> Memory:
        """Each row ``times`` times in a row (the beams of one example are adjacent)."""
        if times == 1:
            return self

        def rep(x: torch.Tensor) -> torch.Tensor:
            return x.repeat_interleave(times, dim=0)

        return Memory(
            states=rep(self.states), attention_mask=None if self.attention_mask is None else rep(self.attention_mask),
            source_ids=rep(self.source_ids),
            question_mask=rep(self.question_mask), context_mask=rep(self.context_mask),
            has_question=rep(self.has_question), has_context=rep(self.has_context),
            cross_keys=tuple(rep(k) for k in self.cross_keys), cross_values=tuple(rep(v) for v in self.cross_values),
            start_scores=None if self.start_scores is None else rep(self.start_scores),
            end_scores=None if self.end_scores is None else rep(self.end_scores),
        )


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:  # [N, S, d] -> [N, H, S, d/H]
    n, s, d = x.shape
    return x.view(n, s, heads, d // heads).transpose(1, 2)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:  # [N, H, S, d/H] -> [N, S, d]
    n, h, s, dh = x.shape
    return x.transpose(1, 2).reshape(n, s, h * dh)


class DecoderLayer(nn.Module):
    """Pre-LN decoder layer: causal self-attention (cacheable), attention over the encoder memory, feed-forward."""

    def __init__(self, config: TextHeadConfig) -> None:
        super().__init__()
        d = config.d_model
        self.heads = config.num_heads
        self.dropout = config.dropout
        self.self_norm = nn.LayerNorm(d)
        self.self_qkv = nn.Linear(d, 3 * d)
        self.self_out = nn.Linear(d, d)
        self.cross_norm = nn.LayerNorm(d)
        self.cross_query = nn.Linear(d, d)
        self.cross_kv = nn.Linear(d, 2 * d)
        self.cross_out = nn.Linear(d, d)
        self.ff_norm = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, config.d_ff), nn.ReLU(), nn.Dropout(config.dropout), nn.Linear(config.d_ff, d))
        self.residual_dropout = nn.Dropout(config.dropout)

    def memory_keys_values(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-attention keys and values of the memory [N, T, d]: two [N, H, T, d/H]."""
        keys, values = self.cross_kv(memory).chunk(2, dim=-1)
        return _split_heads(keys, self.heads), _split_heads(values, self.heads)

    def forward(
        self,
        x: torch.Tensor,  # [N, S, d] answer-token states
        cross_keys: torch.Tensor,  # [N, H, T, d/H]
        cross_values: torch.Tensor,  # [N, H, T, d/H]
        memory_mask: torch.Tensor | None,  # [N, 1, 1, T] bool, True at real encoder tokens; None: all real
        cache: KVCache | None,
        layer: int,
    ) -> torch.Tensor:
        p = self.dropout if self.training else 0.0
        q, k, v = (_split_heads(t, self.heads) for t in self.self_qkv(self.self_norm(x)).chunk(3, dim=-1))  # [N, H, S, d/H]
        if cache is None:  # the whole answer at once: causal mask
            attended = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        else:  # new tokens see every cached one (one step at a time, so no mask is needed)
            k, v = cache.extend(layer, k, v)
            attended = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        x = x + self.residual_dropout(self.self_out(_merge_heads(attended)))
        q = _split_heads(self.cross_query(self.cross_norm(x)), self.heads)  # [N, H, S, d/H]
        attended = F.scaled_dot_product_attention(q, cross_keys, cross_values, attn_mask=memory_mask, dropout_p=p)
        x = x + self.residual_dropout(self.cross_out(_merge_heads(attended)))
        return x + self.residual_dropout(self.ff(self.ff_norm(x)))  # [N, S, d]


@dataclass
class TeacherForced:
    """The text head's output under teacher forcing.

    log_probs:    [B, S, V] log of the mixed distribution at each answer position.
    vocab_gate:   [B, S] weight of generating from the vocabulary (1 - weight of copying); None without copy.
    context_gate: [B, S] share of the copy weight given to the context (the rest goes to the question).
    loss:         mean NLL over the real answer tokens, when targets were given.
    """

    log_probs: torch.Tensor
    vocab_gate: torch.Tensor | None = None
    context_gate: torch.Tensor | None = None
    loss: torch.Tensor | None = None


@dataclass
class CopyTrace:
    """Where the probability of each answer token came from, under teacher forcing (:meth:`TextHead.trace`).

    All [B, S], one value per answer position (``real`` says which hold a token):

    probability:  p(token) under the gated mixture.
    copied:       the part of it that came from the two pointers (question and context).
    vocab_gate:   weight of generating from the vocabulary (1 without copying).
    context_gate: share of the copy weight given to the context (0 without copying).
    copyable:     the token occurs at a position the pointers may copy from.
    real:         a real answer token (not padding; EOS included).
    """

    probability: torch.Tensor
    copied: torch.Tensor
    vocab_gate: torch.Tensor
    context_gate: torch.Tensor
    copyable: torch.Tensor
    real: torch.Tensor


def _masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis where ``mask`` holds; a row with no allowed position is all zeros."""
    weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)
    return weights.nan_to_num(0.0)


FOLLOW_BONUS = math.log(128)
"""Initial pointer bonus of the position after one holding the token just written (``copy_spans``): as much weight
as 128 other positions together, so about half the pointer's mass over a context of a hundred-odd tokens."""

END_BONUS = FOLLOW_BONUS - math.log(3)
"""Initial end score of a source position (``copy_spans``): stopping after copying it weighs a third of following on
to the next position, as SQuAD's answers of about four tokens stop at one step in four."""


class TextHead(nn.Module):
    """MQAN's pointer-generator decoder over a backbone's states (see the module docstring).

    memory_size: the backbone's hidden size; vocab_size: the tokenizer's
    length (``len(tokenizer)``); special: :func:`special_ids` of that
    tokenizer.

    With ``config.copy_spans`` the copy pointer's score of source position
    ``t`` at answer position ``s`` gets two terms that make copying a
    contiguous stretch (a SQuAD answer, an entity) as easy as a span head
    makes it: at the first answer position, a start score ``w . h_t`` read
    straight off the encoder state (the span head's start pointer; the
    decoder's bilinear query alone reaches it only through two fresh
    projections); and at later positions a learned bonus (starting at
    :data:`FOLLOW_BONUS`) for every position whose predecessor holds the
    token just written, so that after copying position ``j`` the pointer
    finds ``j + 1``. And each pointer may point at "stop" as well as at a
    position: after the first answer position, its stop score is the
    log-sum of the end scores ``v . h_j`` (the span head's end pointer; the
    bias starts at :data:`END_BONUS`) of the positions ``j`` holding the
    token just written, and its weight goes to EOS. Without it the answer
    could end only through the vocabulary's EOS, which 25 steps barely
    train: answers ran to 6-7 words against SQuAD's 2. All three terms
    depend only on the tokens written so far, so teacher forcing and
    decoding see the same scores.
    """

    def __init__(self, memory_size: int, vocab_size: int, special: SpecialIds, config: TextHeadConfig = TextHeadConfig()) -> None:
        super().__init__()
        if config.d_model % config.num_heads:
            raise ValueError(f"d_model={config.d_model} is not divisible by num_heads={config.num_heads}")
        self.config = config
        self.special = special
        self.vocab_size = vocab_size
        d = config.d_model
        self.embedding = nn.Embedding(vocab_size, d)
        nn.init.normal_(self.embedding.weight, std=d**-0.5)
        self.scale = math.sqrt(d)
        self.register_buffer("positions", sinusoids(256, d), persistent=False)
        self.input_dropout = nn.Dropout(config.dropout)
        # Cross-attention and the pointer project the memory themselves; a width change needs one more layer.
        self.memory_projection = nn.Identity() if memory_size == d else nn.Linear(memory_size, d)
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.num_layers))
        self.final_norm = nn.LayerNorm(d)
        self.output = None if config.tie_embeddings else nn.Linear(d, vocab_size, bias=False)
        self.output_bias = nn.Parameter(torch.zeros(vocab_size))
        if config.copy:
            self.pointer_query = nn.Linear(d, d)
            self.gates = nn.Linear(4 * d, 2)  # [vocab vs copy, context vs question] from [state; context; question; input]
        if config.copy and config.copy_spans:
            self.copy_start = nn.Linear(memory_size, 1)  # start score of each source position, at the first answer position
            self.copy_follow = nn.Parameter(torch.tensor(FOLLOW_BONUS))  # bonus of the position after the token just written
            self.copy_end = nn.Linear(memory_size, 1)  # end score of each source position: stop after copying it
            nn.init.constant_(self.copy_end.bias, END_BONUS)

    @torch.no_grad()
    def start_from_word_vectors(self, vectors: torch.Tensor) -> None:
        """Start the word embeddings (and so, tied, the output layer) from a pretrained backbone's input embeddings [V', D].

        decaNLP's decoder read pretrained word vectors (GloVe); over a
        pretrained backbone the natural ones are the backbone's own, for the
        same vocabulary. The first ``vocab_size`` rows are centred, reduced to
        the decoder's width by their top principal directions (zero-padded
        when narrower), and scaled to the head's own initial spread, so only
        the geometry of the words changes, not the scale training expects.
        """
        if vectors.shape[0] < self.vocab_size:
            raise ValueError(f"{vectors.shape[0]} word vectors for a vocabulary of {self.vocab_size}")
        words = vectors[: self.vocab_size].detach().float().cpu()
        words = words - words.mean(dim=0, keepdim=True)  # [V, D]
        d = self.config.d_model
        if words.shape[1] > d:
            _, _, directions = torch.linalg.svd(words, full_matrices=False)  # [D, D], rows by falling variance
            words = words @ directions[:d].T  # [V, d]
        elif words.shape[1] < d:
            words = F.pad(words, (0, d - words.shape[1]))
        words = words * (d**-0.5 / words.std())
        self.embedding.weight.copy_(words.to(self.embedding.weight))

    # --- pieces ---------------------------------------------------------------------------------------------------

    def memory(
        self,
        encoded: Encoded,
        input_ids: torch.Tensor,  # [B, T]
        question_mask: torch.Tensor,  # [B, T] bool
        context_mask: torch.Tensor,  # [B, T] bool
    ) -> Memory:
        """Project the encoder states once for all decoding steps."""
        states = self.memory_projection(encoded.hidden)  # [B, T, d]
        keys_values = [layer.memory_keys_values(states) for layer in self.layers]
        spans = self.config.copy and self.config.copy_spans
        return Memory(
            states=states,
            attention_mask=None if bool(encoded.mask.all()) else encoded.mask.bool()[:, None, None, :],
            source_ids=input_ids,
            question_mask=question_mask.bool(),
            context_mask=context_mask.bool(),
            has_question=question_mask.bool().any(dim=1, keepdim=True),
            has_context=context_mask.bool().any(dim=1, keepdim=True),
            cross_keys=tuple(k for k, _ in keys_values),
            cross_values=tuple(v for _, v in keys_values),
            start_scores=self.copy_start(encoded.hidden)[..., 0].float() if spans else None,  # [B, T]
            end_scores=self.copy_end(encoded.hidden)[..., 0].float() if spans else None,  # [B, T]
        )

    def _embed(self, tokens: torch.Tensor, start: int) -> torch.Tensor:  # [N, S] at positions start.. -> [N, S, d]
        end = start + tokens.shape[1]
        if end <= self.positions.shape[0]:
            positions = self.positions[start:end]  # [S, d]
        else:  # longer than the table: the sinusoids extrapolate
            positions = sinusoids(end, self.config.d_model).to(self.positions)[start:end]
        return self.embedding(tokens) * self.scale + positions

    def _decode_states(self, tokens: torch.Tensor, memory: Memory, cache: KVCache | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Decoder states [N, S, d] of ``tokens`` [N, S] (placed after the cached ones), and their input embeddings."""
        start = 0 if cache is None else cache.length
        inputs = self._embed(tokens, start)  # [N, S, d]
        x = self.input_dropout(inputs)
        for index, layer in enumerate(self.layers):
            x = layer(x, memory.cross_keys[index], memory.cross_values[index], memory.attention_mask, cache, index)
        if cache is not None:
            cache.advance(tokens.shape[1])
        return self.final_norm(x), inputs

    def _vocab_logits(self, states: torch.Tensor) -> torch.Tensor:  # [N, S, d] -> [N, S, V]
        weight = self.embedding.weight if self.output is None else self.output.weight
        return F.linear(states, weight, self.output_bias)

    def _span_scores(self, tokens: torch.Tensor, memory: Memory) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``copy_spans`` terms at decoder inputs ``tokens`` [N, S]: pointer scores [N, S, T] and end scores [N, S].

        Pointer scores: the start score where the input is BOS (the first
        answer position); elsewhere the follow bonus at each position that may
        be copied and whose predecessor may be copied and holds the input (the
        token written last). End score: after the first answer position, the
        log-sum of the end scores of the positions that may be copied and hold
        the input (where the stretch just copied may end); -inf where none
        does, so only a copied token can end an answer through the pointer.
        """
        assert memory.start_scores is not None and memory.end_scores is not None
        first = tokens.eq(self.special.bos)[..., None]  # [N, S, 1]
        copyable = memory.question_mask | memory.context_mask  # [N, T]
        ids = memory.source_ids.masked_fill(~copyable, -1)  # [N, T] ids that may be copied, -1 elsewhere
        holds = ids[:, None, :].eq(tokens[..., None]) & ~first  # [N, S, T] positions holding the token just written
        follows = F.pad(holds[..., :-1], (1, 0), value=False) & copyable[:, None, :]  # [N, S, T] the positions after them
        scores = torch.where(first, memory.start_scores[:, None, :], follows * self.copy_follow.float())
        # A finite fill, not -inf: logsumexp's gradient over a row of -inf alone is NaN.
        ends = memory.end_scores[:, None, :].masked_fill(~holds, -1e4).logsumexp(dim=-1)  # [N, S]
        return scores, ends.masked_fill(~holds.any(dim=-1), float("-inf"))

    def _mixture(self, states: torch.Tensor, inputs: torch.Tensor, tokens: torch.Tensor, memory: Memory, log: bool = True) -> TeacherForced:
        """The gated mixture of generating and copying at each position of ``states`` [N, S, d], whose inputs were ``tokens`` [N, S].

        ``log=False`` leaves the probabilities themselves in ``log_probs``
        (greedy decoding needs only their argmax).
        """
        vocab_logits = self._vocab_logits(states).float()  # [N, S, V]
        if not self.config.copy:
            return TeacherForced(log_probs=vocab_logits.log_softmax(dim=-1) if log else vocab_logits.softmax(dim=-1))
        scores = (self.pointer_query(states) @ memory.states.transpose(1, 2)).float() / self.scale  # [N, S, T]
        length, positions = states.shape[1], scores.shape[2]
        context_mask, question_mask = memory.context_mask[:, None, :], memory.question_mask[:, None, :]  # [N, 1, T] each
        spans = memory.start_scores is not None  # copy_spans: each pointer may also point past its last position, at "stop"
        if spans:
            span_scores, ends = self._span_scores(tokens, memory)  # [N, S, T], [N, S]
            scores = torch.cat([scores + span_scores, ends[..., None]], dim=-1)  # [N, S, T+1]
            can_end = ends.isfinite()[..., None]  # [N, S, 1]
            context_mask = torch.cat([context_mask.expand(-1, length, -1), can_end], dim=-1)  # [N, S, T+1]
            question_mask = torch.cat([question_mask.expand(-1, length, -1), can_end], dim=-1)  # [N, S, T+1]
        to_context = _masked_softmax(scores, context_mask)  # [N, S, T] (T+1 with spans)
        to_question = _masked_softmax(scores, question_mask)  # [N, S, T] (T+1 with spans)
        if spans:  # the stop column's weight goes to EOS below
            stops = torch.stack([to_context[..., positions], to_question[..., positions]], dim=-1)  # [N, S, 2]
            to_context, to_question = to_context[..., :positions], to_question[..., :positions]
        vectors = torch.cat([to_context, to_question], dim=1).to(states.dtype) @ memory.states  # [N, 2S, d], one pass over the memory
        context_vector, question_vector = vectors.split(length, dim=1)  # [N, S, d] each
        gates = torch.sigmoid(self.gates(torch.cat([states, context_vector, question_vector, inputs], dim=-1)).float())  # [N, S, 2]
        has_context, has_question = memory.has_context, memory.has_question  # [N, 1] each
        # With one segment empty all copying goes to the other; with both empty, none.
        context_gate = torch.where(has_question, torch.where(has_context, gates[..., 1], 0.0), 1.0)  # [N, S]
        vocab_gate = torch.where(has_context | has_question, gates[..., 0], 1.0)  # [N, S]
        copy_weights = (1 - vocab_gate)[..., None] * (
            context_gate[..., None] * to_context + (1 - context_gate)[..., None] * to_question
        )  # [N, S, T]
        index = memory.source_ids[:, None, :].expand(-1, length, -1)  # [N, S, T]
        if spans:
            stop = (1 - vocab_gate) * (context_gate * stops[..., 0] + (1 - context_gate) * stops[..., 1])  # [N, S]
            index = torch.cat([index, index.new_full((*index.shape[:2], 1), self.special.eos)], dim=-1)  # [N, S, T+1]
            copy_weights = torch.cat([copy_weights, stop[..., None]], dim=-1)
        probs = vocab_logits.softmax(dim=-1)  # [N, S, V]
        tiny = torch.finfo(probs.dtype).tiny
        if torch.is_grad_enabled():
            probs = (probs * vocab_gate[..., None]).scatter_add(2, index, copy_weights)
            probs = probs.clamp_min(tiny).log() if log else probs
        else:  # decoding: no autograd needs the intermediates, so work in place and skip [N, S, V] copies
            probs.mul_(vocab_gate[..., None]).scatter_add_(2, index, copy_weights)
            probs = probs.clamp_min_(tiny).log_() if log else probs
        return TeacherForced(log_probs=probs, vocab_gate=vocab_gate, context_gate=context_gate)

    # --- training -------------------------------------------------------------------------------------------------

    def teacher_forced(
        self,
        encoded: Encoded,
        input_ids: torch.Tensor,  # [B, T] source token ids
        question_mask: torch.Tensor,  # [B, T] bool
        context_mask: torch.Tensor,  # [B, T] bool
        answer_ids: torch.Tensor,  # [B, S] answer tokens then EOS, right-padded with IGNORE_INDEX (see answer_tensor)
    ) -> TeacherForced:
        """Log-probabilities of every answer position given the gold prefix, the gates, and the NLL loss."""
        memory = self.memory(encoded, input_ids, question_mask, context_mask)
        tokens = self._shifted(answer_ids)
        states, inputs = self._decode_states(tokens, memory, cache=None)
        out = self._mixture(states, inputs, tokens, memory)
        out.loss = F.nll_loss(out.log_probs.flatten(0, 1), answer_ids.flatten(), ignore_index=IGNORE_INDEX)
        return out

    def _shifted(self, answer_ids: torch.Tensor) -> torch.Tensor:
        """Decoder inputs [B, S] of targets [B, S]: BOS, then the targets shifted right (padding embeddable)."""
        bos = answer_ids.new_full((answer_ids.shape[0], 1), self.special.bos)
        gold = answer_ids.masked_fill(answer_ids.eq(IGNORE_INDEX), self.special.pad)  # [B, S] embeddable
        return torch.cat([bos, gold[:, :-1]], dim=1)

    @torch.no_grad()
    def trace(
        self,
        encoded: Encoded,
        input_ids: torch.Tensor,  # [B, T]
        question_mask: torch.Tensor,  # [B, T] bool
        context_mask: torch.Tensor,  # [B, T] bool
        answer_ids: torch.Tensor,  # [B, S] as for teacher_forced
    ) -> CopyTrace:
        """The gates and the copied share of each answer token's probability, given the answer before it.

        Teacher forcing on the model's own greedy answer retraces exactly the
        states its decoding went through, so this explains decoded answers as
        well as gold ones.
        """
        memory = self.memory(encoded, input_ids, question_mask, context_mask)
        tokens = self._shifted(answer_ids)
        states, inputs = self._decode_states(tokens, memory, cache=None)
        real = answer_ids.ne(IGNORE_INDEX)  # [B, S]
        target = answer_ids.masked_fill(~real, self.special.pad)[..., None]  # [B, S, 1]
        mixed = self._mixture(states, inputs, tokens, memory, log=False)
        probability = mixed.log_probs.gather(2, target)[..., 0]  # [B, S]
        generated = self._vocab_logits(states).float().softmax(dim=-1).gather(2, target)[..., 0]  # [B, S]
        vocab_gate = torch.ones_like(probability) if mixed.vocab_gate is None else mixed.vocab_gate
        context_gate = torch.zeros_like(probability) if mixed.context_gate is None else mixed.context_gate
        sources = (memory.question_mask | memory.context_mask)[:, None, :]  # [B, 1, T]
        copyable = (memory.source_ids[:, None, :].eq(target) & sources).any(dim=2)  # [B, S]
        copied = (probability - vocab_gate * generated).clamp_min(0.0) if self.config.copy else torch.zeros_like(probability)
        return CopyTrace(probability=probability, copied=copied, vocab_gate=vocab_gate, context_gate=context_gate, copyable=copyable, real=real)

    def forward(
        self,
        encoded: Encoded,
        input_ids: torch.Tensor,  # [B, T]
        question_mask: torch.Tensor,  # [B, T] bool
        context_mask: torch.Tensor,  # [B, T] bool
        answer_ids: torch.Tensor,  # [B, S]
    ) -> TeacherForced:
        """Same as :meth:`teacher_forced` (the module's call)."""
        return self.teacher_forced(encoded, input_ids, question_mask, context_mask, answer_ids)

    # --- decoding -------------------------------------------------------------------------------------------------

    def _next_log_probs(self, tokens: torch.Tensor, memory: Memory, cache: KVCache | None, log: bool = True) -> torch.Tensor:
        """[N, V] log-probabilities (or probabilities) of the next token after ``tokens`` [N, t+1].

        With a cache only the last token is run; without one the whole prefix
        is recomputed (the plain loop that the cache must match).
        """
        if cache is not None:
            states, inputs = self._decode_states(tokens[:, -1:], memory, cache)
        else:
            states, inputs = self._decode_states(tokens, memory, None)
            states, inputs = states[:, -1:], inputs[:, -1:]
        return self._mixture(states, inputs, tokens[:, -1:], memory, log).log_probs[:, 0]  # [N, V]

    def _constrain(self, log_probs: torch.Tensor, step: int, config: DecodeConfig) -> torch.Tensor:
        """Never write PAD or BOS; no EOS before ``min_length`` tokens (scores of banned tokens become -inf)."""
        banned = {self.special.pad, self.special.bos} - {self.special.eos}
        if step < config.min_length:
            banned.add(self.special.eos)
        if banned:
            log_probs = log_probs.index_fill(1, torch.tensor(sorted(banned), device=log_probs.device), float("-inf"))
        return log_probs

    def _cache(self, max_length: int) -> KVCache:
        return KVCache(self.config.num_layers, max_length)

    @torch.no_grad()
    def generate(
        self,
        encoded: Encoded,
        input_ids: torch.Tensor,  # [B, T]
        question_mask: torch.Tensor,  # [B, T] bool
        context_mask: torch.Tensor,  # [B, T] bool
        config: DecodeConfig = DecodeConfig(),
        use_cache: bool = True,
    ) -> list[list[int]]:
        """Decode one answer per example: its token ids, without BOS and EOS.

        ``use_cache=False`` recomputes the prefix at every step (same tokens, slower).
        """
        if config.beam_size < 1 or config.max_length < 1:
            raise ValueError(f"decoding needs beam_size >= 1 and max_length >= 1, got {config}")
        memory = self.memory(encoded, input_ids, question_mask, context_mask)
        if config.beam_size == 1:
            return self._greedy(memory, config, use_cache)
        return self._beam(memory, config, use_cache)

    def _greedy(self, memory: Memory, config: DecodeConfig, use_cache: bool) -> list[list[int]]:
        rows = memory.rows
        tokens = memory.source_ids.new_full((rows, config.max_length + 1), self.special.pad)  # [N, L+1]
        tokens[:, 0] = self.special.bos
        cache = self._cache(config.max_length) if use_cache else None
        finished = torch.zeros(rows, dtype=torch.bool, device=tokens.device)  # [N]
        length = 0
        for step in range(config.max_length):
            probs = self._next_log_probs(tokens[:, : step + 1], memory, cache, log=False)  # [N, V]
            next_token = self._constrain(probs, step, config).argmax(dim=-1).masked_fill(finished, self.special.pad)  # [N]
            tokens[:, step + 1] = next_token
            finished |= next_token.eq(self.special.eos)
            length = step + 1
            if bool(finished.all()):
                break
        return [self._strip(row) for row in tokens[:, 1 : length + 1].tolist()]

    def _strip(self, ids: list[int]) -> list[int]:
        """Ids up to the first EOS, without padding."""
        if self.special.eos in ids:
            ids = ids[: ids.index(self.special.eos)]
        return [i for i in ids if i != self.special.pad] if self.special.pad != self.special.eos else ids

    def _beam(self, memory: Memory, config: DecodeConfig, use_cache: bool) -> list[list[int]]:
        batch, beams = memory.rows, config.beam_size
        memory = memory.repeat(beams)
        rows = batch * beams
        tokens = memory.source_ids.new_full((rows, config.max_length + 1), self.special.pad)  # [N, L+1]
        tokens[:, 0] = self.special.bos
        cache = self._cache(config.max_length) if use_cache else None
        scores = torch.full((batch, beams), float("-inf"), device=tokens.device)  # [B, K] sum of log p
        scores[:, 0] = 0.0  # all beams start equal: let only the first one expand at step 0
        finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(batch)]
        done = [False] * batch
        for step in range(config.max_length):
            log_probs = self._constrain(self._next_log_probs(tokens[:, : step + 1], memory, cache), step, config)  # [N, V]
            vocab = log_probs.shape[1]
            candidates = (scores.view(rows, 1) + log_probs).view(batch, beams * vocab)  # [B, K*V]
            top_scores, top_index = candidates.topk(2 * beams, dim=1)  # [B, 2K]
            top_scores_l, top_index_l = top_scores.tolist(), top_index.tolist()
            keep_rows: list[int] = []
            keep_tokens: list[int] = []
            keep_scores: list[float] = []
            for b in range(batch):
                chosen = 0
                for rank, (score, flat) in enumerate(zip(top_scores_l[b], top_index_l[b])):
                    if done[b] or score == float("-inf") or chosen == beams:
                        break
                    row, token = b * beams + flat // vocab, flat % vocab
                    if token == self.special.eos:
                        if rank < beams:  # an EOS counts only among the best K candidates
                            hypothesis = tokens[row, 1 : step + 1].tolist()
                            finished[b].append((score / (step + 1) ** config.length_penalty, hypothesis))
                        continue
                    keep_rows.append(row)
                    keep_tokens.append(token)
                    keep_scores.append(score)
                    chosen += 1
                if len(finished[b]) >= beams:
                    done[b] = True
                while chosen < beams:  # a finished example (or too few candidates): dead beams
                    keep_rows.append(b * beams)
                    keep_tokens.append(self.special.pad)
                    keep_scores.append(float("-inf"))
                    chosen += 1
            if all(done):
                break
            order = torch.tensor(keep_rows, device=tokens.device)  # [N]
            tokens = tokens[order]
            tokens[:, step + 1] = torch.tensor(keep_tokens, device=tokens.device)
            scores = torch.tensor(keep_scores, device=tokens.device).view(batch, beams)
            if cache is not None:
                cache.reorder(order)
        else:  # max_length reached: the live beams of unfinished examples compete as they are
            live = scores.tolist()
            for b in range(batch):
                if done[b]:
                    continue
                for k in range(beams):
                    if live[b][k] != float("-inf"):
                        normalised = live[b][k] / config.max_length**config.length_penalty
                        finished[b].append((normalised, tokens[b * beams + k, 1:].tolist()))
        return [self._strip(max(hypotheses, key=lambda h: h[0])[1]) if hypotheses else [] for hypotheses in finished]


def text_head_config(preset: str = "small", **overrides: Any) -> TextHeadConfig:
    """A :class:`TextHeadConfig` from a preset name plus overrides.

    >>> text_head_config("tiny", dropout=0.0).d_model
    64
    """
    if preset not in TEXT_HEAD_PRESETS:
        raise ValueError(f"unknown text head preset {preset!r}; presets: {', '.join(TEXT_HEAD_PRESETS)}")
    config = TextHeadConfig(**TEXT_HEAD_PRESETS[preset])
    return dataclasses.replace(config, **overrides)
