"""Check that the HTML leaderboard renders: headless Chromium takes a screenshot, pixels say table and plots are there.

Steps: install Debian's ``chromium`` if it is missing (``apt-get install -y
chromium``, needs root), build a small leaderboard of synthetic runs, export
it with ``qabench leaderboard export --format html``, screenshot it with
``chromium --headless --screenshot``, then read the PNG:

- the table region (above the first coloured pixel) must hold dark text on
  at least as many separate text lines as the table has rows;
- the plot region (from the first coloured pixel down) must hold coloured
  ink: bars, whiskers and points, which the table never has.

Run: ``cd /work/main && PYTHONPATH=. /work/venv/bin/python bench/html_screenshot.py [--keep DIR]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
WINDOW = (1600, 1500)


def ensure_chromium() -> str:
    """Path of ``chromium``; installs Debian's package first when it is missing."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("chromium is missing and installing it needs root: apt-get install -y chromium")
    print("installing chromium (apt-get) ...", flush=True)
    subprocess.run(["apt-get", "update"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "chromium"], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    found = shutil.which("chromium")
    if not found:
        raise SystemExit("apt-get installed chromium but it is not on PATH")
    return found


def screenshot(page: Path, png: Path, window: tuple[int, int] = WINDOW) -> Path:
    """Render ``page`` in headless Chromium and save a ``window``-sized PNG screenshot."""
    chromium = shutil.which("chromium") or ensure_chromium()
    cmd = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
        "--disable-extensions", f"--screenshot={png}", f"--window-size={window[0]},{window[1]}",
        page.resolve().as_uri(),
    ]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    if not png.exists():
        raise SystemExit(f"chromium wrote no screenshot: {' '.join(cmd)}")
    return png


@dataclass(frozen=True)
class ScreenshotReport:
    """What the screenshot shows: where the plots start, ink in the table and plot regions."""

    size: tuple[int, int]
    plots_top: int  # first row with coloured pixels
    table_lines: int  # separate bands of dark text above it
    table_ink: float  # fraction of dark pixels above plots_top
    plot_ink: float  # fraction of coloured pixels from plots_top down


def check_screenshot(png: Path) -> ScreenshotReport:
    """Measure a screenshot (see the module docstring for what counts as table and plot ink)."""
    from PIL import Image

    rgb = np.asarray(Image.open(png).convert("RGB")).astype(int)  # [H, W, 3]
    dark = rgb.max(axis=2) < 140  # [H, W] text
    coloured = (rgb.max(axis=2) - rgb.min(axis=2)) > 80  # [H, W] saturated: bars, markers
    rows_coloured = np.flatnonzero(coloured.sum(axis=1) > 3)
    plots_top = int(rows_coloured[0]) if rows_coloured.size else rgb.shape[0]
    text_rows = dark[:plots_top].any(axis=1)
    bands = int(np.sum(text_rows[1:] & ~text_rows[:-1]) + (text_rows[0] if text_rows.size else 0))
    return ScreenshotReport(
        size=(rgb.shape[1], rgb.shape[0]),
        plots_top=plots_top,
        table_lines=bands,
        table_ink=float(dark[:plots_top].mean()) if plots_top else 0.0,
        plot_ink=float(coloured[plots_top:].mean()) if plots_top < rgb.shape[0] else 0.0,
    )


def build_page(workdir: Path, n_runs: int = 6) -> Path:
    """A small leaderboard of synthetic runs (one name carries markup) exported to ``workdir/leaderboard.html``."""
    import importlib.util

    sys.path.insert(0, str(REPO))
    from click.testing import CliRunner

    from harness.cli import main as qabench

    # bench/leaderboard.py writes the synthetic records; load it by path (its name is the package's).
    spec = importlib.util.spec_from_file_location("bench_leaderboard", Path(__file__).with_name("leaderboard.py"))
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rng = np.random.default_rng(0)
    records = [
        bench.write_synthetic_run(workdir / "runs", i, 6, 120, rng, backbone='gpt<script>alert("x")</script>' if i == 1 else None)
        for i in range(n_runs)
    ]
    db, page = workdir / "leaderboard.db", workdir / "leaderboard.html"
    for args in (["add", *map(str, records)], ["export", "--format", "html", "-o", str(page)]):
        result = CliRunner().invoke(qabench, ["leaderboard", "--db", str(db), *args])
        if result.exit_code != 0:
            raise SystemExit(f"qabench leaderboard {args[0]} failed: {result.output}")
    return page


def main() -> None:
    from _conditions import conditions  # bench/, beside this script

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, default=None, help="keep the HTML and screenshot in this directory")
    args = parser.parse_args()
    ensure_chromium()
    workdir = Path(tempfile.mkdtemp(prefix="qabench-html-")) if args.keep is None else args.keep
    workdir.mkdir(parents=True, exist_ok=True)
    page = build_page(workdir)
    report = check_screenshot(screenshot(page, workdir / "leaderboard.png"))
    print(f"screenshot: {workdir / 'leaderboard.png'} {report.size[0]}x{report.size[1]}")
    print(f"table: {report.table_lines} text lines above y={report.plots_top}, dark-ink fraction {report.table_ink:.3f}")
    print(f"plots: coloured-ink fraction {report.plot_ink:.3f} below y={report.plots_top}")
    ok = report.table_lines >= 7 and report.table_ink > 0.005 and report.plot_ink > 0.005
    print("OK: table and plots rendered" if ok else "FAILED: the page looks blank or incomplete")
    print(conditions())
    if args.keep is None and ok:
        shutil.rmtree(workdir)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
