"""Where the text head's answers come from: its copy gates, on gold answers and on its own.

decaNLP's text head (:mod:`models.text_head`) mixes generating from the
vocabulary with copying from the question and the context. When it answers an
extractive task (SQuAD) worse than a span head, these statistics say whether
it failed to copy (low copy weight on tokens that are there to copy), copied
from the wrong segment, or stopped at the wrong length (the probability of EOS
where the gold answer ends), on the gold answers (teacher forcing) and on the
answers it decoded itself (teacher forcing on them retraces decoding's
states exactly).

>>> # stats = copy_statistics(model, eval_set, settings, answers="decoded")
>>> # stats.copied, stats.copy_weight
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import torch

from harness.evaluate import EvalSet, EvalSettings
from harness.scaffold import autocast
from models.heads import MultiTaskModel, TextAnswerHead
from models.text_head import answer_tensor


@dataclass(frozen=True)
class CopyStatistics:
    """The text head's gates over the answer tokens of an evaluation set (EOS not counted as a token).

    Shares and means are 0-100 except ``tokens_per_answer``.
    """

    answers: int  # examples measured
    tokens_per_answer: float  # mean answer tokens (without EOS)
    copy_weight: float  # mean weight the gates give to copying (1 - vocab gate), in %
    context_share: float  # mean share of that weight on the context rather than the question, in %
    copied: float  # tokens whose probability came mostly from copying, in %
    copyable: float  # tokens that occur in the question or context (could be copied at all), in %
    probability: float  # mean probability of the token given the answer before it, in %
    eos_probability: float  # mean probability of EOS where the answer ends, in %

    def as_metrics(self, prefix: str) -> dict[str, float]:
        """These figures as ``{prefix/name: value}``."""
        return {f"{prefix}/{name}": float(value) for name, value in asdict(self).items()}


@torch.no_grad()
def copy_statistics(model: MultiTaskModel, eval_set: EvalSet, settings: EvalSettings, answers: Literal["gold", "decoded"] = "gold") -> CopyStatistics:
    """The copy gates of ``eval_set``'s task's text head on the ``gold`` answers or on the ones it ``decoded`` (``settings.decoding``)."""
    head = model.head_for(eval_set.task.name)
    if not isinstance(head, TextAnswerHead):
        raise ValueError(f"task {eval_set.task.name!r} is answered by the {model.specs[eval_set.task.name].format} head, not the text head")
    was_training = model.training
    model.eval()
    eos = head.special.eos
    sums = torch.zeros(6, dtype=torch.float64)  # copy weight, context share, copied, copyable, probability, EOS probability
    tokens = ends = 0
    features = eval_set.features
    for start in range(0, len(features), settings.batch_size):
        columns = features[start : start + settings.batch_size]
        batch = {k: v.to(settings.device) for k, v in eval_set.adapter.collate(columns, settings.pad_id).items()}
        with autocast(settings.device):
            if answers == "decoded":
                decoded = model.generate(eval_set.task.name, batch, settings.decoding)
                batch["answer_ids"] = answer_tensor(decoded, head.special, settings.decoding.max_length).to(settings.device)
            encoded = model.backbone.encode(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
            trace = head.trace(encoded, batch["input_ids"], *head.segments(batch), batch["answer_ids"])
        end = trace.real & batch["answer_ids"].eq(eos)  # [B, S]
        token = trace.real & ~end
        mostly_copied = trace.copied > trace.probability / 2
        for i, values in enumerate((1 - trace.vocab_gate, trace.context_gate, mostly_copied, trace.copyable, trace.probability)):
            sums[i] += values.double()[token].sum().cpu()
        sums[5] += trace.probability.double()[end].sum().cpu()
        tokens += int(token.sum())
        ends += int(end.sum())
    model.train(was_training)
    means = [100.0 * float(s) / max(tokens, 1) for s in sums[:5]]
    return CopyStatistics(len(eval_set.examples), tokens / max(len(features), 1), *means, 100.0 * float(sums[5]) / max(ends, 1))

