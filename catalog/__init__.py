"""Names to things, shared by every package: one generic :class:`Registry` and one "did you mean" helper.

Tasks, metrics, backbones and pretraining objectives each keep a
``Registry`` of their own kind; any error message about a mistyped name
(config keys, leaderboard columns, run ids, CLI commands) uses
:func:`did_you_mean`. This package imports the standard library only, so
``tasks/``, ``models/``, ``harness/`` and ``leaderboard/`` may all import it
without crossing DESIGN.md's boundaries.
"""

from __future__ import annotations

from catalog.registry import Registry, did_you_mean

__all__ = ["Registry", "did_you_mean"]
