"""Which entries may be ranked together: one section per suite protocol, and the rest apart.

An entry is ranked only with entries of the same suite name, version and
fingerprint, the protocol as the suite is declared now. Entries of a suite
scored on an older version (or on data or metrics that differ from the
current declaration: another fingerprint) get a section of their own,
labelled as such; entries outside any suite go to an "ad hoc" section,
shown without rank or decaScore.

The current fingerprint comes from :mod:`tasks.suite` (it loads the suite's
evaluation data); where that fails (no data, an unknown suite) the newest
entries' version and fingerprint stand in, and the section says so.

>>> # with connection(db) as conn: [s.title for s in suite_sections(conn)]
>>> # ['lecture v1 (decaScore over 5 tasks), fingerprint 2147c8eab417', 'ad hoc: runs outside any suite']
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Sequence

from sqlalchemy import Connection, select

from catalog import did_you_mean
from leaderboard.errors import LeaderboardError
from leaderboard.schema import runs
from leaderboard.table import Board, group_board, known_tasks, load_board, restrict_board, sort_board

ADHOC = "ad hoc"
ADHOC_STANDING = "adhoc"


@dataclass(frozen=True)
class Section:
    """A set of entries shown in one table; ``ranked`` only when they followed one suite protocol exactly."""

    title: str
    run_ids: tuple[str, ...]
    ranked: bool
    suite: str | None = None
    version: str | None = None
    fingerprint: str | None = None
    note: str = ""

    @property
    def standing(self) -> str:
        """How the section's table is read: ``ranked``, ``apart`` (another version or fingerprint: no rank) or ``adhoc`` (no rank, no decaScore)."""
        if self.ranked:
            return "ranked"
        return ADHOC_STANDING if self.suite is None else "apart"

    @property
    def key(self) -> str:
        """A short stable name for the section, for URLs and CSV cells: ``lecture@1@2147c8eab417`` or ``adhoc``.

        >>> Section("t", (), True, "lecture", "1", "2147c8eab4170000").key, Section("t", (), False).key
        ('lecture@1@2147c8eab417', 'adhoc')
        """
        return ADHOC_STANDING if self.suite is None else f"{self.suite}@{self.version}@{str(self.fingerprint)[:12]}"


@dataclass(frozen=True)
class CurrentProtocol:
    """A suite as declared now: its version and fingerprint (None, with ``why``, when it cannot be computed here)."""

    version: str | None
    fingerprint: str | None
    why: str = ""


@lru_cache(maxsize=16)
def current_protocol(name: str) -> CurrentProtocol:
    """The current version and fingerprint of suite ``name``, from its declaration and data."""
    try:
        from tasks.suite import get_suite, load_suite_data
    except ImportError as err:  # pragma: no cover - tasks is part of qabench
        return CurrentProtocol(None, None, f"tasks unavailable: {err}")
    try:
        suite = get_suite(name)
    except Exception as err:  # noqa: BLE001 - an unknown or broken suite: fall back to the stored entries
        return CurrentProtocol(None, None, str(err).splitlines()[0])
    try:
        data = load_suite_data(suite)
    except Exception as err:  # noqa: BLE001 - no data here: the version is known, the fingerprint is not
        return CurrentProtocol(suite.version, None, str(err).splitlines()[0])
    return CurrentProtocol(suite.version, data.fingerprint)


def _version_key(version: str) -> tuple[int, ...] | tuple[str]:
    parts = version.split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else (version,)


def suite_sections(conn: Connection, suite: str | None = None) -> list[Section]:
    """The sections of the leaderboard (or of one suite): the current protocol first, ranked; then the rest apart."""
    query = select(runs.c.run_id, runs.c.suite, runs.c.suite_version, runs.c.suite_fingerprint, runs.c.suite_score, runs.c.created)
    rows = [tuple(r) for r in conn.execute(query.order_by(runs.c.created, runs.c.run_id)).all()]
    names = list(dict.fromkeys(r[1] for r in rows if r[1] is not None))
    if suite is not None:
        if suite not in names:
            hint = did_you_mean(suite, names, cutoff=0.5) or f"suites in the leaderboard: {', '.join(names) or 'none'}"
            raise LeaderboardError(f"--suite {suite!r}: no entry of that suite in the leaderboard; {hint}")
        names = [suite]
    sections: list[Section] = []
    for name in names:
        entries = [r for r in rows if r[1] == name]
        groups: dict[tuple[str, str], list[tuple]] = {}
        for r in entries:
            groups.setdefault((r[2], r[3]), []).append(r)
        current = current_protocol(name)
        note = ""
        if current.fingerprint is not None:
            key = (current.version, current.fingerprint)
        else:  # the newest entries stand in for the declaration
            newest = max(entries, key=lambda r: (_version_key(r[2] or ""), r[5]))
            key = (newest[2], newest[3])
            note = f"current fingerprint of {name!r} not computed here ({current.why}); ranking the newest version's entries"
        for (version, digest), members in sorted(groups.items(), key=lambda kv: (kv[0] != key, [-x for x in _numeric(kv[0][0])], kv[0][1] or "")):
            score = members[0][4] or "decaScore"
            ids = tuple(r[0] for r in members)
            if (version, digest) == key:
                sections.append(Section(f"{name} v{version} ({score}), fingerprint {str(digest)[:12]}", ids, True, name, version, digest, note))
            elif key[0] is not None and _version_key(version or "") < _version_key(key[0]):
                sections.append(Section(f"{name} v{version}: older version (current v{key[0]}), not ranked with it", ids, False, name, version, digest))
            else:
                sections.append(Section(
                    f"{name} v{version}, fingerprint {str(digest)[:12]}: scored on other examples or metrics than the current "
                    f"{name} v{key[0]}, not ranked with it", ids, False, name, version, digest,
                ))
    if suite is None:
        adhoc = tuple(r[0] for r in rows if r[1] is None)
        if adhoc:
            sections.append(Section(f"{ADHOC}: runs outside any suite (no rank, no decaScore: they scored different tasks and examples)", adhoc, False))
    return sections


def _numeric(version: str | None) -> list[int]:
    key = _version_key(version or "")
    return [x for x in key if isinstance(x, int)]


@dataclass(frozen=True)
class SectionBoard:
    """One section of the leaderboard with its table: what ``show`` prints and every export writes, section by section."""

    section: Section
    board: Board

    def rank(self, row: int) -> int | None:
        """The 1-based rank of the board's ``row``; None in a section that is not ranked."""
        return row + 1 if self.section.ranked else None


def section_boards(
    conn: Connection,
    suite: str | None = None,
    tasks: Sequence[str] | None = None,
    group_by: str | None = None,
    sort: str | None = None,
) -> list[SectionBoard]:
    """Every section (or one suite's) with its board: entries are grouped and sorted within their section, never across.

    With ``tasks``, sections holding none of those tasks' entries are left
    out; when no section has them all, the error names the first missing
    task as :func:`leaderboard.table.load_board` does.
    """
    wanted = list(tasks) if tasks else None
    out: list[SectionBoard] = []
    for section in suite_sections(conn, suite):
        if wanted and not set(wanted) <= set(known_tasks(conn, section.run_ids)):
            continue
        board = load_board(conn, tasks=wanted, group_by=group_by, sort=sort, run_ids=section.run_ids, standing=section.standing)
        out.append(SectionBoard(section, board))
    if wanted and not out:
        load_board(conn, tasks=wanted)  # raises the one-line --tasks error naming the missing task
        raise LeaderboardError(f"--tasks {','.join(wanted)}: no section of the leaderboard has entries with all of these tasks")
    return out


def shared_column_boards(
    conn: Connection,
    tasks: Sequence[str] | None = None,
    group_by: str | None = None,
    sort: str | None = None,
) -> list[SectionBoard]:
    """Like :func:`section_boards` over the whole leaderboard, but every section keeps the column keys of one board of all entries.

    For a single table of every section (CSV): a task scored on different
    splits or example sets in two sections gets two columns (``sst2#1``,
    ``sst2#2``), never one.
    """
    whole = load_board(conn, tasks=list(tasks) if tasks else None)
    out: list[SectionBoard] = []
    for section in suite_sections(conn):
        board = replace(restrict_board(whole, section.run_ids), standing=section.standing)
        if tasks and not set(tasks) <= {c.task for c in board.tasks}:
            continue
        if group_by is not None:
            board = group_board(board, group_by)
        out.append(SectionBoard(section, sort_board(board, sort)))
    return out
