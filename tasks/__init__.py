"""qabench's task side: every task recast as (question, context, answer) triples.

The one explicit list of built-in task modules is below; importing a module
registers its task(s). Add a built-in task by writing ``tasks/<name>.py`` and
adding it here; users add their own without touching qabench (see README).
"""

from __future__ import annotations

# One module per task (multi30k holds its two directions). Order is irrelevant.
from tasks import (  # noqa: F401 - imported for their registrations
    cola,
    conll2003,
    iwslt2017,
    mnli,
    mrpc,
    multi30k,
    mwsc,
    qnli,
    rte,
    snli,
    squad,
    sst2,
    stsb,
    tatoeba,
    ud_pos,
    wmt14,
    wmt16,
    wnut17,
    woz,
)
from tasks.types import Example, Metric, Source, Task

__all__ = ["Example", "Metric", "Source", "Task"]
