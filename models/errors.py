"""Errors a user can cause on the model side (one line, exit 2 in the CLI)."""

from __future__ import annotations


class ModelError(Exception):
    """Unknown backbone or preset, missing or corrupt weights, wrong architecture."""

    qabench_user_error = True
