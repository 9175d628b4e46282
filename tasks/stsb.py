"""STS-B (GLUE): how similar are two sentences, from 0 to 5?

A ``score`` task: the answer is the gold similarity written with at most two
decimals (``"3.8"``, ``"5"``) and ``value`` is that number. 205 of the
7,249 mirrored labels are averages with more decimals (``3.333`` is 10/3);
rounding moves each by at most 0.005, which lets a gold answer read back
exactly as its value.

>>> from tasks.registry import get
>>> ex = get("stsb").recast({"sentence1": "A man sings.", "sentence2": "A man is singing.", "label": 4.8, "idx": 0})
>>> ex.answer, ex.value
('4.8', 4.8)
"""

from __future__ import annotations

from tasks.recipes import template_task
from tasks.registry import register
from tasks.types import Source

STSB = register(
    template_task(
        "stsb",
        family="pair",
        source=Source("nyu-mll/glue", "stsb"),
        context='Sentence 1: "{sentence1}"',
        question='Sentence 2: "{sentence2}" -- how similar is it to sentence 1, from 0 to 5?',
        metrics=("pearson", "spearman"),
        description="Semantic Textual Similarity Benchmark: similarity of two sentences from 0 to 5.",
        notes="Gold scores are rounded to two decimals (205 labels such as 3.333 move by at most 0.005).",
        sample_rows=(
            {"sentence1": "A dog runs on grass.", "sentence2": "A dog is running on grass.", "label": 4.8, "idx": 0},
            {"sentence1": "A woman slices onions.", "sentence2": "A man plays the flute.", "label": 0.0, "idx": 1},
            {"sentence1": "Two kids play ball.", "sentence2": "Children play outside.", "label": 2.667, "idx": 2},
        ),
    )
)
