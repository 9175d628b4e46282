"""Small pure recipe pieces that the built-in task files share.

A task file (``tasks/sst2.py``) should say only what is particular to its
task: the source, the words of its question, its labels and metrics, a few
sample rows. The steps that several tasks have in common live here:

- :func:`or_list`, :func:`readable`, :func:`content_id`, :func:`clean`,
  :func:`label_word`: one-line helpers for writing questions, label words
  (from integer ids or string labels) and ids;
- :func:`template_task`: a task whose context and question are filled from
  the row's columns by ``str.format`` templates (GLUE single sentences and
  sentence pairs) with a ``choice`` or ``score`` answer; :func:`nli_task`
  is its entailment form in decaNLP's MNLI words (RTE, SNLI, MNLI);
- :func:`tagging_task`: token tagging from integer tag ids (CoNLL, WNUT, UD);
- :func:`translation_task`: one translation direction from rows that hold
  both languages (Multi30k, IWSLT, Tatoeba); :func:`wmt_task` for the WMT
  news test sets.

Every recast built here is a :func:`functools.partial` over a module-level
function, so it is pure, picklable and has a stable ``datasets`` fingerprint.

>>> sst2 = template_task("sst2_demo", family="classification", source=Source("nyu-mll/glue", "sst2"),
...     context="{sentence}", question="Is this review {choices}?", labels=("negative", "positive"),
...     metrics=("accuracy",))
>>> sst2.recast({"sentence": "a gorgeous film ", "label": 1, "idx": 7}).question
'Is this review negative or positive?'
"""

from __future__ import annotations

import hashlib
import math
import string
from functools import partial
from typing import Any, Callable, Mapping, Sequence

from tasks.errors import RowError
from tasks.metrics import get_metric
from tasks.tagging import Scheme, tags_to_answer
from tasks.types import Example, Metric, Row, Source, Task

VERSION = "1"  # every built-in task starts at version 1; bump a task's own when its recast changes

LANGUAGES: dict[str, str] = {"de": "German", "en": "English"}


def or_list(words: Sequence[str]) -> str:
    """Words joined as a question offers them, with decaNLP's serial comma.

    >>> or_list(("negative", "positive")), or_list(("entailment", "neutral", "contradiction"))
    ('negative or positive', 'entailment, neutral, or contradiction')
    """
    if len(words) <= 2:
        return " or ".join(words)
    return f"{', '.join(words[:-1])}, or {words[-1]}"


def readable(label_names: Sequence[str]) -> tuple[str, ...]:
    """The hub's ClassLabel names as answer words: ``not_entailment`` -> ``not entailment``.

    The words appear verbatim in the question and as the choices, so a model
    that copies from the question can write them.

    >>> readable(("entailment", "not_entailment"))
    ('entailment', 'not entailment')
    """
    return tuple(name.replace("_", " ") for name in label_names)


def clean(text: str) -> str:
    """Text with runs of white space folded to one space and the ends stripped.

    >>> clean("  so that  demonstrate \\n it ")
    'so that demonstrate it'
    """
    return " ".join(text.split())


def content_id(*parts: str) -> str:
    """A stable id for rows without an id column: 16 hex digits of SHA-1 over the parts.

    Equal content gives an equal id, on the mirror and on the hub alike.

    >>> content_id("A man sleeps.", "A person rests.")
    '3361484f5906a7e9'
    """
    return hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]


def column(rows: Sequence[Row], name: str) -> list[Any]:
    """One column of a ``datasets.Dataset`` (read as a column) or of a list of dicts.

    >>> column([{"title": "A"}, {"title": "B"}], "title")
    ['A', 'B']
    """
    if hasattr(rows, "column_names"):
        return list(rows[name])  # type: ignore[call-overload]
    return [row[name] for row in rows]


def label_word(value: Any, labels: Sequence[str]) -> str:
    """The answer word of a row's label: an integer id (the hub's ClassLabel order) or the label itself as a string.

    A string label may be written with underscores where the answer word has
    spaces (``not_entailment``); a numeric string is read as an id.

    >>> labels = ("entailment", "not entailment")
    >>> label_word(1, labels), label_word("not_entailment", labels), label_word("entailment", labels), label_word("0", labels)
    ('not entailment', 'not entailment', 'entailment', 'entailment')
    >>> label_word("maybe", labels)
    Traceback (most recent call last):
    ...
    tasks.errors.RowError: label 'maybe' is outside the label set (0 entailment, 1 not entailment)
    """
    if isinstance(value, str):
        if value in labels:
            return value
        if value.replace("_", " ") in labels:
            return value.replace("_", " ")
        if not value.strip().lstrip("-").isdigit():
            raise RowError(f"label {value!r} is outside the label set ({_label_set(labels)})")
        value = int(value)
    return labels[label_index(value, labels)]


def _label_set(labels: Sequence[str]) -> str:
    """The label set as an error message shows it: ``0 negative, 1 positive`` (ids only when there are many)."""
    return ", ".join(f"{i} {name}" for i, name in enumerate(labels)) if len(labels) <= 10 else f"0-{len(labels) - 1}"


def format_score(value: float) -> str:
    """A similarity score as answer text, rounded to at most two decimals.

    >>> format_score(3.8), format_score(5.0), format_score(3.333), format_score(2.4000000953674316)
    ('3.8', '5', '3.33', '2.4')
    """
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def resolve_metrics(names: Sequence[str]) -> tuple[Metric, ...]:
    """The named metrics of :mod:`tasks.metrics`, headline first.

    >>> [m.name for m in resolve_metrics(("f1", "accuracy"))]
    ['f1', 'accuracy']
    """
    return tuple(get_metric(name) for name in names)


# --------------------------------------------------------------------------
# Templates over a row's columns: single sentences, sentence pairs


def _filled(template: str, row: Row, choices: Sequence[str]) -> str:
    values = {key: clean(value) if isinstance(value, str) else value for key, value in row.items()}
    return template.format_map({**values, "choices": or_list(choices)})


def recast_template(
    row: Row,
    *,
    context: str,
    question: str,
    labels: Sequence[str],
    id_column: str | None,
    id_columns: Sequence[str],
    label_column: str = "label",
) -> Example:
    """Fill ``context`` and ``question`` from ``row``; the answer is the :func:`label_word` of ``row[label_column]``.

    With ``labels`` empty, the answer is the score ``row[label_column]`` written
    by :func:`format_score` (``score`` format; ``value`` is that number).
    Templates name columns as ``{sentence1}`` and the choices as
    ``{choices}``; string columns are :func:`clean`-ed first. Rows without an
    ``id_column`` get a :func:`content_id` of their ``id_columns``.
    """
    filled_context = _filled(context, row, labels)
    filled_question = _filled(question, row, labels)
    example_id = str(row[id_column]) if id_column else content_id(*(str(row[c]) for c in id_columns))
    if not labels:
        answer = format_score(score_label(row[label_column]))
        return Example(example_id, filled_question, filled_context, answer, value=float(answer))
    return Example(example_id, filled_question, filled_context, label_word(row[label_column], labels), choices=tuple(labels))


def label_index(label: Any, labels: Sequence[str]) -> int:
    """``label`` checked as an index into ``labels``; anything else raises :class:`~tasks.errors.RowError`.

    Python would read ``labels[-1]`` as the last label, so GLUE's ``-1`` (no
    gold label) would pass as a real answer: rows that may carry it are
    dropped by :func:`has_gold_label` before this runs.

    >>> label_index(1, ("negative", "positive"))
    1
    >>> label_index(7, ("negative", "positive"))
    Traceback (most recent call last):
    ...
    tasks.errors.RowError: label 7 is outside the label set (0 negative, 1 positive)
    """
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(labels):
        raise RowError(f"label {label!r} is outside the label set ({_label_set(labels)})")
    return label


def score_label(label: Any) -> float:
    """A similarity label checked to be a finite number (a string or NaN raises :class:`~tasks.errors.RowError`).

    >>> score_label(3.8)
    3.8
    """
    if isinstance(label, bool) or not isinstance(label, (int, float)) or not math.isfinite(label):
        raise RowError(f"label {label!r} is not a finite number")
    return float(label)


def template_task(
    name: str,
    *,
    family: str,
    source: Source,
    context: str,
    question: str,
    metrics: Sequence[str],
    labels: Sequence[str] = (),
    id_column: str | None = "idx",
    label_column: str = "label",
    **fields: Any,
) -> Task:
    """A task whose context and question are templates over the row's columns.

    ``labels`` (the answer word of each label, in the hub's order) make it a
    ``choice`` task; the ``label_column`` holds an integer id into them or the
    label itself as a string (:func:`label_word`). Without labels it is a
    ``score`` task whose answer is the float in ``label_column``. ``fields`` are the remaining
    :class:`~tasks.types.Task` fields (description, notes, splits,
    sample_rows, keep, ...). A row without an ``id_column`` is identified by
    the content of the columns the templates use. Rows labelled ``-1`` (GLUE's
    unlabelled test rows) are dropped and counted as skipped unless ``keep``
    says otherwise; any other label outside the label set is an error.
    """
    used = [key for key in source_columns(context) + source_columns(question) if key != "choices"]
    fields.setdefault("keep", has_gold_label if label_column == "label" else partial(has_gold_label, column=label_column))
    fields.setdefault("skip_reason", NO_GOLD_LABEL)
    recast = partial(
        recast_template, context=context, question=question, labels=tuple(labels), id_column=id_column, id_columns=used,
        label_column=label_column,
    )
    fmt = "choice" if labels else "score"
    return Task(name, VERSION, family, fmt, source, recast, resolve_metrics(metrics), labels=tuple(labels), **fields)


def source_columns(template: str) -> list[str]:
    """The ``{column}`` names a template uses, in order.

    >>> source_columns('Hypothesis: "{hypothesis}" -- {choices}?')
    ['hypothesis', 'choices']
    """
    return [field for _, field, _, _ in string.Formatter().parse(template) if field]


NLI_LABELS = ("entailment", "neutral", "contradiction")  # SNLI and MNLI, in the hub's label order


def nli_templates(premise: str = "premise", hypothesis: str = "hypothesis") -> dict[str, str]:
    """decaNLP's MNLI context and question over the two named columns (for :func:`template_task`).

    >>> nli_templates("sentence1", "sentence2")["question"]
    'Hypothesis: "{sentence2}" -- {choices}?'
    """
    return {"context": f'Premise: "{{{premise}}}"', "question": f'Hypothesis: "{{{hypothesis}}}" -- {{choices}}?'}


NO_GOLD_LABEL = "label -1: no gold label"


def has_gold_label(row: Row, column: str = "label") -> bool:
    """False for rows labelled -1 (or ``"-"``, empty or null): GLUE's unlabelled test rows, SNLI's rows without annotator agreement.

    ``column`` is the row's label column.

    >>> has_gold_label({"label": 1}), has_gold_label({"label": "entailment"}), has_gold_label({"label": -1}), has_gold_label({"label": -1.0})
    (True, True, False, False)
    >>> has_gold_label({"sentiment": "-"}, column="sentiment")
    False
    """
    return row[column] not in (-1, "-1", "-", "", None)


def nli_task(
    name: str,
    *,
    source: Source,
    columns: tuple[str, str] = ("premise", "hypothesis"),
    labels: Sequence[str] = NLI_LABELS,
    **fields: Any,
) -> Task:
    """An entailment task in decaNLP's MNLI form, scored by accuracy.

    ``columns`` name the premise and hypothesis columns; ``labels`` are the
    answer words in the hub's label order, and a row's ``label`` is an id into
    them or the word itself (``"entailment"``, ``"not_entailment"``).
    """
    templates = nli_templates(*columns)
    return template_task(
        name, family="pair", source=source, labels=labels, metrics=("accuracy",), **templates, **fields
    )


# --------------------------------------------------------------------------
# Token tagging


def recast_tags(
    row: Row, *, question: str, labels: Sequence[str], tag_column: str, id_column: str, scheme: Scheme
) -> Example:
    """Tokens and their tags (integer ids or the tags as strings) to a tagging example; the answer lists the spans (:mod:`tasks.tagging`)."""
    tokens = tuple(row["tokens"])
    tags = tuple(label_word(tag, labels) for tag in row[tag_column])
    answer = tags_to_answer(tokens, tags, scheme)
    return Example(str(row[id_column]), question, " ".join(tokens), answer, tokens=tokens, tags=tags)


def tagging_task(
    name: str,
    *,
    source: Source,
    question: str,
    labels: Sequence[str],
    tag_column: str,
    scheme: Scheme,
    metrics: Sequence[str],
    id_column: str = "id",
    **fields: Any,
) -> Task:
    """A tagging task over ``tokens`` and the tags in ``tag_column``: ids in ``labels`` (hub ClassLabel order) or the tags themselves."""
    recast = partial(
        recast_tags, question=question, labels=tuple(labels), tag_column=tag_column, id_column=id_column, scheme=scheme
    )
    tag_metrics = resolve_metrics(metrics)
    return Task(name, VERSION, "tagging", "tags", source, recast, tag_metrics, labels=tuple(labels), **fields)


# --------------------------------------------------------------------------
# Translation


def flat_pair(row: Row) -> Mapping[str, str]:
    """Language code -> text of a row that is itself ``{"en": ..., "de": ...}`` (Multi30k)."""
    return row


def nested_pair(row: Row) -> Mapping[str, str]:
    """Language code -> text of a ``{"translation": {"de": ..., "en": ...}}`` row (WMT, IWSLT)."""
    return row["translation"]


def translation_question(source_language: str, target_language: str) -> str:
    """decaNLP's translation question.

    >>> translation_question("en", "de")
    'Translate from English to German'
    """
    return f"Translate from {LANGUAGES[source_language]} to {LANGUAGES[target_language]}"


def recast_translation(
    row: Row, *, texts: Callable[[Row], Mapping[str, str]], source_language: str, target_language: str
) -> Example:
    """Context = the source-language text, answer = the target-language text (white space folded)."""
    pair = texts(row)
    context, answer = clean(pair[source_language]), clean(pair[target_language])
    question = translation_question(source_language, target_language)
    return Example(content_id(context, answer), question, context, answer)


def translation_task(
    name: str,
    *,
    source: Source,
    texts: Callable[[Row], Mapping[str, str]],
    direction: tuple[str, str] = ("en", "de"),
    **fields: Any,
) -> Task:
    """One translation direction, scored by corpus BLEU.

    ``texts(row)`` maps language codes to the row's two texts
    (:func:`flat_pair`, :func:`nested_pair` or the task's own). Rows have no
    id column, so an example's id is the :func:`content_id` of its two texts.
    """
    source_language, target_language = direction
    recast = partial(
        recast_translation, texts=texts, source_language=source_language, target_language=target_language
    )
    return Task(name, VERSION, "translation", "text", source, recast, resolve_metrics(("bleu",)), **fields)


EVALUATION_ONLY: dict[str, Any] = {"splits": ("validation", "test"), "train_split": None, "eval_split": "validation"}
"""Task fields of an evaluation-only task with the hub's validation and test splits."""


def wmt_task(name: str, *, validation: str, test: str, sample_rows: Sequence[Row]) -> Task:
    """A WMT news translation task (hub ``wmt/<name>``, config ``de-en``): English to German, evaluation only.

    ``validation`` and ``test`` name the newstest sets behind the hub's splits.
    The hub's train split (millions of pairs) is not used.
    """
    return translation_task(
        name,
        source=Source(f"wmt/{name}", "de-en"),
        texts=nested_pair,
        **EVALUATION_ONLY,
        description=f"{name.upper()} news test sets ({validation}, {test}), English to German; evaluation only.",
        notes=f"Evaluation only: the hub's train split is not used. The mirror has validation ({validation}) only.",
        sample_rows=tuple(sample_rows),
    )
