"""MultiNLI (GLUE): entailment, neutral, or contradiction, across genres.

decaNLP's own template and labels. Not in the mirror (every copy found was
too large), so the task resolves to the hub ``nyu-mll/glue`` config ``mnli``
for online users and lights up on its own when a mirror gains
``nyu-mll/glue/mnli/<split>.jsonl``. Evaluation uses the matched
validation set (genres seen in training); the mismatched one is the second
split to report.
"""

from __future__ import annotations

from tasks.recipes import nli_task
from tasks.registry import register
from tasks.types import Source

MNLI = register(
    nli_task(
        "mnli",
        source=Source("nyu-mll/glue", "mnli"),
        splits=("train", "validation_matched", "validation_mismatched"),
        eval_split="validation_matched",
        description="Multi-Genre NLI: entailment, neutral, or contradiction? (from the hub; not in this mirror)",
        sample_rows=(
            {"premise": "The shop opens on Sundays.", "hypothesis": "It opens on Sundays.", "label": 0, "idx": 0},
            {"premise": "He took the early train.", "hypothesis": "He was late for work.", "label": 1, "idx": 1},
            {"premise": "Nobody came to the talk.", "hypothesis": "The talk was crowded.", "label": 2, "idx": 2},
        ),
    )
)
