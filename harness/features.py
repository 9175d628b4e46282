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


def read_chunks(features: datasets.Dataset, rows: int) -> Iterator[pa.Table]:
    """The rows of ``features`` in order, ``rows`` at a time, as Arrow tables (zero-copy views).

    A dataset read from a cache file memory-maps it, and every page read from
    the map stays in the process's resident memory until the map is closed:
    reading a whole evaluation set through one map leaves all of it resident,
    so peak memory would grow with the number of examples. A dataset that is a
    cache file (or a slice of one, as ``select`` of a contiguous range makes)
    is therefore mapped afresh for each chunk, and that map is closed when the
    chunk's table is dropped. Any other dataset (one with an indices mapping,
    or held in memory) is sliced as it is. Callers must not keep a chunk's
    table beyond its turn (Python values taken from it are free to keep).

    >>> dataset = datasets.Dataset.from_dict({"length": [3, 1, 2]})
    >>> [chunk.column("length").to_pylist() for chunk in read_chunks(dataset, 2)]
    [[3, 1], [2]]
    """
    if rows < 1:
        raise ValueError(f"rows per chunk must be positive, not {rows}")
    data = features.data
    mapped = isinstance(data, MemoryMappedTable) and features._indices is None  # noqa: SLF001 - datasets has no public accessor
    for start in range(0, features.num_rows, rows):
        if mapped:
            yield MemoryMappedTable.from_file(data.path, data.replays).table.slice(start, rows)
        else:
            yield features.with_format("arrow")[start : start + rows]


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
