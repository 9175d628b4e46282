"""The pretraining corpus: documents from text or JSONL files, or from tasks' training text, and its hash.

``qabench pretrain`` reads its text here. A plain text file holds one
document a line; a JSONL file one object a line with the text in a named
field; a task (``NAME`` or ``NAME:SPLIT``) gives the contexts and distinct
questions of its training split, and a tagged task also its words and NER
tags, which ERNIE's entity masking reads. Exact duplicates are dropped, the
order is kept, and :func:`corpus_sha256` names the result.

>>> # corpus = build_corpus(tasks=["sst2", "conll2003"], per_source=1000)
>>> # corpus.sources == ("task:sst2/train", "task:conll2003/train"); corpus.sha256 names its text
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from harness.errors import UserError


@dataclass(frozen=True)
class Document:
    """One corpus document: its text, and for tagged task data its words and NER tags."""

    text: str
    words: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Corpus:
    """The pretraining text and where it came from."""

    documents: tuple[Document, ...]
    sources: tuple[str, ...]  # files or "task:<name>/<split>"
    sha256: str  # over every document's text (and tags), in order


def read_corpus_file(path: str, text_field: str = "text", max_documents: int | None = None) -> list[Document]:
    """Documents of a corpus file: JSONL (``.jsonl``/``.json``, the ``text_field`` of each line) or plain text (one a line).

    ``max_documents`` stops after that many documents (non-empty lines).
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise UserError(f"--corpus {path}: no such file; give a plain text file (one document a line) or a JSONL file")
    documents: list[Document] = []
    jsonl = file.suffix in (".jsonl", ".json")
    with file.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if max_documents is not None and len(documents) >= max_documents:
                break
            line = line.strip()
            if not line:
                continue
            if not jsonl:
                documents.append(Document(line))
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise UserError(f"{file}:{number}: invalid JSON ({err.msg}); each line must be one JSON object") from None
            if not isinstance(row, dict) or not isinstance(row.get(text_field), str):
                raise UserError(f"{file}:{number}: no string field {text_field!r}; name the text field with --text-field")
            if row[text_field].strip():
                documents.append(Document(row[text_field].strip()))
    return documents


def task_documents(spec: str, data_dir: str | None, max_examples: int | None = None) -> tuple[list[Document], str]:
    """The contexts and distinct questions of a task's training split (tagged tasks keep words and tags).

    ``spec`` is ``NAME`` (the task's training split) or ``NAME:SPLIT``
    (e.g. ``squad:validation_a``, where a mirror lacks the training split);
    ``max_examples`` reads only the split's first examples.
    """
    from tasks.data import load_examples
    from tasks.errors import TaskError
    from tasks.registry import get

    name, _, split = spec.partition(":")
    try:
        task = get(name)
    except TaskError as err:
        raise UserError(f"--tasks {spec}: {err}") from None
    split = split or task.train_split or ""
    if not split:
        raise UserError(f"--tasks {spec}: the task has no training split (evaluation only); pretraining on its evaluation text would leak it")
    if split not in task.splits:
        raise UserError(f"--tasks {spec}: the task has no split {split!r}; its splits: {', '.join(task.splits)}")
    if split == task.eval_split:
        raise UserError(f"--tasks {spec}: {split!r} is the task's evaluation split; pretraining on it would leak it")
    try:
        examples = load_examples(task, split, data_dir=data_dir, limit=max_examples)
    except TaskError as err:
        raise UserError(f"--tasks {spec}: {err}") from None
    except (OSError, ValueError, ConnectionError) as err:  # the hub, unreachable offline
        first = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
        raise UserError(f"--tasks {spec}: cannot load its {split} split ({first}); set --data-dir / QABENCH_DATA to a local mirror") from None
    documents: list[Document] = []
    for example in examples:
        if example.tokens:
            documents.append(Document(" ".join(example.tokens), tuple(example.tokens), tuple(example.tags)))
        elif example.context:
            documents.append(Document(example.context))
    questions = dict.fromkeys(e.question for e in examples if e.question)  # templated questions repeat: keep one
    documents.extend(Document(q) for q in questions)
    return documents, f"task:{task.name}/{split}"


def build_corpus(
    files: Sequence[str] = (),
    tasks: Sequence[str] = (),
    *,
    text_field: str = "text",
    per_source: int | None = None,
    data_dir: str | None = None,
) -> Corpus:
    """The corpus of corpus ``files``, else of ``tasks``' training text; duplicates dropped, order kept.

    ``per_source`` reads at most that many lines of each file, or examples of
    each task (``qabench pretrain --per-source N``).
    """
    if files and tasks:
        raise UserError("give either --corpus files or --tasks, not both")
    if not files and not tasks:
        raise UserError("no corpus: give --corpus FILE (text or JSONL) or --tasks NAME ... (e.g. --tasks sst2 rte conll2003)")
    documents: list[Document] = []
    sources: list[str] = []
    for path in files:
        documents += read_corpus_file(path, text_field, per_source)
        sources.append(str(path))
    for name in tasks:
        found, source = task_documents(name, data_dir, per_source)
        documents += found
        sources.append(source)
    unique = tuple(dict.fromkeys(documents))
    if not unique:
        raise UserError(f"the corpus ({', '.join(sources)}) holds no text")
    return Corpus(unique, tuple(sources), corpus_sha256(unique))


def corpus_sha256(documents: Iterable[Document]) -> str:
    """sha256 over the documents' texts and tags, length-prefixed so boundaries count."""
    digest = hashlib.sha256(b"qabench-pretrain-corpus-v1\n")
    for document in documents:
        for part in (document.text, "\x1f".join(document.tags)):
            data = part.encode("utf-8")
            digest.update(len(data).to_bytes(8, "little"))
            digest.update(data)
    return digest.hexdigest()
