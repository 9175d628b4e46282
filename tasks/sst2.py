"""SST-2 (GLUE): is a movie-review sentence negative or positive?

decaNLP's question, the sentence as the context (GLUE keeps a trailing space
after each sentence; it is stripped), the label word as the answer.

>>> from tasks.registry import get
>>> get("sst2").recast({"sentence": "a gorgeous , witty film ", "label": 1, "idx": 3}).answer
'positive'
"""

from __future__ import annotations

from tasks.recipes import template_task
from tasks.registry import register
from tasks.types import Source

SST2 = register(
    template_task(
        "sst2",
        family="classification",
        source=Source("nyu-mll/glue", "sst2"),
        context="{sentence}",
        question="Is this review {choices}?",
        labels=("negative", "positive"),
        metrics=("accuracy",),
        description="Stanford Sentiment Treebank, binary: is a review sentence negative or positive?",
        notes="Train holds treebank phrases, validation full sentences (as on the hub).",
        sample_rows=(
            {"sentence": "a warm , funny and unhurried film ", "label": 1, "idx": 0},
            {"sentence": "the plot goes nowhere slowly ", "label": 0, "idx": 1},
        ),
    )
)
