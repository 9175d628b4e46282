"""Reliability sweep, task data and the command line itself: rows a task cannot use, bad files and bad options.

Each case is bad input a user can realistically give; each must end in exit
status 2, one line naming the file and line or the option, no traceback, and
no file changed (tests/bad_input.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from bad_input import Case, check, invoke

SST2 = "mirror/nyu-mll/glue/sst2"
STSB = "mirror/nyu-mll/glue/stsb"
SQUAD = "mirror/rajpurkar/squad/plain_text"
CONLL = "mirror/eriktks/conll2003/conll2003"
NOT_UTF8_ROW = b'{"sentence": "caf\xe9", "label": 1, "idx": 1}\n'
NOT_UTF8_TRIPLE = b'{"question": "Where?", "context": "\xff", "answer": "x"}\n'
BAD_BYTE_ROW, BAD_BYTE_TRIPLE = b"\xe9", b"\xff"


def write(root: Path, rel: str, text: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def jsonl(*rows: Any) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def squad_row(answer_start: Any) -> str:
    return jsonl({"id": "q", "title": "T", "context": "It is in Paris.", "question": "Where?", "answers": {"text": ["Paris"], "answer_start": [answer_start]}})


CONLL_ROW = jsonl({"id": "0", "tokens": ["EU", "rejects"], "pos_tags": [0, 0], "chunk_tags": [0, 0], "ner_tags": [3, 99]})


def sst2_rows(*labels: Any) -> str:
    return jsonl(*({"sentence": f"sentence {i}", "label": label, "idx": i} for i, label in enumerate(labels)))


def triple(**extra: Any) -> dict[str, Any]:
    return {"question": "Where?", "context": "It is in Paris.", "answer": "Paris", **extra}


def mirror(rel: str, text: str | bytes, *args: str) -> Any:
    """Setup: write one mirror file and run ``qabench --data-dir mirror ARGS``."""

    def setup(root: Path) -> list[str]:
        write(root, rel, text)
        return ["--data-dir", str(root / "mirror"), *args]

    return setup


def task_dir(files: dict[str, str | bytes], *args: str) -> Any:
    """Setup: write a zero-code task directory ``mytask`` and run ``qabench --task-dir mytask ARGS``."""

    def setup(root: Path) -> list[str]:
        (root / "mytask").mkdir()
        for name, text in files.items():
            write(root, f"mytask/{name}", text)
        return ["--task-dir", "mytask", *args]

    return setup


def plain(*args: str) -> Any:
    return lambda root: list(args)


CASES = [
    # --- labels outside the label set (item 3) ---
    Case("glue-label-7-show", mirror(f"{SST2}/validation.jsonl", sst2_rows(1, 7), "tasks", "show", "sst2"),
         ("sst2/validation.jsonl:2", "label 7 is outside the label set")),
    Case("glue-label-7-validate", mirror(f"{SST2}/validation.jsonl", sst2_rows(1, 0, 7), "tasks", "validate", "sst2"),
         ("label 7 is outside the label set", "sst2/validation.jsonl:3"), report=True),
    Case("glue-label-string", mirror(f"{SST2}/validation.jsonl", sst2_rows(1, "neutral"), "tasks", "show", "sst2", "-n", "5"),
         ("sst2/validation.jsonl:2", "label 'neutral' is outside the label set")),  # a label word of its own set would be fine
    Case("glue-label-minus-2", mirror(f"{SST2}/validation.jsonl", sst2_rows(-2), "tasks", "show", "sst2"),
         ("sst2/validation.jsonl:1", "label -2")),
    Case("glue-label-after-blank-line", mirror(f"{SST2}/validation.jsonl", sst2_rows(1) + "\n" + sst2_rows(9), "tasks", "show", "sst2", "-n", "5"),
         ("sst2/validation.jsonl:3", "label 9")),
    Case("stsb-label-nan", mirror(f"{STSB}/validation.jsonl", '{"sentence1": "a", "sentence2": "b", "label": NaN, "idx": 0}\n', "tasks", "show", "stsb"),
         ("stsb/validation.jsonl:1", "label nan is not a finite number")),
    Case("conll-tag-out-of-range", mirror(f"{CONLL}/validation.jsonl", CONLL_ROW, "tasks", "show", "conll2003"),
         ("conll2003/validation.jsonl:1", "label 99 is outside the label set")),
    # --- SQuAD answer_start (item 3) ---
    Case("squad-answer-start-wrong", mirror(f"{SQUAD}/validation.jsonl", squad_row(2), "tasks", "show", "squad"),
         ("squad/plain_text/validation.jsonl:1", "answer_start 2 does not point at the answer 'Paris'")),
    Case("squad-answer-start-string", mirror(f"{SQUAD}/validation.jsonl", squad_row("9"), "tasks", "show", "squad"),
         ("squad/plain_text/validation.jsonl:1", "must be integer offsets")),
    # --- malformed files (handled before the sweep; kept so they cannot regress) ---
    Case("mirror-bad-json", mirror(f"{SST2}/validation.jsonl", sst2_rows(1) + "{oops\n", "tasks", "show", "sst2", "-n", "5"),
         ("sst2/validation.jsonl:2", "not valid JSON")),
    Case("mirror-not-an-object", mirror(f"{SST2}/validation.jsonl", "[1, 2]\n", "tasks", "show", "sst2"),
         ("sst2/validation.jsonl:1", "expected a JSON object")),
    Case("mirror-missing-column", mirror(f"{SST2}/validation.jsonl", jsonl({"text": "x", "label": 1}), "tasks", "show", "sst2"),
         ("sst2/validation.jsonl:1", "missing column 'sentence'")),
    Case("mirror-not-utf8", mirror(f"{SST2}/validation.jsonl", sst2_rows(1).encode() + NOT_UTF8_ROW, "tasks", "show", "sst2"),
         ("sst2/validation.jsonl:2", "not UTF-8", f"byte offset {len(sst2_rows(1).encode()) + NOT_UTF8_ROW.index(BAD_BYTE_ROW)}")),
    Case("mirror-empty-split-validate", mirror(f"{SST2}/validation.jsonl", "", "tasks", "validate", "sst2", "--split", "validation"),
         ("sst2/validation.jsonl: no rows",), report=True),
    # --- zero-code task directories (item 3) ---
    Case("taskdir-answer-start-string", task_dir({"train.jsonl": jsonl(triple(answer_start="9"))}, "tasks", "list"),
         ("mytask/train.jsonl:1", "answer_start must be an integer")),
    Case("taskdir-answer-start-float", task_dir({"train.jsonl": jsonl(triple(answer_start=9.0))}, "tasks", "list"),
         ("mytask/train.jsonl:1", "answer_start must be an integer")),
    Case("taskdir-answer-start-elsewhere", task_dir({"train.jsonl": jsonl(triple(answer_start=9), triple(answer_start=3))}, "tasks", "list"),
         ("mytask/train.jsonl:2", "answer_start 3 does not point at the answer 'Paris'")),
    Case("taskdir-answer-start-negative", task_dir({"train.jsonl": jsonl(triple(answer_start=-6))}, "tasks", "list"),
         ("mytask/train.jsonl:1", "answer_start -6 does not point")),
    Case("taskdir-choices-string", task_dir({"train.jsonl": jsonl(triple(choices="Paris"))}, "tasks", "list"),
         ("mytask/train.jsonl:1", "choices must be a list of strings, got str")),
    Case("taskdir-choices-numbers", task_dir({"train.jsonl": jsonl(triple(choices=[1, 2]))}, "tasks", "list"),
         ("mytask/train.jsonl:1", "choices must be a list of strings")),
    Case("taskdir-answer-not-a-choice", task_dir({"train.jsonl": jsonl(triple(choices=["Rome", "Oslo"]))}, "tasks", "list"),
         ("mytask/train.jsonl:1", "is not one of its choices")),
    Case("taskdir-not-utf8", task_dir({"train.jsonl": NOT_UTF8_TRIPLE}, "tasks", "list"),
         ("mytask/train.jsonl:1", "not UTF-8", f"byte offset {NOT_UTF8_TRIPLE.index(BAD_BYTE_TRIPLE)}")),
    Case("taskdir-missing-field", task_dir({"train.jsonl": jsonl({"question": "q", "answer": "a"})}, "tasks", "list"),
         ("mytask/train.jsonl:1", "'context'")),
    Case("taskdir-empty-dir", task_dir({}, "tasks", "validate"), ("--task-dir mytask", "no train.jsonl")),
    Case("taskdir-empty-file-validate", task_dir({"train.jsonl": ""}, "tasks", "validate", "mytask"),
         ("mytask/train.jsonl: no rows",), report=True),
    Case("taskdir-no-such-dir", plain("--task-dir", "nowhere", "tasks", "list"), ("--task-dir nowhere", "no such directory")),
    Case("taskjson-bad-json", task_dir({"train.jsonl": jsonl(triple()), "task.json": "{\n  name: 1\n}"}, "tasks", "list"),
         ("mytask/task.json:2", "not valid JSON")),
    Case("taskjson-unknown-key", task_dir({"train.jsonl": jsonl(triple()), "task.json": '{"nmae": "x"}'}, "tasks", "list"),
         ("mytask/task.json", "unknown key 'nmae'")),
    Case("taskjson-unknown-metric", task_dir({"train.jsonl": jsonl(triple()), "task.json": '{"metrics": ["rouge-l"]}'}, "tasks", "list"),
         ("mytask/task.json", "unknown metric 'rouge-l'", "rougeL")),
    Case("taskjson-metrics-not-list", task_dir({"train.jsonl": jsonl(triple()), "task.json": '{"metrics": "em"}'}, "tasks", "list"),
         ("mytask/task.json", "'metrics' must be a non-empty list")),
    Case("taskjson-duplicate-name", task_dir({"train.jsonl": jsonl(triple()), "task.json": '{"name": "sst2"}'}, "tasks", "list"),
         ("mytask/task.json", "'sst2' is already registered")),
    Case("taskjson-not-utf8", task_dir({"train.jsonl": jsonl(triple()), "task.json": b'{"name": "caf\xe9"}'}, "tasks", "list"),
         ("mytask/task.json", "not UTF-8")),
    # --- plugins (item 7) ---
    Case("plugin-duplicate-name", lambda root: [
        "--include", str(write(root, "plugin.py", "import dataclasses\nfrom tasks.registry import get, register\n\nregister(dataclasses.replace(get('sst2'), version='2'))\n")),
        "tasks", "list"], ("plugin.py:4", "'sst2' is already registered")),
    Case("plugin-unknown-metric", lambda root: [
        "--include", str(write(root, "plugin.py", "from tasks.metrics import get_metric\n\nMETRIC = get_metric('acuracy')\n")),
        "tasks", "list"], ("plugin.py:3", "unknown metric 'acuracy'")),
    Case("plugin-syntax-error", lambda root: ["--include", str(write(root, "plugin.py", "def broken(:\n")), "tasks", "list"],
         ("plugin.py:1", "failed to import")),
    Case("plugin-missing-file", plain("--include", "nope.py", "tasks", "list"), ("--include nope.py", "no such file")),
    # --- names and click usage (item 7) ---
    Case("unknown-task", plain("tasks", "show", "sst3"), ("unknown task 'sst3'", "did you mean 'sst2'")),
    Case("unknown-split", plain("tasks", "show", "sst2", "--split", "dev"), ("no split 'dev'",)),
    Case("unknown-family", plain("tasks", "list", "--family", "sports"), ("--family", "no task has family 'sports'")),
    Case("unknown-command", plain("tsks", "list"), ("no such command 'tsks'", "did you mean 'tasks'")),
    Case("usage-missing-argument", plain("tasks", "show"), ("Missing argument 'NAME'", "tasks show --help")),
    Case("usage-bad-int", plain("tasks", "show", "sst2", "-n", "zero"), ("'-n'", "'zero' is not a valid integer")),
    Case("usage-out-of-range", plain("tasks", "show", "sst2", "-n", "0"), ("'-n'", "0 is not in the range")),
    Case("usage-no-such-option", plain("tasks", "list", "--colour"), ("No such option '--colour'",)),
    Case("usage-data-dir-missing", plain("--data-dir", "nowhere", "tasks", "list"), ("'--data-dir'", "'nowhere' does not exist")),
    Case("unknown-model", plain("models", "show", "bret"), ("unknown backbone 'bret'", "did you mean 'bert'")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_task_input_is_one_line_and_exit_two(case: Case, tmp_path: Path) -> None:
    check(case, tmp_path)


def test_glue_unlabelled_rows_are_skipped_and_counted(tmp_path: Path) -> None:
    """GLUE's -1 rows carry no gold label: never answered as the last label word, skipped and counted by validate."""
    write(tmp_path, f"{SST2}/validation.jsonl", sst2_rows(1, -1, 0, -1))
    shown = invoke(["--data-dir", str(tmp_path / "mirror"), "tasks", "show", "sst2", "-n", "10"])
    assert shown.exit_code == 0, shown.output
    assert shown.output.count("answer:") == 2 and "[1]" not in shown.output and "[3]" not in shown.output
    checked = invoke(["--data-dir", str(tmp_path / "mirror"), "tasks", "validate", "sst2", "--split", "validation"])
    assert checked.exit_code == 0, checked.output
    assert "4 rows ->       2 examples, 2 skipped (label -1: no gold label), ok" in checked.output
