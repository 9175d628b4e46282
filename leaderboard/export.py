"""Leaderboard reports: Markdown, CSV, LaTeX and one self-contained HTML page.

Markdown and LaTeX follow the GLUE/decaNLP tables: rank, model, decaScore
first, then one column per task (headline metric with its 95% interval), the
best score of each column in bold. CSV keeps every number in its own column
for spreadsheets. HTML holds the table and three matplotlib plots embedded as
base64 PNG (no network needed to view it): per-task scores with interval
whiskers, decaScore against parameters, decaScore against training time, and
(when runs recorded them) training loss and dev score per task against steps.
Every string that comes from a record is escaped for its format.

>>> # with connection(db) as conn: text = export(load_board(conn), "md")
"""

from __future__ import annotations

import base64
import csv
import html
import io
import re
import warnings
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from leaderboard.curves import CurvePoint, series
from leaderboard.errors import LeaderboardError
from leaderboard.sections import SectionBoard
from leaderboard.table import EFFICIENCY_COLUMNS, Board, cell_texts, zero_shot_notes

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("md", "csv", "latex", "html")
#: Runs drawn in the per-task bar chart (the best by the board's order).
BAR_CHART_RUNS = 8
#: The most characters of a model or group name in a plot's legend.
LABEL_CHARS = 40


def export(board: Board, fmt: str, title: str = "qabench leaderboard", curves: Mapping[str, Sequence[CurvePoint]] | None = None) -> str:
    """The board rendered as ``fmt`` (one of :data:`FORMATS`); ``curves`` (run id -> points) adds training-curve plots to HTML."""
    writers: dict[str, Callable[[Board, str], str]] = {"md": to_markdown, "csv": to_csv, "latex": to_latex}
    if fmt not in (*writers, "html"):
        raise LeaderboardError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if len(board) == 0:
        raise LeaderboardError("the leaderboard has no runs to export; add some with `qabench leaderboard add`")
    return to_html(board, title, curves) if fmt == "html" else writers[fmt](board, title)


def _best_rows(board: Board) -> dict[int, set[int]]:
    """Column index (in :func:`cell_texts`' header) -> rows holding its best score, for bolding."""
    header, _ = cell_texts(board)
    best: dict[int, set[int]] = {}
    columns = {"decaScore": board.rows["decaScore"], **{c.title: board.score[c.key] for c in board.tasks}}
    for name, values in columns.items():
        if name in header and values.notna().any():
            top = values.max()
            best[header.index(name)] = set(values.index[values == top])
    return best


def _numeric_from(board: Board, header: Sequence[str]) -> int:
    """Index of the first number column of :func:`cell_texts`' header (decaScore, or the first task in an ad hoc table)."""
    return len(header) - len(board.tasks) - 1 - len(EFFICIENCY_COLUMNS) - (1 if "decaScore" in header else 0)


def _rank(board: Board, row: int) -> str:
    """The rank cell of ``row``: its 1-based rank in a ranked board, ``–`` in a section that is not ranked."""
    return str(row + 1) if board.standing == "ranked" else "–"


def export_sections(parts: Sequence[SectionBoard], fmt: str, title: str = "qabench leaderboard",
                    curves: Mapping[str, Sequence[CurvePoint]] | None = None) -> str:
    """The whole leaderboard as ``fmt``, section by section as ``show`` prints it: never one ranking across suite protocols.

    Each section gets its own table; only a section of a suite's current
    protocol is ranked, other versions and fingerprints are shown apart
    without rank, ad hoc runs without rank or decaScore. CSV is one table
    with ``section``, ``standing`` and ``rank`` columns (rank empty where
    not ranked) and one column per task and example set across sections.
    """
    if fmt not in FORMATS:
        raise LeaderboardError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    parts = [p for p in parts if len(p.board)]
    if not parts:
        raise LeaderboardError("the leaderboard has no runs to export; add some with `qabench leaderboard add`")
    if fmt == "csv":
        return _csv_sections(parts)
    if fmt == "md":
        blocks = [f"#### {_md_escape(p.section.title)}\n\n" + (f"({_md_escape(p.section.note)})\n\n" if p.section.note else "") + _markdown_table(p.board)
                  for p in parts]
        return f"### {_md_escape(title)}\n\n" + "\n".join(blocks)
    if fmt == "latex":
        blocks = [f"% {latex_escape(p.section.title)}\n\\par\\medskip\\noindent\\textbf{{{latex_escape(p.section.title)}}}\\par\n" + _latex_table(p.board)
                  for p in parts]
        return f"% {latex_escape(title)}\n" + "\n".join(blocks)
    sections = [_html_section(p.board, (curves or {}) if p.section.ranked else None, p.section.title, p.section.note, plots=p.section.ranked)
                for p in parts]
    what = "one table per suite protocol; only a suite's current protocol is ranked"
    return _html_page(title, f"{sum(len(p.board) for p in parts)} rows in {len(parts)} sections ({what})", "\n".join(sections))


# --- Markdown ----------------------------------------------------------------------------------------------------------


_LINE_BREAKS = re.compile(r"\r\n|[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]")
"""Everything a text format could read as the end of a line (CR, LF, and Unicode's other line separators)."""


def one_line(text: str) -> str:
    """``text`` with every line break (CR, LF, CRLF, Unicode separators) as a space and other control characters dropped.

    >>> one_line("a\\r\\nb\\rc\\nd\\u2028e\\x00f")
    'a b c d ef'
    """
    text = _LINE_BREAKS.sub(" ", text)
    return "".join(ch for ch in text if ch == "\t" or ord(ch) >= 32 and ord(ch) != 127)


def _md_escape(text: str) -> str:
    """Record text that cannot break a GitHub Markdown table or turn into markup or HTML.

    Pipes are escaped (a cell never splits), CR and LF become spaces (a row
    never ends early), and Markdown's markup characters are escaped.

    >>> _md_escape("a|b\\r\\n| c")
    'a\\\\|b \\\\| c'
    """
    return re.sub(r"([\\`*_{}\[\]<>#!~|])", r"\\\1", one_line(text).replace("\t", " "))


def to_markdown(board: Board, title: str = "qabench leaderboard") -> str:
    """A GLUE-style Markdown table: rank, labels, decaScore, tasks, size and time."""
    return f"### {_md_escape(title)}\n\n" + _markdown_table(board)


def _markdown_table(board: Board) -> str:
    """The table of :func:`to_markdown` with its notes, without the title."""
    header, body = cell_texts(board)
    best = _best_rows(board)
    numeric_from = _numeric_from(board, header)
    lines = [
        "| # | " + " | ".join(_md_escape(h) for h in header) + " |",
        "|--:|" + "|".join("---" if i < numeric_from else "--:" for i in range(len(header))) + "|",
    ]
    for r, row in enumerate(body):
        # Label cells come from records and are escaped; score cells are ours ("81.2 [79.0, 83.4]").
        cells = [_md_escape(c) if i < numeric_from else f"**{c}**" if r in best.get(i, ()) else c for i, c in enumerate(row)]
        lines.append(f"| {_rank(board, r)} | " + " | ".join(cells) + " |")
    note = (
        "Scores are each task's headline metric with its 95% bootstrap interval; decaScore is their sum."
        if not board.grouped
        else f"Mean ± standard deviation over the runs of each {board.grouped}; decaScore is the sum of headline metrics."
    )
    marks = zero_shot_notes(board)
    tail = "\n" + "  \n".join(_md_escape(m) for m in marks) + "\n" if marks else ""
    return "\n".join(lines) + f"\n\n{note}\n" + tail


# --- CSV ---------------------------------------------------------------------------------------------------------------


def to_csv(board: Board, title: str = "") -> str:
    """One row per run (or group), every number in its own column: ``<task>``, ``<task>_low``, ``<task>_high``."""
    return _write_csv(_csv_frame(board))


def _csv_sections(parts: Sequence[SectionBoard]) -> str:
    """Every section in one CSV table, each row naming its section and standing, ranked rows their rank."""
    import pandas as pd

    frames = []
    for part in parts:
        frame = _csv_frame(part.board)
        frame.insert(0, "rank", pd.array([part.rank(i) for i in range(len(frame))], dtype="Int64"))
        frame.insert(0, "standing", part.section.standing)
        frame.insert(0, "section", part.section.key)
        frames.append(frame)
    return _write_csv(pd.concat(frames, ignore_index=True, sort=False))


def _csv_frame(board: Board) -> pd.DataFrame:
    """:func:`to_csv`'s table as a DataFrame (no decaScore columns for an ad hoc board)."""
    rows = board.rows
    if board.grouped:
        frame = rows[["group", "runs", "decaScore", "decaScore_std"]].rename(columns={"group": board.grouped}).copy()
    else:
        frame = rows[["run_id", "model", "backbone", "preset", "head_mode", "regime", "mixture", "seed", "created",
                      "decaScore", "decaScore_low", "decaScore_high"]].copy()
    for col in board.tasks:
        frame[col.key] = board.score[col.key]
        if board.grouped:
            frame[f"{col.key}_std"] = board.std[col.key]
        else:
            frame[f"{col.key}_low"] = board.low[col.key]
            frame[f"{col.key}_high"] = board.high[col.key]
    if board.zero_shot is not None and board.zero_shot.notna().any().any():  # which scores were zero-shot, and over which labels
        for col in board.tasks:
            frame[f"{col.key}_zero_shot"] = [_zero_shot_cell(v) for v in board.zero_shot[col.key]]
    frame["parameters"] = rows["parameters"]
    for col in EFFICIENCY_COLUMNS:  # the record's timings names; an unmeasured one is an empty cell
        frame[col.field] = rows[col.column]
    for col in ("seed", "parameters", "runs"):
        if col in frame.columns:
            frame[col] = frame[col].round().astype("Int64")
    if board.standing == "adhoc":  # different tasks and examples: no sum to compare
        frame = frame.drop(columns=[c for c in ("decaScore", "decaScore_low", "decaScore_high", "decaScore_std") if c in frame.columns])
    return frame


def _zero_shot_cell(value: str | None) -> str:
    """A ``<task>_zero_shot`` CSV cell: empty when trained, else ``zero-shot; untrained labels: ...`` (a group's: in k of n entries).

    >>> _zero_shot_cell(None), _zero_shot_cell('["neutral"]'), _zero_shot_cell('{"untrained_labels": [], "runs": 1, "of": 2}')
    ('', 'zero-shot; untrained labels: neutral', 'zero-shot in 1 of 2 entries')
    """
    if value is None:
        return ""
    import json

    from tasks.scoring import zero_shot_note

    found = json.loads(value)
    if isinstance(found, dict):
        return zero_shot_note(found["untrained_labels"]).replace("zero-shot", f"zero-shot in {found['runs']} of {found['of']} entries", 1)
    return zero_shot_note(found)


def _write_csv(frame: pd.DataFrame) -> str:
    """``frame`` as CSV: text cells neutralised for spreadsheets, every field quoted."""
    frame = frame.copy()
    text_cols = frame.select_dtypes(include=["object", "string"]).columns
    for col in text_cols:
        frame[col] = frame[col].map(lambda v: csv_safe(v) if isinstance(v, str) else v)
    frame.columns = [csv_safe(str(c)) for c in frame.columns]
    # Every field quoted: a CR or LF inside a cell can never end a row, for csv.reader, pandas or a spreadsheet.
    return frame.to_csv(index=False, float_format="%.4f", quoting=csv.QUOTE_ALL, lineterminator="\r\n")


CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection)."""


def csv_safe(text: str) -> str:
    """A text cell a spreadsheet shows as text: one starting with = + - @ tab or CR gets a leading ``'`` (OWASP).

    Numbers are written as numbers and never pass through here, so -0.5 stays a number.

    >>> csv_safe("=HYPERLINK(1)"), csv_safe("\\tcmd"), csv_safe("bert-base")
    ("'=HYPERLINK(1)", "'\\tcmd", 'bert-base')
    """
    return f"'{text}" if text.startswith(CSV_FORMULA_START) else text


# --- LaTeX -------------------------------------------------------------------------------------------------------------

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
    "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
}


def latex_escape(text: str) -> str:
    """Text safe inside a LaTeX table cell: the special characters escaped, and no line break.

    A blank line would end the paragraph inside ``tabular`` (an error), and a
    CR would end the ``%`` comment holding the title, so line breaks become
    spaces (:func:`one_line`).

    >>> latex_escape("50% & $5_x\\n\\nnext")
    '50\\\\% \\\\& \\\\$5\\\\_x  next'
    """
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in one_line(text).replace("\t", " "))


def _latex_cell(text: str, bold: bool = False) -> str:
    """``81.2 [79.0, 83.4]`` -> ``81.2 {\\scriptsize [79.0, 83.4]}`` (score bold if asked); labels are escaped."""
    match = re.fullmatch(r"(-?[\d.]+) (\[.*\]|± [\d.]+)( †)?", text)
    if not match:
        value = latex_escape(text).replace("–", "--")
        return f"\\textbf{{{value}}}" if bold else value
    score = f"\\textbf{{{match.group(1)}}}" if bold else match.group(1)
    spread = latex_escape(match.group(2)).replace("±", "$\\pm$")
    mark = "$^\\dagger$" if match.group(3) else ""  # a zero-shot score, explained under the table
    return f"{score} {{\\scriptsize {spread}}}{mark}"


def to_latex(board: Board, title: str = "qabench leaderboard") -> str:
    """A booktabs table (needs ``\\usepackage{booktabs}``), GLUE-style, best scores in bold."""
    return "% " + latex_escape(title) + "\n" + _latex_table(board)


def _latex_table(board: Board) -> str:
    """The tabular of :func:`to_latex`, without the title comment."""
    header, body = cell_texts(board)
    best = _best_rows(board)
    numeric_from = _numeric_from(board, header)
    spec = "r" + "l" * numeric_from + "r" * (len(header) - numeric_from)
    lines = [
        f"\\begin{{tabular}}{{{spec}}}",
        "\\toprule",
        "\\# & " + " & ".join(latex_escape(h) for h in header) + " \\\\",
        "\\midrule",
    ]
    for r, row in enumerate(body):
        cells = [_latex_cell(c, bold=r in best.get(i, ())) for i, c in enumerate(row)]
        lines.append(f"{_rank(board, r).replace('–', '--')} & " + " & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    lines += [f"\\par{{\\footnotesize $^\\dagger$ {latex_escape(note.removeprefix('† '))}}}" for note in zero_shot_notes(board)]
    return "\n".join(lines) + "\n"


# --- HTML --------------------------------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1b1f24;background:#fff}
h1{font-size:1.5em;margin:0 0 4px} p.meta{color:#57606a;margin:0 0 16px}
table{border-collapse:collapse;font-size:13px;margin-bottom:24px}
th,td{border-bottom:1px solid #d0d7de;padding:4px 8px;white-space:nowrap}
th{background:#f6f8fa;text-align:left;position:sticky;top:0}
td.num{text-align:right;font-variant-numeric:tabular-nums} td.best{font-weight:700}
tr:nth-child(even) td{background:#fafbfc}
small{color:#57606a;font-size:11px} .wide{overflow-x:auto}
figure{display:inline-block;margin:0 16px 16px 0;vertical-align:top} figcaption{color:#57606a;font-size:13px}
img{max-width:100%;height:auto;border:1px solid #d0d7de}
h2{font-size:1.15em;margin:20px 0 6px} p.note{color:#57606a;font-size:12px;margin:0 0 4px}
"""


def _figure_png(draw: Callable[[object], None], size: tuple[float, float]) -> str:
    """Draw on a fresh Agg figure and return it as base64 PNG (no pyplot, no global state).

    Matplotlib's drawing warnings (a glyph the font lacks, a layout that does
    not fit long labels) say nothing a reader of the export can act on and
    would reach the terminal of ``export``: they are kept out of it.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"font.size": 9}), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fig = Figure(figsize=size, dpi=100, layout="constrained")
        draw(fig)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _plain(text: str) -> str:
    """Record text for a matplotlib label: ``$`` escaped so it is never read as mathtext."""
    return text.replace("$", r"\$")


def _labels(board: Board) -> list[str]:
    """Plot labels: the group, or ``model · <last part of the run id>``."""
    if board.grouped:
        return [_plain(_short(g)) for g in board.rows["group"].astype(str)]
    return [_plain(f"{_short(m)} · {r.rsplit('-', 1)[-1][-10:]}") for m, r in zip(board.rows["model"].astype(str), board.rows["run_id"])]


def _short(text: str, most: int = LABEL_CHARS) -> str:
    """``text`` cut to ``most`` characters (with an ellipsis), so a long model name cannot crowd a plot out.

    >>> _short("bert-" + "x" * 60, 12)
    'bert-xxxxxx…'
    """
    return text if len(text) <= most else text[: most - 1] + "…"


def _bar_chart(board: Board) -> Callable[[object], None]:
    import numpy as np

    top = min(BAR_CHART_RUNS, len(board))
    labels = _labels(board)[:top]
    drawn = board.score.iloc[:top]
    columns = [c for c in board.tasks if drawn[c.key].notna().any()]  # a task no drawn row has is not a column of zeros
    tasks = [c.key for c in columns]  # the frames' column keys: a task scored on two example sets has two (sst2#1, sst2#2)

    def draw(fig: object) -> None:
        ax = fig.subplots()  # type: ignore[attr-defined]
        width = 0.8 / max(top, 1)
        x = np.arange(len(tasks))
        for i in range(top):
            scores = board.score.iloc[i][tasks].to_numpy(dtype=float)
            if board.grouped:
                err = np.vstack([board.std.iloc[i][tasks].to_numpy(dtype=float)] * 2)
            else:
                err = np.vstack([scores - board.low.iloc[i][tasks].to_numpy(dtype=float),
                                 board.high.iloc[i][tasks].to_numpy(dtype=float) - scores])
            ax.bar(x + (i - (top - 1) / 2) * width, np.nan_to_num(scores), width, yerr=np.nan_to_num(err),
                   capsize=2, label=labels[i], error_kw={"elinewidth": 0.8})
        ax.set_xticks(x, [_plain(c.title) for c in columns], rotation=30, ha="right", rotation_mode="anchor")
        ax.set_ylabel("score (0-100)")
        ax.set_title("Per-task headline score" + (" (mean ± std)" if board.grouped else " with 95% bootstrap intervals"))
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        ax.grid(axis="y", alpha=0.3)

    return draw


_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _scatter(board: Board, column: str, xlabel: str) -> Callable[[object], None]:
    import numpy as np

    labels = _labels(board)

    def draw(fig: object) -> None:
        ax = fig.subplots()  # type: ignore[attr-defined]
        x = board.rows[column].to_numpy(dtype=float)
        y = board.rows["decaScore"].to_numpy(dtype=float)
        ok = np.isfinite(x) & np.isfinite(y) & (x > 0)
        if board.grouped:
            std = np.nan_to_num(board.rows["decaScore_std"].to_numpy(dtype=float))[ok]
            yerr = np.vstack([std, std])
        else:
            yerr = np.nan_to_num(np.vstack([y - board.rows["decaScore_low"].to_numpy(dtype=float),
                                            board.rows["decaScore_high"].to_numpy(dtype=float) - y]))[:, ok]
        # The best rows get their own marker and a legend entry outside the axes; text next to
        # points overlapped whenever two runs had similar sizes and scores.
        named = np.flatnonzero(ok)[:BAR_CHART_RUNS]
        rest = np.flatnonzero(ok)[BAR_CHART_RUNS:]
        for j, i in enumerate(named):
            err = yerr[..., j : j + 1]
            ax.errorbar(x[i : i + 1], y[i : i + 1], yerr=err, fmt=_MARKERS[j % len(_MARKERS)], capsize=2, markersize=5,
                        elinewidth=0.8, label=labels[i])
        if len(rest):
            ax.errorbar(x[rest], y[rest], yerr=yerr[..., len(named):], fmt="o", color="0.6", capsize=2, markersize=3, elinewidth=0.6,
                        label=f"{len(rest)} more")
        if len(named):
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        if ok.any():
            ax.set_xscale("log")
        else:
            ax.text(0.5, 0.5, f"no run records {xlabel.lower()}", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel(xlabel + " (log scale)")
        ax.set_ylabel("decaScore")
        ax.set_title(f"decaScore vs {xlabel.lower()}")
        ax.grid(alpha=0.3)

    return draw


def curve_runs(board: Board) -> list[str]:
    """Run ids whose training curves the HTML export plots: the top rows of a per-run board."""
    return [] if board.grouped else [str(r) for r in board.rows["run_id"].iloc[:BAR_CHART_RUNS]]


def _curve_grid(board: Board, curves: Mapping[str, Sequence[CurvePoint]], kind: str) -> tuple[Callable[[object], None], int] | None:
    """Small multiples, one panel per task that has points of ``kind``, one line per run; None when no run has any."""
    if board.grouped or not any(curves.values()):
        return None
    labels = dict(zip(board.rows["run_id"].astype(str), _labels(board)))
    headline = {c.task: c.headline for c in board.tasks}
    per_task: dict[str, list[tuple[str, list[tuple[int, float]]]]] = {}
    for run_id, points in curves.items():
        for name, values in series(points, kind).items():
            task, _, metric = name.partition(" ")
            if kind == "eval" and metric != headline.get(task, metric):
                continue  # the dev curve of a task is its headline metric
            per_task.setdefault(task, []).append((labels.get(run_id, _plain(run_id)), values))
    tasks = [t for t in [*board.task_names, *sorted(per_task)] if t in per_task]
    tasks = list(dict.fromkeys(tasks))  # empty tasks are already gone: only tasks with points are keys
    if not tasks:
        return None
    cols = min(3, len(tasks))
    rows = -(-len(tasks) // cols)

    def draw(fig: object) -> None:
        axes = fig.subplots(rows, cols, squeeze=False)  # type: ignore[attr-defined]
        for k, ax in enumerate(axes.flat):
            if k >= len(tasks):
                ax.set_visible(False)
                continue
            for label, values in per_task[tasks[k]]:
                steps, ys = zip(*values)
                ax.plot(steps, ys, marker="o" if len(values) < 3 else None, markersize=3, linewidth=1.2, label=label)
            ax.set_title(_plain(tasks[k] + (f" ({headline[tasks[k]]})" if kind == "eval" and tasks[k] in headline else "")), fontsize=9)
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
        handles, names = axes.flat[0].get_legend_handles_labels()
        seen = dict(zip(names, handles))
        for ax in axes.flat[1 : len(tasks)]:
            for h, n in zip(*ax.get_legend_handles_labels()):
                seen.setdefault(n, h)
        fig.legend(list(seen.values()), list(seen), fontsize=7, loc="outside right upper")  # type: ignore[attr-defined]
        fig.supylabel("training loss (smoothed)" if kind == "loss" else "dev score")  # type: ignore[attr-defined]

    return draw, rows


def to_html(board: Board, title: str = "qabench leaderboard", curves: Mapping[str, Sequence[CurvePoint]] | None = None) -> str:
    """One self-contained HTML page: the table and its plots as base64 PNG (training curves when ``curves`` has points)."""
    what = f"grouped by {board.grouped}, mean ± std" if board.grouped else "one row per run, 95% bootstrap intervals"
    return _html_page(title, f"{len(board)} rows ({what})", _html_section(board, curves, plots=True))


def _html_table(board: Board, table_id: str = "leaderboard") -> str:
    """The board as an HTML table (best of each column bold, zero-shot notes below it)."""
    header, body = cell_texts(board)
    best = _best_rows(board)
    numeric_from = _numeric_from(board, header)
    head = "<tr><th>#</th>" + "".join(f"<th>{_esc(h)}</th>" for h in header) + "</tr>"
    rows = []
    for r, row in enumerate(body):
        cells = []
        for i, c in enumerate(row):
            classes = (["num"] if i >= numeric_from else []) + (["best"] if r in best.get(i, ()) else [])
            attr = f' class="{" ".join(classes)}"' if classes else ""
            match = re.fullmatch(r"(-?[\d.]+) (\[.*\]|± [\d.]+)( †)?", c) if i >= numeric_from else None
            content = f"{_esc(match.group(1))} <small>{_esc(match.group(2))}</small>{_esc(match.group(3) or '')}" if match else _esc(c)
            cells.append(f"<td{attr}>{content}</td>")
        rows.append(f'<tr><td class="num">{_esc(_rank(board, r))}</td>' + "".join(cells) + "</tr>")
    marks = "".join(f'<p class="note">{_esc(m)}</p>' for m in zero_shot_notes(board))
    return f'<div class="wide"><table id="{_esc(table_id)}"><thead>{head}</thead><tbody>\n' + "\n".join(rows) + "\n</tbody></table></div>" + marks


def _html_section(board: Board, curves: Mapping[str, Sequence[CurvePoint]] | None, heading: str = "", note: str = "", plots: bool = True) -> str:
    """A section of the page: an optional heading, the table and (``plots``) its figures."""
    parts = []
    if heading:
        parts.append(f"<h2>{_esc(heading)}</h2>")
    if note:
        parts.append(f'<p class="meta">{_esc(note)}</p>')
    parts.append(_html_table(board, "leaderboard" if not heading else "section-" + re.sub(r"[^A-Za-z0-9_-]+", "-", heading)[:60]))
    if plots:
        where = 'id="plots"' if not heading else 'class="plots"'
        parts.append(f"<section {where}>\n{_html_figures(board, curves)}\n</section>")
    return "\n".join(parts)


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _html_figures(board: Board, curves: Mapping[str, Sequence[CurvePoint]] | None) -> str:
    """The board's plots as <figure> elements with base64 PNG images."""
    n_tasks = max(len(board.tasks), 1)
    figures = [
        (_figure_png(_bar_chart(board), (max(6.0, 1.1 * n_tasks + 3.0), 4.2)),
         f"Per-task headline scores of the top {min(BAR_CHART_RUNS, len(board))} rows"
         + (" (whiskers: standard deviation over runs)." if board.grouped else " (whiskers: 95% bootstrap intervals).")),
        (_figure_png(_scatter(board, "parameters", "Parameters"), (5.5, 4.0)), "decaScore against parameter count."),
        (_figure_png(_scatter(board, "train_seconds", "Training time (s)"), (5.5, 4.0)), "decaScore against training time."),
    ]
    for kind, caption in (("loss", "Training loss per task against steps (smoothed), top rows."),
                          ("eval", "Dev score (headline metric) per task against steps, periodic evaluations of the top rows.")):
        grid = _curve_grid(board, curves or {}, kind)
        if grid is not None:
            draw, rows_ = grid
            figures.append((_figure_png(draw, (11.0, 2.8 * rows_ + 0.6)), caption))
    return "\n".join(
        f'<figure><img alt="{_esc(caption)}" src="data:image/png;base64,{png}"><figcaption>{_esc(caption)}</figcaption></figure>'
        for png, caption in figures
    )


def _html_page(title: str, meta: str, body: str) -> str:
    """The self-contained page around ``body``."""
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_esc(title)}</title>
<style>{_CSS}</style>
</head><body>
<h1>{_esc(title)}</h1>
<p class="meta">{_esc(meta)}; decaScore is the sum of each task's headline metric. Generated {_esc(generated)}.</p>
{body}
</body></html>
"""
