"""Head mode ``text`` (decaNLP: one generative head answers every task) and text-format tasks in mode ``typed``.

Tiny runs through ``qabench run`` on the bundled quickstart data plus a few
hand-written Multi30k-style caption pairs: the pipeline, not a result.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.config import QUICKSTART

QUICKSTART_DATA = QUICKSTART.parent / "data"
FAST = ("--set", "optim.steps=8", "--set", "optim.batch_size=4", "--set", "heads.max_answer_tokens=12", "-q")

CAPTIONS = [
    ("A dog runs through the snow.", "Ein Hund läuft durch den Schnee."),
    ("Two children sit on a bench.", "Zwei Kinder sitzen auf einer Bank."),
    ("A man is riding a bicycle.", "Ein Mann fährt Fahrrad."),
    ("A woman reads a book in the park.", "Eine Frau liest ein Buch im Park."),
    ("Three people walk along the beach.", "Drei Menschen gehen am Strand entlang."),
    ("A little girl plays with a ball.", "Ein kleines Mädchen spielt mit einem Ball."),
]


def run(tmp_path: Path, *extra: str) -> dict:
    result = CliRunner().invoke(main, ["run", *FAST, "--set", f"output.dir={tmp_path / 'runs'}", "--set", "output.leaderboard=false", *extra], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(Path(result.output.split("record: ")[1].split()[0]).read_text())


def predictions(record: dict) -> list[dict]:
    path = Path(record["config"]["output"]["dir"]) / record["run_id"] / "predictions.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def data_with_captions(tmp_path: Path) -> Path:
    """The quickstart data plus a small Multi30k mirror folder (bentrevett/multi30k/default)."""
    root = tmp_path / "data"
    root.mkdir()
    for folder in QUICKSTART_DATA.iterdir():
        (root / folder.name).symlink_to(folder, target_is_directory=True)
    captions = root / "bentrevett" / "multi30k" / "default"
    captions.mkdir(parents=True)
    for split, pairs in (("train", CAPTIONS), ("validation", CAPTIONS[:3])):
        (captions / f"{split}.jsonl").write_text("".join(json.dumps({"en": en, "de": de}, ensure_ascii=False) + "\n" for en, de in pairs))
    return root


def test_text_mode_answers_every_task_as_text_and_scores_it_with_the_task_metrics(tmp_path: Path) -> None:
    record = run(tmp_path, "--set", "heads.mode=text", "--set", "eval.beam_size=2")
    assert record["head_mode"] == "text"
    assert {t["name"]: t["headline"] for t in record["tasks"]} == {"sst2": "accuracy", "rte": "accuracy", "squad": "nf1", "conll2003": "entity_f1"}
    rows = predictions(record)
    assert {r["task"] for r in rows} == {"sst2", "rte", "squad", "conll2003"}
    assert all(isinstance(r["prediction"], str) for r in rows)
    assert all(0.0 <= t["metrics"][t["headline"]] <= 100.0 for t in record["tasks"])


def test_typed_mode_sends_translation_to_the_text_head_and_the_rest_to_typed_heads(tmp_path: Path, data_with_captions: Path) -> None:
    record = run(tmp_path, "--set", f"data_dir={data_with_captions}", "--set", "tasks=[sst2, multi30k_en_de]")
    assert record["head_mode"] == "typed"
    assert {t["name"]: t["headline"] for t in record["tasks"]} == {"sst2": "accuracy", "multi30k_en_de": "bleu"}
    rows = predictions(record)
    assert {r["prediction"] for r in rows if r["task"] == "sst2"} <= {"negative", "positive"}  # the choice head picks a label

    from models.heads import load_model

    model = load_model(Path(record["config"]["output"]["dir"]) / record["run_id"] / "model")
    assert {name: spec.format for name, spec in model.specs.items()} == {"sst2": "choice", "multi30k_en_de": "text"}
    assert sorted(model.heads) == ["choice-sst2", "text"]  # sst2's label set has its linear layer (heads.choice: linear)


def test_a_saved_text_model_evaluates_again_to_the_same_predictions(tmp_path: Path) -> None:
    record = run(tmp_path, "--set", "heads.mode=text", "--set", "tasks=[{name: squad, train_limit: 8, eval_limit: 6}]")
    run_dir = Path(record["config"]["output"]["dir"]) / record["run_id"]
    again = CliRunner().invoke(main, ["eval", str(run_dir), "--out", str(tmp_path / "again")], catch_exceptions=False)
    assert again.exit_code == 0, again.output
    first = [r["prediction"] for r in predictions(record)]
    second = [json.loads(line)["prediction"] for line in (tmp_path / "again" / "predictions.jsonl").read_text().splitlines()]
    assert first == second

    from models.heads import load_model

    model = load_model(run_dir / "model")
    assert model.specs["squad"].copy_spans and hasattr(model.head_for("squad"), "copy_start")  # span copying is the default, and saved with the model


def test_a_text_model_saved_before_span_copying_loads_and_answers_as_it_did(tmp_path: Path) -> None:
    from models.heads import HEADS_FILE, load_model

    record = run(tmp_path, "--set", "heads.mode=text", "--set", "heads.copy_spans=false", "--set", "tasks=[{name: squad, train_limit: 8, eval_limit: 6}]")
    run_dir = Path(record["config"]["output"]["dir"]) / record["run_id"]
    meta_file = run_dir / "model" / HEADS_FILE
    meta = json.loads(meta_file.read_text())
    assert [spec.pop("copy_spans") for spec in meta["specs"].values()] == [False]
    meta_file.write_text(json.dumps(meta))  # as an older qabench wrote it: no copy_spans key, no span weights
    assert not hasattr(load_model(run_dir / "model").head_for("squad"), "copy_start")
    again = CliRunner().invoke(main, ["eval", str(run_dir), "--out", str(tmp_path / "again")], catch_exceptions=False)
    assert again.exit_code == 0, again.output
    second = [json.loads(line)["prediction"] for line in (tmp_path / "again" / "predictions.jsonl").read_text().splitlines()]
    assert second == [r["prediction"] for r in predictions(record)]


@pytest.mark.parametrize("words", ["backbone", "fresh"])
def test_over_a_pretrained_backbone_the_text_head_starts_from_its_word_vectors(tmp_path: Path, words: str) -> None:
    import torch

    from harness.config import from_dict
    from harness.prepare import build_model
    from models.heads import HeadSpec
    from models.registry import build_backbone
    from models.text_head import TextHead
    from models.tokenization import train_tokenizer

    tokenizer = train_tokenizer([c for pair in CAPTIONS for c in pair] * 3, vocab_size=120, cache_dir=str(tmp_path / "tok"))
    torch.manual_seed(0)
    backbone = build_backbone("bert", "tiny", tokenizer)
    backbone.model.save_pretrained(str(tmp_path / "bert"))
    tokenizer.save_pretrained(str(tmp_path / "bert"))
    config = from_dict({"tasks": ["multi30k"], "model": {"backbone": "bert", "pretrained": str(tmp_path / "bert")}, "heads": {"decoder_words": words}})
    model = build_model(config, {"multi30k": HeadSpec(format="text", decoder="tiny")}, texts=[])
    head = model.head_for("multi30k")
    expected = TextHead(model.backbone.hidden_size, len(tokenizer), head.special, head.config)
    expected.start_from_word_vectors(model.backbone.word_vectors())
    assert torch.equal(head.embedding.weight, expected.embedding.weight) == (words == "backbone")


def test_min_answer_tokens_reaches_the_decoder_and_is_checked() -> None:
    import torch

    from harness.config import from_dict, validate
    from harness.errors import UserError
    from harness.prepare import eval_settings

    config = from_dict({"tasks": ["squad"], "eval": {"min_answer_tokens": 1}})
    assert eval_settings(config, torch.device("cpu"), 0).decoding.min_length == 1
    with pytest.raises(UserError, match="eval.min_answer_tokens"):
        validate(from_dict({"tasks": ["squad"], "eval": {"min_answer_tokens": 64}}))
