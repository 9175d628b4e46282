"""Errors a user can cause on the leaderboard side (one line, exit 2 in the CLI)."""

from __future__ import annotations


class LeaderboardError(Exception):
    """Malformed record, newer schema, a database that is not qabench's, unknown run."""

    qabench_user_error = True
