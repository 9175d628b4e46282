"""Alembic migrations of the leaderboard schema (applied by :func:`leaderboard.store.upgrade`)."""
