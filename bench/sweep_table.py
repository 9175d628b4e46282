"""The reliability sweep's before/after table: each kind of bad input or fault run as a real ``qabench`` process against two checkouts.

Issue 13 found 30 kinds of bad input and fault that ended in a traceback or
let bad data through. Each kind below is mapped to the sweep test that now
holds it (``tests/test_bad_input_*.py`` and a few others), and this script
runs that very case, built by the test module's own setup code, against an
older revision (``--before REV``, extracted with ``git archive``) and against
this working tree. Every run is a fresh ``python -c "from harness.cli import
main; main()"`` process in a fresh temporary directory, with ``PYTHONPATH``
pointing at the checkout under test.

The case's setup (the files it writes, the leaderboard it fills, the run it
trains and damages) runs in a helper process under the same checkout, so a
database or run directory is made by the code that then reads it. An older
checkout names two run files differently (``model/heads.pt`` for
``model/heads.safetensors``, ``checkpoints/last.pt`` for
``checkpoints/last.safetensors``); the damaged-run cases damage whichever the
checkout wrote.

Each cell says what a user saw: the exit status, a traceback (with its last
line), one line (quoted), or acceptance (exit 0) where the input should have
been refused; "files changed" when a refused command left files behind. A
cell marked "ok" meets the sweep's whole contract: exit 2, one line naming
what the test expects it to name, no traceback, nothing changed.

    python bench/sweep_table.py --before c1871c8            # the table, Markdown, on stdout
    python bench/sweep_table.py --before c1871c8 --only lr-nan,decascore-claims-9999
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
CLI = "from harness.cli import main; main(prog_name='qabench')"
SWEEP_MODULES = {
    "config": "test_bad_input_config",
    "tasks": "test_bad_input_tasks",
    "files": "test_bad_input_files",
    "leaderboard": "test_bad_input_leaderboard",
}


@dataclasses.dataclass(frozen=True)
class Row:
    """One kind of the issue's failures and the test that holds it: ``source`` is ``MODULE:CASE_ID`` of a sweep case, or ``probe:NAME``."""

    kind: str
    source: str

    @property
    def test(self) -> str:
        area, name = self.source.split(":", 1)
        if area == "probe":
            return PROBES[name].test
        return f"tests/{SWEEP_MODULES[area]}.py[{name}]"


ROWS = [
    # item 1: integrity
    Row("decaScore 9999 over tasks that sum to 130", "leaderboard:decascore-claims-9999"),
    Row("predictions path leaving the record's directory", "leaderboard:predictions-outside-the-run"),
    Row("control character in a run id (newline)", "leaderboard:run-id-newline"),
    Row("control character in a model name (newline)", "leaderboard:backbone-newline"),
    Row("control character in a task name (tab)", "leaderboard:task-name-tab"),
    Row("negative parameter count", "leaderboard:negative-parameters"),
    # item 2: exports
    Row("CSV export: cells starting with = + - @ tab CR", "probe:csv-formulas"),
    Row("CSV export: CR/LF inside a cell", "probe:csv-rows"),
    Row("Markdown export: pipes and line breaks in cells", "probe:markdown"),
    Row("LaTeX export: special characters and blank lines", "probe:latex"),
    # item 3: data
    Row("label 7 outside the label set", "tasks:glue-label-7-show"),
    Row("answer_start not an integer", "tasks:squad-answer-start-string"),
    Row("answer_start not pointing at the answer", "tasks:squad-answer-start-wrong"),
    Row("choices not a list", "tasks:taskdir-choices-string"),
    Row("data file not UTF-8", "tasks:mirror-not-utf8"),
    Row("empty task directory", "tasks:taskdir-empty-dir"),
    Row("task directory whose train.jsonl is empty (tasks validate)", "tasks:taskdir-empty-file-validate"),
    # item 4: config and pretrain values
    Row("vocab_size 0", "config:vocab-size-zero"),
    Row("negative seed", "config:seed-negative"),
    Row("seed beyond 2**64", "config:seed-too-large"),
    Row("unknown device", "config:device-unknown"),
    Row("clip < 0", "config:clip-negative"),
    Row("lr NaN", "config:lr-nan"),
    Row("weight decay NaN", "config:weight-decay-nan"),
    Row("warm-up NaN", "config:warmup-nan"),
    Row("dropout NaN", "config:dropout-nan"),
    Row("duplicate YAML key", "config:duplicate-key"),
    Row("YAML file not UTF-8", "config:not-utf8"),
    Row("pretrain --lr nan", "config:pretrain-lr-nan"),
    Row("pretrain --seq-len beyond the backbone's positions", "config:pretrain-seq-len-beyond-max"),
    Row("pretrain --vocab-size 0", "config:pretrain-vocab-size-zero"),
    # item 5: damaged files
    Row("pretrained directory without tokenizer files", "files:pretrained-without-tokenizer"),
    Row("truncated heads weights (heads.pt, now heads.safetensors)", "files:heads-weights-truncated"),
    Row("truncated heads.json", "files:heads-json-truncated"),
    Row("truncated config.json", "files:config-json-truncated"),
    Row("allow_pickle: true with a hostile .bin", "files:pretrained-hostile-bin-allow-pickle"),
    Row("truncated tokenizer and features cache entries", "probe:damaged-cache"),
    # item 6: resource faults
    Row("disk full while the model is saved", "probe:disk-full-save"),
    Row("disk full during leaderboard add", "probe:disk-full-add"),
    Row("read-only output directory", "probe:read-only-output"),
    Row("stale *.tmp of an interrupted checkpoint, then --resume", "probe:stale-tmp"),
    Row("leaderboard show on a database in a read-only directory", "probe:read-only-db"),
    # item 7: messages
    Row("task.json names a task already registered", "tasks:taskjson-duplicate-name"),
    Row("task.json names an unknown metric", "tasks:taskjson-unknown-metric"),
    Row("eval of a missing run directory (no --resume in the message)", "config:eval-missing-run"),
    Row("eval of a directory that is not a run", "files:eval-not-a-run"),
    Row("click usage error: missing argument", "tasks:usage-missing-argument"),
    Row("click usage error: bad integer", "tasks:usage-bad-int"),
    Row("diverged run (lr 1e30)", "probe:diverged"),
    Row("warnings during the HTML export", "probe:export-warnings"),
    Row("warnings while a saved run loads", "probe:load-warnings"),
]


# --- probes: the faults and exports that are not one refused command ---------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Probe:
    """A fault or export check: ``setup(root, trained)`` (run under the checkout) returns the argv; ``judge`` reads what happened.

    ``limit_bytes``: the command may write no file larger (a full disk,
    ``RLIMIT_FSIZE``); ``read_only``: this directory under the root is made
    read-only for the command, which runs without root's override of file
    permissions; ``own_cache``: setup and command use a cache of their own
    (``ROOT-cache``), so damaging it leaves the other rows' alone.
    """

    test: str
    setup: Callable[[Path, Path], list[str]]
    judge: Callable[[Outcome, Path], str]
    limit_bytes: int | None = None
    read_only: str | None = None
    own_cache: bool = False


def _train_args() -> tuple[str, ...]:
    from test_bad_input_files import TRAIN

    return TRAIN


def _cli(args: list[str]) -> None:
    """Run ``qabench ARGS`` in this (setup) process; a failure is a setup error."""
    from click.testing import CliRunner

    from harness.cli import main

    result = CliRunner().invoke(main, args)
    if result.exit_code != 0:
        raise RuntimeError(f"qabench {' '.join(args[:3])} ... exit {result.exit_code}: {result.output.strip().splitlines()[-1:]}")


def setup_hostile_board(root: Path, trained: Path) -> list[str]:
    from test_leaderboard_export import hostile_board

    hostile_board(root)
    return ["leaderboard", "--db", "hostile.db", "export", "--format", "csv", "-o", "board.csv"]


def setup_markdown(root: Path, trained: Path) -> list[str]:
    return setup_hostile_board(root, trained)[:-4] + ["--format", "md", "-o", "board.md"]


def setup_latex(root: Path, trained: Path) -> list[str]:
    return setup_hostile_board(root, trained)[:-4] + ["--format", "latex", "-o", "board.tex"]


def setup_damaged_cache(root: Path, trained: Path) -> list[str]:
    from test_bad_input_files import truncate

    from harness.config import QUICKSTART

    args = ["train", str(QUICKSTART), *_train_args(), "--set", "output.checkpoint_every=0", "--set", "output.dir=runs"]
    _cli(args)
    cache = Path(os.environ["QABENCH_CACHE"])
    damaged = [*cache.glob("features/*.arrow"), *cache.rglob("tokenizer.json")]
    if not damaged:
        raise RuntimeError(f"no tokenizer or features cache entry under {cache}")
    for path in damaged:
        truncate(path)
    return args


def setup_warm_train(root: Path, trained: Path) -> list[str]:
    from harness.config import QUICKSTART

    _cli(["train", str(QUICKSTART), *_train_args(), "--set", f"output.dir={root.parent / (root.name + '-warm')}"])  # the cache is filled
    return ["train", str(QUICKSTART), *_train_args(), "--set", "output.checkpoint_every=0", "--set", "output.dir=runs"]  # only the model is saved


def setup_board_and_run(root: Path, trained: Path) -> list[str]:
    from test_bad_input_faults import fill_board

    fill_board(root)
    return ["leaderboard", "--db", "lb.db", "add", str(root / "runs" / "run-2")]


def setup_read_only_output(root: Path, trained: Path) -> list[str]:
    from harness.config import QUICKSTART

    (root / "readonly").mkdir()
    return ["train", str(QUICKSTART), *_train_args(), "--set", f"output.dir={root / 'readonly' / 'runs'}"]


def setup_stale_tmp(root: Path, trained: Path) -> list[str]:
    from harness.config import QUICKSTART

    shutil.copytree(trained, root / "run")
    (checkpoint,) = [p for p in (root / "run" / "checkpoints").iterdir() if not p.name.startswith(".")]
    for tag in ("abc123", "zz"):
        (checkpoint.parent / f".{checkpoint.name}.{tag}.tmp").write_bytes(b"half a checkpoint")
    return ["run", str(QUICKSTART), *_train_args(), "--set", "output.dir=runs", "--resume", "run"]


def setup_read_only_db(root: Path, trained: Path) -> list[str]:
    from test_bad_input_faults import fill_board

    fill_board(root / "readonly")
    return ["leaderboard", "--db", str(root / "readonly" / "lb.db"), "show"]


def setup_diverged(root: Path, trained: Path) -> list[str]:
    from harness.config import QUICKSTART

    return ["run", str(QUICKSTART), *_train_args(), "--set", "optim.lr=1e30", "--set", "output.dir=runs"]


def setup_export_warnings(root: Path, trained: Path) -> list[str]:
    from test_leaderboard_export import unglyphed_board

    unglyphed_board(root)
    return ["leaderboard", "--db", "lb.db", "export", "--format", "html", "-o", "board.html"]


def setup_load_warnings(root: Path, trained: Path) -> list[str]:
    shutil.copytree(trained, root / "run")
    return ["eval", "run"]


def failed(out: Outcome) -> str:
    """The cell of a probe whose command should have succeeded: what it did, never marked ok (even one clean error line)."""
    return out.describe().removeprefix("ok: ")


def judge_csv_formulas(out: Outcome, root: Path) -> str:
    if out.code != 0:
        return failed(out)
    with open(root / "board.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    live = sum(1 for row in rows for cell in row if cell[:1] in ("=", "+", "@", "\t", "\r") or (cell[:1] == "-" and not _number(cell)))
    return f"exit 0; {live} cells a spreadsheet would evaluate" if live else "ok: exit 0; no cell starts with = + - @ tab CR"


def judge_csv_rows(out: Outcome, root: Path) -> str:
    from test_leaderboard_export import HOSTILE

    if out.code != 0:
        return failed(out)
    raw = (root / "board.csv").read_bytes().decode("utf-8")
    with open(root / "board.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    lines = raw.replace("\r\n", "\n").replace("\r", "\n").count("\n")
    quoted = all(field.startswith('"') for field in _fields(raw))
    what = f"{len(rows) - 1} rows for {len(HOSTILE)} runs by csv.reader, {lines - 1} by line; every field quoted: {'yes' if quoted else 'no'}"
    return ("ok: exit 0; " if len(rows) - 1 == len(HOSTILE) and quoted else "exit 0; ") + what


def judge_markdown(out: Outcome, root: Path) -> str:
    from test_leaderboard_export import HOSTILE

    if out.code != 0:
        return failed(out)
    text = (root / "board.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    widths = {line.replace("\\|", "").count("|") for line in rows}
    fine = len(rows) == 1 + len(HOSTILE) and len(widths) == 1 and "\r" not in text
    cr = "present" if "\r" in text else "absent"
    return f"{'ok: ' if fine else ''}exit 0; {len(rows) - 1} table rows for {len(HOSTILE)} runs, {len(widths)} row width(s), CR {cr}"


def judge_latex(out: Outcome, root: Path) -> str:
    from test_leaderboard_export import HOSTILE

    if out.code != 0:
        return failed(out)
    text = (root / "board.tex").read_text(encoding="utf-8")
    body = text.split("\\midrule\n", 1)[-1].split("\\bottomrule", 1)[0]
    lines = len(body.strip().split("\n"))
    fine = lines == len(HOSTILE) and "\r" not in text and "\n\n" not in text
    blank, cr = ("present" if mark in text else "absent" for mark in ("\n\n", "\r"))
    return f"{'ok: ' if fine else ''}exit 0; {lines} source lines for {len(HOSTILE)} rows, blank lines {blank}, CR {cr}"


def judge_warned_and_went_on(out: Outcome, root: Path) -> str:
    warned = [line for line in out.stderr.splitlines() if line.startswith("warning: damaged")]
    if out.code == 0 and warned:
        return f"ok: exit 0; {len(warned)} warnings («{_clip(warned[0], 70)}»), entries rebuilt"
    return failed(out)


def judge_refused(*needles: str) -> Callable[[Outcome, Path], str]:
    def judge(out: Outcome, root: Path) -> str:
        left = sorted(str(p.relative_to(root)) for p in root.rglob("*.tmp"))
        made = [p for p in (root / "runs", root / "readonly" / "runs") if p.exists() and any(p.iterdir())]
        # An output directory made and left empty is allowed (tests/test_bad_input_faults.py); anything else changed is not.
        kept = dataclasses.replace(out, changed=tuple(p for p in out.changed if not ((root / p).is_dir() and not any((root / p).iterdir()))))
        text = kept.describe(needles)
        if left:
            text += f"; temporaries left: {', '.join(left)}"
        if made:
            text += "; a run directory left behind"
        return text if not (left or made) else text.replace("ok: ", "")

    return judge


def judge_add_unchanged(out: Outcome, root: Path) -> str:
    text = out.describe(("cannot write the leaderboard",))
    return text if out.unchanged else text.replace("ok: ", "") + "; files changed"


def judge_stale(out: Outcome, root: Path) -> str:
    left = sorted(p.name for p in (root / "run" / "checkpoints").glob(".*.tmp"))
    if out.code != 0:
        return failed(out)
    return f"exit 0; {len(left)} stale temporaries left" if left else "ok: exit 0; stale temporaries removed"


def judge_read_only_db(out: Outcome, root: Path) -> str:
    return "ok: exit 0; the board is shown" if out.code == 0 and "run-1" in out.stdout else failed(out)


def judge_quiet(out: Outcome, root: Path) -> str:
    if out.code != 0:
        return failed(out)
    noise = [line for line in out.stderr.splitlines() if "warn" in line.lower()]
    if noise:
        return f"exit 0; {len(noise)} warning lines on the terminal («{_clip(noise[0], 70)}»)"
    return "ok: exit 0; no warning on the terminal"


PROBES: dict[str, Probe] = {
    "csv-formulas": Probe("tests/test_leaderboard_export.py::test_csv_neutralises_formulas_in_every_cell_and_header_and_reads_back_exactly",
                          setup_hostile_board, judge_csv_formulas),
    "csv-rows": Probe("tests/test_leaderboard_export.py::test_csv_neutralises_formulas_in_every_cell_and_header_and_reads_back_exactly",
                      setup_hostile_board, judge_csv_rows),
    "markdown": Probe("tests/test_leaderboard_export.py::test_markdown_escapes_pipes_and_line_breaks_in_cells", setup_markdown, judge_markdown),
    "latex": Probe("tests/test_leaderboard_export.py::test_latex_escapes_specials_and_blank_lines", setup_latex, judge_latex),
    "damaged-cache": Probe("tests/test_bad_input_files.py::test_damaged_cache_entries_are_rebuilt_with_a_warning", setup_damaged_cache,
                           judge_warned_and_went_on, own_cache=True),
    "disk-full-save": Probe("tests/test_bad_input_faults.py::test_disk_full_during_a_checkpoint_and_the_model_save_leaves_no_run_directory",
                            setup_warm_train, judge_refused("cannot write the model"), limit_bytes=64 * 1024),
    "disk-full-add": Probe("tests/test_bad_input_faults.py::test_disk_full_during_add_leaves_the_database_unchanged", setup_board_and_run,
                           judge_add_unchanged, limit_bytes=40_000),
    "read-only-output": Probe("tests/test_bad_input_faults.py::test_a_read_only_output_directory_is_one_line_and_leaves_nothing",
                              setup_read_only_output, judge_refused("cannot write the run"), read_only="readonly"),
    "stale-tmp": Probe("tests/test_bad_input_faults.py::test_stale_temporaries_of_an_interrupted_checkpoint_are_removed_on_resume",
                       setup_stale_tmp, judge_stale),
    "read-only-db": Probe("tests/test_bad_input_faults.py::test_a_database_in_a_read_only_directory_is_still_readable", setup_read_only_db,
                          judge_read_only_db, read_only="readonly"),
    "diverged": Probe("tests/test_bad_input_faults.py::test_a_diverged_run_leaves_no_run_directory", setup_diverged,
                      judge_refused("training diverged", "the loss was nan")),
    "export-warnings": Probe("tests/test_leaderboard_export.py::test_html_export_keeps_matplotlib_warnings_off_the_terminal", setup_export_warnings,
                             judge_quiet),
    "load-warnings": Probe("tests/test_bad_input_files.py::test_eval_of_the_undamaged_copy_works", setup_load_warnings, judge_quiet),
}


# --- outcomes --------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one ``qabench`` process did: its exit status, output, and whether the files under its directory stayed as they were."""

    code: int
    stdout: str
    stderr: str
    changed: tuple[str, ...]  # paths under the process's directory that it made, changed or removed

    @property
    def unchanged(self) -> bool:
        return not self.changed

    def describe(self, needles: tuple[str, ...] = (), report: bool = False) -> str:
        """One table cell: traceback, acceptance, or the error line (``ok: `` when the sweep's contract holds).

        ``report``: the command (``tasks validate``) prints a report of several
        lines and exits 2; the needles are looked for in all of it.
        """
        err = self.stderr
        if "Traceback (most recent call last)" in err:
            tail = err.split("Traceback (most recent call last)")[-1].splitlines()
            raised = [line for line in tail if re.match(r"[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit|Warning)\b", line)]  # not a progress bar's line
            return f"exit {self.code}, traceback («{_clip((raised or [line for line in tail if line.strip()])[-1], 90)}»)"
        if self.code == 0:
            return "exit 0: accepted" + ("" if self.unchanged else ", files written")
        lines = [line for line in err.splitlines() if line.strip() and not line.startswith("warning:")]
        if report:
            named = [line for line in (self.stdout + self.stderr).splitlines() if any(n in line for n in needles)]
            text = f"exit {self.code}, a report: «{_clip((named or (self.stdout + self.stderr).splitlines() or [''])[0].strip(), 110)}»"
            fine = self.code == 2 and all(n in self.stdout + self.stderr for n in needles) and self.unchanged
            return ("ok: " if fine else "") + text + ("" if self.unchanged else "; files changed")
        if not lines:
            return f"exit {self.code}, no message"
        first = _clip(lines[0], 110)
        text = f"exit {self.code}, {'one line' if len(lines) == 1 else f'{len(lines)} lines'}: «{first}»"
        fine = self.code == 2 and len(lines) == 1 and all(n in lines[0] for n in needles) and self.unchanged
        if not self.unchanged:
            text += "; files changed"
        return ("ok: " if fine else "") + text


def _clip(text: str, width: int) -> str:
    text = text.replace("|", "\\|").replace("\r", "\\r").replace("\t", "\\t")
    return text if len(text) <= width else text[: width - 1] + "…"


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _fields(raw: str) -> list[str]:
    """The raw text of each CSV field (for checking that every one is quoted)."""
    out, field, quoted = [], "", False
    for ch in raw:
        if ch == '"':
            quoted = not quoted
        if not quoted and ch in ",\n":
            out.append(field.lstrip("\r\n"))
            field = ""
            continue
        field += ch
    return [f for f in out if f]


def own_cache(root: Path) -> Path:
    return root.parent / f"{root.name}-cache"


# --- the setup helper process -----------------------------------------------------------------------------------------


def find_case(source: str) -> Any:
    """The sweep case ``MODULE:ID`` of tests/test_bad_input_*.py (imported from the checkout's point of view)."""
    import importlib

    area, case_id = source.split(":", 1)
    module = importlib.import_module(SWEEP_MODULES[area])
    cases = [*getattr(module, "CASES", []), *getattr(module, "PRETRAINED_CASES", [])]
    matches = [c for c in cases if c.id == case_id]
    if not matches:
        raise KeyError(f"{SWEEP_MODULES[area]} has no case {case_id!r}")
    return matches[0]


def setup_all(plan: list[dict[str, str]], trained: str) -> list[dict[str, Any]]:
    """Run each row's setup in its own root (cwd there); each gives its argv, or the setup's error."""
    if trained:
        import test_bad_input_files

        test_bad_input_files.TRAINED[:] = [Path(trained)]
    done = []
    for item in plan:
        root = Path(item["root"])
        root.mkdir(parents=True, exist_ok=True)
        cwd = os.getcwd()
        os.chdir(root)
        try:
            area, name = item["source"].split(":", 1)
            if area == "probe":
                shared = os.environ["QABENCH_CACHE"]
                if PROBES[name].own_cache:
                    os.environ["QABENCH_CACHE"] = str(own_cache(root))
                try:
                    argv = PROBES[name].setup(root, Path(trained))
                finally:
                    os.environ["QABENCH_CACHE"] = shared
                needles: tuple[str, ...] = ()
                report = False
            else:
                case = find_case(item["source"])
                argv, needles, report = list(case.setup(root)), case.needles, case.report
            done.append({"argv": [str(a) for a in argv], "needles": list(needles), "report": report})
        except Exception as err:  # noqa: BLE001 - a setup this checkout cannot do is a cell of the table, not a crash
            done.append({"error": f"{type(err).__name__}: {str(err).strip().splitlines()[0][:120] if str(err).strip() else ''}"})
        finally:
            os.chdir(cwd)
    return done


# --- the driver --------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Checkout:
    """A tree of qabench sources to run: its label, root and its own cache and leaderboard."""

    label: str
    root: Path
    work: Path

    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": f"{self.root}{os.pathsep}{TESTS}", "QABENCH_CACHE": str(self.work / "cache"),
                "QABENCH_DB": str(self.work / "leaderboard.db"), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                "OMP_NUM_THREADS": "1"}


def snapshot(root: Path) -> dict[str, str]:
    """tests/bad_input.py's digest of every file under ``root``."""
    from bad_input import snapshot as tests_snapshot

    return tests_snapshot(root)


def obeying_permissions() -> tuple[str, ...]:
    """As tests/test_bad_input_faults.py: root without the capabilities that override file permissions."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise SystemExit("running as root without setpriv: a read-only directory cannot be simulated")
    caps = "-dac_override,-dac_read_search"
    return (setpriv, "--bounding-set", caps, "--inh-caps", caps, "--")


def run_qabench(checkout: Checkout, argv: list[str], cwd: Path, probe: Probe | None, timeout: int) -> subprocess.CompletedProcess[str]:
    limit = probe.limit_bytes if probe else None

    def preexec() -> None:
        if limit is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = checkout.env()
    if probe and probe.own_cache:
        env["QABENCH_CACHE"] = str(own_cache(cwd))
    prefix = obeying_permissions() if probe and probe.read_only else ()
    read_only = cwd / probe.read_only if probe and probe.read_only else None
    if read_only is not None:
        read_only.chmod(0o555)
    try:
        return subprocess.run([*prefix, sys.executable, "-c", CLI, *argv], cwd=cwd, env=env, capture_output=True, text=True,
                              preexec_fn=preexec, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        return subprocess.CompletedProcess(err.cmd, -9, "", f"timed out after {timeout} s")
    finally:
        if read_only is not None:
            read_only.chmod(0o755)


def train_once(checkout: Checkout) -> Path:
    """The tiny trained run (model and checkpoint) the damaged-run cases copy, trained by this checkout."""
    from test_bad_input_files import TRAIN

    quickstart = checkout.root / "harness" / "quickstart" / "quickstart.yaml"
    done = run_qabench(checkout, ["train", str(quickstart), *TRAIN, "--set", f"output.dir={checkout.work / 'trained'}"], checkout.work, None, 900)
    if done.returncode != 0:
        raise SystemExit(f"{checkout.label}: training the shared run failed:\n{done.stderr[-2000:]}")
    return Path(done.stdout.split("run: ")[1].split()[0])


def prepare(checkout: Checkout, rows: list[Row]) -> list[tuple[Path, dict[str, Any]]]:
    """Train the shared run and set every row up under this checkout: each row's root and its argv (or the setup's error)."""
    needs_run = any(row.source.startswith("files:") or row.source in ("probe:stale-tmp", "probe:load-warnings") for row in rows)
    trained = train_once(checkout) if needs_run else None
    plan = [{"source": row.source, "root": str(checkout.work / "cases" / f"{i:02d}")} for i, row in enumerate(rows)]
    helper = subprocess.run([sys.executable, __file__, "--setup-helper"], input=json.dumps({"plan": plan, "trained": str(trained or "")}),
                            cwd=checkout.work, env=checkout.env(), capture_output=True, text=True, timeout=3600)
    if helper.returncode != 0:
        raise SystemExit(f"{checkout.label}: the setup helper failed:\n{helper.stderr[-3000:]}")
    return [(Path(item["root"]), setup) for item, setup in zip(plan, json.loads(helper.stdout.strip().splitlines()[-1]))]


def run_row(checkout: Checkout, row: Row, root: Path, setup: dict[str, Any], timeout: int) -> str:
    """Run one row's command under ``checkout`` and say what happened (one table cell)."""
    if "error" in setup:
        return f"setup not possible here ({_clip(setup['error'], 90)})"
    area, name = row.source.split(":", 1)
    probe = PROBES[name] if area == "probe" else None
    before = snapshot(root)
    done = run_qabench(checkout, setup["argv"], root, probe, timeout)
    after = snapshot(root)
    outcome = Outcome(done.returncode, done.stdout, done.stderr, tuple(sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))))
    try:
        return probe.judge(outcome, root) if probe else outcome.describe(tuple(setup["needles"]), setup["report"])
    except Exception as err:  # noqa: BLE001 - an output the judge cannot read is reported, with what the process did
        return f"{outcome.describe()} (output not readable: {type(err).__name__}: {_clip(str(err), 60)})"


def extract(rev: str, into: Path) -> Path:
    """``git archive REV`` unpacked into ``into`` (no worktree registered in the repository)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def table(rows: list[Row], before: list[str], after: list[str], rev: str, head: str) -> str:
    out = io.StringIO()
    out.write(f"| # | kind | test case | before ({rev}) | after ({head}) |\n|---|---|---|---|---|\n")
    for i, (row, b, a) in enumerate(zip(rows, before, after), 1):
        out.write(f"| {i} | {row.kind} | `{row.test}` | {b} | {a} |\n")
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", help="git revision to compare against (extracted with git archive)")
    parser.add_argument("--only", default="", help="comma-separated case ids or probe names (default: every row)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds one qabench process may take")
    parser.add_argument("--keep", help="work in this directory and keep it (default: a temporary one, removed)")
    parser.add_argument("--setup-helper", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    here = Path(__file__).resolve().parent  # bench/leaderboard.py would shadow the leaderboard package
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.path[:0] = [str(REPO), str(TESTS)] if not args.setup_helper else [str(TESTS)]  # the helper's PYTHONPATH names its checkout first
    if args.setup_helper:
        request = json.loads(sys.stdin.read())
        print(json.dumps(setup_all(request["plan"], request["trained"])))
        return
    if not args.before:
        parser.error("--before REV is required")
    wanted = {s for s in args.only.split(",") if s}
    rows = [r for r in ROWS if not wanted or r.source.split(":", 1)[1] in wanted]
    rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", args.before], capture_output=True, text=True, check=True).stdout.strip()
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
    head += " + working tree" if dirty else ""
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="sweep-table-"))
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    try:
        older = Checkout(f"before {rev}", extract(rev, work / "before" / "src"), work / "before")
        current = Checkout(f"after {head}", REPO, work / "after")
        current.work.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        setups = [prepare(checkout, rows) for checkout in (older, current)]
        before, after = [], []
        for i, row in enumerate(rows):  # before and after of one row side by side, so that load changes touch both alike
            for checkout, cells, prepared in zip((older, current), (before, after), setups):
                cells.append(run_row(checkout, row, *prepared[i], args.timeout))
            log(f"| {i + 1} | {row.kind} | `{row.test}` | {before[-1]} | {after[-1]} |")
        print(table(rows, before, after, rev, head), end="")
        changed = sum(1 for b, a in zip(before, after) if not b.startswith("ok") and a.startswith("ok"))
        print(f"\n{len(rows)} kinds; {changed} failed before and hold the sweep's contract after; "
              f"{sum(a.startswith('ok') for a in after)} hold it after. {time.monotonic() - started:.0f} s, load average {os.getloadavg()[0]:.1f}.")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
