"""Examples -> token features, cached with datasets' fingerprinted ``map``; batches grouped by length.

Question and context are the two segments of one input (``[CLS] question
[SEP] context [SEP]`` for BERT's tokenizer). What each answer format makes of
them (windows, choice spans, tag labels, answer ids) is its adapter's:
:mod:`harness.adapters`. This module is the same for every format: the
cache, the order of training batches, and how evaluation reads the features
(chunk by chunk, each chunk batched by length).

Features are cached under ``<cache_dir>/features/<format>-<key>.arrow``,
where the key hashes the examples' fingerprint, the tokenizer and the
settings, so a second identical run loads them instead of tokenizing again.

>>> # dataset = build_features(adapter_for("span"), examples, tokenizer, FeatureConfig(max_length=384, stride=128))
>>> # batch = adapter_for("span").collate(dataset[0:8], pad_id=tokenizer.pad_token_id)
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import hashlib
import json
import os
import sys
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import datasets
import numpy as np
import pyarrow as pa
from datasets.table import InMemoryTable, MemoryMappedTable
from transformers import PreTrainedTokenizerBase

from harness.errors import UserError
from tasks.cache import cache_root
from tasks.types import Example

if TYPE_CHECKING:  # the adapters import this module
    from harness.adapters import AnswerAdapter

FEATURES_VERSION = "1"  # bump when an adapter's features change, so old caches are not reused


@dataclass(frozen=True)
class FeatureConfig:
    """How examples become token windows."""

    max_length: int = 256  # tokens per window
    stride: int = 64  # overlap of consecutive windows of one long context
    max_answer_tokens: int = 64  # text: answer tokens kept, EOS included


def default_cache_dir() -> Path:
    """``$QABENCH_CACHE`` or ``~/.cache/qabench`` (:func:`tasks.cache.cache_root`)."""
    return cache_root()


def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerBase) -> str:
    """sha256 of everything about a fast tokenizer that changes its output.

    The backend's truncation and padding state is left out: each call sets it.
    """
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    state.pop("truncation", None)
    state.pop("padding", None)
    digest = hashlib.sha256(type(tokenizer).__name__.encode())
    digest.update(json.dumps(state, sort_keys=True).encode())
    digest.update(str(tokenizer.pad_token_id).encode())
    return digest.hexdigest()


def cache_key(fmt: str, examples_fingerprint: str, tokenizer_hash: str, config: FeatureConfig, labels: Sequence[str]) -> str:
    """The name of the cached features of these examples under this tokenizer (its :func:`tokenizer_fingerprint`) and config."""
    parts = [FEATURES_VERSION, fmt, examples_fingerprint, tokenizer_hash, json.dumps(asdict(config)), json.dumps(list(labels))]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def build_features(
    adapter: AnswerAdapter,
    examples: Sequence[Example],
    tokenizer: PreTrainedTokenizerBase,
    config: FeatureConfig,
    labels: Sequence[str] = (),
    examples_fingerprint: str | None = None,
    cache_dir: str | Path | None = None,
    tokenizer_hash: str | None = None,
) -> datasets.Dataset:
    """The features of ``examples`` in ``adapter``'s format (one row per window), from the cache when they are there.

    Every row has ``example_index`` (position in ``examples``) and ``length``.
    ``tokenizer_hash`` is ``tokenizer``'s :func:`tokenizer_fingerprint` when
    the caller has it (a run hashes its tokenizer once for all its tasks).
    """
    from tasks.data import fingerprint

    if not examples:
        raise UserError("no examples to build features from; check the task's split and limit")
    datasets.disable_progress_bars()
    fmt = adapter.format
    key = cache_key(fmt, examples_fingerprint or fingerprint(examples), tokenizer_hash or tokenizer_fingerprint(tokenizer), config, labels)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = root / "features" / f"{fmt}-{key}.arrow"
    path.parent.mkdir(parents=True, exist_ok=True)
    # The rows get the cache key as their fingerprint: same identity, no hashing of every row by datasets.
    rows = datasets.Dataset(InMemoryTable.from_pylist(adapter.rows(examples, labels)), fingerprint=f"rows-{key}")

    def encoded() -> datasets.Dataset:
        return rows.map(
            partial(adapter.encode, tokenizer=tokenizer, config=config),
            batched=True,
            batch_size=1000,
            with_indices=True,
            remove_columns=rows.column_names,
            cache_file_name=str(path),
            new_fingerprint=key,
            load_from_cache_file=True,
        )

    cached = path.is_file()
    try:
        features = encoded()
        problem = "" if covers_examples(features, len(examples)) else f"holds {features.num_rows} rows that do not cover the {len(examples)} examples"
    except Exception as err:  # noqa: BLE001 - pyarrow and datasets raise many types for a truncated file
        if not cached:
            raise
        problem = f"{type(err).__name__}: {str(err).splitlines()[0][:120] if str(err) else ''}"
    if not problem:
        return features
    if not cached:  # freshly built and still wrong: a bug, not a damaged cache
        raise RuntimeError(f"features of {len(examples)} examples {problem}")
    print(f"warning: damaged features cache {path} ({problem}); deleted and rebuilt", file=sys.stderr)
    path.unlink(missing_ok=True)
    return encoded()


def covers_examples(features: datasets.Dataset, n_examples: int) -> bool:
    """True when the feature rows (in example order) run from the first example to the last: a cut-off cache fails this."""
    if features.num_rows < n_examples:
        return False
    indices = features.select([0, features.num_rows - 1])["example_index"]
    return indices == [0, n_examples - 1]


def length_grouped_batches(lengths: Sequence[int], batch_size: int, rng: np.random.Generator, group: int = 50, batch_tokens: int = 0) -> list[list[int]]:
    """Shuffled batches of row indices whose rows have similar lengths.

    As transformers' ``LengthGroupedSampler``: shuffle, cut into mega-batches
    of ``group`` batches, sort each by length, split into batches, then
    shuffle the order of the batches. Padding shrinks, randomness stays.

    With ``batch_tokens`` (decaNLP's ``train_batch_tokens``), a batch takes as
    many rows as fit in that many padded tokens (rows x its longest row, at
    least one row) instead of ``batch_size`` rows: short sentences come many
    to a batch, long windows few, and every batch costs about the same.

    >>> length_grouped_batches([5, 1, 4, 2], 2, np.random.default_rng(0))
    [[3, 1], [0, 2]]
    >>> length_grouped_batches([5, 1, 4, 2], 0, np.random.default_rng(0), batch_tokens=8)
    [[1], [2, 3], [0]]
    """
    order = rng.permutation(len(lengths))
    rows_per_batch = batch_size if not batch_tokens else max(1, batch_tokens // max(1, int(np.median(lengths))))
    mega = rows_per_batch * group
    batches: list[list[int]] = []
    for start in range(0, len(order), mega):
        chunk = sorted(order[start : start + mega].tolist(), key=lambda i: -lengths[i])
        if not batch_tokens:
            batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
            continue
        batch: list[int] = []
        for i in chunk:  # longest first, so a batch's first row sets its width
            if batch and (len(batch) + 1) * lengths[batch[0]] > batch_tokens:
                batches.append(batch)
                batch = []
            batch.append(i)
        batches.append(batch)
    return [batches[i] for i in rng.permutation(len(batches))]


def read_columns(features: datasets.Dataset, names: Sequence[str], start: int, stop: int) -> dict[str, list]:
    """Columns ``names`` of rows ``start`` to ``stop - 1`` of ``features``, as Python lists (read as :func:`read_rows` reads).

    >>> dataset = datasets.Dataset.from_dict({"length": [3, 1, 2], "example_index": [0, 0, 1]})
    >>> read_columns(dataset, ["length"], 1, 3)
    {'length': [1, 2]}
    """
    table = _fresh_map(features)
    if table is None:
        rows = features.with_format("arrow")[start:stop]
        return {name: rows.column(name).to_pylist() for name in names}
    return {name: table.column(name).slice(start, max(0, stop - start)).to_pylist() for name in names}


def read_rows(features: datasets.Dataset, positions: Sequence[int]) -> pa.Table:
    """Rows ``positions`` of ``features``, in that order, as an Arrow table of their own (:func:`take_rows`).

    A dataset read from a cache file memory-maps it, and every page read from
    the map stays in the process's resident memory until the map is closed:
    reading a whole evaluation set through one map leaves all of it resident,
    so peak memory would grow with the number of examples, and a map kept
    open over a chunk of two thousand SQuAD windows holds 10 MiB of them. A
    dataset that is a cache file (or a slice of one, as ``select`` of a
    contiguous range makes) is therefore mapped afresh for each call (about
    1 ms for 35 MB of features), and the map is closed once the rows are
    copied out: only the rows asked for stay, for as long as the caller keeps
    them. Any other dataset (one with an indices mapping, or held in memory)
    is read as it is.

    >>> dataset = datasets.Dataset.from_dict({"length": [3, 1, 2]})
    >>> read_rows(dataset, [2, 0]).column("length").to_pylist()
    [2, 3]
    """
    table = _fresh_map(features)
    if table is None:
        return features.with_format("arrow")[list(positions)]
    return take_rows(table, positions)


def _fresh_map(features: datasets.Dataset) -> pa.Table | None:
    """``features``' rows through a memory map of their own, closed when the table is dropped; None where they are not (all of) a cache file's."""
    data = features.data
    if isinstance(data, MemoryMappedTable) and features._indices is None:  # noqa: SLF001 - datasets has no public accessor
        return MemoryMappedTable.from_file(data.path, data.replays).table
    return None


def take_rows(table: pa.Table, positions: Sequence[int]) -> pa.Table:
    """Rows ``positions`` of ``table``, in that order, copied out of it.

    Arrow's ``Table.take`` first concatenates each column's chunks, copying
    the whole table to take a few rows; here each record batch gives its own
    rows, so only those are copied (one batch's rows are all that is
    allocated, however large the table).

    >>> table = pa.Table.from_batches([pa.record_batch({"n": [0, 1]}), pa.record_batch({"n": [2, 3]})])
    >>> take_rows(table, [3, 0, 2]).column("n").to_pylist()
    [3, 0, 2]
    """
    batches = table.to_batches()
    bounds = np.cumsum([0] + [batch.num_rows for batch in batches])  # [batches + 1], first row of each
    rows = np.asarray(positions, dtype=np.int64)
    owner = np.searchsorted(bounds, rows, side="right") - 1  # the batch each row lies in
    owners = np.unique(owner)
    if len(owners) == 1:  # the common case: a small file, or a batch of rows from one region
        return pa.Table.from_batches([batches[owners[0]].take(pa.array(rows - bounds[owners[0]]))])
    pieces, order = [], []
    for k in owners:
        picked = np.flatnonzero(owner == k)
        pieces.append(batches[k].take(pa.array(rows[picked] - bounds[k])))
        order.append(picked)
    grouped = pa.Table.from_batches(pieces, schema=table.schema)  # the rows grouped by batch
    return grouped.take(pa.array(np.argsort(np.concatenate(order)) if order else np.zeros(0, dtype=np.int64)))


def release_freed_memory() -> None:
    """Give the memory freed so far back to the operating system: the C heap's (glibc's ``malloc_trim``) and Arrow's pool.

    Batches of changing shapes leave the C heap fragmented, with freed blocks
    too small or misplaced for the next batch's tensors, so the process keeps
    growing although little of it is in use. Evaluation calls this after each
    chunk of batches, which keeps its memory flat in the number of examples.
    Where the C library has no ``malloc_trim`` (not glibc) only Arrow's pool is
    released.
    """
    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
HEAP_SLACK = 16 * 2**20  # bytes a process may grow by between two large evaluation batches before its freed memory is given back


class FreedMemory:
    """Gives the memory freed so far back (:func:`release_freed_memory`), where it is worth its cost.

    A release costs little itself, but the pages it gives back are faulted in
    again by the next batch (about 20 ms for a bert-tiny batch of 64 x 384
    tokens). Evaluation therefore releases before the first (largest) batch
    of each chunk, and before each later large batch only when the process
    has grown by more than ``HEAP_SLACK`` since the last release: on SQuAD,
    large batches leave about that much behind in the heap, and releasing
    before all of them would cost 7% of a bert-tiny evaluation.
    """

    def __init__(self) -> None:
        self.after_release = 0  # resident bytes right after the last release

    def release(self) -> None:
        """Give the freed memory back now."""
        release_freed_memory()
        self.after_release = resident_bytes()

    def release_if_grown(self, slack: int = HEAP_SLACK) -> None:
        """Give it back if the process has grown by more than ``slack`` bytes since the last release."""
        if resident_bytes() > self.after_release + slack:
            self.release()


def resident_bytes() -> int:
    """The process's resident memory now, in bytes (Linux's ``/proc/self/statm``); 0 where there is none."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return 0


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


@functools.cache
def _mallopt() -> Callable[[int, int], int] | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return None


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)
GLIBC_MMAP_THRESHOLD_MAX = 32 * 2**20  # the most glibc's own threshold grows to on 64-bit systems
EVAL_MMAP_THRESHOLD = 4 * 2**20  # evaluation: blocks from 4 MiB up come from the kernel and go straight back to it


@contextlib.contextmanager
def large_blocks_mapped(threshold: int = EVAL_MMAP_THRESHOLD) -> Iterator[None]:
    """While inside, glibc maps every allocation of ``threshold`` bytes or more on its own, so freeing it gives it back at once.

    glibc's default raises this threshold each time a mapped block is
    freed (up to 32 MiB), after which a batch's tensors of a few MiB come
    from the heap; freed there, among blocks still in use, they fragment it,
    and evaluation's batches of ever-changing shapes make the process grow
    with the number of batches (a SQuAD evaluation by 10-20% from 500 to
    5,763 examples). Mapped, a tensor's memory leaves with it. Evaluation
    runs inside this; on exit the threshold is glibc's largest, where its
    own setting ends up after the first large block anyway. Elsewhere than
    glibc this does nothing.
    """
    mallopt = _mallopt()
    if mallopt is not None:
        mallopt(M_MMAP_THRESHOLD, threshold)
    try:
        yield
    finally:
        if mallopt is not None:
            mallopt(M_MMAP_THRESHOLD, GLIBC_MMAP_THRESHOLD_MAX)


def sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Positions ``0..len(lengths)-1`` in batches of ``batch_size``, longest first (ties in order), so each batch pads little.

    The evaluation order of one chunk of windows: unlike
    :func:`length_grouped_batches` nothing is random, and the longest batch
    comes first, so a batch too large for the device fails at once.

    >>> sorted_batches([2, 5, 1, 5, 3], 2)
    [[1, 3], [4, 0], [2]]
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
