"""WMT16 news translation, English to German: evaluation only.

Same row shape and direction as :mod:`tasks.wmt14`, on newer news:
validation is newstest2015, test newstest2016.
"""

from __future__ import annotations

from tasks.recipes import wmt_task
from tasks.registry import register

SAMPLE_ROWS = (
    {"translation": {"de": "Die Wahl findet im Mai statt.", "en": "The election takes place in May."}},
    {"translation": {"de": "Die Preise sind stark gestiegen.", "en": "Prices have risen sharply."}},
)

WMT16 = register(wmt_task("wmt16", validation="newstest2015", test="newstest2016", sample_rows=SAMPLE_ROWS))
