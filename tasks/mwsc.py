"""decaNLP's modified Winograd Schema Challenge (MWSC).

The raw file ``decanlp/schema.txt`` (mirror path ``decanlp``; not on the hub)
holds blocks separated by blank lines: a sentence with ``[a/b]``
alternatives, a question that may have its own ``[a/b]``, and the two
answers ``x/y``. :func:`read_schemas` turns each block into one row, and
:func:`options` expands a row into its two examples: every ``[a/b]`` replaced
by ``a`` (answer ``x``) and by ``b`` (answer ``y``). The question ends with
the two answers offered, as decaNLP writes it: "Who feared violence?
councilmen or demonstrators?".

Split. The file is one split, ``all`` (132 schemas). ``validation`` is every
fifth schema (schema index % 5 == 4, 26 schemas, 52 examples) and ``train``
is the rest (106 schemas, 212 examples); both examples of a schema are always
on the same side.

>>> row = {"schema_idx": 0, "sentence": "The cup beat the bowl because it was [fast/slow].",
...        "question": "What was [fast/slow]?", "answers": "cup/bowl"}
>>> [(ex.context, ex.question, ex.answer) for ex in map(recast, options(row))][1]
('The cup beat the bowl because it was slow.', 'What was slow? cup or bowl?', 'bowl')
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from tasks.errors import TaskError
from tasks.recipes import VERSION, column, resolve_metrics
from tasks.registry import register
from tasks.types import Example, Row, Source, Task

ALTERNATIVES = re.compile(r"\[([^\[\]/]*)/([^\[\]/]*)\]")
VALIDATION_EVERY = 5  # schema index % 5 == 4 -> validation


def read_schemas(path: str) -> list[Row]:
    """The schemas of a decaNLP ``schema.txt``, one row each, in file order.

    A block is three non-blank lines (sentence, question, ``x/y`` answers);
    blocks are separated by blank lines. A malformed block raises an error
    naming the file and its first line.
    """
    blocks: list[list[tuple[int, str]]] = [[]]
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            blocks[-1].append((lineno, line.strip()))
        elif blocks[-1]:
            blocks.append([])
    rows: list[Row] = []
    for block in (b for b in blocks if b):
        where = f"{path}:{block[0][0]}"
        lines = [text for _, text in block]
        if len(lines) != 3:
            raise TaskError(f"{where}: a schema is 3 lines (sentence, question, answers x/y); found {len(lines)}")
        sentence, question, answers = lines
        if not ALTERNATIVES.search(sentence) or len(answers.split("/")) != 2:
            raise TaskError(f"{where}: expected a sentence with [a/b] and answers written x/y")
        rows.append({"schema_idx": len(rows), "sentence": sentence, "question": question, "answers": answers})
    return rows


def options(row: Row) -> list[Row]:
    """The schema's two readings: option 0 takes every ``a`` of ``[a/b]``, option 1 every ``b``."""
    return [{**row, "option": option} for option in (0, 1)]


def recast(row: Row) -> Example:
    """One reading of a schema (a row of :func:`options`) to a choice example."""
    option = row["option"]
    choices = tuple(row["answers"].split("/"))
    context = ALTERNATIVES.sub(lambda m: m.group(1 + option), row["sentence"])
    question = f"{ALTERNATIVES.sub(lambda m: m.group(1 + option), row['question'])} {choices[0]} or {choices[1]}?"
    return Example(f"{row['schema_idx']}{'ab'[option]}", question, context, choices[option], choices=choices)


def in_validation(schema_idx: int) -> bool:
    """True for the schemas of the validation split (every fifth one)."""
    return schema_idx % VALIDATION_EVERY == VALIDATION_EVERY - 1


def train_schemas(rows: Sequence[Row]) -> list[int]:
    """Rows (schemas) of the train split."""
    return [i for i, idx in enumerate(column(rows, "schema_idx")) if not in_validation(idx)]


def validation_schemas(rows: Sequence[Row]) -> list[int]:
    """Rows (schemas) of the validation split."""
    return [i for i, idx in enumerate(column(rows, "schema_idx")) if in_validation(idx)]


MWSC = register(
    Task(
        name="mwsc",
        version=VERSION,
        family="winograd",
        format="choice",
        source=Source(
            "decanlp",
            split_files={"all": "schema.txt"},
            reader=read_schemas,
            derived={"train": ("all", train_schemas), "validation": ("all", validation_schemas)},
            on_hub=False,
        ),
        recast=recast,
        metrics=resolve_metrics(("accuracy",)),
        splits=("all", "train", "validation"),
        expand=options,
        description="decaNLP's Winograd schemas: who or what does the pronoun refer to? (two readings each)",
        notes=(
            "Local file only (decanlp/schema.txt). Split by schema: index % 5 == 4 is validation, "
            "the rest train; a schema's two examples stay together. The choices differ per schema, "
            "so the task has no fixed label set."
        ),
        sample_rows=(
            {
                "schema_idx": 0,
                "sentence": "The ball broke the window because it was [hard/fragile].",
                "question": "What was [hard/fragile]?",
                "answers": "ball/window",
            },
            {
                "schema_idx": 1,
                "sentence": "Lena felt [proud/ashamed] when her sister Mia said that she had won the race.",
                "question": "Who had won the race?",
                "answers": "Lena/Mia",
            },
        ),
    )
)
