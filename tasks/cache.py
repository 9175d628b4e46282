"""The examples cache: a split's recast examples kept under a key of everything that made them.

A warm run reads a task's examples back from one small file instead of
reading, validating and recasting the whole split again (and drawing a
sample of it). The key (sha256) covers everything that changes the result:

- the task's name, version, format and labels, and its source (hub id,
  config, revision, mirror path);
- the code that made the examples: ``recast``, ``expand``, ``keep``, the
  source's ``reader``, a derived split's ``select`` and the loader of
  :mod:`tasks.data` (:func:`code_fingerprint`: their bytecode, constants,
  defaults, closures and partial arguments, following the functions and
  values they use; a template is a partial argument, so editing one misses);
- the split, the data file's content (:func:`file_sha256`), ``limit`` and
  the sample seed;
- the version of ``datasets``, whose JSON reader types the rows.

A split with no local file (read from the hub) is not cached. Entries live
under ``<cache>/examples/``: a header line (key, count, sha256 of the rest)
then one example per line as :meth:`Example.to_dict` writes it. An entry
that does not read back whole is reported, deleted and rebuilt.

>>> code_fingerprint(len) == code_fingerprint(len)
True
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import json
import os
import re
import sys
import time
import types
from pathlib import Path
from typing import Any, Callable, Mapping

from atomicio import write_bytes_atomic
from tasks.types import Example, Task

CACHE_FORMAT = "qabench-examples"
CACHE_VERSION = 1  # bump when an entry's layout or the meaning of its key changes
CACHE_ENV = "QABENCH_CACHE"
RACY_SECONDS = 2.0  # a data file changed this recently is hashed every time (its timestamps may not show the next change)
_CHUNK = 1 << 20


def cache_root() -> Path:
    """``$QABENCH_CACHE`` or ``~/.cache/qabench``: the root of every qabench cache (examples, tokenizers, features)."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "qabench")


def warn(message: str) -> None:
    """One warning line on stderr (a cache problem never stops a run)."""
    print(f"warning: {message}", file=sys.stderr)


# --- what made the examples: code ------------------------------------------------------------------------------------


def code_fingerprint(*objects: object) -> str:
    """sha256 of what ``objects`` (functions, partials and plain values) compute, for cache keys.

    A function counts by its bytecode and constants (recursively through
    nested functions), its defaults and closure, and every global it names:
    functions and partials are followed, plain values hashed by content,
    classes and modules of the project by their source file. Functions of
    the standard library and of installed packages count by name only.
    Changing a template (a partial's argument) or a function body changes
    the fingerprint; moving code within a file does not.

    >>> from functools import partial
    >>> code_fingerprint(partial(str.format, "{x}")) == code_fingerprint(partial(str.format, "{y}"))
    False
    """
    walker = _Walker()
    for obj in objects:
        walker.feed(obj)
    return walker.digest.hexdigest()


class _Walker:
    """Feeds values into one sha256, following functions into what they use; each object once."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.seen: dict[int, int] = {}  # id of each mutable value, function or definition met -> the order it was first met in

    def put(self, *parts: str) -> None:
        for part in parts:
            data = part.encode("utf-8", "surrogatepass")
            self.digest.update(len(data).to_bytes(8, "little"))
            self.digest.update(data)

    def feed(self, value: Any) -> None:
        if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
            self.put(type(value).__name__, repr(value))
            return
        if isinstance(value, (tuple, frozenset)):  # immutable: followed every time (whether equal ones are one object varies)
            self.put(type(value).__name__, str(len(value)))
            for item in sorted(value, key=repr) if isinstance(value, frozenset) else value:
                self.feed(item)
            return
        if id(value) in self.seen:  # a cycle, or an object met before: where it was first met
            self.put("seen", str(self.seen[id(value)]))
            return
        self.seen[id(value)] = len(self.seen)
        if isinstance(value, list):
            self.put(type(value).__name__, str(len(value)))
            for item in value:
                self.feed(item)
        elif isinstance(value, set):
            self.put(type(value).__name__, str(len(value)))
            for item in sorted(value, key=repr):
                self.feed(item)
        elif isinstance(value, Mapping):
            self.put("mapping", str(len(value)))
            for key in sorted(value, key=repr):
                self.feed(key)
                self.feed(value[key])
        elif isinstance(value, functools.partial):
            self.put("partial")
            self.feed(value.func)
            self.feed(value.args)
            self.feed(value.keywords)
        elif isinstance(value, types.MethodType):
            self.put("method", type(value.__self__).__qualname__)
            self.feed(value.__func__)
        elif isinstance(value, types.FunctionType):
            self._function(value)
        elif isinstance(value, (type, types.ModuleType)):
            self._definition(value)
        elif isinstance(value, (types.BuiltinFunctionType, types.MethodDescriptorType, types.WrapperDescriptorType)):
            self.put("builtin", getattr(value, "__module__", None) or "", value.__qualname__)
        elif isinstance(value, enum.Enum):
            self.put("enum", type(value).__qualname__, value.name)
        elif isinstance(value, re.Pattern):
            self.put("pattern", str(value.pattern), str(value.flags))
        elif dataclasses.is_dataclass(value):
            self.put("dataclass", type(value).__qualname__)
            self._definition(type(value))
            for field in dataclasses.fields(value):
                self.put(field.name)
                self.feed(getattr(value, field.name))
        else:  # anything else by its type and, where it is not an address, its repr
            text = repr(value)
            self.put("object", type(value).__module__, type(value).__qualname__, "" if " at 0x" in text else text)

    def _function(self, fn: types.FunctionType) -> None:
        self.put("function", fn.__module__ or "", fn.__qualname__)
        if not _is_project(fn.__module__):
            return
        names: set[str] = set()
        self._code(fn.__code__, names)
        self.feed(fn.__defaults__)
        self.feed(fn.__kwdefaults__)
        for cell in fn.__closure__ or ():
            try:
                self.feed(cell.cell_contents)
            except ValueError:  # an empty cell
                self.put("empty cell")
        for name in sorted(names):
            if name in fn.__globals__:
                self.put("global", name)
                self.feed(fn.__globals__[name])

    def _code(self, code: types.CodeType, names: set[str]) -> None:
        self.put("code", code.co_name, code.co_code.hex(), " ".join(code.co_names), str(code.co_argcount), str(code.co_kwonlyargcount))
        names.update(code.co_names)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                self._code(const, names)
            else:
                self.feed(const)

    def _definition(self, obj: type | types.ModuleType) -> None:
        """A class or module: its source file's content when it is the project's, else its name."""
        module = obj.__name__ if isinstance(obj, types.ModuleType) else obj.__module__
        self.put("definition", module, getattr(obj, "__qualname__", ""))
        if not _is_project(module):
            return
        where = getattr(sys.modules.get(module), "__file__", None)
        if where and os.path.isfile(where):
            self.put(_source_sha256(where))


def _is_project(module: str | None) -> bool:
    """True for code whose changes must change a key: qabench's and the user's, not the standard library's or an installed package's."""
    if not module:
        return False
    top = module.partition(".")[0]
    if top in ("tasks", "__main__"):
        return True
    if top in sys.stdlib_module_names or top == "builtins":
        return False
    where = getattr(sys.modules.get(module), "__file__", None) or ""
    return not any(part in ("site-packages", "dist-packages") for part in Path(where).parts)


@functools.lru_cache(maxsize=256)
def _source_sha256_at(path: str, size: int, mtime_ns: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _source_sha256(path: str) -> str:
    stat = os.stat(path)
    return _source_sha256_at(path, stat.st_size, stat.st_mtime_ns)


# --- what made the examples: data ------------------------------------------------------------------------------------


def file_sha256(path: Path, memo_dir: Path | None = None) -> str:
    """sha256 of a file's content, remembered under ``memo_dir`` beside the file's size, times and inode.

    A later call whose ``stat`` matches the memo exactly (the change time
    included, which nothing but a change to the file sets) reads the memo
    instead of the file. A file changed within :data:`RACY_SECONDS` of being
    hashed is not remembered, since a second change in the same timestamp
    tick would look unchanged. A damaged memo is reported and rewritten.
    """
    path = Path(path).resolve()
    before = os.stat(path)
    ident = _ident(path, before)
    memo = memo_dir / f"{hashlib.sha256(str(path).encode()).hexdigest()[:32]}.json" if memo_dir is not None else None
    if memo is not None and memo.is_file():
        try:
            stored = json.loads(memo.read_text(encoding="utf-8"))
            if not isinstance(stored, dict) or not re.fullmatch(r"[0-9a-f]{64}", str(stored.get("sha256", ""))):
                raise ValueError("not a content-hash memo")
        except (OSError, UnicodeDecodeError, ValueError) as err:
            warn(f"damaged file-hash memo {memo} ({type(err).__name__}); deleted and rebuilt")
            memo.unlink(missing_ok=True)
        else:
            if {k: v for k, v in stored.items() if k != "sha256"} == ident:
                return str(stored["sha256"])
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    sha = digest.hexdigest()
    after = os.stat(path)
    settled = time.time() - max(after.st_mtime, after.st_ctime) > RACY_SECONDS
    if memo is not None and _ident(path, after) == ident and settled:
        write_bytes_atomic(memo, json.dumps({**ident, "sha256": sha}).encode())
    return sha


def _ident(path: Path, stat: os.stat_result) -> dict[str, Any]:
    return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "ctime_ns": stat.st_ctime_ns, "ino": stat.st_ino, "dev": stat.st_dev}


# --- the key and the entries -----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RowsFile:
    """The local file a split's rows come from, and the ``select`` functions of derived splits on the way (outermost first)."""

    path: Path
    selects: tuple[Callable[..., Any], ...] = ()


def examples_key(
    task: Task,
    split: str,
    rows: RowsFile,
    limit: int | None,
    sample_seed: int | None,
    loader: Callable[..., Any],
    memo_dir: Path | None = None,
) -> str:
    """The cache key of ``task``'s examples of ``split`` read from ``rows`` by ``loader`` (:func:`tasks.data.load_examples`)."""
    source = task.source
    parts = {
        "format": [CACHE_FORMAT, CACHE_VERSION],
        "task": [task.name, task.version, task.format, list(task.labels)],
        "source": [source.hub_id, source.config, source.revision, source.mirror_path],
        "code": [_loader_fingerprint(loader), code_fingerprint(task.recast, task.expand, task.keep, source.reader, rows.selects)],
        "split": split,
        "data": [rows.path.suffix, file_sha256(rows.path, memo_dir)],
        "limit": limit,
        "sample_seed": sample_seed,
        "datasets": _datasets_version(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


@functools.cache
def _loader_fingerprint(loader: Callable[..., Any]) -> str:
    """The loader's :func:`code_fingerprint`, once per process: it is the same for every task."""
    return code_fingerprint(loader)


@functools.cache
def _datasets_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("datasets")
    except metadata.PackageNotFoundError:
        return "absent"


def entry_path(root: Path, task: Task, split: str, key: str) -> Path:
    """Where the examples of ``key`` are kept: ``<root>/examples/<task>-<split>-<key>.jsonl``."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{task.name}-{split}")
    return root / "examples" / f"{safe}-{key[:32]}.jsonl"


class DamagedEntry(Exception):
    """A cache entry that does not read back whole (truncated, edited, another key's)."""


def read_entry(path: Path, key: str) -> list[Example]:
    """The examples stored in ``path`` under ``key``; :class:`DamagedEntry` when they do not read back whole."""
    data = path.read_bytes()
    head, newline, body = data.partition(b"\n")
    try:
        header = json.loads(head)
        if not isinstance(header, dict) or header.get("format") != CACHE_FORMAT or header.get("version") != CACHE_VERSION:
            raise DamagedEntry("not an examples cache entry of this version")
        if header.get("key") != key:
            raise DamagedEntry("holds another key's examples")
        if not newline or hashlib.sha256(body).hexdigest() != header.get("sha256"):
            raise DamagedEntry("its checksum does not match (truncated or changed)")
        text = body.decode("utf-8")  # one example per line; JSON escapes every newline inside a value
        rows = json.loads(f"[{text.rstrip(chr(10)).replace(chr(10), ',')}]")
        del data, body, text
        contexts: dict[str, str] = {}  # one string per distinct context: validation_b asks 5,763 questions of 1,083 paragraphs
        examples = [Example.from_dict({**d, "context": contexts.setdefault(d["context"], d["context"])}) for d in rows]
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise DamagedEntry(f"{type(err).__name__}: {str(err)[:120]}") from None
    if len(examples) != header.get("count"):
        raise DamagedEntry(f"holds {len(examples)} examples, its header says {header.get('count')}")
    return examples


def write_entry(path: Path, key: str, examples: list[Example]) -> None:
    """Store ``examples`` under ``key`` atomically (a concurrent reader sees the old entry or the whole new one)."""
    body = b"".join(json.dumps(e.to_dict(), ensure_ascii=False).encode("utf-8") + b"\n" for e in examples)
    header = {"format": CACHE_FORMAT, "version": CACHE_VERSION, "key": key, "count": len(examples), "sha256": hashlib.sha256(body).hexdigest()}
    write_bytes_atomic(path, json.dumps(header).encode() + b"\n" + body)


def cached_examples(
    task: Task,
    split: str,
    rows: RowsFile,
    limit: int | None,
    sample_seed: int | None,
    loader: Callable[..., Any],
    build: Callable[[], list[Example]],
    root: Path,
) -> list[Example]:
    """The examples of the entry for these arguments, else ``build()``'s, stored for the next call.

    A damaged entry is reported, deleted and rebuilt; a cache that cannot be
    written (a read-only or full disk) is reported and the run goes on.
    """
    key = examples_key(task, split, rows, limit, sample_seed, loader, memo_dir=root / "examples" / "files")
    path = entry_path(root, task, split, key)
    if path.is_file():
        try:
            return read_entry(path, key)
        except (DamagedEntry, OSError) as err:
            warn(f"damaged examples cache {path} ({err}); deleted and rebuilt")
            path.unlink(missing_ok=True)
    examples = build()
    try:
        write_entry(path, key, examples)
    except OSError as err:
        warn(f"could not write the examples cache {path} ({err.strerror or err}); the next run recasts {task.name!r} {split!r} again")
    return examples
