"""``qabench leaderboard export``: GLUE-style Markdown/LaTeX, CSV, and a self-contained, escaped HTML page."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from leaderboard_fixtures import accuracy_task, write_run

from harness.cli import main

REPO = Path(__file__).resolve().parents[1]
EVIL = '<script>alert("x")</script>'
#: Timings of a record with the split into preparation, training and evaluation, and tokens/s (run-evil's record predates it).
TIMED = {"prepare_seconds": 3.14, "eval_seconds": 2.25, "train_tokens_per_second": 18400.4, "eval_tokens_per_second": 21300.6}
#: A suite the fixtures' runs followed (not a built-in one: the newest entries stand for its protocol).
DEMO = {"name": "demo", "version": "1", "fingerprint": "d" * 64, "score": "decaScore over 2 tasks"}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Two runs of one suite protocol; one backbone name carries markup that every format must neutralise."""
    path = tmp_path / "lb.db"
    runs = [
        write_run(tmp_path, "run-good", [accuracy_task("sst2", [100] * 8 + [0] * 2), accuracy_task("cola", [100, 0] * 5)],
                  backbone="bert", parameters=4_000_000, train_seconds=40.0, suite=DEMO, timings=TIMED),
        write_run(tmp_path, "run-evil", [accuracy_task("sst2", [100] * 6 + [0] * 4), accuracy_task("cola", [0, 0, 100] * 3 + [0])],
                  backbone=f"gpt{EVIL}|$_&%", parameters=1_000_000, train_seconds=10.0, suite=DEMO),
    ]
    assert CliRunner().invoke(main, ["leaderboard", "--db", str(path), "add", *map(str, runs)]).exit_code == 0
    return path


def export(db: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["leaderboard", "--db", str(db), "export", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_markdown_is_a_glue_style_table_with_decascore_first(db: Path) -> None:
    text = export(db, "--format", "md")
    header = next(line for line in text.splitlines() if line.startswith("| #"))
    cells = [c.strip() for c in header.strip("|").split("|")]
    assert cells[cells.index("decaScore") + 1 :][:2] == ["sst2 (accuracy)", "cola (accuracy)"]
    first = next(line for line in text.splitlines() if line.startswith("| 1 |"))
    assert "run-good" in first and "**130.0 [" in first  # the best score of a column is bold
    assert "<script>" not in text and "\\<script\\>" in text
    rows = [line for line in text.splitlines() if line.startswith("| 2 |")]
    assert rows and rows[0].count(" | ") == header.count(" | ")  # the '|' in the name did not add a column


def test_latex_escapes_record_text_and_uses_booktabs(db: Path) -> None:
    text = export(db, "--format", "latex")
    assert "\\toprule" in text and "\\bottomrule" in text
    assert "\\textless{}script\\textgreater{}" in text and "\\$\\_\\&\\%" in text
    assert "\\textbf{130.0}" in text


def test_csv_has_one_numeric_column_per_score_and_bound(db: Path) -> None:
    frame = pd.read_csv(io.StringIO(export(db, "--format", "csv")))
    assert list(frame["run_id"]) == ["run-good", "run-evil"]
    assert {"decaScore", "sst2", "sst2_low", "sst2_high", "cola", "cola_low", "cola_high", "parameters"} <= set(frame.columns)
    good = frame.iloc[0]
    assert good["sst2"] == 80.0 and good["sst2_low"] < 80.0 < good["sst2_high"]
    assert good["decaScore"] == 130.0


def test_html_is_self_contained_escaped_and_has_three_plots(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "board.html"
    export(db, "--format", "html", "-o", str(out))
    page = out.read_text()
    assert EVIL not in page and "<script" not in page.lower()
    assert html_escaped(EVIL) in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing fetched at view time
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 3
    assert all(base64.b64decode(png).startswith(b"\x89PNG") for png in images)
    assert page.count("<tr>") == 3  # header and two runs


EFFICIENCY_HEADINGS = ["params", "prep s", "train s", "eval s", "train ex/s", "train tok/s", "eval ex/s", "eval tok/s"]


def test_every_format_shows_the_efficiency_columns_and_leaves_unmeasured_ones_blank(db: Path) -> None:
    good = ["4.0M", "3.1", "40.0", "2.2", "512", "18400", "581", "21301"]
    older = ["1.0M", "–", "10.0", "1.5", "512", "–", "581", "–"]  # a record from before the timings split
    md = export(db, "--format", "md").splitlines()
    header = [c.strip() for c in next(line for line in md if line.startswith("| #")).strip("|").split("|")]
    assert header[-8:] == EFFICIENCY_HEADINGS
    rows = {r: [c.strip() for c in next(line for line in md if line.startswith(f"| {r} |")).strip("|").split("|")][-8:] for r in (1, 2)}
    assert rows == {1: good, 2: older}

    latex = export(db, "--format", "latex")
    assert " & ".join(["params", "prep s", "train s", "eval s", "train ex/s", "train tok/s", "eval ex/s", "eval tok/s"]) + " \\\\" in latex
    assert " & ".join(older).replace("–", "--") + " \\\\" in latex

    html = export(db, "--format", "html")
    assert "".join(f"<th>{h}</th>" for h in EFFICIENCY_HEADINGS) + "</tr>" in html
    assert "".join(f'<td class="num">{c}</td>' for c in good) + "</tr>" in html
    assert "".join(f'<td class="num">{c}</td>' for c in older) + "</tr>" in html

    csv = export(db, "--format", "csv")
    frame = pd.read_csv(io.StringIO(csv))
    fields = ["prepare_seconds", "train_seconds", "eval_seconds", "train_examples_per_second", "train_tokens_per_second",
              "eval_examples_per_second", "eval_tokens_per_second"]
    assert list(frame.columns[-7:]) == fields  # the record's timings names
    assert frame.loc[0, fields].tolist() == [3.14, 40.0, 2.25, 512.0, 18400.4, 581.0, 21300.6]
    assert frame.loc[1, fields].isna().tolist() == [True, False, False, False, True, False, True]
    assert csv.splitlines()[2].endswith('"10.0000","1.5000","512.0000","","581.0000",""')  # unmeasured: an empty cell


def html_escaped(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def test_grouped_export_reports_mean_and_spread(db: Path) -> None:
    text = export(db, "--format", "md", "--group-by", "head-mode")
    assert "| 1 | typed | 2 | **" in text and "±" in text


def test_an_unknown_format_is_a_usage_error(db: Path) -> None:
    result = CliRunner().invoke(main, ["leaderboard", "--db", str(db), "export", "--format", "pdf"])
    assert result.exit_code == 2 and "'pdf' is not one of" in result.output


def test_the_html_page_renders_in_headless_chromium(db: Path, tmp_path: Path) -> None:
    if shutil.which("chromium") is None:  # like the browser tests: skipped outside CI, a failure in CI (.ci/run installs it)
        reason = "Debian chromium is not installed: apt-get install -y chromium"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    sys.path.insert(0, str(REPO / "bench"))
    try:
        from html_screenshot import check_screenshot, screenshot
    finally:
        sys.path.remove(str(REPO / "bench"))
    page = tmp_path / "board.html"
    export(db, "--format", "html", "-o", str(page))
    report = check_screenshot(screenshot(page, tmp_path / "board.png"))
    assert report.table_ink > 0.01 and report.plot_ink > 0.01, report


HOSTILE = ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd", 'say "hi", then\r\nleave\nnow', "plain"]


def hostile_board(root: Path) -> Path:
    """``root/hostile.db``: runs whose text fields (backbone, mixture, regime) and task names start with formula characters or hold CR/LF.

    Also built by bench/sweep_table.py, which exports it with older checkouts.
    """
    path = root / "hostile.db"
    runs = [
        write_run(root, f"run-{i}", [accuracy_task("sst2", [100, 0, 100, 100]), accuracy_task("-cola", [100, 0])],
                  backbone=("@bert" if i % 2 else "=bert"), mixture=text, regime=HOSTILE[-1 - i], train_seconds=10.0 + i)
        for i, text in enumerate(HOSTILE)
    ]
    result = CliRunner().invoke(main, ["leaderboard", "--db", str(path), "add", *map(str, runs)])
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture
def hostile_db(tmp_path: Path) -> Path:
    return hostile_board(tmp_path)


def neutralised(text: str) -> str:
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def test_csv_neutralises_formulas_in_every_cell_and_header_and_reads_back_exactly(hostile_db: Path, tmp_path: Path) -> None:
    import csv

    out = tmp_path / "board.csv"
    export(hostile_db, "--format", "csv", "-o", str(out))
    raw = out.read_bytes().decode("utf-8")
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    assert len(body) == len(HOSTILE)  # no embedded CR or LF split a row
    assert "'-cola" in header and "'-cola_low" in header and "-cola" not in header
    by_run = {row[header.index("run_id")]: row for row in body}
    for i, text in enumerate(HOSTILE):
        row = by_run[f"run-{i}"]
        assert row[header.index("mixture")] == neutralised(text)
        assert row[header.index("regime")] == neutralised(HOSTILE[-1 - i])
        assert row[header.index("backbone")] == neutralised("@bert" if i % 2 else "=bert")
    for row in rows:  # nothing a spreadsheet would evaluate
        assert not any(cell[:1] in ("=", "+", "@", "\t", "\r") or cell.startswith("-") and not _number(cell) for cell in row)
    assert re.fullmatch(r'("([^"]|"")*"(,|\r\n))+', raw)  # every field quoted, every row ended by CRLF
    frame = pd.read_csv(out, keep_default_na=False, dtype=str)
    assert [list(frame.columns)] + frame.to_numpy().tolist() == rows  # pandas reads exactly the rows csv.reader reads


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_markdown_escapes_pipes_and_line_breaks_in_cells(hostile_db: Path) -> None:
    text = export(hostile_db, "--format", "md")
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + len(HOSTILE)  # header and one line per run: no CR/LF broke a row
    widths = {line.replace("\\|", "").count("|") for line in rows}
    assert len(widths) == 1  # every row has the header's cells
    assert "\r" not in text


def test_latex_escapes_specials_and_blank_lines(hostile_db: Path) -> None:
    text = export(hostile_db, "--format", "latex", "--title", "50% of $x\r\n\r\n\\end{tabular}")
    body = text.split("\\midrule\n", 1)[1].split("\\bottomrule", 1)[0]
    assert len(body.strip().split("\n")) == len(HOSTILE)  # one source line per row: no blank line, no CR
    assert "\r" not in text and "\n\n" not in text
    assert text.splitlines()[0] == "% 50\\% of \\$x  \\textbackslash{}end\\{tabular\\}"


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no TeX engine (pdflatex) installed; the escaping is checked above")
def test_latex_table_compiles(hostile_db: Path, tmp_path: Path) -> None:
    import subprocess

    table = export(hostile_db, "--format", "latex")
    doc = tmp_path / "board.tex"
    doc.write_text("\\documentclass{article}\\usepackage{booktabs}\\usepackage[T1]{fontenc}\\begin{document}\n" + table + "\\end{document}\n")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stdout.decode(errors="replace")[-2000:]


def test_html_plots_training_curves_of_the_top_runs(tmp_path: Path) -> None:
    import json

    db = tmp_path / "lb.db"
    a = write_run(tmp_path, "run-a", [accuracy_task("sst2", [100, 0]), accuracy_task("cola", [100])], suite=DEMO)
    b = write_run(tmp_path, "run-b", [accuracy_task("sst2", [0, 0]), accuracy_task("cola", [0])], suite=DEMO)
    lines = [{"step": s, "kind": "loss", "task": "sst2", "metric": "loss", "value": 1 / s} for s in (10, 20, 30)]
    lines += [{"step": 30, "kind": "eval", "task": "sst2", "metric": "accuracy", "value": 50.0}]
    (a.parent / "curves.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert CliRunner().invoke(main, ["leaderboard", "--db", str(db), "add", str(a), str(b)]).exit_code == 0
    page = export(db, "--format", "html")
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 5
    assert "Training loss per task against steps" in page and "Dev score (headline metric) per task" in page
    assert "Training loss" not in export(db, "--format", "html", "--group-by", "model")  # groups have no single curve


def test_the_bar_chart_leaves_out_tasks_no_drawn_row_has_and_the_scatter_labels_in_a_legend(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from leaderboard import export as exporter
    from leaderboard.store import add_records, connection
    from leaderboard.table import load_board

    db = tmp_path / "lb.db"
    runs = [write_run(tmp_path, f"run-{i}", [accuracy_task("sst2", [100] * (10 - i) + [0] * i)]) for i in range(exporter.BAR_CHART_RUNS)]
    runs.append(write_run(tmp_path, "run-last", [accuracy_task("sst2", [0] * 10), accuracy_task("cola", [100])]))
    add_records(db, runs, n_boot=50)
    with connection(db) as conn:
        board = load_board(conn, sort="sst2")
    fig = Figure()
    exporter._bar_chart(board)(fig)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["sst2 (accuracy)"]  # cola: only a row beyond the top
    fig = Figure()
    exporter._scatter(board, "parameters", "Parameters")(fig)
    ax = fig.axes[0]
    assert not ax.texts  # no labels beside points, where close points made them overlap
    assert [t.get_text() for t in ax.get_legend().get_texts()][-1] == "1 more"


def test_the_html_bar_chart_draws_each_example_set_of_a_task(tmp_path: Path) -> None:
    """A task scored on two example sets is two columns (sst2#1, sst2#2), in the table and in the bar chart."""
    from leaderboard.export import to_html
    from leaderboard.store import add_records, connection
    from leaderboard.table import load_board

    runs = [write_run(tmp_path / "runs", "full", [accuracy_task("sst2", [100, 0, 100, 100])]),
            write_run(tmp_path / "runs", "part", [accuracy_task("sst2", [100, 0])])]
    add_records(tmp_path / "lb.db", runs, n_boot=50)
    with connection(tmp_path / "lb.db") as conn:
        board = load_board(conn)
    assert board.task_names == ["sst2#1", "sst2#2"]
    page = to_html(board)
    assert page.count("data:image/png;base64,") >= 1 and "sst2 (accuracy, n=4)" in page and "sst2 (accuracy, n=2)" in page


def unglyphed_board(root: Path) -> Path:
    """``root/lb.db``: two ranked runs named with glyphs the plot font lacks and too long for the layout (also bench/sweep_table.py's)."""
    runs = [write_run(root / "runs", f"run-{i}", [accuracy_task("sst2", [100, 0, 100]), accuracy_task("cola", [0, 100])],
                      backbone=name, suite=DEMO) for i, name in enumerate(["bert中文模型", "gpt" + "x" * 300])]
    db = root / "lb.db"
    result = CliRunner().invoke(main, ["leaderboard", "--db", str(db), "add", *map(str, runs)])
    assert result.exit_code == 0, result.output
    return db


def test_html_export_keeps_matplotlib_warnings_off_the_terminal(tmp_path: Path) -> None:
    """Glyphs the plot font lacks and a name too long for the layout: matplotlib warns about both; the export stays quiet."""
    import subprocess
    import sys

    db = unglyphed_board(tmp_path)
    code = "from harness.cli import main; main(prog_name='qabench')"
    done = subprocess.run([sys.executable, "-W", "default", "-c", code, "leaderboard", "--db", str(db), "export", "--format", "html",
                           "-o", str(tmp_path / "board.html")], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines() == [f"wrote {tmp_path / 'board.html'} (2 rows, html)"], done.stderr
    assert "中文" in (tmp_path / "board.html").read_text(encoding="utf-8")
