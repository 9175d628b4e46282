"""ERNIE 2.0's continual multi-task pretraining (Sun et al., 2020), on three of its tasks.

ERNIE 2.0 keeps adding pretraining tasks and, at each stage, trains on every
task introduced so far, so the new ones never erase the old. Each task has its
own id, fed to the model as task-type embeddings (``ErnieModel``'s
``task_type_ids``). This objective uses one task of each of the paper's
families:

- word-aware, task 0: knowledge masking (ERNIE 1.0's, models/pretrain/ernie_masking.py);
- word-aware, task 1: capitalisation prediction: is the word of each token
  capitalised? The shared vocabulary is lowercase, so case must come from
  context (names, sentence starts);
- structure-aware, task 2: sentence distance: is segment B adjacent to A in
  the text (0), later in the same text (1), or from another text (2)?

Stages: the first third of training runs task 0, the second tasks 0-1, the
last all three; each batch belongs to one task drawn among those active, and
carries that task's id.

>>> # objective = ContinualMultiTask(build_backbone("ernie", "tiny", tok))
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from models.base import Backbone
from models.pretrain.base import ObjectiveOutput, TokenSequence, pad_rows
from models.pretrain.ernie_masking import KnowledgeMasking
from models.pretrain.masking import IGNORE

TASKS: tuple[str, ...] = ("knowledge-mask", "capitalisation", "sentence-distance")
ADJACENT, SAME_TEXT, OTHER_TEXT = 0, 1, 2


def active_tasks(progress: float, staged: bool = True) -> tuple[str, ...]:
    """The tasks trained at ``progress`` (0-1): one more each third of training, or all of them when not staged.

    >>> [active_tasks(p) for p in (0.1, 0.5, 0.9)]
    [('knowledge-mask',), ('knowledge-mask', 'capitalisation'), ('knowledge-mask', 'capitalisation', 'sentence-distance')]
    """
    if not staged:
        return TASKS
    return TASKS[: min(len(TASKS), 1 + int(progress * len(TASKS)))]


class ContinualMultiTask(KnowledgeMasking):
    """ERNIE 2.0: knowledge masking, capitalisation prediction and sentence distance, introduced in stages."""

    name = "ernie2-multitask"

    def __init__(self, backbone: Backbone, max_length: int = 128, staged: bool = True, **masking: object) -> None:
        super().__init__(backbone, max_length=max_length, **masking)
        config = backbone.model.config
        if not getattr(config, "use_task_id", False) or getattr(config, "task_type_vocab_size", 0) < len(TASKS):
            raise ValueError(f"ERNIE 2.0 multi-task pretraining needs use_task_id and task_type_vocab_size >= {len(TASKS)}")
        self.staged = staged
        self.capitalisation_head = nn.Linear(config.hidden_size, 2)
        self.distance_pooler = nn.Sequential(nn.Linear(config.hidden_size, config.hidden_size), nn.Tanh())
        self.distance_head = nn.Linear(config.hidden_size, 3)

    def make_batch(self, sequences: Sequence[TokenSequence], generator: torch.Generator, progress: float = 0.0) -> dict[str, torch.Tensor]:
        tasks = active_tasks(progress, self.staged)
        task = tasks[int(torch.randint(len(tasks), (), generator=generator))]
        if task == "knowledge-mask":
            batch = super().make_batch(sequences, generator, progress)
        elif task == "capitalisation":
            batch = self._capitalisation_batch(sequences)
        else:
            batch = self._distance_batch(sequences, generator)
        batch["task_type_ids"] = torch.full_like(batch["input_ids"], TASKS.index(task))  # [B, T]
        return batch

    def _capitalisation_batch(self, sequences: Sequence[TokenSequence]) -> dict[str, torch.Tensor]:
        rows, labels = [], []
        for sequence in sequences:
            ids = sequence.ids[: self.max_length - 2]
            capital = [int(sequence.words[w][:1].isupper()) for w in sequence.word_index[: len(ids)]]
            rows.append([self.special.cls, *ids, self.special.sep])
            labels.append([IGNORE, *capital, IGNORE])
        return {
            "input_ids": pad_rows(rows, self.special.pad),
            "token_type_ids": pad_rows([[0] * len(r) for r in rows], 0),
            "attention_mask": pad_rows([[1] * len(r) for r in rows], 0),
            "capital_labels": pad_rows(labels, IGNORE),
        }

    def _distance_batch(self, sequences: Sequence[TokenSequence], generator: torch.Generator) -> dict[str, torch.Tensor]:
        rows, segments, labels = [], [], []
        budget = self.max_length - 3
        for row, first in enumerate(sequences):
            cuts = [i for i in range(1, len(first)) if first.word_index[i] != first.word_index[i - 1]]
            label = int(torch.randint(3, (), generator=generator))
            if label == OTHER_TEXT and len(sequences) < 2:
                label = ADJACENT
            if label == SAME_TEXT and len(cuts) < 2:
                label = ADJACENT
            if not cuts:
                a, b = list(first.ids), []
            elif label == SAME_TEXT:  # B starts after a gap of at least one word
                i = int(torch.randint(len(cuts) - 1, (), generator=generator))
                j = int(torch.randint(i + 1, len(cuts), (), generator=generator))
                a, b = list(first.ids[: cuts[i]]), list(first.ids[cuts[j] :])
            else:
                cut = cuts[int(torch.randint(len(cuts), (), generator=generator))]
                a, b = list(first.ids[:cut]), list(first.ids[cut:])
                if label == OTHER_TEXT:
                    other = sequences[(row + int(torch.randint(1, len(sequences), (), generator=generator))) % len(sequences)]
                    b = list(other.ids[len(other) // 2 :])
            while len(a) + len(b) > budget:  # BERT's truncate_seq_pair
                if len(a) > len(b):
                    a.pop()
                else:
                    b.pop()
            rows.append([self.special.cls, *a, self.special.sep, *b, self.special.sep])
            segments.append([0] * (len(a) + 2) + [1] * (len(b) + 1))
            labels.append(label)
        return {
            "input_ids": pad_rows(rows, self.special.pad),
            "token_type_ids": pad_rows(segments, 0),
            "attention_mask": pad_rows([[1] * len(r) for r in rows], 0),
            "distance_label": torch.tensor(labels, dtype=torch.long),  # [B]
        }

    def forward(self, batch: dict[str, torch.Tensor]) -> ObjectiveOutput:
        hidden = self.backbone.model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            token_type_ids=batch["token_type_ids"],
            task_type_ids=batch["task_type_ids"],
        ).last_hidden_state  # [B, T, D]
        if "labels" in batch:  # knowledge masking
            predicted = batch["labels"] != IGNORE  # [B, T]
            embedding = self.backbone.model.get_input_embeddings().weight  # [V, D]
            loss = F.cross_entropy(self.mlm_head(hidden[predicted], embedding), batch["labels"][predicted])
            return ObjectiveOutput(loss, int(predicted.sum()), {"mlm": float(loss.detach())})
        if "capital_labels" in batch:
            labelled = batch["capital_labels"] != IGNORE  # [B, T]
            loss = F.cross_entropy(self.capitalisation_head(hidden[labelled]), batch["capital_labels"][labelled])
            return ObjectiveOutput(loss, int(labelled.sum()), {"capitalisation": float(loss.detach())})
        pooled = self.distance_pooler(hidden[:, 0])  # [B, D]: the [CLS] state
        loss = F.cross_entropy(self.distance_head(pooled), batch["distance_label"])
        return ObjectiveOutput(loss, len(batch["distance_label"]), {"sentence_distance": float(loss.detach())})
