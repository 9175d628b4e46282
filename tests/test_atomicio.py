"""atomicio: the one atomic file write of tasks/ (the examples cache) and harness/ (records, configs, checkpoints)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from atomicio import temporary_path, write_atomic, write_bytes_atomic, write_json_atomic


def test_an_atomic_write_that_fails_leaves_neither_the_file_nor_a_temporary(tmp_path: Path) -> None:
    def fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(tmp_path / "out.json", fail)
    assert list(tmp_path.iterdir()) == []
    write_json_atomic(tmp_path / "out.json", {"é": 1})
    assert json.loads((tmp_path / "out.json").read_text(encoding="utf-8")) == {"é": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_a_failed_write_keeps_the_old_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "entry"
    write_bytes_atomic(target, b"old")

    def fail(tmp: Path) -> None:
        tmp.write_bytes(b"new but ")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left on device") as caught:  # the caller's message reads err.strerror
        write_atomic(target, fail)
    assert caught.value.strerror == "No space left on device"
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["entry"]


def test_an_interrupt_during_the_write_removes_the_temporary(tmp_path: Path) -> None:
    def interrupted(tmp: Path) -> None:
        tmp.write_bytes(b"partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(tmp_path / "sub" / "x.bin", interrupted)
    assert list((tmp_path / "sub").iterdir()) == []


def test_the_temporary_is_hidden_beside_the_target_and_found_by_the_stale_pattern(tmp_path: Path) -> None:
    seen: list[Path] = []
    write_atomic(tmp_path / "last.safetensors", lambda tmp: seen.append(tmp) or tmp.write_bytes(b"x"))
    (tmp,) = seen
    assert tmp.parent == tmp_path and tmp.name.startswith(".last.safetensors.") and tmp.name.endswith(".tmp")
    assert list(tmp_path.glob(".*.tmp")) == []  # renamed away: what harness.runner.remove_stale_temporaries looks for is gone
    assert temporary_path(tmp_path / "a") != temporary_path(tmp_path / "a")  # concurrent writers never share a temporary


def test_files_get_the_mode_any_new_file_gets(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        write_bytes_atomic(tmp_path / "f", b"data")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o644
