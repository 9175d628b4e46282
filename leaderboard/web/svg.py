"""Small inline SVG line charts for the run page: training loss and evaluation scores against steps.

Drawn on the server (no JavaScript, no image files): one polyline per series,
a legend laid out in rows beside the plot so long task names never overlap,
and every label escaped. Series with no points are left out.

>>> svg = line_chart({"sst2": [(0, 1.0), (10, 0.5)], "<b>": [(0, 2.0), (10, 1.0)]}, "loss")
>>> svg.startswith("<svg") and "&lt;b&gt;" in svg and "<b>" not in svg
True
"""

from __future__ import annotations

import html
import math
from typing import Sequence

#: Line colours (colour-blind friendly, Okabe-Ito).
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [low, high]."""
    if high <= low:
        return [low]
    raw = (high - low) / max(1, count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def _label(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 or value == int(value) else f"{value:.3g}"


def line_chart(series: dict[str, Sequence[tuple[int, float]]], y_label: str, width: int = 640, height: int = 260) -> str:
    """An SVG chart of ``{label: [(step, value), ...]}``; empty when no series has a point."""
    series = {k: list(v) for k, v in series.items() if v}
    if not series:
        return ""
    xs = [x for pts in series.values() for x, _ in pts]
    ys = [y for pts in series.values() for _, y in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    legend_w = 170
    left, right, top, bottom = 52, width - legend_w, 12, height - 36

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (right - left)

    def py(y: float) -> float:
        return bottom - (y - y0) / (y1 - y0) * (bottom - top)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" role="img" '
             f'aria-label="{html.escape(y_label)} against step">']
    parts.append(f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" fill="none" stroke="#999"/>')
    for t in _ticks(y0, y1):
        y = py(t)
        parts.append(f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10">{_label(t)}</text>')
    for t in _ticks(x0, x1):
        x = px(t)
        parts.append(f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle" font-size="10">{_label(t)}</text>')
    parts.append(f'<text x="{(left + right) / 2:.0f}" y="{height - 4}" text-anchor="middle" font-size="11">step</text>')
    parts.append(f'<text x="12" y="{(top + bottom) / 2:.0f}" text-anchor="middle" font-size="11" '
                 f'transform="rotate(-90 12 {(top + bottom) / 2:.0f})">{html.escape(y_label)}</text>')
    for i, (name, pts) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in sorted(pts))
        label = html.escape(name)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" points="{coords}"><title>{label}</title></polyline>')
        if len(pts) == 1:
            x, y = pts[0]
            parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>')
        ly = top + 14 * i + 10
        short = label if len(name) <= 24 else html.escape(name[:23]) + "…"
        parts.append(f'<line x1="{right + 10}" x2="{right + 26}" y1="{ly - 4}" y2="{ly - 4}" stroke="{colour}" stroke-width="2"/>')
        parts.append(f'<text x="{right + 30}" y="{ly}" font-size="11">{short}<title>{label}</title></text>')
    parts.append("</svg>")
    return "".join(parts)
