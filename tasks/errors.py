"""Errors a user can cause on the task side (one line, exit 2 in the CLI)."""

from __future__ import annotations


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
