"""QNLI (GLUE): does a Wikipedia sentence answer a question?

Evaluation-only here: the mirror holds only the validation split (QNLI's
train split was out of reach), so the task has no train split; its hub
labels are ``entailment`` (the sentence answers it) and ``not_entailment``,
written ``not entailment``.

>>> from tasks.registry import get
>>> get("qnli").recast({"question": "Who won?", "sentence": "Ann won.", "label": 0, "idx": 0}).question
'Who won? -- does the context answer it? entailment or not entailment?'
"""

from __future__ import annotations

from tasks.recipes import readable, template_task
from tasks.registry import register
from tasks.types import Source

QNLI = register(
    template_task(
        "qnli",
        family="pair",
        source=Source("nyu-mll/glue", "qnli"),
        context="{sentence}",
        question="{question} -- does the context answer it? {choices}?",
        labels=readable(("entailment", "not_entailment")),
        metrics=("accuracy",),
        splits=("validation",),
        train_split=None,
        description="Question-answering NLI from SQuAD: does the sentence answer the question? (evaluation only)",
        notes="Evaluation only: the hub's train split is not used; the mirror has validation only.",
        sample_rows=(
            {"question": "When did the bridge open?", "sentence": "The bridge opened in 1932.", "label": 0, "idx": 0},
            {"question": "Who built the bridge?", "sentence": "The bridge is painted red.", "label": 1, "idx": 1},
        ),
    )
)
