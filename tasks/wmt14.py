"""WMT14 news translation, English to German: evaluation only.

Rows ``{"translation": {"de", "en"}}`` of the hub config ``de-en``, read in
the en -> de direction so that a model trained on ``multi30k_en_de`` can be
scored zero-shot. The hub's 4.5M-pair train split is not used (and is not in
the mirror): validation is newstest2013, test the full newstest2014.
"""

from __future__ import annotations

from tasks.recipes import wmt_task
from tasks.registry import register

SAMPLE_ROWS = (
    {"translation": {"de": "Die Regierung legte den Haushalt vor.", "en": "The government presented the budget."}},
    {"translation": {"de": "Der Zug hatte zwei Stunden Verspätung.", "en": "The train was two hours late."}},
)

WMT14 = register(wmt_task("wmt14", validation="newstest2013", test="newstest2014", sample_rows=SAMPLE_ROWS))
