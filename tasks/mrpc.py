"""MRPC (GLUE): do two news sentences mean the same?

Labels follow the hub (0 ``not_equivalent``, 1 ``equivalent``), written as
``not equivalent`` / ``equivalent``. The headline metric is F1 of
``equivalent``, the figure GLUE lists first ("F1/Accuracy") and the one
papers since BERT report; accuracy is kept beside it. Both are lenient with a
majority guess on this 68 % positive set: always answering ``equivalent``
scores F1 81.2 and accuracy 68.4 on validation.

>>> from tasks.registry import get
>>> get("mrpc").recast({"sentence1": "He left .", "sentence2": "He went away .", "label": 1, "idx": 9}).context
'Sentence 1: "He left ."'
"""

from __future__ import annotations

from tasks.recipes import readable, template_task
from tasks.registry import register
from tasks.types import Source

MRPC = register(
    template_task(
        "mrpc",
        family="pair",
        source=Source("nyu-mll/glue", "mrpc"),
        context='Sentence 1: "{sentence1}"',
        question='Sentence 2: "{sentence2}" -- does it mean the same as sentence 1? equivalent or not equivalent?',
        labels=readable(("not_equivalent", "equivalent")),
        metrics=("f1", "accuracy"),
        description="Microsoft Research Paraphrase Corpus: are two sentences paraphrases?",
        notes="The text is GLUE's tokenised version (spaces around punctuation), kept as on the hub.",
        sample_rows=(
            {"sentence1": "The firm earned $ 5 million .", "sentence2": "It made $ 5 million .", "label": 1, "idx": 0},
            {"sentence1": "Rain is due on Friday .", "sentence2": "The match moved to Friday .", "label": 0, "idx": 2},
        ),
    )
)
