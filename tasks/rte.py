"""RTE (GLUE): does the premise entail the hypothesis?

decaNLP's MNLI template with RTE's two label words (the hub's
``not_entailment`` is written ``not entailment``, in the question and as the
answer alike).

>>> from tasks.registry import get
>>> get("rte").recast({"sentence1": "A cat sat.", "sentence2": "A dog sat.", "label": 1, "idx": 0}).question
'Hypothesis: "A dog sat." -- entailment or not entailment?'
"""

from __future__ import annotations

from tasks.recipes import nli_task, readable
from tasks.registry import register
from tasks.types import Source

RTE = register(
    nli_task(
        "rte",
        source=Source("nyu-mll/glue", "rte"),
        columns=("sentence1", "sentence2"),
        labels=readable(("entailment", "not_entailment")),
        description="Recognising Textual Entailment (RTE1-3, RTE5): entailment or not entailment?",
        sample_rows=(
            {"sentence1": "The museum in Lyon reopened.", "sentence2": "A museum reopened.", "label": 0, "idx": 0},
            {"sentence1": "Sales fell in March.", "sentence2": "Sales rose in March.", "label": 1, "idx": 1},
        ),
    )
)
