"""Users add tasks without touching qabench: a zero-code directory, a plugin file, an entry point."""

from __future__ import annotations

import json
import sys
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main
from tasks import registry
from tasks.errors import TaskError
from tasks.taskdir import task_from_directory

CAPITALS = [
    {"question": "What is the capital of France?", "context": "Paris is the capital of France.", "answer": "Paris", "answer_start": 0},
    {"question": "Which river runs through Rome?", "context": "Rome lies on the Tiber.", "answer": "Tiber", "answer_start": 17},
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def capitals_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "capitals"
    directory.mkdir()
    write_jsonl(directory / "train.jsonl", CAPITALS)
    write_jsonl(directory / "validation.jsonl", CAPITALS[:1])
    yield directory
    registry.unregister("capitals")


def test_task_dir_infers_format_and_metrics(capitals_dir: Path) -> None:
    task = task_from_directory(capitals_dir)
    assert (task.name, task.format, task.train_split, task.eval_split) == ("capitals", "span", "train", "validation")
    assert [m.name for m in task.metrics] == ["nf1", "em"]


def test_task_dir_with_choices_is_a_choice_task(tmp_path: Path) -> None:
    directory = tmp_path / "Yes No!"
    directory.mkdir()
    write_jsonl(directory / "validation.jsonl", [
        {"question": "Is it raining? yes or no?", "context": "The sky is clear.", "answer": "no", "choices": ["yes", "no"]},
    ])
    task = task_from_directory(directory)
    assert (task.name, task.format, task.train_split) == ("yes_no", "choice", None)


def test_task_dir_is_usable_from_the_cli(capitals_dir: Path) -> None:
    result = CliRunner().invoke(main, ["--task-dir", str(capitals_dir), "tasks", "show", "capitals", "--split", "train", "-n", "2"])
    assert result.exit_code == 0, result.output
    assert "question: Which river runs through Rome?" in result.output
    assert "answer:   Tiber" in result.output


def test_task_dir_missing_field_names_file_and_line(tmp_path: Path) -> None:
    directory = tmp_path / "broken"
    directory.mkdir()
    write_jsonl(directory / "train.jsonl", [CAPITALS[0], {"question": "Q?", "context": "C."}])
    result = CliRunner().invoke(main, ["--task-dir", str(directory), "tasks", "list"])
    assert result.exit_code == 2
    assert f"{directory / 'train.jsonl'}:2: missing or non-string field 'answer'" in result.output
    assert "Traceback" not in result.output


def test_task_dir_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    directory = tmp_path / "badjson"
    directory.mkdir()
    (directory / "train.jsonl").write_text(json.dumps(CAPITALS[0]) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(TaskError, match=r"train.jsonl:2: not valid JSON"):
        task_from_directory(directory)


PLUGIN = textwrap.dedent(
    '''
    """A plugin: one task registered from a small file."""
    from tasks import Example, Source, Task
    from tasks.metrics import get_metric
    from tasks.registry import register

    def recast(row):
        return Example(id=str(row["id"]), question="Is this headline clickbait? no or yes?",
                       context=row["headline"], answer=["no", "yes"][row["label"]], choices=("no", "yes"))

    register(Task(name="clickbait", version="1", family="classification", format="choice",
                  source=Source(hub_id="example/clickbait"), recast=recast,
                  metrics=(get_metric("accuracy"),),
                  sample_rows=({"id": 0, "headline": "You will not believe this one trick", "label": 1},)))
    '''
)


def test_include_registers_a_plugin_file(tmp_path: Path) -> None:
    plugin = tmp_path / "clickbait_task.py"
    plugin.write_text(PLUGIN, encoding="utf-8")
    mirror = tmp_path / "mirror" / "example" / "clickbait"
    mirror.mkdir(parents=True)
    write_jsonl(mirror / "validation.jsonl", [{"id": 7, "headline": "Council approves new budget", "label": 0}])
    try:
        result = CliRunner().invoke(
            main, ["--data-dir", str(tmp_path / "mirror"), "--include", str(plugin), "tasks", "show", "clickbait"]
        )
        assert result.exit_code == 0, result.output
        assert "context:  Council approves new budget" in result.output
        assert "answer:   no" in result.output
    finally:
        registry.unregister("clickbait")


def test_include_that_fails_to_import_is_one_line(tmp_path: Path) -> None:
    plugin = tmp_path / "broken_plugin.py"
    plugin.write_text("import tasks\n\nraise RuntimeError('boom')\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["--include", str(plugin), "tasks", "list"])
    assert result.exit_code == 2
    assert f"--include {plugin}:3: failed to import: RuntimeError: boom" in result.output
    assert "Traceback" not in result.output


def test_entry_point_plugins_are_loaded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    plugin = tmp_path / "qb_entry_plugin.py"
    plugin.write_text(PLUGIN.replace("clickbait", "clickbait_ep"), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    point = EntryPoint(name="clickbait_ep", value="qb_entry_plugin", group=registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [point] if group == registry.ENTRY_POINT_GROUP else [])
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    try:
        assert registry.get("clickbait_ep").format == "choice"
    finally:
        registry.unregister("clickbait_ep")
        sys.modules.pop("qb_entry_plugin", None)


def test_registry_rejects_duplicates_and_suggests_names() -> None:
    task = registry.get("sst2")
    with pytest.raises(TaskError, match="already registered"):
        registry.register(type(task)(**{**task.__dict__, "version": "2"}))
    with pytest.raises(TaskError, match="did you mean 'sst2'"):
        registry.get("sst3")
    with pytest.raises(TypeError):
        registry.register("sst2")  # type: ignore[arg-type]
