"""The model contract, over every registered backbone, as allennlp's model tests have it.

Each backbone's tiny preset goes into a :class:`models.heads.MultiTaskModel`
under the shared heads of two tasks with different answer formats (sst2:
choice, conll2003: tags), trains on their mixture through the harness, and
must:

- learn: the mean loss over the training rows falls by a fifth at least (the
  slowest learners, word2vec's static vectors and ULMFiT's gradual
  unfreezing, lose about two fifths in these 40 steps; BERT nearly all of it);
- save and load: the saved directory names the backbone, preset and parameter
  count, reloads to the same backbone type, vocabulary and heads, and gives
  identical raw outputs and identical answers on every evaluation example;
- ignore padding: answers are the same whether evaluation batches the rows in
  example order at their own width or sorted by length in other batches
  padded to a multiple of 16 tokens.

What makes each backbone itself (directions, ELMo's layer mix, ULMFiT's
dropouts, ...) is tested in tests/test_backbones.py.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch

from harness.config import RunConfig, load_config
from harness.evaluate import EvalSettings, evaluate_task
from harness.prepare import Prepared, prepare
from harness.train import train
from models.heads import MultiTaskModel, load_model, save_model
from models.registry import BACKBONES, load_backbone, load_saved

STEPS, BATCH, ACCUMULATE = 40, 8, 2


def two_task_config(tmp_path: Path, backbone: str) -> RunConfig:
    """The quickstart's bundled data on two tasks and a few examples, under ``backbone``'s tiny preset."""
    return load_config(
        None,
        [
            "tasks=[{name: sst2, limit: 16, eval_limit: 8}, {name: conll2003, limit: 16, eval_limit: 8}]",
            f"model.backbone={backbone}",
            "model.preset=tiny",
            f"optim.steps={STEPS}",
            f"optim.batch_size={BATCH}",
            f"optim.accumulate={ACCUMULATE}",
            "optim.lr=0.01",
            "output.progress=false",
            f"output.dir={tmp_path}",
        ],
    )


def mean_loss(prep: Prepared) -> float:
    """Loss over every training row, without dropout."""
    prep.model.eval()
    with torch.no_grad():
        losses = [prep.model(s.name, s.adapter.collate(s.features[:], prep.pad_id)).loss.item() for s in prep.train_sets]
    prep.model.train()
    return sum(losses) / len(losses)


def outputs(model: MultiTaskModel, prep: Prepared) -> dict[str, torch.Tensor]:
    """Each task's raw head outputs on all of its evaluation rows."""
    model.eval()
    with torch.no_grad():
        return {s.task.name: model(s.task.name, s.adapter.collate(s.features[:], prep.pad_id)).logits for s in prep.eval_sets}


def answers(model: MultiTaskModel, prep: Prepared, settings: EvalSettings | None = None) -> list[dict]:
    """Every evaluation example's prediction line (answer, gold example and scores), as ``predictions.jsonl`` holds it."""
    lines = io.StringIO()
    for eval_set in prep.eval_sets:
        evaluate_task(model, eval_set, settings or EvalSettings(BATCH, prep.device, prep.pad_id), writer=lines)
    return [json.loads(line) for line in lines.getvalue().splitlines()]


@pytest.mark.parametrize("name", list(BACKBONES))
def test_every_backbone_learns_two_tasks_then_saves_and_loads_to_identical_predictions(name: str, tmp_path: Path) -> None:
    prep = prepare(two_task_config(tmp_path, name))
    assert prep.model.backbone.name == name and [s.adapter.format for s in prep.train_sets] == ["choice", "tags"]

    before = mean_loss(prep)
    result = train(prep.model, prep.train_sets, prep.config, prep.device, prep.pad_id, progress=False)
    assert result.steps == STEPS and result.examples == STEPS * ACCUMULATE * BATCH
    assert mean_loss(prep) < 0.8 * before

    directory = tmp_path / "model"
    save_model(prep.model, directory)
    record = json.loads((directory / "qabench.json").read_text())
    backbone = prep.model.backbone
    assert record["name"] == name and record["preset"] == "tiny" and record["parameters"] == backbone.num_parameters()
    assert type(load_saved(str(directory))) is type(backbone)
    assert load_backbone(name, str(directory)).num_parameters() == backbone.num_parameters()

    reloaded = load_model(directory)
    assert type(reloaded.backbone) is type(backbone) and reloaded.backbone.preset == "tiny"
    assert reloaded.backbone.tokenizer.get_vocab() == backbone.tokenizer.get_vocab()
    assert reloaded.specs == prep.model.specs
    expected, got = outputs(prep.model, prep), outputs(reloaded, prep)
    assert expected.keys() == got.keys() and all(torch.equal(expected[task], got[task]) for task in expected)
    original_answers = answers(prep.model, prep)
    assert len(original_answers) == 16 and answers(reloaded, prep) == original_answers

    in_example_order = answers(prep.model, prep, EvalSettings(BATCH, prep.device, prep.pad_id, sort_chunk=1, pad_multiple=1))
    sorted_in_threes = answers(prep.model, prep, EvalSettings(3, prep.device, prep.pad_id, sort_chunk=2, pad_multiple=16))
    assert in_example_order == original_answers and sorted_in_threes == original_answers
