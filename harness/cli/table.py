"""Plain-text tables for the CLI (no pandas: ``qabench tasks`` stays fast)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Left-aligned columns separated by two spaces, with a header and a rule.

    >>> print(format_table([{"a": 1, "b": "xy"}], ["a", "b"]))
    a  b
    -  --
    1  xy
    """
    cells = [[("" if row.get(c) is None else str(row.get(c))) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells)
    return "\n".join(lines)
