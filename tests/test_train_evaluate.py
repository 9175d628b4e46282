"""Evaluation: predictions back to answer strings (windows of one example merged), streaming, metrics.

An oracle model that puts all its weight on the gold labels of each batch
must score 100: that checks the way back from token positions to strings.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from harness.adapters import SpanAdapter, adapter_for
from harness.config import QUICKSTART
from harness.evaluate import EvalSet, EvalSettings, evaluate_task, predict
from harness.features import FeatureConfig, build_features
from models.heads import HeadOutput
from tasks.data import fingerprint, load_examples
from tasks.registry import get

DATA = QUICKSTART.parent / "data"



class Oracle(nn.Module):
    """Answers every batch with its own gold labels (the features carry them)."""

    def forward(self, task: str, batch: dict[str, torch.Tensor]) -> HeadOutput:
        b, t = batch["input_ids"].shape
        if "start_positions" in batch:  # span: +10 on the gold start and end; windows without the answer score 0
            start, end = torch.zeros(b, t), torch.zeros(b, t)
            has_answer = batch["start_positions"] > 0
            rows = torch.arange(b)[has_answer]
            start[rows, batch["start_positions"][has_answer]] = 10.0
            end[rows, batch["end_positions"][has_answer]] = 10.0
            return HeadOutput(logits=start, end_logits=end)
        if batch["labels"].dim() == 2:  # tags: one-hot of the gold label where there is one
            labels = batch["labels"].clamp(min=0)
            return HeadOutput(logits=nn.functional.one_hot(labels, 9).float())
        return HeadOutput(logits=nn.functional.one_hot(batch["labels"], batch["choice_mask"].size(1)).float())


def eval_set(name: str, max_length: int, tmp_path: Path) -> EvalSet:
    from models.tokenization import train_tokenizer

    task = get(name)
    examples = load_examples(task, "validation", data_dir=DATA)
    texts = [e.question for e in examples] + [" ".join(e.tokens) if e.tokens else e.context for e in examples]
    tokenizer = train_tokenizer(texts, vocab_size=400, cache_dir=str(tmp_path / "tok"))
    features = build_features(adapter_for(task.format), examples, tokenizer, FeatureConfig(max_length=max_length, stride=16), labels=task.labels, cache_dir=tmp_path)
    return EvalSet(task, "validation", examples, features, fingerprint(examples), adapter_for(task.format))


@pytest.mark.parametrize(("task", "max_length", "headline"), [("squad", 48, "em"), ("conll2003", 128, "entity_f1"), ("sst2", 64, "accuracy")])
def test_an_oracle_scores_100_so_answers_map_back_exactly(task: str, max_length: int, headline: str, tmp_path: Path) -> None:
    data = eval_set(task, max_length, tmp_path)
    if task == "squad":
        assert len(data.features) > len(data.examples)  # contexts were split into windows
    result = evaluate_task(Oracle(), data, EvalSettings(batch_size=4, device=torch.device("cpu"), pad_id=0))
    assert result.metrics[headline] == 100.0 and result.examples == len(data.examples)


def test_predictions_stream_example_by_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = eval_set("squad", 48, tmp_path)
    batches = []
    real_collate = SpanAdapter.collate
    monkeypatch.setattr(SpanAdapter, "collate", lambda *a: batches.append(1) or real_collate(*a))
    stream = predict(Oracle(), data, EvalSettings(batch_size=2, device=torch.device("cpu"), pad_id=0))
    first_index, first_answer = next(stream)
    assert (first_index, first_answer) == (0, data.examples[0].answer)
    assert len(batches) < len(data.features) / 2  # the first answer came before the rest was read
    assert [i for i, _ in stream] == list(range(1, len(data.examples)))


def test_each_example_gets_one_jsonl_line_with_its_scores(tmp_path: Path) -> None:
    import io
    import json

    data = eval_set("sst2", 64, tmp_path)
    out = io.StringIO()
    evaluate_task(Oracle(), data, EvalSettings(batch_size=8, device=torch.device("cpu"), pad_id=0), writer=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["id"] for line in lines] == [e.id for e in data.examples]
    assert all(line["scores"] == {"accuracy": 100.0} and line["prediction"] == line["example"]["answer"] for line in lines)


@pytest.mark.parametrize("head_mode", ["typed", "text"])
def test_length_sorted_batches_give_the_answers_of_example_order(head_mode: str, tmp_path: Path) -> None:
    """Padding and batch order change no answer: a random bert-tiny answers the same in example order and sorted by length.

    Typed: sst2 through the choice head, squad's windows through the span
    head (an example's windows fall into different chunks and batches),
    conll2003 through the tag head; text: all three through the text head.
    """
    from harness.config import load_config
    from harness.prepare import prepare

    overrides = [
        "tasks=[{name: sst2, eval_limit: 12}, {name: squad, eval_limit: 12}, {name: conll2003, eval_limit: 12}]",
        f"heads.mode={head_mode}", "model.max_length=40", "model.stride=16", "heads.max_answer_tokens=6", f"output.dir={tmp_path}",
    ]
    prep = prepare(load_config(None, overrides), train=False)
    prep.model.eval()
    squad = next(s for s in prep.eval_sets if s.task.name == "squad")
    assert len(squad.features) > 2 * 12 if head_mode == "typed" else len(squad.features) == 12  # several windows per context; the decoder reads one

    def answers(settings: EvalSettings) -> dict[str, list[tuple[int, str]]]:
        return {s.task.name: list(predict(prep.model, s, settings)) for s in prep.eval_sets}

    example_order = answers(EvalSettings(8, prep.device, prep.pad_id, sort_chunk=1, pad_multiple=1))
    assert all([i for i, _ in got] == list(range(12)) for got in example_order.values())
    assert answers(EvalSettings(3, prep.device, prep.pad_id, sort_chunk=2, pad_multiple=16)) == example_order
    assert answers(EvalSettings(5, prep.device, prep.pad_id, sort_chunk=100, pad_multiple=8)) == example_order
