"""SNLI: does the premise entail, contradict or say nothing about the hypothesis?

decaNLP's MNLI template and labels (hub order: 0 entailment, 1 neutral,
2 contradiction). Rows labelled -1 (no annotator consensus) carry no gold
label: :func:`~tasks.recipes.has_gold_label` drops them, and ``qabench
tasks validate`` counts them as skipped (158 of the 10,000 validation rows).
Rows have no id column: an example's id is a content hash of premise and
hypothesis.

The hub has train, validation and test, so ``train_split`` is ``train`` for
online users; the mirror holds validation only, so locally SNLI is an
evaluation-only task.
"""

from __future__ import annotations

from tasks.recipes import has_gold_label, nli_task
from tasks.registry import register
from tasks.types import Source

SNLI = register(
    nli_task(
        "snli",
        source=Source("stanfordnlp/snli", "plain_text"),
        id_column=None,
        splits=("train", "validation", "test"),
        keep=has_gold_label,
        skip_reason="label -1: annotators did not agree (no gold label)",
        description="Stanford NLI on image captions: entailment, neutral, or contradiction?",
        notes=(
            "Locally evaluation-only: the mirror holds validation only (train is on the hub). "
            "Validation rows 4237-4239 (examples 4168-4170) hold parse-tree fragments, "
            "as in the original snli_1.0_dev.txt."
        ),
        sample_rows=(
            {"premise": "A boy jumps into a lake.", "hypothesis": "A child is swimming.", "label": 0},
            {"premise": "A boy jumps into a lake.", "hypothesis": "The boy is at a party.", "label": 1},
            {"premise": "A boy jumps into a lake.", "hypothesis": "A boy is asleep in bed.", "label": 2},
            {"premise": "A woman holds a cup.", "hypothesis": "The woman drinks tea.", "label": -1},
        ),
    )
)
