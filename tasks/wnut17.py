"""WNUT-17: emerging and rare entities in social-media text.

Six entity types in IOB2, ids in the hub's label order below. As for
CoNLL-2003, the text answer lists the entities as ``span (type)``.
"""

from __future__ import annotations

from tasks.recipes import tagging_task
from tasks.registry import register
from tasks.types import Source

TYPES = ("corporation", "creative-work", "group", "location", "person", "product")
LABELS = ("O",) + tuple(f"{prefix}-{kind}" for kind in TYPES for prefix in ("B", "I"))

WNUT17 = register(
    tagging_task(
        "wnut17",
        source=Source("leondz/wnut_17", "wnut_17"),
        question=f"Which entities are mentioned, of the types {', '.join(TYPES[:-1])} and {TYPES[-1]}?",
        labels=LABELS,
        tag_column="ner_tags",
        scheme="bio",
        metrics=("entity_f1",),
        splits=("train", "validation", "test"),
        description="WNUT-17 emerging entities in tweets, Reddit and YouTube comments (6 types).",
        sample_rows=(
            {"id": "0", "tokens": ["watching", "Dune", "with", "@sam", "tonight"], "ner_tags": [0, 3, 0, 0, 0]},
            {"id": "1", "tokens": ["new", "Pixel", "phone", "from", "Google"], "ner_tags": [0, 11, 12, 0, 1]},
        ),
    )
)
