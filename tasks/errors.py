"""Errors a user can cause on the task side (one line, exit 2 in the CLI)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class TaskError(Exception):
    """Bad task input: unknown task, missing split, malformed data file, missing column."""

    qabench_user_error = True


class UnknownTaskError(TaskError, KeyError):
    """No task of that name is registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class RowError(TaskError):
    """One row holds a value its task cannot use (a label outside the label set, a bad ``answer_start``).

    A ``recast`` raises it without knowing where the row came from; the
    loader (:func:`tasks.data.load_examples`, ``qabench tasks validate``)
    adds the file and line in front.
    """


def recast_failure(err: Exception, row: Any = None) -> str:
    """How a row that does not recast is reported, by ``tasks show``, ``tasks validate`` and a run alike.

    >>> recast_failure(KeyError("sentence"), {"text": "hi", "label": 1})
    "recast failed (missing column 'sentence'; the row has label, text)"
    >>> recast_failure(ValueError("label 7 is not one of 0..1"))
    'recast failed (ValueError: label 7 is not one of 0..1)'
    """
    if isinstance(err, KeyError) and len(err.args) == 1:
        columns = f"; the row has {', '.join(sorted(map(str, row)))}" if isinstance(row, Mapping) else ""
        return f"recast failed (missing column {err.args[0]!r}{columns})"
    return f"recast failed ({type(err).__name__}: {err})"
