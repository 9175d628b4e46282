"""Rows and examples of a task's split, resolved in DESIGN.md's order.

1. files the user names: a task's own (``Source(files=...)``, ``Source.local(...)``),
   or passed here (``files={"train": "my.jsonl"}``);
2. a local mirror (``data_dir`` argument, else ``QABENCH_DATA``) laid out as
   ``<hub_id>/<config>/<split>.jsonl`` or ``.parquet``;
3. the Hugging Face hub: ``datasets.load_dataset(hub_id, config, split=...,
   revision=...)``.

Row files are read with ``datasets.load_dataset("json" | "parquet", ...)``,
which caches them as Arrow, so a second read is fast. ``datasets`` is imported
only when rows are actually loaded.

>>> import os; from tasks.data import resolve_data_dir
>>> resolve_data_dir("/nowhere") is None
True
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from tasks.cache import RowsFile, cached_examples
from tasks.errors import RowError, TaskError, recast_failure
from tasks.types import Example, Row, Task

DATA_ENV = "QABENCH_DATA"
ROW_SUFFIXES = (".jsonl", ".parquet")


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The mirror directory to use: the argument, else ``$QABENCH_DATA``; None if neither exists."""
    candidate = data_dir if data_dir is not None else os.environ.get(DATA_ENV)
    if not candidate:
        return None
    path = Path(candidate).expanduser()
    return path if path.is_dir() else None


def local_split_file(task: Task, split: str, data_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The local file of ``split`` for ``task`` (one the task names, else the mirror's), or None when there is none."""
    if split in task.source.files:
        named = Path(task.source.files[split]).expanduser()
        return named if named.is_file() else None
    if task.source.local_dir is not None:
        base = Path(task.source.local_dir)
    else:
        root = resolve_data_dir(data_dir)
        if root is None:
            return None
        base = root / task.source.mirror_dir
    if split in task.source.split_files:
        path = base / task.source.split_files[split]
        return path if path.is_file() else None
    for suffix in ROW_SUFFIXES:
        path = base / f"{split}{suffix}"
        if path.is_file():
            return path
    return None


def count_rows(path: Path) -> int | None:
    """Rows in a local JSONL file (lines that are not blank); None for other formats."""
    if path.suffix != ".jsonl":
        return None
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.strip())


def local_splits(task: Task, data_dir: str | os.PathLike[str] | None = None) -> dict[str, int | str | None]:
    """Split -> row count (or 'from <base>' for derived splits) for the splits present locally."""
    found: dict[str, int | str | None] = {}
    for split in task.splits:
        if split in task.source.derived:
            base = task.source.derived[split][0]
            if local_split_file(task, base, data_dir) is not None:
                found[split] = f"from {base}"
            continue
        path = local_split_file(task, split, data_dir)
        if path is not None:
            found[split] = count_rows(path)
    return found


def load_rows(
    task: Task,
    split: str,
    data_dir: str | os.PathLike[str] | None = None,
    files: Mapping[str, str] | None = None,
) -> Sequence[Row]:
    """The raw rows of ``split`` (a ``datasets.Dataset`` or a list of dicts).

    ``files`` (split -> path) take the place of the files the task's source names.
    """
    files = {**task.source.files, **(files or {})}
    if split not in task.splits and not (files and split in files):
        raise TaskError(f"task {task.name!r} has no split {split!r}; its splits are: {', '.join(task.splits)}")
    if split in task.source.derived and not (files and split in files):
        base, select = task.source.derived[split]
        rows = load_rows(task, base, data_dir, files)
        indices = select(rows)
        return rows.select(indices) if hasattr(rows, "select") else [rows[i] for i in indices]
    if files and split in files:
        return _read_file(task, Path(files[split]))
    path = local_split_file(task, split, data_dir)
    if path is not None:
        return _read_file(task, path)
    return _load_from_hub(task, split, data_dir)


def load_examples(
    task: Task,
    split: str,
    data_dir: str | os.PathLike[str] | None = None,
    files: Mapping[str, str] | None = None,
    limit: int | None = None,
    sample_seed: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> list[Example]:
    """Recast the rows of ``split`` into examples.

    With ``limit``, keep ``limit`` examples: the first ones, or with
    ``sample_seed`` a seeded random subset in the split's own order (the
    head of a split is often not representative: SST-2's first rows are
    phrases of a few reviews, SQuAD's the questions of one article).

    With ``cache_dir`` (a run's: :func:`tasks.cache.cache_root`), the
    examples of a split read from a local file are kept in the examples
    cache there (:mod:`tasks.cache`), and a second call with the same task
    code, data file, ``limit`` and ``sample_seed`` reads them back without
    reading or recasting the split.
    """
    if cache_dir is not None:
        rows_file = rows_source(task, split, data_dir, files)
        if rows_file is not None:

            def build() -> list[Example]:
                return load_examples(task, split, data_dir, files, limit, sample_seed)

            return cached_examples(task, split, rows_file, limit, sample_seed, load_examples, build, Path(cache_dir))
    if limit is not None and sample_seed is not None:
        return sample_examples(load_examples(task, split, data_dir, files), limit, sample_seed)
    rows = load_rows(task, split, data_dir, files)
    examples: list[Example] = []
    seen: dict[str, int] = {}
    for index, row in enumerate(_iter_rows(rows)):
        try:
            examples.extend(unique_ids(task.rows_to_examples([row]), seen))
        except RowError as err:
            raise RowError(f"{row_location(task, split, index, data_dir, files)}: {err}") from None
        except Exception as err:  # noqa: BLE001 - any other row that does not recast is one line naming it, as tasks validate says it
            raise TaskError(f"{row_location(task, split, index, data_dir, files)}: {recast_failure(err, row)}") from None
        if limit is not None and len(examples) >= limit:
            return examples[:limit]
    return examples


def split_path(
    task: Task,
    split: str,
    data_dir: str | os.PathLike[str] | None = None,
    files: Mapping[str, str] | None = None,
) -> Path | None:
    """The local file the rows of ``split`` are read from; None for derived splits and the hub."""
    if files and split in files:
        return Path(files[split])
    if split in task.source.derived:
        return None
    return local_split_file(task, split, data_dir)


def rows_source(
    task: Task,
    split: str,
    data_dir: str | os.PathLike[str] | None = None,
    files: Mapping[str, str] | None = None,
) -> RowsFile | None:
    """The local file the rows of ``split`` come from, through any derived splits (their ``select`` functions with it); None for the hub."""
    files = {**task.source.files, **(files or {})}
    if split in files:
        path = Path(files[split]).expanduser()
        return RowsFile(path) if path.is_file() else None
    if split in task.source.derived:
        base, select = task.source.derived[split]
        found = rows_source(task, base, data_dir, files)
        return RowsFile(found.path, (select, *found.selects)) if found is not None else None
    path = local_split_file(task, split, data_dir)
    return RowsFile(path) if path is not None else None


def row_location(
    task: Task,
    split: str,
    index: int,
    data_dir: str | os.PathLike[str] | None = None,
    files: Mapping[str, str] | None = None,
) -> str:
    """Where row ``index`` of ``split`` came from, for an error message: ``FILE:LINE`` for JSONL files.

    A JSONL row is the ``index``-th non-blank line (the readers skip blank
    lines); other sources say the row number. Only called on the error path.
    """
    where = f"task {task.name!r}, split {split!r}, row {index}"
    path = split_path(task, split, data_dir, files)
    if path is None:
        return where
    if path.suffix != ".jsonl" or task.source.reader is not None and task.source.local_dir is None:
        return f"{path}, row {index}"
    seen = -1
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, start=1):
            seen += bool(line.strip())
            if seen == index:
                return f"{path}:{lineno}"
    return f"{path}, row {index}"


def sample_examples(examples: Sequence[Example], limit: int, seed: int) -> list[Example]:
    """``limit`` examples drawn without replacement by ``seed``, kept in their original order.

    >>> exs = [Example(id=str(i), question="q", context="c", answer="x") for i in range(10)]
    >>> [e.id for e in sample_examples(exs, 3, seed=0)] == [e.id for e in sample_examples(exs, 3, seed=0)]
    True
    >>> len(sample_examples(exs, 30, seed=0))
    10
    """
    if limit >= len(examples):
        return list(examples)
    keep = sorted(random.Random(seed).sample(range(len(examples)), limit))
    return [examples[i] for i in keep]


def unique_ids(examples: Iterable[Example], seen: dict[str, int]) -> Iterator[Example]:
    """Examples with ids made unique within a split: a repeated id gets ``#2``, ``#3``, ...

    Content-derived ids (translation pairs, NLI pairs) repeat where the data
    repeats a pair; predictions and paired comparisons need one id per example.

    >>> ex = Example(id="a", question="q", context="c", answer="x")
    >>> [e.id for e in unique_ids([ex, ex, ex], {})]
    ['a', 'a#2', 'a#3']
    """
    for example in examples:
        count = seen.get(example.id, 0) + 1
        seen[example.id] = count
        yield example if count == 1 else dataclasses.replace(example, id=f"{example.id}#{count}")


def fingerprint(examples: Iterable[Example]) -> str:
    """sha256 over the examples' canonical JSON: equal iff the evaluated data is equal."""
    digest = hashlib.sha256()
    for example in examples:
        digest.update(json.dumps(example.to_dict(), sort_keys=True, ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _iter_rows(rows: Sequence[Row]) -> Iterable[Row]:
    return iter(rows)


def _read_file(task: Task, path: Path) -> Sequence[Row]:
    """Rows of one local file, through the task's reader or ``datasets``."""
    if not path.is_file():
        raise TaskError(f"{path}: no such file (task {task.name!r})")
    if task.source.reader is not None:
        return task.source.reader(str(path))
    if path.suffix == ".parquet":
        return _datasets_load("parquet", path)
    if path.suffix in (".jsonl", ".json"):
        check_jsonl(path)
        return _datasets_load("json", path)
    if path.suffix == ".csv":
        return _datasets_load("csv", path)
    raise TaskError(f"{path}: unsupported file type {path.suffix!r}; use .jsonl, .parquet or .csv")


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line; a malformed line raises naming file and line.

    Bytes that are not UTF-8 raise naming the file, line and byte offset.
    """
    offset = 0
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise TaskError(
                    f"{path}:{lineno}: not UTF-8 (byte 0x{raw[err.start]:02x} at byte offset {offset + err.start}); "
                    "re-encode the file as UTF-8"
                ) from None
            offset += len(raw)
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as err:
                raise TaskError(f"{path}:{lineno}: not valid JSON ({err.msg} at column {err.colno})") from None
            if not isinstance(value, dict):
                raise TaskError(f"{path}:{lineno}: expected a JSON object per line, got {type(value).__name__}")
            yield lineno, value


def check_jsonl(path: Path) -> None:
    """Raise a one-line error naming the file and line of the first malformed JSONL line."""
    for _ in iter_jsonl(path):
        pass


def _datasets_load(builder: str, path: Path) -> Sequence[Row]:
    import datasets

    datasets.disable_progress_bars()
    try:
        return datasets.load_dataset(builder, data_files={"rows": str(path)}, split="rows")
    except Exception as err:  # noqa: BLE001 - nested rows Arrow cannot type (WOZ's mixed lists)
        if builder != "json":
            raise TaskError(f"{path}: could not be read as {builder}: {err}") from err
        return read_jsonl(path)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Plain JSONL reader for rows whose nesting Arrow cannot type."""
    return [row for _, row in iter_jsonl(path)]


def _load_from_hub(task: Task, split: str, data_dir: str | os.PathLike[str] | None) -> Sequence[Row]:
    where = resolve_data_dir(data_dir)
    looked = f"{where / task.source.mirror_dir}" if where else f"no data dir (set {DATA_ENV} or --data-dir)"
    if not task.source.on_hub:
        raise TaskError(f"task {task.name!r}: split {split!r} is not available locally (looked in {looked}) and the source is not on the hub")
    import datasets

    datasets.disable_progress_bars()
    try:
        return datasets.load_dataset(task.source.hub_id, task.source.config, split=split, revision=task.source.revision)
    except Exception as err:  # noqa: BLE001 - offline, missing split, gated repo ...
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise TaskError(
            f"task {task.name!r}: split {split!r} is not available locally (looked in {looked}) "
            f"and loading {task.source.describe()} from the hub failed: {first}"
        ) from None
