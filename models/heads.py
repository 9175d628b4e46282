"""MT-DNN's shared answer heads, and the model that joins them to one backbone.

One head per answer format, shared by every task of that format, as MT-DNN
shares its encoder:

- :class:`ChoiceHead` scores each candidate answer from the states of the
  candidate's own words in the question, so a task with a new label set needs
  no new parameters; :class:`ClassifierHead` is MT-DNN's own alternative, a
  linear layer over the pooled state with one output per label, shared by the
  tasks of one label set;
- :class:`SpanHead` points at the start and end of the answer in the context;
- :class:`TagHead` labels each context word, one output layer per label set;
- :class:`ScoreHead` regresses a number;
- the ``text`` format's head is decaNLP's generative one,
  :class:`models.text_head.TextHead`, a decoder that copies from question and
  context; all tasks answered in text share it.

:class:`MultiTaskModel` holds the backbone and the heads by key
(allennlp's heads-by-name) and hands each batch to its task's head, whose
:meth:`answer` reads the tensors it needs from the batch (the names
``harness.adapters`` collates). Heads see tensors and plain values only (a
format name, a label count), never a ``tasks.Task``: ``models/`` does not
import ``tasks``.

:func:`save_model` writes a whole model to a directory and :func:`load_model`
reads it back.

>>> # specs = {"sst2": HeadSpec("choice"), "conll2003": HeadSpec("tags", num_labels=9, label_set="conll2003")}
>>> # model = MultiTaskModel(backbone, specs)
>>> # out = model("sst2", batch); out.loss.backward()
>>> # save_model(model, "runs/x/model"); load_model("runs/x/model")
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from atomicio import write_json_atomic
from models.base import Backbone, Encoded
from models.errors import ModelError
from models.text_head import DecodeConfig, SpecialIds, TextHead, TextHeadConfig, segment_masks, special_ids, text_head_config

TEXT = "text"
"""The format of the text head; every task can be answered through it."""

HEADS_WEIGHTS = "heads.safetensors"
HEADS_FILE = "heads.json"
"""The heads' weights (safetensors: no pickle) and their specs, beside the backbone's own files in a saved model's directory."""

LEGACY_HEADS_WEIGHTS = "heads.pt"
"""The heads' weights of models saved before they were safetensors (``torch.save``, a pickle): refused by name, never read."""

IGNORE_INDEX = -100
"""Label of positions that carry no loss (padding, sub-tokens after the first, the question)."""


@dataclass(frozen=True)
class HeadSpec:
    """What a task needs from the heads, as plain values.

    format:        one of :data:`TYPED_HEADS`, or :data:`TEXT` for the text head.
    num_labels:    size of the label set, for a head with one output per label (``tags``; ``choice`` answered by
                   :class:`ClassifierHead`); 0 otherwise.
    label_set:     name of the label set; tasks with equal label sets share an output layer (with ``num_labels``).
    task_specific: MT-DNN's own variant: this task gets its own output layer instead of the format's shared one
                   (typed heads only: all text tasks share one decoder, as in decaNLP).
    decoder:       size preset of the text head's decoder (``text`` only; models.text_head.TEXT_HEAD_PRESETS).
    copy_spans:    the text head's pointer copies spans (``text`` only; models.text_head.TextHeadConfig.copy_spans).
                   False in the specs of models saved before it existed, whose heads lack its weights.
    """

    format: str
    num_labels: int = 0
    label_set: str = ""
    task_specific: bool = False
    decoder: str = ""
    copy_spans: bool = False

    def key(self, task: str) -> str:
        """The key of this task's head in :attr:`MultiTaskModel.heads`: the format's, the task's own, or the label set's.

        >>> HeadSpec("tags", num_labels=9, label_set="conll2003").key("wnut17"), HeadSpec("choice").key("sst2")
        ('tags-conll2003', 'choice')
        """
        if self.task_specific:
            return f"{self.format}-task-{task}"
        if self.num_labels:
            return f"{self.format}-{self.label_set or task}"
        return self.format


@dataclass
class HeadOutput:
    """A head's answer for one batch: its loss (when labels were given) and its raw outputs.

    logits: choice [B, C]; span start and end [B, T] each (``end_logits``);
            tags [B, T, L]; score [B].
    """

    logits: torch.Tensor
    loss: torch.Tensor | None = None
    end_logits: torch.Tensor | None = None


def pooled(encoded: Encoded, causal: bool) -> torch.Tensor:
    """One vector per sequence: the first token, or for a causal backbone the last real token (the only one that has seen everything).

    >>> h = torch.arange(6.).view(1, 3, 2); m = torch.tensor([[True, True, False]])
    >>> pooled(Encoded(h, m), causal=True).tolist()
    [[2.0, 3.0]]
    """
    hidden, mask = encoded.hidden, encoded.mask  # [B, T, D], [B, T]
    if not causal:
        return hidden[:, 0]  # [B, D]
    last = mask.long().sum(dim=1).clamp(min=1) - 1  # [B]
    return hidden[torch.arange(hidden.size(0), device=hidden.device), last]  # [B, D]


def masked_mean(encoded: Encoded) -> torch.Tensor:
    """Mean state over the real tokens: [B, T, D] -> [B, D]."""
    weights = encoded.mask.to(encoded.hidden.dtype).unsqueeze(-1)  # [B, T, 1]
    return (encoded.hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)  # [B, D]


class Pooler(nn.Module):
    """One vector per sequence for the choice and score heads: ``tanh(W [h_anchor; h_mean])``.

    The anchor is the first token (BERT's [CLS]), or the last real token of a
    causal backbone; the mean over real tokens lets a backbone without
    context (word2vec's static vectors, a bag of vectors) classify too.
    """

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.dense = nn.Linear(2 * hidden_size, hidden_size)

    def forward(self, encoded: Encoded, causal: bool) -> torch.Tensor:
        both = torch.cat([pooled(encoded, causal), masked_mean(encoded)], dim=-1)  # [B, 2D]
        return torch.tanh(self.dense(both))  # [B, D]


def span_mean(hidden: torch.Tensor, spans: torch.Tensor) -> torch.Tensor:
    """Mean of ``hidden`` over token spans ``[start, end)``; empty spans give zeros.

    hidden: [B, T, D]; spans: [B, C, 2] long. Returns [B, C, D].
    """
    positions = torch.arange(hidden.size(1), device=hidden.device)  # [T]
    start, end = spans[..., :1], spans[..., 1:]  # [B, C, 1] each
    weights = ((positions >= start) & (positions < end)).to(hidden.dtype)  # [B, C, T]
    weights = weights / weights.sum(dim=-1, keepdim=True).clamp(min=1.0)
    return weights @ hidden  # [B, C, D]


class ChoiceHead(nn.Module):
    """Scores each candidate answer; the softmax over candidates picks one.

    A candidate is represented by the mean state of its own words where the
    question names it (decaNLP writes the choices into the question: "...
    negative or positive?"), and scored by a small MLP over
    ``[h_seq; h_choice; h_seq * h_choice]`` (``h_seq`` from :class:`Pooler`). No parameter belongs to a label,
    so any label set works.
    """

    def __init__(self, hidden_size: int, dropout: float = 0.1, causal: bool = False) -> None:
        super().__init__()
        self.causal = causal  # the backbone sees left context only
        self.pooler = Pooler(hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.scorer = nn.Sequential(nn.Linear(3 * hidden_size, hidden_size), nn.GELU(), nn.Linear(hidden_size, 1))

    def forward(
        self,
        encoded: Encoded,
        causal: bool,  # the backbone sees left context only
        choice_spans: torch.Tensor,  # [B, C, 2] token span of each candidate
        choice_mask: torch.Tensor,  # [B, C] bool, False at padding candidates
        labels: torch.Tensor | None = None,  # [B] index of the gold candidate
    ) -> HeadOutput:
        choices = span_mean(encoded.hidden, choice_spans)  # [B, C, D]
        seq = self.pooler(encoded, causal).unsqueeze(1).expand_as(choices)  # [B, C, D]
        features = self.dropout(torch.cat([seq, choices, seq * choices], dim=-1))  # [B, C, 3D]
        logits = self.scorer(features).squeeze(-1)  # [B, C]
        logits = logits.float().masked_fill(~choice_mask, torch.finfo(torch.float32).min)
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return HeadOutput(logits=logits, loss=loss)

    def answer(self, encoded: Encoded, batch: Mapping[str, torch.Tensor]) -> HeadOutput:
        """:meth:`forward` on a batch's ``choice_spans``, ``choice_mask`` and (optional) ``labels``."""
        return self(encoded, self.causal, batch["choice_spans"], batch["choice_mask"], batch.get("labels"))


class ClassifierHead(nn.Module):
    """MT-DNN's classification head: dropout and one linear layer over the pooled state, one output per label.

    The pooled state is ``[h_anchor; h_mean]`` as in :class:`Pooler`, without
    its randomly initialised tanh layer: the first token (the last real one
    of a causal backbone) and the mean over real tokens, so a backbone whose
    first token carries no context (word2vec's static vectors, a tiny model
    trained from scratch) classifies too. Answers ``choice`` tasks whose
    candidates are a fixed label set, in the order of the labels. It learns as
    fast as the standard fine-tuning recipe (a linear layer on [CLS]), but a
    new label set needs a new head, so it cannot answer unseen label words
    zero-shot as :class:`ChoiceHead` can.
    """

    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1, causal: bool = False) -> None:
        super().__init__()
        self.causal = causal  # the backbone sees left context only
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(2 * hidden_size, num_labels)

    def forward(
        self,
        encoded: Encoded,
        causal: bool,  # the backbone sees left context only
        choice_mask: torch.Tensor,  # [B, C] bool, C == num_labels
        labels: torch.Tensor | None = None,  # [B] index of the gold label
    ) -> HeadOutput:
        if choice_mask.size(1) != self.classifier.out_features:
            raise ValueError(f"{choice_mask.size(1)} candidates, but this head has {self.classifier.out_features} labels")
        both = torch.cat([pooled(encoded, causal), masked_mean(encoded)], dim=-1)  # [B, 2D]
        logits = self.classifier(self.dropout(both)).float()  # [B, L]
        logits = logits.masked_fill(~choice_mask, torch.finfo(torch.float32).min)
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return HeadOutput(logits=logits, loss=loss)

    @property
    def num_labels(self) -> int:
        """Size of the label set this layer predicts."""
        return self.classifier.out_features

    def answer(self, encoded: Encoded, batch: Mapping[str, torch.Tensor]) -> HeadOutput:
        """:meth:`forward` on a batch's ``choice_mask`` and (optional) ``labels``."""
        return self(encoded, self.causal, batch["choice_mask"], batch.get("labels"))


class SpanHead(nn.Module):
    """Start and end pointers over the context tokens (SQuAD's head).

    Positions outside the context are masked, except position 0, which is
    the target of a window that does not contain the answer (a long context is
    split into several windows).
    """

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.pointer = nn.Linear(hidden_size, 2)

    def forward(
        self,
        encoded: Encoded,
        context_mask: torch.Tensor,  # [B, T] bool, True at context tokens
        start_positions: torch.Tensor | None = None,  # [B]
        end_positions: torch.Tensor | None = None,  # [B]
    ) -> HeadOutput:
        allowed = context_mask.clone()
        allowed[:, 0] = True
        logits = self.pointer(encoded.hidden).float()  # [B, T, 2]
        neg = torch.finfo(torch.float32).min
        start = logits[..., 0].masked_fill(~allowed, neg)  # [B, T]
        end = logits[..., 1].masked_fill(~allowed, neg)  # [B, T]
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = (F.cross_entropy(start, start_positions) + F.cross_entropy(end, end_positions)) / 2
        return HeadOutput(logits=start, end_logits=end, loss=loss)

    def answer(self, encoded: Encoded, batch: Mapping[str, torch.Tensor]) -> HeadOutput:
        """:meth:`forward` on a batch's ``context_mask`` and (optional) ``start_positions``/``end_positions``."""
        return self(encoded, batch["context_mask"], batch.get("start_positions"), batch.get("end_positions"))


def best_spans(
    start_logits: torch.Tensor,  # [B, T]
    end_logits: torch.Tensor,  # [B, T]
    context_mask: torch.Tensor,  # [B, T] bool
    max_answer_length: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The best context span of each window: ``(start, end, score)``, each [B], end inclusive.

    Only spans inside the context with ``start <= end < start + max_answer_length``
    count; the score is ``start_logit + end_logit``, so windows of one example
    can be compared and the best kept. Of equal scores the first span wins
    (smallest start, then smallest end). Only the band of spans up to
    ``max_answer_length`` long is scored ([B, T, max_answer_length], not
    [B, T, T]: a 384-token window's full grid is 38 MB per 64 windows).

    >>> start, end, score = best_spans(torch.tensor([[0.0, 2.0, 1.0]]), torch.tensor([[0.0, 1.0, 3.0]]), torch.tensor([[False, True, True]]), 30)
    >>> start.tolist(), end.tolist(), score.tolist()
    ([1], [2], [5.0])
    """
    batch, t = start_logits.shape
    widths = max(1, min(max_answer_length, t))  # only spans this long can win: a band of the [T, T] start-end grid
    offsets = torch.arange(t, device=start_logits.device)
    ends = offsets.unsqueeze(1) + offsets[:widths].unsqueeze(0)  # [T, W] end = start + width
    inside = ends < t  # [T, W]
    ends = ends.clamp(max=t - 1)
    scores = start_logits.unsqueeze(2) + end_logits[:, ends]  # [B, T, W]
    valid = inside & (offsets[:widths] < max_answer_length)  # [T, W]
    valid = valid.unsqueeze(0) & context_mask.unsqueeze(2) & context_mask[:, ends]  # [B, T, W]
    scores = scores.masked_fill(~valid, float("-inf"))
    # (start, width) in row-major order is (start, end) order, so the first best is the one the full grid's first best would be.
    score, index = scores.view(batch, -1).max(dim=1)  # [B]
    start = index // widths
    return start, start + index % widths, score


class TagHead(nn.Module):
    """One label per word, from the state of the word's first sub-token."""

    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, num_labels)

    def forward(self, encoded: Encoded, labels: torch.Tensor | None = None) -> HeadOutput:  # labels [B, T], -100 = no loss
        logits = self.classifier(self.dropout(encoded.hidden)).float()  # [B, T, L]
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX)
        return HeadOutput(logits=logits, loss=loss)

    @property
    def num_labels(self) -> int:
        """Size of the label set this layer predicts."""
        return self.classifier.out_features

    def answer(self, encoded: Encoded, batch: Mapping[str, torch.Tensor]) -> HeadOutput:
        """:meth:`forward` on a batch's (optional) ``labels``."""
        return self(encoded, batch.get("labels"))


class ScoreHead(nn.Module):
    """Regression of one number (STS-B's similarity) from the pooled state, with MSE loss."""

    def __init__(self, hidden_size: int, dropout: float = 0.1, causal: bool = False) -> None:
        super().__init__()
        self.causal = causal  # the backbone sees left context only
        self.pooler = Pooler(hidden_size)
        self.regressor = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden_size, hidden_size), nn.GELU(), nn.Linear(hidden_size, 1))

    def forward(self, encoded: Encoded, causal: bool, values: torch.Tensor | None = None) -> HeadOutput:  # values [B]
        logits = self.regressor(self.pooler(encoded, causal)).squeeze(-1).float()  # [B]
        loss = F.mse_loss(logits, values.float()) if values is not None else None
        return HeadOutput(logits=logits, loss=loss)

    def answer(self, encoded: Encoded, batch: Mapping[str, torch.Tensor]) -> HeadOutput:
        """:meth:`forward` on a batch's (optional) ``values``."""
        return self(encoded, self.causal, batch.get("values"))


class TextAnswerHead(TextHead):
    """decaNLP's text head as :class:`MultiTaskModel` uses it: inputs read from a batch, never copying a special token.

    The weights are :class:`models.text_head.TextHead`'s; ``never_copy`` holds
    the tokenizer's special ids ([CLS], [SEP], padding), left out of the
    question and context it copies from.
    """

    def __init__(self, memory_size: int, vocab_size: int, special: SpecialIds, config: TextHeadConfig, never_copy: Sequence[int]) -> None:
        super().__init__(memory_size, vocab_size, special, config)
        self.never_copy = tuple(never_copy)

    def segments(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Question and context masks [B, T] of a batch: the positions the head copies from."""
        return segment_masks(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"), self.never_copy)

    def answer(self, encoded: Encoded, batch: Mapping[str, torch.Tensor]) -> HeadOutput:
        """Teacher forcing on a batch's ``answer_ids``; the logits are the log-probabilities of the mixture [B, S, V]."""
        out = self(encoded, batch["input_ids"], *self.segments(batch), batch["answer_ids"])
        return HeadOutput(logits=out.log_probs, loss=out.loss)

    def generate_answers(self, encoded: Encoded, batch: Mapping[str, torch.Tensor], decoding: DecodeConfig) -> list[list[int]]:
        """One answer per row of the batch: token ids, no specials."""
        return self.generate(encoded, batch["input_ids"], *self.segments(batch), decoding)


TYPED_HEADS: dict[str, Callable[[HeadSpec, int, float, bool], nn.Module]] = {
    "choice": lambda spec, hidden_size, dropout, causal: (
        ClassifierHead(hidden_size, spec.num_labels, dropout, causal) if spec.num_labels else ChoiceHead(hidden_size, dropout, causal)
    ),
    "span": lambda spec, hidden_size, dropout, causal: SpanHead(hidden_size),
    "tags": lambda spec, hidden_size, dropout, causal: TagHead(hidden_size, spec.num_labels, dropout),
    "score": lambda spec, hidden_size, dropout, causal: ScoreHead(hidden_size, dropout, causal),
}
"""A fresh typed head of each format from ``(spec, hidden size, dropout, causal backbone)``."""


def build_head(spec: HeadSpec, hidden_size: int, dropout: float = 0.1, causal: bool = False) -> nn.Module:
    """A fresh typed head for ``spec`` over states of width ``hidden_size`` (of a ``causal`` backbone or not)."""
    if spec.format not in TYPED_HEADS:
        raise ValueError(f"no typed head for format {spec.format!r}; typed heads: {', '.join(TYPED_HEADS)}")
    return TYPED_HEADS[spec.format](spec, hidden_size, dropout, causal)


def _new_head(spec: HeadSpec, backbone: Backbone, dropout: float) -> nn.Module:
    """A fresh head for ``spec`` over ``backbone``: the text head (its vocabulary is the backbone tokenizer's) or a typed one."""
    if spec.format != TEXT:
        return build_head(spec, backbone.hidden_size, dropout, backbone.causal)
    tokenizer = backbone.tokenizer
    config = text_head_config(spec.decoder or "small", dropout=dropout, copy_spans=spec.copy_spans)
    return TextAnswerHead(backbone.hidden_size, len(tokenizer), special_ids(tokenizer), config, never_copy=tokenizer.all_special_ids)


class MultiTaskModel(nn.Module):
    """One shared backbone under shared answer heads (MT-DNN).

    ``specs`` maps each task name to its :class:`HeadSpec`; tasks whose specs
    give the same :meth:`HeadSpec.key` share one head. ``forward(task, batch)``
    encodes the batch once and applies that task's head. ``batch`` is a dict of
    tensors: ``input_ids``, ``attention_mask``, ``token_type_ids`` and the
    format's fields (``choice_spans``/``choice_mask``/``labels``,
    ``context_mask``/``start_positions``/``end_positions``, ``labels``,
    ``values``, and ``answer_ids`` for the text head); label fields are
    optional (prediction). Text answers are decoded with :meth:`generate`.
    """

    def __init__(self, backbone: Backbone, specs: Mapping[str, HeadSpec], dropout: float = 0.1) -> None:
        super().__init__()
        self.backbone = backbone
        self.specs = dict(specs)
        self.dropout = dropout  # of every head, kept so that a saved model rebuilds the same heads
        self.heads = nn.ModuleDict()
        for task in sorted(self.specs):
            spec = self.specs[task]
            key = spec.key(task)
            if key not in self.heads:
                self.heads[key] = _new_head(spec, backbone, dropout)
            elif spec.num_labels and self.heads[key].num_labels != spec.num_labels:
                raise ValueError(f"task {task!r}: label set {key!r} is shared with a task of a different size")

    def head_for(self, task: str) -> nn.Module:
        """The head that answers ``task``."""
        return self.heads[self.specs[task].key(task)]

    def forward(self, task: str, batch: Mapping[str, torch.Tensor]) -> HeadOutput:
        encoded = self.backbone.encode(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
        return self.head_for(task).answer(encoded, batch)

    @torch.no_grad()
    def generate(self, task: str, batch: Mapping[str, torch.Tensor], decoding: DecodeConfig = DecodeConfig()) -> list[list[int]]:
        """The text head's answers to a batch of ``task`` (which must be answered in text): token ids, no specials."""
        head = self.head_for(task)
        if not isinstance(head, TextAnswerHead):
            raise ValueError(f"task {task!r} is answered by the {self.specs[task].format} head, not the text head")
        encoded = self.backbone.encode(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
        return head.generate_answers(encoded, batch, decoding)


def save_model(model: MultiTaskModel, directory: str | os.PathLike[str]) -> None:
    """Write ``model`` to ``directory``: the backbone (``models.registry.save_backbone``), the heads' weights and their specs."""
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    from models.registry import save_backbone

    target = Path(directory)
    # Own contiguous copies: safetensors refuses tensors that share storage (tied or sliced weights).
    weights = {key: tensor.detach().to("cpu", copy=True).contiguous() for key, tensor in model.heads.state_dict().items()}
    meta = {"specs": {name: dataclasses.asdict(spec) for name, spec in model.specs.items()}, "dropout": model.dropout}
    try:
        save_backbone(model.backbone, str(target))
        save_file(weights, str(target / HEADS_WEIGHTS), metadata={"format": "pt"})
        write_json_atomic(target / HEADS_FILE, meta)  # last, and whole or not at all: heads.json marks a complete model
    except (OSError, SafetensorError, RuntimeError) as err:  # a full disk or a read-only directory
        raise ModelError(f"{getattr(err, 'filename', None) or target}: cannot write the model ({str(err).splitlines()[0][:120] if str(err) else type(err).__name__})") from None


def load_model(directory: str | os.PathLike[str]) -> MultiTaskModel:
    """Read back a model that :func:`save_model` wrote; it gives the same outputs as when saved.

    A missing, truncated or damaged file is a :class:`ModelError` naming it.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from models.registry import load_saved

    source = Path(directory)
    heads_file = source / HEADS_FILE
    if not heads_file.is_file():
        raise ModelError(f"{source}: no {HEADS_FILE}; not a model saved by qabench train/run")
    backbone = load_saved(str(source))
    try:
        meta = json.loads(heads_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        where = f":{err.lineno}" if isinstance(err, json.JSONDecodeError) else ""
        raise ModelError(f"{heads_file}{where}: not valid JSON (the heads' specs); the file is truncated or damaged") from None
    try:
        specs = {name: HeadSpec(**spec) for name, spec in meta["specs"].items()}
        model = MultiTaskModel(backbone, specs, dropout=float(meta["dropout"]))
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ModelError(f"{heads_file}: not the heads' specs qabench wrote ({type(err).__name__}: {err}); the file is damaged") from None
    weights_file = source / HEADS_WEIGHTS
    legacy = source / LEGACY_HEADS_WEIGHTS
    if not weights_file.is_file() and legacy.is_file():
        raise ModelError(
            f"{legacy}: the heads' weights of an older qabench, written by torch.save (pickle), which qabench no longer reads; "
            f"evaluate that run with the qabench that wrote it, or train it again"
        )
    try:
        state = load_file(str(weights_file))
    except FileNotFoundError:
        raise ModelError(f"{weights_file}: missing; the run directory is incomplete") from None
    except (SafetensorError, OSError, RuntimeError, ValueError) as err:
        raise ModelError(f"{weights_file}: cannot read the heads' weights ({type(err).__name__}); the file is truncated or damaged") from None
    try:
        model.heads.load_state_dict(state)
    except RuntimeError as err:
        raise ModelError(f"{weights_file}: the heads' weights do not fit {HEADS_FILE} ({_misfit(model.heads.state_dict(), state, err)})") from None
    return model


def _misfit(expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor], err: RuntimeError) -> str:
    """Which tensors a heads file lacks, has too many of or holds in the wrong shape (a few names of each), for one line."""

    def few(names: list[str]) -> str:
        return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")

    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    reshaped = sorted(k for k in set(expected) & set(found) if expected[k].shape != found[k].shape)
    parts = [f"{label} {few(names)}" for label, names in (("missing", missing), ("unexpected", unexpected), ("wrong shape", reshaped)) if names]
    return "; ".join(parts) if parts else str(err).splitlines()[0][:160]
