"""Multi30k (task 1): image captions, English <-> German, as two tasks.

``multi30k_en_de`` and ``multi30k_de_en`` share the rows ``{"en", "de"}`` and
differ in direction. decaNLP's question ("Translate from English to
German"); white space is folded (40 German train lines end in spaces).
WMT14, WMT16, IWSLT2017 and Tatoeba are evaluation-only in the en -> de
direction, so a model trained on ``multi30k_en_de`` can be scored on them
zero-shot.
"""

from __future__ import annotations

from tasks.recipes import LANGUAGES, flat_pair, translation_task
from tasks.registry import register
from tasks.types import Source

DIRECTIONS = (("en", "de"), ("de", "en"))

MULTI30K_EN_DE, MULTI30K_DE_EN = (
    register(
        translation_task(
            f"multi30k_{source_language}_{target_language}",
            source=Source("bentrevett/multi30k", "default"),
            texts=flat_pair,
            direction=(source_language, target_language),
            splits=("train", "validation", "test"),
            description=f"Multi30k image captions, {LANGUAGES[source_language]} to {LANGUAGES[target_language]}.",
            notes="Some English train captions keep HTML escapes such as '&amp;', as in the raw files.",
            sample_rows=(
                {"en": "A dog runs through the snow.", "de": "Ein Hund läuft durch den Schnee."},
                {"en": "Two children sit on a bench.", "de": "Zwei Kinder sitzen auf einer Bank."},
            ),
        )
    )
    for source_language, target_language in DIRECTIONS
)
