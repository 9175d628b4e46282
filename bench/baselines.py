"""Two simple systems built outside qabench, for ``qabench score``: the floor every model should clear.

They read only what ``qabench suites export SUITE --out DIR`` writes (the
evaluation inputs, no answers) and, for the majority baseline, the suite's
training data through the task registry, then write ``{"task", "id",
"answer"}`` lines:

- ``majority``: every example gets its task's most frequent training answer
  (for a score task, the mean training value); a task without training data
  gets its first choice, or the empty answer.
- ``first``: the first choice of a choice task, the first sentence of the
  context for a span or text task (the "first sentence" baseline of
  extractive QA and summarisation; a copy of the source for translation),
  no entities for a tagging task, the middle of the 0-5 scale for a score task.

    qabench suites export lecture --out /tmp/lecture
    python bench/baselines.py /tmp/lecture --out /tmp/baselines
    qabench score lecture /tmp/baselines/majority.jsonl --name majority --meta parameters=0
    qabench score lecture /tmp/baselines/first.jsonl --name first-sentence --meta parameters=0
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def first_sentence(text: str) -> str:
    """The context up to its first sentence end.

    >>> first_sentence("The tower was built in 1874. It is granite.")
    'The tower was built in 1874.'
    """
    return _SENTENCE_END.split(text.strip(), maxsplit=1)[0]


def first_answer(task_format: str, line: dict[str, Any]) -> str:
    """The ``first`` baseline's answer to one exported input line."""
    if task_format == "choice":
        return line["choices"][0]
    if task_format in ("span", "text"):
        return first_sentence(line["context"])
    if task_format == "score":
        return "2.5"
    return ""  # tags: no entities


def majority_answer(task_name: str, task_format: str, first_line: dict[str, Any], train_split: str | None, data_dir: str | None) -> str:
    """The most frequent training answer of a task (the mean value for a score task)."""
    from tasks.data import load_examples
    from tasks.errors import TaskError
    from tasks.registry import get

    task = get(task_name)
    split = train_split or task.train_split
    try:
        examples = load_examples(task, split, data_dir=data_dir) if split else []
    except TaskError:
        examples = []
    if not examples:
        return first_line["choices"][0] if task_format == "choice" else ""
    if task_format == "score":
        return f"{statistics.fmean(e.value for e in examples if e.value is not None):.4f}"
    return Counter(e.answer for e in examples).most_common(1)[0][0]


def read_jsonl(path: Path) -> Iterable[dict[str, Any]]:
    """The objects of a JSONL file."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def write_baselines(export_dir: Path, out_dir: Path, data_dir: str | None = None) -> dict[str, Path]:
    """Write ``majority.jsonl`` and ``first.jsonl`` for the exported suite in ``export_dir``; return their paths."""
    from tasks.suite import get_suite

    manifest = json.loads((export_dir / "suite.json").read_text(encoding="utf-8"))
    suite = get_suite(manifest["suite"])
    train_splits = {t.name: t.train_split for t in suite.training.tasks}
    where = suite.data_dir or data_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"majority": out_dir / "majority.jsonl", "first": out_dir / "first.jsonl"}
    with paths["majority"].open("w", encoding="utf-8") as majority, paths["first"].open("w", encoding="utf-8") as first:
        for entry in manifest["tasks"]:
            lines = list(read_jsonl(export_dir / entry["file"]))
            if not lines:
                continue
            common = majority_answer(entry["task"], entry["format"], lines[0], train_splits.get(entry["task"]), where)
            for line in lines:
                majority.write(json.dumps({"task": entry["task"], "id": line["id"], "answer": common}, ensure_ascii=False) + "\n")
                first.write(json.dumps({"task": entry["task"], "id": line["id"], "answer": first_answer(entry["format"], line)}, ensure_ascii=False) + "\n")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("export_dir", type=Path, help="A directory written by 'qabench suites export'.")
    parser.add_argument("--out", type=Path, required=True, help="Where majority.jsonl and first.jsonl go.")
    parser.add_argument("--data-dir", default=None, help="The data mirror for the training answers (default: $QABENCH_DATA).")
    args = parser.parse_args()
    for name, path in write_baselines(args.export_dir, args.out, args.data_dir).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
