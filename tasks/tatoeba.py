"""Tatoeba (deu-eng), English to German: short everyday sentences, evaluation only.

Rows ``{sourceLang: "deu", targetlang: "eng", sourceString, targetString}``:
the German sentence is ``sourceString``. The task reads them in the en -> de
direction (context = ``targetString``, answer = ``sourceString``) so that a
model trained on ``multi30k_en_de`` can be scored zero-shot. Only the test
split (v2021-08-07) is used.
"""

from __future__ import annotations

from typing import Mapping

from tasks.recipes import translation_task
from tasks.registry import register
from tasks.types import Row, Source


def texts(row: Row) -> Mapping[str, str]:
    """Language code -> text: Tatoeba's German ``sourceString`` and English ``targetString``."""
    return {"de": row["sourceString"], "en": row["targetString"]}


TATOEBA = register(
    translation_task(
        "tatoeba",
        source=Source("Helsinki-NLP/tatoeba_mt", "deu-eng"),
        texts=texts,
        splits=("test",),
        train_split=None,
        eval_split="test",
        description="Tatoeba short sentences, English to German (test v2021-08-07); evaluation only.",
        notes="Evaluation only; the mirror has the test split only (its column names were not re-verified on the hub).",
        sample_rows=(
            {"sourceLang": "deu", "targetlang": "eng", "sourceString": "Ich bin da.", "targetString": "I am here."},
            {"sourceLang": "deu", "targetlang": "eng", "sourceString": "Wo ist er?", "targetString": "Where is he?"},
        ),
    )
)
