"""Universal POS tags of the English Web Treebank (Universal Dependencies 2.7).

Every token is answered: the text answer is ``word (TAG)`` for each token in
order (``"Al (PROPN); - (PUNCT); Zaman (PROPN)"``), scored by token
accuracy. ``upos`` ids follow the hub's label order below, in which ``_``
(id 13) marks a multi-word token line such as ``Today's`` (its parts follow
it with their own tags), kept as the hub keeps it.
"""

from __future__ import annotations

from tasks.recipes import tagging_task
from tasks.registry import register
from tasks.types import Source

LABELS = (
    "NOUN", "PUNCT", "ADP", "NUM", "SYM", "SCONJ", "ADJ", "PART", "DET",
    "CCONJ", "PROPN", "PRON", "X", "_", "ADV", "INTJ", "VERB", "AUX",
)  # fmt: skip

UD_POS = register(
    tagging_task(
        "ud_pos",
        source=Source("universal_dependencies", "en_ewt"),
        question=(
            "What is the universal part of speech of each word: "
            f"{', '.join(sorted(tag for tag in LABELS if tag != '_'))}, or _ for a multi-word token?"
        ),
        labels=LABELS,
        tag_column="upos",
        scheme="token",
        id_column="idx",
        metrics=("token_accuracy",),
        splits=("train", "validation", "test"),
        description="Universal part-of-speech tagging of the English Web Treebank (UD 2.7, en_ewt).",
        notes=(
            "The hub id is now universal-dependencies/universal_dependencies; the mirror keeps the "
            "old id universal_dependencies."
        ),
        sample_rows=(
            {"idx": "s-1", "tokens": ["I", "like", "green", "tea", "."], "upos": [11, 16, 6, 0, 1]},
            {"idx": "s-2", "tokens": ["We're", "We", "'re", "home"], "upos": [13, 11, 17, 14]},
        ),
    )
)
