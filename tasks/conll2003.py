"""CoNLL-2003 English NER: persons, organisations, locations, miscellaneous.

The context is the sentence's tokens joined by spaces; the text answer lists
the entities in order as ``span (TYPE)`` (``"EU (ORG); German (MISC)"``,
``"none"`` without entities, see :mod:`tasks.tagging`); the tag head uses
``tokens`` and the IOB2 ``tags``. ``ner_tags`` ids follow the hub's label
order below.
"""

from __future__ import annotations

from tasks.recipes import tagging_task
from tasks.registry import register
from tasks.types import Source

LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")

CONLL2003 = register(
    tagging_task(
        "conll2003",
        source=Source("eriktks/conll2003", "conll2003"),
        question=(
            "Which persons (PER), organisations (ORG), locations (LOC) and miscellaneous entities (MISC) "
            "are mentioned?"
        ),
        labels=LABELS,
        tag_column="ner_tags",
        scheme="bio",
        metrics=("entity_f1",),
        splits=("train", "validation", "test"),
        description="CoNLL-2003 named entities in Reuters news (PER, ORG, LOC, MISC).",
        notes="Research use only: the Reuters text may not be redistributed.",
        sample_rows=(
            {"id": "0", "tokens": ["Anna", "Berg", "flew", "to", "Oslo", "."], "ner_tags": [1, 2, 0, 0, 5, 0]},
            {"id": "1", "tokens": ["Shares", "fell", "sharply", "."], "ner_tags": [0, 0, 0, 0]},
        ),
    )
)
