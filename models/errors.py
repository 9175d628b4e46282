"""Errors a user can cause on the model side (one line, exit 2 in the CLI)."""

from __future__ import annotations


class ModelError(Exception):
    """Unknown backbone or preset, missing or corrupt weights, wrong architecture."""

    qabench_user_error = True


def one_line(err: BaseException) -> str:
    """A library error as one line for a :class:`ModelError`: its first line, plus the second when the first is only a heading.

    torch's ``load_state_dict`` puts the mismatch under a heading ending in a colon:

    >>> one_line(RuntimeError("Error(s) in loading state_dict for M:\\n\\tsize mismatch for w: [2] vs [3].\\n\\tsize mismatch for b."))
    'Error(s) in loading state_dict for M: size mismatch for w: [2] vs [3]. (and 1 more)'
    >>> one_line(OSError(""))
    'OSError'
    """
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    if len(lines) == 1 or not lines[0].endswith(":"):
        return lines[0]
    more = f" (and {len(lines) - 2} more)" if len(lines) > 2 else ""
    return f"{lines[0]} {lines[1]}{more}"
