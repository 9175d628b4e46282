"""SQuAD v1.1: extractive question answering over Wikipedia paragraphs.

The question and the paragraph as they are; the answer is the first gold
answer, ``answers`` keeps every distinct gold text (nF1 and EM take the best
over them) and ``answer_start`` is the first answer's character offset.

Training without a train split. The mirror has validation only, so two
derived splits cut it by article title, which keeps every paragraph (and so
every context) on one side only: the distinct titles are sorted, the first
half (``titles[:len(titles) // 2]``) makes ``validation_a`` (train on it) and
the rest makes ``validation_b`` (evaluate on it). The cut is a pure function
of the rows, the same on every machine. ``train_split`` stays ``train`` (the
hub has it); a run config that trains on the mirror names ``validation_a``
and ``validation_b`` instead.
"""

from __future__ import annotations

from typing import Sequence

from tasks.errors import RowError
from tasks.recipes import VERSION, column, resolve_metrics
from tasks.registry import register
from tasks.types import Example, Row, Source, Task


def recast(row: Row) -> Example:
    """A SQuAD row to a span example; duplicate gold answers are kept once, in order."""
    texts = row["answers"]["text"]
    if not texts:
        raise RowError("no gold answer (answers.text is empty)")
    start = row["answers"]["answer_start"][0]
    if isinstance(start, bool) or not isinstance(start, int):
        raise RowError(f"answers.answer_start must be integer offsets, got {type(start).__name__} {start!r}")
    if row["context"][start : start + len(texts[0])] != texts[0]:
        raise RowError(f"answers.answer_start {start} does not point at the answer {texts[0]!r}")
    return Example(
        id=str(row["id"]),
        question=row["question"],
        context=row["context"],
        answer=texts[0],
        answers=tuple(dict.fromkeys(texts)),
        answer_start=start,
    )


def title_half(rows: Sequence[Row], second: bool) -> list[int]:
    """Indices of the rows whose article title is in the first (or ``second``) half of the sorted titles."""
    titles = column(rows, "title")
    ordered = sorted(set(titles))
    first_half = set(ordered[: len(ordered) // 2])
    return [i for i, title in enumerate(titles) if (title in first_half) != second]


def validation_a(rows: Sequence[Row]) -> list[int]:
    """Rows of the first half of the sorted article titles (train on these)."""
    return title_half(rows, second=False)


def validation_b(rows: Sequence[Row]) -> list[int]:
    """Rows of the second half of the sorted article titles (evaluate on these)."""
    return title_half(rows, second=True)


SQUAD = register(
    Task(
        name="squad",
        version=VERSION,
        family="qa",
        format="span",
        source=Source(
            "rajpurkar/squad",
            "plain_text",
            derived={"validation_a": ("validation", validation_a), "validation_b": ("validation", validation_b)},
        ),
        recast=recast,
        metrics=resolve_metrics(("nf1", "em")),
        splits=("train", "validation", "validation_a", "validation_b"),
        description="Stanford Question Answering Dataset v1.1: answer with a span of the paragraph.",
        notes=(
            "The mirror has no train split: train on validation_a and evaluate on validation_b, "
            "validation cut by sorted article title (first half / rest), so no context is shared."
        ),
        sample_rows=(
            {
                "id": "q1",
                "title": "Lighthouses",
                "context": "The lighthouse was built in 1874 on a granite rock.",
                "question": "When was the lighthouse built?",
                "answers": {"text": ["1874", "in 1874", "1874"], "answer_start": [28, 25, 28]},
            },
            {
                "id": "q2",
                "title": "Lighthouses",
                "context": "The lighthouse was built in 1874 on a granite rock.",
                "question": "What is the rock made of?",
                "answers": {"text": ["granite"], "answer_start": [38]},
            },
        ),
    )
)
