"""docs/writing-a-task.md works as written: its files, written out, give a task that shows, validates and runs from a config."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.config import load_config
from harness.prepare import resolve_tasks
from tasks import registry

PAGE = Path(__file__).resolve().parents[1] / "docs" / "writing-a-task.md"
FILE_BLOCK = re.compile(r"<!-- file: (?P<path>\S+) -->\n```\w*\n(?P<body>.*?)```", re.S)


@pytest.fixture
def guide_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every ``<!-- file: PATH -->`` block of the page, written under a fresh folder that becomes the current directory."""
    blocks = FILE_BLOCK.findall(PAGE.read_text(encoding="utf-8"))
    assert {path for path, _ in blocks} == {
        "plugins/reviews-train.jsonl", "plugins/reviews-dev.jsonl", "plugins/movie_reviews.py", "configs/reviews.yaml",
    }
    for path, body in blocks:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(body, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    registry.unregister("movie_reviews")


def test_the_guides_task_shows_and_validates_from_the_command_line(guide_files: Path) -> None:
    shown = CliRunner().invoke(main, ["--include", "plugins/movie_reviews.py", "tasks", "show", "movie_reviews", "-n", "2"])
    assert shown.exit_code == 0, shown.output
    assert "question: Is this review negative or positive?" in shown.output and "answer:   positive" in shown.output
    validated = CliRunner().invoke(main, ["--include", "plugins/movie_reviews.py", "tasks", "validate", "movie_reviews"])
    assert validated.exit_code == 0, validated.output
    assert "train" in validated.output and "4 rows -> " in validated.output and "2 rows -> " in validated.output


def test_the_guides_config_finds_the_plugin_relative_to_itself(guide_files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(guide_files / "configs")  # the config's include does not depend on where qabench runs
    config = load_config(guide_files / "configs" / "reviews.yaml")
    (task,) = resolve_tasks(config)
    assert (task.task.name, task.train_split, task.eval_split) == ("movie_reviews", "train", "validation")
    assert [m.name for m in task.task.metrics] == ["accuracy", "f1"]
