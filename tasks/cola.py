"""CoLA (GLUE): is an English sentence grammatically acceptable?

Labels follow the hub: 0 unacceptable, 1 acceptable. The headline metric is
the Matthews correlation, as GLUE reports it (the classes are 30/70, so
accuracy alone rewards always answering "acceptable").

>>> from tasks.registry import get
>>> get("cola").recast({"sentence": "Him went home.", "label": 0, "idx": 5}).answer
'unacceptable'
"""

from __future__ import annotations

from tasks.recipes import template_task
from tasks.registry import register
from tasks.types import Source

COLA = register(
    template_task(
        "cola",
        family="classification",
        source=Source("nyu-mll/glue", "cola"),
        context="{sentence}",
        question="Is this sentence acceptable or unacceptable?",
        labels=("unacceptable", "acceptable"),
        metrics=("mcc", "accuracy"),
        description="Corpus of Linguistic Acceptability: is a sentence grammatical English?",
        notes=(
            "The hub text keeps a few transcription typos that CoLA's later public release fixed "
            "(7 validation sentences, 1 train sentence); they are kept as on the hub."
        ),
        sample_rows=(
            {"sentence": "The cat chased the mouse.", "label": 1, "idx": 0},
            {"sentence": "Mouse the chased cat the.", "label": 0, "idx": 1},
            {"sentence": "She seems to be happy.", "label": 1, "idx": 2},
        ),
    )
)
