"""Zero-code tasks: a directory of JSONL triples is a task (``--task-dir DIR``).

The directory holds ``train.jsonl`` and/or ``validation.jsonl`` (and
optionally ``test.jsonl``), one object per line with ``question``,
``context`` and ``answer`` and optionally ``id``, ``answer_start`` (a span
answer: character offset in the context) or ``choices`` (a list that
contains the answer). The format follows from the fields:

- every row has ``choices``  -> ``choice`` format, metric accuracy
- every row has ``answer_start`` -> ``span`` format, metrics nF1 and EM
- otherwise -> ``text`` format, metrics nF1 and EM

An optional ``task.json`` sets ``name`` (default: the directory's name),
``family`` (default ``custom``), ``description`` and ``metrics``: names from
:mod:`tasks.metrics`, or Hugging Face ``evaluate`` metrics as
``"evaluate:SOURCE[#KEY]"`` or ``{"evaluate": SOURCE, "key": K, "scale": 100}``
(SOURCE: a hub id, or a metric script path relative to the directory; see
:func:`tasks.metrics.evaluate_metric`).

>>> import json, tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp()) / "capitals"; d.mkdir()
>>> _ = (d / "train.jsonl").write_text(json.dumps(
...     {"question": "What is the capital?", "context": "Paris is the capital of France.", "answer": "Paris",
...      "answer_start": 0}) + "\\n")
>>> task = task_from_directory(d)
>>> task.name, task.format, [m.name for m in task.metrics]
('capitals', 'span', ['nf1', 'em'])
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tasks.data import iter_jsonl
from tasks.errors import TaskError
from tasks.types import Example, Format, Metric, Row, Source, Task

REQUIRED = ("question", "context", "answer")
SPLITS = ("train", "validation", "test")
_FORMAT_METRICS: dict[str, tuple[str, ...]] = {"choice": ("accuracy",), "span": ("nf1", "em"), "text": ("nf1", "em")}


def read_triples(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a zero-code JSONL file, checked line by line (errors name file and line)."""
    path = Path(path)
    rows: list[dict[str, Any]] = []
    for lineno, row in iter_jsonl(path):
        missing = [key for key in REQUIRED if not isinstance(row.get(key), str)]
        if missing:
            raise TaskError(
                f"{path}:{lineno}: missing or non-string field {missing[0]!r} "
                f"(zero-code task rows need {', '.join(REQUIRED)})"
            )
        problem = triple_problem(row)
        if problem:
            raise TaskError(f"{path}:{lineno}: {problem}")
        row.setdefault("id", f"{path.stem}-{lineno}")
        rows.append(row)
    return rows


def triple_problem(row: dict[str, Any]) -> str:
    """What is wrong with a zero-code row's ``choices`` or ``answer_start``; '' when nothing is.

    >>> triple_problem({"question": "q", "context": "abc", "answer": "b", "answer_start": 1})
    ''
    >>> triple_problem({"question": "q", "context": "abc", "answer": "b", "answer_start": 2})
    "answer_start 2 does not point at the answer 'b' (the context there reads 'c')"
    >>> triple_problem({"question": "q", "context": "abc", "answer": "b", "choices": "abc"})
    "choices must be a list of strings, got str 'abc'"
    """
    if "choices" in row:
        choices = row["choices"]
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            return f"choices must be a list of strings, got {type(choices).__name__} {choices!r}"[:200]
        if row["answer"] not in choices:
            return f"answer {row['answer']!r} is not one of its choices {choices}"[:200]
    if "answer_start" in row:
        start, answer, context = row["answer_start"], row["answer"], row["context"]
        if isinstance(start, bool) or not isinstance(start, int):
            return f"answer_start must be an integer character offset, got {type(start).__name__} {start!r}"[:200]
        if start < 0 or context[start : start + len(answer)] != answer:
            found = context[max(start, 0) : max(start, 0) + len(answer)]
            return f"answer_start {start} does not point at the answer {answer!r} (the context there reads {found!r})"[:200]
    return ""


def recast_triple(row: Row) -> Example:
    """A zero-code row is already a triple."""
    return Example(
        id=str(row["id"]),
        question=row["question"],
        context=row["context"],
        answer=row["answer"],
        answers=tuple(row.get("answers") or ()),
        choices=tuple(row.get("choices") or ()),
        answer_start=row.get("answer_start"),
    )


def _infer_format(rows: list[dict[str, Any]]) -> Format:
    if rows and all("choices" in r for r in rows):
        return "choice"
    if rows and all("answer_start" in r for r in rows):
        return "span"
    return "text"


def _metric(entry: Any, directory: Path) -> Metric:
    """A ``metrics`` entry of ``task.json``: a qabench metric name, ``evaluate:SOURCE[#KEY]``, or
    ``{"evaluate": SOURCE, "key": ..., "scale": ..., "name": ..., "higher_is_better": ...}``.
    A relative metric script path is relative to the task directory."""
    from tasks.metrics import EVALUATE_PREFIX, evaluate_metric, get_metric

    def local(source: str) -> str:
        return str(directory / source) if (directory / source).exists() else source

    if isinstance(entry, str):
        if entry.startswith(EVALUATE_PREFIX):
            source, _, key = entry[len(EVALUATE_PREFIX) :].partition("#")
            return evaluate_metric(local(source), key=key or None)
        return get_metric(entry)
    options = {"key", "scale", "name", "higher_is_better"}
    if not isinstance(entry, dict) or not isinstance(entry.get("evaluate"), str) or set(entry) - options - {"evaluate"}:
        raise TaskError(f"a metric is a name or {{\"evaluate\": SOURCE}} with optional {', '.join(sorted(options))}; got {entry!r}")
    return evaluate_metric(local(entry["evaluate"]), **{k: v for k, v in entry.items() if k != "evaluate"})


def task_from_directory(directory: str | Path) -> Task:
    """Build (but do not register) the task a zero-code directory describes."""
    directory = Path(directory)
    if not directory.is_dir():
        raise TaskError(f"--task-dir {directory}: no such directory")
    splits = tuple(s for s in SPLITS if (directory / f"{s}.jsonl").is_file())
    if not splits:
        raise TaskError(f"--task-dir {directory}: no train.jsonl, validation.jsonl or test.jsonl inside")
    meta: dict[str, Any] = {}
    meta_path = directory / "task.json"
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as err:
            raise TaskError(f"{meta_path}: not UTF-8 (byte offset {err.start})") from None
        except json.JSONDecodeError as err:
            raise TaskError(f"{meta_path}:{err.lineno}: not valid JSON ({err.msg})") from None
        if not isinstance(meta, dict):
            raise TaskError(f"{meta_path}: expected a JSON object, got {type(meta).__name__}")
        unknown = sorted(set(meta) - {"name", "family", "description", "metrics", "version"})
        if unknown:
            raise TaskError(f"{meta_path}: unknown key {unknown[0]!r} (allowed: name, family, description, metrics, version)")
    sample = read_triples(directory / f"{splits[0]}.jsonl")
    fmt = _infer_format(sample)
    name = meta.get("name") or re.sub(r"[^A-Za-z0-9_]+", "_", directory.resolve().name).strip("_").lower()
    names = meta.get("metrics", _FORMAT_METRICS[fmt])
    if not isinstance(names, (list, tuple)) or not names:
        raise TaskError(f"{meta_path}: 'metrics' must be a non-empty list of metric names (or {{\"evaluate\": SOURCE}} entries)")
    try:
        metrics = tuple(_metric(m, directory) for m in names)
    except TaskError as err:
        raise TaskError(f"{meta_path}: {err}") from None
    train = "train" if "train" in splits else None
    evaluation = "validation" if "validation" in splits else splits[-1]
    return Task(
        name=name,
        version=str(meta.get("version", "1")),
        family=meta.get("family", "custom"),
        format=fmt,
        source=Source(hub_id=f"local:{directory}", reader=read_triples, on_hub=False, local_dir=str(directory)),
        recast=recast_triple,
        metrics=metrics,
        splits=splits,
        train_split=train,
        eval_split=evaluation,
        description=meta.get("description", f"zero-code task from {directory}"),
        sample_rows=tuple(sample[:2]),
    )
