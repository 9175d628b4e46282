"""A name -> item registry that rejects duplicates and wrong types and suggests close names for a typo.

>>> colours = Registry("colour", item_type=str)
>>> colours.register("#f00", name="red")
'#f00'
>>> colours["red"]
'#f00'
>>> colours.lookup("rde")
Traceback (most recent call last):
...
LookupError: unknown colour 'rde'; did you mean 'red'?
>>> did_you_mean("sst", ["sst2", "squad"])
"did you mean 'sst2'?"
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from typing import Generic, TypeVar

T = TypeVar("T")


def did_you_mean(name: str, candidates: Iterable[str], *, cutoff: float = 0.6) -> str:
    """``"did you mean 'x'?"`` for the candidate closest to ``name``, or ``""`` when none is close.

    ``cutoff`` is difflib's similarity ratio (0-1) a candidate must reach.
    """
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=cutoff)
    return f"did you mean {close[0]!r}?" if close else ""


class Registry(Mapping[str, T], Generic[T]):
    """Items of one ``kind`` by name, in registration order; read it like a mapping, look names up with :meth:`lookup`.

    ``error`` is the exception a duplicate name raises and ``unknown_error``
    (default: ``error``) the one an unknown name raises; each package passes
    its own user-error classes. ``item_type`` rejects items of another type
    (TypeError). The message for an unknown name
    is ``unknown <kind> '<name>'; `` followed by a close suggestion; when no
    name is close it ends with ``unmatched_hint``, or by default lists the
    known names. ``list_known`` lists them after a suggestion too.
    """

    def __init__(
        self,
        kind: str,
        *,
        error: type[Exception] = LookupError,
        unknown_error: type[Exception] | None = None,
        item_type: type | None = None,
        unmatched_hint: str | None = None,
        list_known: bool = False,
    ) -> None:
        self.kind = kind
        self._error = error
        self._unknown_error = unknown_error or error
        self._item_type = item_type
        self._unmatched_hint = unmatched_hint
        self._list_known = list_known
        self._items: dict[str, T] = {}

    def register(self, item: T, name: str | None = None) -> T:
        """Add ``item`` under ``name`` (default: ``item.name``) and return it; registering the same item again is a no-op."""
        if self._item_type is not None and not isinstance(item, self._item_type):
            raise TypeError(f"a {self.kind} must be a {self._item_type.__name__}, not {type(item).__name__}")
        name = name if name is not None else item.name  # type: ignore[attr-defined]  # registered kinds carry a name
        if name in self._items and self._items[name] is not item:
            raise self._error(f"{self.kind} {name!r} is already registered; pick another name")
        self._items[name] = item
        return item

    def unregister(self, name: str) -> None:
        """Remove ``name`` if present (tests and plugin reloads use this)."""
        self._items.pop(name, None)

    def lookup(self, name: str) -> T:
        """The item called ``name``; an unknown name raises ``error`` with a close suggestion."""
        try:
            return self._items[name]
        except KeyError:
            raise self._unknown_error(self.unknown(name)) from None

    def unknown(self, name: str) -> str:
        """The one-line message for an unknown ``name``."""
        known = f"known: {', '.join(self._items)}"
        suggestion = did_you_mean(name, self._items)
        if not suggestion:
            return f"unknown {self.kind} {name!r}; {known if self._unmatched_hint is None else self._unmatched_hint}"
        return f"unknown {self.kind} {name!r}; {suggestion}" + (f" {known}" if self._list_known else "")

    def __getitem__(self, name: str) -> T:
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._items)!r})"
