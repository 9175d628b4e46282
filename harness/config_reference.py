"""The run configuration reference (docs/config.md), generated from the config dataclasses themselves.

Every key's type and default come from the dataclass fields of
:mod:`harness.config`, and its meaning from the comment after the field, so
the page cannot drift from the code: ``tests/test_config_reference.py``
regenerates it and compares. After changing a config field, rewrite it:

    python -m harness.config_reference --write

>>> "| `optim.lr` | float | `5e-05` |" in render()
True
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import io
import re
import sys
import tokenize
from pathlib import Path
from typing import Any

from harness import config as config_module
from harness.config import RunConfig, TaskConfig

DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "config.md"
"""Where the page lives in a source checkout."""

COMMAND = "python -m harness.config_reference --write"

INTRO = """\
# Run configuration reference

<!-- Generated from the field comments of harness/config.py by `{command}`; do not edit by hand. -->

A run is one YAML file (`qabench run CONFIG.yaml`, `qabench train CONFIG.yaml`).
It names only what it changes: every key has the default below except
`tasks`. An unknown key or a value of the wrong type is an error naming the
file and line, with a suggestion for a close key.

Any key can be overridden from the command line with `--set KEY=VALUE`, the
value read as YAML: `--set optim.lr=3e-4`, `--set model.backbone=gpt`,
`--set "tasks=[sst2, rte]"`. A task's own keys are reached by its position
in the list: `--set tasks.0.{limit}=50` (a bare task name becomes a mapping to
hold the key).

```yaml
tasks: [sst2, {{name: squad, {limit}: 2000}}]
include: [plugins/my_task.py]      # tasks of your own: see docs/writing-a-task.md
model: {{backbone: bert, preset: small}}
optim: {{steps: 2000, lr: 3e-4}}
```
"""


def field_comments(cls: type) -> dict[str, str]:
    """Field name -> the comment after it in ``cls``'s source (and on comment-only lines right below it)."""
    source = inspect.getsource(cls)
    comments: dict[str, str] = {}
    current: str | None = None
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NAME and token.start[1] == 4 and current is None:
            current = token.string  # a field name at the class body's indentation
        elif token.type == tokenize.COMMENT and current is not None:
            text = token.string.lstrip("#").strip()
            comments[current] = f"{comments[current]} {text}" if current in comments else text
        elif token.type == tokenize.NEWLINE:
            current = None
    return comments


def _fields(cls: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if f.name not in config_module.INTERNAL_FIELDS]


def _type(annotation: Any) -> str:
    """A field's annotation as the page shows it: ``tuple[str, ...]`` -> ``list of str``."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    text = re.sub(r"tuple\[(\w+), \.\.\.\]", r"list of \1", text)
    return text.replace(" | None", " or null")


def _default(field: dataclasses.Field) -> str:
    if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
        return "required"
    value = field.default if field.default is not dataclasses.MISSING else field.default_factory()
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, tuple):
        return f"`[{', '.join(map(str, value))}]`"
    return f"`{value}`"


def _meaning(cls: type, field: dataclasses.Field, comments: dict[str, str]) -> str:
    if field.name not in comments:
        raise ValueError(f"harness/config.py: {cls.__name__}.{field.name} has no comment; say after '#' what the key means, then run {COMMAND}")
    return comments[field.name].replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _table(cls: type, prefix: str) -> list[str]:
    comments = field_comments(cls)
    rows = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    for field in _fields(cls):
        if dataclasses.is_dataclass(field.default):
            continue  # a section: its own table
        key = f"{prefix}{field.name}"
        shown = "list of task entries (below)" if cls is RunConfig and field.name == "tasks" else _type(field.type)
        rows.append(f"| `{key}` | {shown} | {_default(field)} | {_meaning(cls, field, comments)} |")
    return rows


def _summary(cls: type) -> str:
    return (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")


def render() -> str:
    """The whole reference page as Markdown."""
    limit = next(f.name for f in _fields(TaskConfig) if f.type == "int | None")  # the examples use a task's first count key
    lines = [INTRO.format(command=COMMAND, limit=limit), "## Top level", "", *_table(RunConfig, ""), ""]
    lines += [
        "## `tasks`: one entry per task",
        "",
        f"{_summary(TaskConfig)} Each entry is a task name (`sst2`) or a mapping",
        f"(`{{name: squad, {limit}: 2000}}`); `--set tasks.N.KEY=VALUE` sets a key of the N-th entry (from 0).",
        "",
        *_table(TaskConfig, "tasks.N."),
        "",
    ]
    for field in _fields(RunConfig):
        if dataclasses.is_dataclass(field.default):
            section = type(field.default)
            lines += [f"## `{field.name}`", "", _summary(section), "", *_table(section, f"{field.name}."), ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the page, or ``--write`` it to docs/config.md."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"write {DOC_PATH} instead of printing")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        DOC_PATH.write_text(text, encoding="utf-8")
        print(f"wrote {DOC_PATH}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
