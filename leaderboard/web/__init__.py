"""The read-only web leaderboard (``qabench leaderboard serve``): :mod:`leaderboard.web.app` over the store.

- :mod:`leaderboard.web.data`: what each page shows, read with parameterised queries;
- :mod:`leaderboard.web.svg`: inline SVG training-curve charts;
- ``templates/``: Jinja2 templates (autoescaped).
"""
