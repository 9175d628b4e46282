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


def test_loading_the_same_plugin_twice_registers_it_once(capitals_dir: Path, tmp_path: Path) -> None:
    plugin = tmp_path / "plugin_twice.py"
    plugin.write_text(PLUGIN.replace("clickbait", "clickbait_twice"))
    try:
        first = registry.load_plugins([str(capitals_dir)], [str(plugin)])
        again = registry.load_plugins([str(capitals_dir)], [str(tmp_path / "." / "plugin_twice.py")])  # the command line and a run config
        assert [t.name for t in again] == [t.name for t in first] == ["capitals", "clickbait_twice"]
        assert all(a is b for a, b in zip(again, first))
    finally:
        registry.unregister("clickbait_twice")


def test_an_unknown_task_that_matches_nothing_points_to_include_and_task_dir() -> None:
    with pytest.raises(TaskError, match=r"unknown task 'my_sentiment'; .*--include FILE.py or --task-dir DIR \(or include: / task_dirs: in the run config\)"):
        registry.get("my_sentiment")


def test_recipes_take_string_labels_as_well_as_ids() -> None:
    from tasks.recipes import nli_task, tagging_task, template_task
    from tasks.types import Source

    rte = nli_task("rte_words", source=Source("example/rte"), labels=("entailment", "not entailment"), columns=("sentence1", "sentence2"))
    row = {"sentence1": "A cat sleeps.", "sentence2": "An animal rests.", "idx": 0}
    assert rte.recast({**row, "label": "not_entailment"}).answer == rte.recast({**row, "label": 1}).answer == "not entailment"
    reviews = template_task("reviews", family="classification", source=Source("example/reviews"), context="{text}",
                            question="Is this review {choices}?", labels=("negative", "positive"), metrics=("accuracy",),
                            label_column="sentiment", id_column="id")
    assert reviews.recast({"id": 3, "text": "Great fun.", "sentiment": "positive"}).answer == "positive"
    with pytest.raises(TaskError, match=r"label 'great' is outside the label set \(0 negative, 1 positive\)"):
        reviews.recast({"id": 3, "text": "Great fun.", "sentiment": "great"})
    ner = tagging_task("ner_words", source=Source("example/ner"), question="Which entities?", labels=("O", "B-PER", "I-PER"),
                       tag_column="tags", scheme="bio", metrics=("entity_f1",))
    by_id = ner.recast({"id": "0", "tokens": ["Ada", "Lovelace", "wrote"], "tags": [1, 2, 0]})
    by_name = ner.recast({"id": "0", "tokens": ["Ada", "Lovelace", "wrote"], "tags": ["B-PER", "I-PER", "O"]})
    assert by_id == by_name and by_name.tags == ("B-PER", "I-PER", "O")


def test_a_task_reads_the_local_files_its_source_names(tmp_path: Path) -> None:
    from tasks.data import load_examples, local_splits
    from tasks.recipes import template_task
    from tasks.types import Source

    write_jsonl(tmp_path / "dev.jsonl", [{"id": 1, "text": "Dull.", "label": "negative"}, {"id": 2, "text": "Lovely.", "label": "positive"}])
    (tmp_path / "train.csv").write_text("id,text,label\n7,A joy.,positive\n", encoding="utf-8")
    task = template_task("local_reviews", family="classification", source=Source.local(train=tmp_path / "train.csv", validation=tmp_path / "dev.jsonl"),
                         context="{text}", question="Is this review {choices}?", labels=("negative", "positive"), metrics=("accuracy",), id_column="id")
    assert local_splits(task) == {"train": None, "validation": 2}
    assert [e.answer for e in load_examples(task, "validation", data_dir="/nowhere")] == ["negative", "positive"]
    assert [(e.id, e.context, e.answer) for e in load_examples(task, "train")] == [("7", "A joy.", "positive")]
    (tmp_path / "dev.jsonl").unlink()
    with pytest.raises(TaskError, match=r"dev.jsonl: no such file \(task 'local_reviews'\)"):
        load_examples(task, "validation")
