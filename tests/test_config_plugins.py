"""A run config names its own plugins and task directories (``include:``, ``task_dirs:``), so the run is evaluated later with plain ``qabench eval RUN``."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.config import load_config
from harness.errors import UserError
from tasks import registry

PLUGIN = textwrap.dedent(
    '''
    """Movie reviews with string labels, read from files beside this plugin."""
    from pathlib import Path

    from tasks import Source
    from tasks.recipes import template_task
    from tasks.registry import register

    HERE = Path(__file__).parent
    register(template_task(
        "my_reviews", family="classification", source=Source.local(train=HERE / "reviews.jsonl", validation=HERE / "reviews.jsonl"),
        context="{text}", question="Is this review {choices}?", labels=("negative", "positive"), metrics=("accuracy",),
        id_column="id", label_column="sentiment",
    ))
    '''
)
REVIEWS = [("A warm, funny film.", "positive"), ("The plot goes nowhere.", "negative"), ("Lovely acting.", "positive"), ("Dull and long.", "negative")]
CAPITALS = [
    {"question": "What is the capital of France?", "context": "Paris is the capital of France.", "answer": "Paris", "answer_start": 0},
    {"question": "Which river runs through Rome?", "context": "Rome lies on the Tiber.", "answer": "Tiber", "answer_start": 17},
]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's folder: a plugin with its data, a zero-code task directory, and a run config naming both by relative path."""
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "my_reviews.py").write_text(PLUGIN)
    rows = [{"id": i, "text": text, "sentiment": label} for i, (text, label) in enumerate(REVIEWS)]
    (tmp_path / "plugins" / "reviews.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "capitals").mkdir()
    for split in ("train", "validation"):
        (tmp_path / "capitals" / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in CAPITALS))
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "mine.yaml").write_text(textwrap.dedent(
        f"""\
        include: [../plugins/my_reviews.py]
        task_dirs: [../capitals]
        tasks: [my_reviews, capitals]
        optim: {{steps: 4, batch_size: 4}}
        output: {{dir: {tmp_path / 'runs'}, progress: false}}
        """
    ))
    yield tmp_path
    for name in ("my_reviews", "capitals"):
        registry.unregister(name)


def test_include_and_task_dirs_are_relative_to_the_config_file(project: Path) -> None:
    config = load_config(project / "configs" / "mine.yaml")
    assert config.include == (str(project / "plugins" / "my_reviews.py"),)
    assert config.task_dirs == (str(project / "capitals"),)


def test_a_run_that_trained_user_tasks_is_evaluated_with_plain_eval(project: Path) -> None:
    runner = CliRunner()
    trained = runner.invoke(main, ["train", str(project / "configs" / "mine.yaml"), "-q"], catch_exceptions=False)
    assert trained.exit_code == 0, trained.output
    run_dir = trained.output.split("run: ")[1].split()[0]
    for name in ("my_reviews", "capitals"):  # a later process: nothing of the user's is registered
        registry.unregister(name)
    evaluated = runner.invoke(main, ["eval", run_dir], catch_exceptions=False)
    assert evaluated.exit_code == 0, evaluated.output
    record = json.loads((Path(run_dir) / "record.json").read_text())
    assert [(t["name"], t["examples"]) for t in record["tasks"]] == [("my_reviews", 4), ("capitals", 2)]
    assert record["config"]["include"] == [str(project / "plugins" / "my_reviews.py")]


def test_a_missing_plugin_names_the_config_line(project: Path) -> None:
    config = project / "configs" / "mine.yaml"
    config.write_text(config.read_text().replace("task_dirs: [../capitals]", "task_dirs: [../capitals, ../nowhere]"))
    with pytest.raises(UserError, match=rf"config {config}:2: task_dirs: no such directory {project / 'nowhere'}"):
        load_config(config)


def test_include_by_set_is_relative_to_the_current_directory(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project / "plugins")
    config = load_config(None, ["include=[my_reviews.py]"])
    assert config.include == (str(project / "plugins" / "my_reviews.py"),)
