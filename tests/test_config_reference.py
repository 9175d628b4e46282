"""docs/config.md is generated from the config dataclasses and their field comments, and kept in sync here."""

from __future__ import annotations

import dataclasses
import re

import pytest

from harness import config_reference
from harness.config import INTERNAL_FIELDS, RunConfig, TaskConfig, apply_override, load_config


def test_docs_config_md_is_what_the_generator_writes_today() -> None:
    expected = config_reference.render()
    written = config_reference.DOC_PATH.read_text(encoding="utf-8") if config_reference.DOC_PATH.is_file() else ""
    assert written == expected, f"docs/config.md is out of date with harness/config.py: run `{config_reference.COMMAND}` and commit docs/config.md"


def every_key(cls: type, prefix: str) -> list[str]:
    keys = []
    for field in dataclasses.fields(cls):
        if field.name in INTERNAL_FIELDS:
            continue
        if dataclasses.is_dataclass(field.default):
            keys += every_key(type(field.default), f"{prefix}{field.name}.")
        else:
            keys.append(f"{prefix}{field.name}")
    return keys


def test_every_key_has_a_row_with_its_type_default_and_meaning() -> None:
    page = config_reference.render()
    keys = every_key(RunConfig, "") + every_key(TaskConfig, "tasks.N.")
    rows = {line.split("|")[1].strip(" `"): line for line in page.splitlines() if line.startswith("| `")}
    assert sorted(rows) == sorted(keys)
    cells = {key: re.split(r"(?<!\\)\|", row)[1:-1] for key, row in rows.items()}  # an escaped \| stays in its cell
    assert all(len(row) == 4 and all(cell.strip() for cell in row) for row in cells.values())
    assert "| `optim.lr` | float | `5e-05` | peak learning rate" in rows["optim.lr"]
    assert "| `tasks.N.name` | str | required |" in rows["tasks.N.name"]


def test_a_field_without_a_comment_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_reference, "field_comments", lambda cls: {})
    with pytest.raises(ValueError, match=r"harness/config.py: RunConfig.tasks has no comment; .*python -m harness.config_reference --write"):
        config_reference.render()


def test_the_set_form_the_page_shows_for_a_tasks_key_works() -> None:
    limit = next(f.name for f in dataclasses.fields(TaskConfig) if f.type == "int | None")
    assert f"`--set tasks.0.{limit}=50`" in config_reference.render()
    config = load_config(None, [f"tasks.0.{limit}=50"])
    assert getattr(config.tasks[0], limit) == 50
    assert apply_override({"tasks": ["sst2"]}, f"tasks.0.{limit}=50") == {"tasks": [{"name": "sst2", limit: 50}]}
