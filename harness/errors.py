"""Errors a user can cause. The CLI prints them as one line and exits with status 2.

Each package has its own base error (``tasks.errors.TaskError``,
``models.errors.ModelError``, ``leaderboard.errors.LeaderboardError`` and
:class:`UserError` here), because the packages may not import one another.
All of them set the class attribute ``qabench_user_error = True``; the CLI
catches any exception that carries it, so it never has to import a package
(and torch with it) just to name its error class.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: an unknown name, a bad file, a bad option.

    The message is one line that names the file and line, or the option, and
    where possible the fix.
    """

    qabench_user_error = True
