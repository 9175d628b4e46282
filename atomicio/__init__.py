"""Atomic file writes shared by every package: a temporary file beside the target, renamed over it, so readers never see half a file.

Standard library only, so ``tasks/`` (the examples cache), ``harness/`` (run
records, configs, checkpoints) and ``leaderboard/`` may all import it without
crossing DESIGN.md's boundaries, and ``qabench score`` writes records with it
without loading torch.

The temporary file is ``.<name>.<pid>-<random>.tmp`` in the target's
directory (so the rename stays on one file system, and an interrupted write
leaves a ``.*.tmp`` file that a resume can recognise and delete). It is
created exclusively with mode 0666 less the umask, as any file the program
creates; a write that fails, by an exception or an interrupt, deletes it and
re-raises unchanged, so callers name the path and cause in their own words.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as folder:
...     write_json_atomic(Path(folder) / "record.json", {"run_id": "r1"})
...     print(sorted(os.listdir(folder)), (Path(folder) / "record.json").read_text(encoding="utf-8").split())
['record.json'] ['{', '"run_id":', '"r1"', '}']
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any, Callable

__all__ = ["temporary_path", "write_atomic", "write_bytes_atomic", "write_json_atomic"]


def temporary_path(path: Path) -> Path:
    """A fresh name for the temporary file of a write to ``path``: beside it, hidden, ending in ``.tmp``."""
    return path.parent / f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"


def write_atomic(path: str | os.PathLike[str], write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a new, empty temporary file beside ``path``, then rename it over ``path``.

    Readers see the old file or the whole new one. Missing parent
    directories are made. If ``write`` or the rename fails, the temporary
    file is deleted and the error propagates as it was raised.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`write_atomic`)."""
    write_atomic(path, lambda tmp: tmp.write_bytes(data))


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented UTF-8 JSON, atomically (:func:`write_atomic`)."""
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
