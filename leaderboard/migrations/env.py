"""Alembic environment: run the migrations on the connection :mod:`leaderboard.store` passes in.

The store opens the transaction (and takes the lock) itself, so every pending
migration and the version stamp commit together or not at all; this file only
hands that connection to Alembic. It is not meant for the ``alembic``
command line: use ``qabench leaderboard upgrade``.
"""

from __future__ import annotations

from alembic import context

from leaderboard.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
