"""IWSLT 2017 TED talks, English to German: evaluation only.

Hub config ``iwslt2017-de-en`` (the mirror has this one; the ``en-de``
config could not be confirmed to hold the same pairs), read in the en -> de
direction. English lines often keep double spaces where subtitle lines
broke; white space is folded. The hub's train split (206k pairs) is not used.
"""

from __future__ import annotations

from tasks.recipes import EVALUATION_ONLY, nested_pair, translation_task
from tasks.registry import register
from tasks.types import Source

IWSLT2017 = register(
    translation_task(
        "iwslt2017",
        source=Source("IWSLT/iwslt2017", "iwslt2017-de-en"),
        texts=nested_pair,
        **EVALUATION_ONLY,
        description="IWSLT 2017 TED talk transcripts, English to German; evaluation only.",
        notes=(
            "Evaluation only. The mirror has validation (dev2010) only. On the hub, test rows 1256, 1258 "
            "and 1298 carry subtitle timestamps in the German side, and row 1298 is misaligned."
        ),
        sample_rows=(
            {"translation": {"de": "Ich erzähle eine Geschichte.", "en": "I tell a story."}},
            {"translation": {"de": "Danke schön.", "en": "Thank you very much."}},
        ),
    )
)
