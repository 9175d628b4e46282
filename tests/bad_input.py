"""The reliability sweep's contract (bad input and faults end in one line, exit 2, nothing changed), shared by tests/test_bad_input_*.py.

A bad input or a fault must end in exit status 2 with one line that names the
file and line or the option, no traceback, and nothing changed on disk: no
half-written run directory, record, export or database row.

>>> # case = Case("label-7", setup=lambda tmp: [...argv...], needles=("train.jsonl:2", "label 7"))
>>> # check(case, tmp_path)  # in a test parametrised over the cases
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from click.testing import CliRunner, Result

from harness.cli import main

IGNORED = ("qabench-cache",)  # the per-test cache (conftest): caches may be filled by a refused command


@dataclass(frozen=True)
class Case:
    """One kind of bad input: ``setup`` writes what it needs under the test's directory and returns the argv.

    ``needles`` must all appear in the error line (the file, line or option it
    names). ``report`` is for ``qabench tasks validate``, which prints a
    report (several lines) and exits 2 instead of printing one error line.
    """

    id: str
    setup: Callable[[Path], Sequence[str]]
    needles: tuple[str, ...]
    report: bool = False


def snapshot(root: Path) -> dict[str, str]:
    """Every file and directory under ``root`` (the cache excepted) -> a digest of its content ('dir' for directories)."""
    state: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        if rel.parts and rel.parts[0] in IGNORED:
            dirnames[:] = []
            continue
        state[str(rel)] = "dir"
        for name in filenames:
            path = Path(dirpath) / name
            try:
                state[str(rel / name)] = hashlib.sha256(path.read_bytes()).hexdigest()
            except PermissionError:
                state[str(rel / name)] = "unreadable"
    return state


def invoke(args: Sequence[str], input: str | None = None) -> Result:
    """Run ``qabench ARGS`` in process."""
    return CliRunner().invoke(main, list(args), input=input)


def assert_refused(result: Result, needles: Sequence[str], report: bool = False) -> str:
    """Exit 2, no traceback, and one error line (on stderr) holding every needle; returns that line."""
    output = result.output
    assert result.exit_code == 2, f"exit {result.exit_code}, expected 2:\n{output}\n{result.exception!r}"
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in output, output
    if report:
        for needle in needles:
            assert needle in output, f"{needle!r} not in:\n{output}"
        return output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one error line on stderr, got {len(lines)}:\n{result.stderr}"
    line = lines[0]
    assert line.startswith(("error: ", "Error: ")), line
    for needle in needles:
        assert needle in line, f"{needle!r} not in {line!r}"
    return line


def check(case: Case, root: Path) -> str:
    """Set the case up under ``root``, run it from there, and assert the sweep's contract; returns the message."""
    cwd = os.getcwd()
    os.chdir(root)
    try:
        args = case.setup(root)
        before = snapshot(root)
        result = invoke(args)
        message = assert_refused(result, case.needles, case.report)
        assert snapshot(root) == before, "the refused command changed files on disk"
        return message
    finally:
        os.chdir(cwd)
