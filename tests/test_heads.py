"""The shared answer heads: shapes, losses, masking, sharing between tasks."""

from __future__ import annotations

import pytest
import torch

from models.base import Encoded
from models.heads import (
    ChoiceHead,
    ClassifierHead,
    HeadSpec,
    MultiTaskModel,
    ScoreHead,
    SpanHead,
    TagHead,
    best_spans,
    build_head,
    pooled,
    span_mean,
)

B, T, D = 2, 7, 16



@pytest.fixture
def encoded() -> Encoded:
    torch.manual_seed(0)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[1, 5:] = False  # the second row is padded after 5 tokens
    return Encoded(torch.randn(B, T, D), mask)


@pytest.fixture
def backbone():
    from models.registry import build_backbone
    from models.tokenization import train_tokenizer

    texts = ["is this review negative or positive ?", "a warm , funny film", "the plot goes nowhere", "EU rejects German call"]
    tokenizer = train_tokenizer(texts * 5, vocab_size=120)
    torch.manual_seed(0)
    return build_backbone("bert", "tiny", tokenizer=tokenizer)


def test_pooled_takes_the_first_token_or_the_last_real_token_for_causal_backbones(encoded: Encoded) -> None:
    assert torch.equal(pooled(encoded, causal=False), encoded.hidden[:, 0])
    assert torch.equal(pooled(encoded, causal=True)[1], encoded.hidden[1, 4])


def test_span_mean_averages_each_span_and_gives_zeros_for_an_empty_one(encoded: Encoded) -> None:
    spans = torch.tensor([[[1, 3], [0, 0]], [[2, 3], [4, 6]]])  # [B, C=2, 2]
    means = span_mean(encoded.hidden, spans)
    assert means.shape == (B, 2, D)
    assert torch.allclose(means[0, 0], encoded.hidden[0, 1:3].mean(0))
    assert torch.equal(means[0, 1], torch.zeros(D))


def test_choice_head_scores_any_number_of_candidates_with_the_same_parameters(encoded: Encoded) -> None:
    head = ChoiceHead(D)
    two = head(encoded, False, torch.tensor([[[1, 2], [3, 4]]] * B), torch.ones(B, 2, dtype=torch.bool), torch.tensor([0, 1]))
    three_spans = torch.tensor([[[1, 2], [3, 4], [5, 6]]] * B)
    three_mask = torch.tensor([[True, True, True], [True, True, False]])  # the second example has two candidates
    three = head(encoded, False, three_spans, three_mask, torch.tensor([2, 0]))
    assert two.logits.shape == (B, 2) and three.logits.shape == (B, 3)
    assert three.logits[1, 2] < -1e30  # a padding candidate can never win
    assert two.loss.ndim == 0 and torch.isfinite(three.loss)


def test_span_head_masks_everything_but_the_context_and_position_0(encoded: Encoded) -> None:
    context = torch.zeros(B, T, dtype=torch.bool)
    context[:, 3:5] = True
    out = SpanHead(D)(encoded, context, torch.tensor([3, 0]), torch.tensor([4, 0]))
    allowed = context.clone()
    allowed[:, 0] = True
    assert (out.logits[~allowed] < -1e30).all() and (out.end_logits[~allowed] < -1e30).all()
    assert torch.isfinite(out.loss)


def test_best_spans_stays_in_the_context_and_under_the_length_cap() -> None:
    start = torch.tensor([[9.0, 0.0, 5.0, 1.0, 0.0, 0.0]])
    end = torch.tensor([[9.0, 0.0, 0.0, 1.0, 0.0, 6.0]])
    context = torch.tensor([[False, True, True, True, True, True]])
    s, e, _ = best_spans(start, end, context, max_answer_length=10)
    assert (s.item(), e.item()) == (2, 5)  # position 0 scores highest but is not context
    s, e, _ = best_spans(start, end, context, max_answer_length=2)
    assert (s.item(), e.item()) == (2, 3)  # 2..5 is too long now


def full_grid_best_spans(start: torch.Tensor, end: torch.Tensor, context: torch.Tensor, max_answer_length: int) -> tuple[torch.Tensor, ...]:
    """best_spans as it was: every (start, end) pair of the [B, T, T] grid scored, the first best kept."""
    t = start.size(1)
    width = torch.arange(t).unsqueeze(0) - torch.arange(t).unsqueeze(1)  # [T, T]
    valid = ((width >= 0) & (width < max_answer_length)).unsqueeze(0) & context.unsqueeze(2) & context.unsqueeze(1)
    score, index = (start.unsqueeze(2) + end.unsqueeze(1)).masked_fill(~valid, float("-inf")).view(start.size(0), -1).max(dim=1)
    return index // t, index % t, score


def test_best_spans_over_the_band_finds_what_the_full_grid_finds_ties_and_empty_contexts_included() -> None:
    generator = torch.Generator().manual_seed(0)
    for trial in range(300):
        b, t = int(torch.randint(1, 6, (1,), generator=generator)), int(torch.randint(1, 50, (1,), generator=generator))
        start, end = torch.randn(b, t, generator=generator), torch.randn(b, t, generator=generator)
        if trial % 2:  # whole numbers: many equal scores, so the tie-break shows
            start, end = start.round(), end.round()
        first = torch.randint(0, t, (b, 1), generator=generator)
        context = (torch.arange(t) >= first) & (torch.arange(t) < first + torch.randint(0, t + 1, (b, 1), generator=generator))
        if trial % 5 == 0:
            context[0] = False  # a window without context: nothing valid
        cap = int(torch.randint(0, 60, (1,), generator=generator))
        for got, expected in zip(best_spans(start, end, context, cap), full_grid_best_spans(start, end, context, cap)):
            assert torch.equal(got, expected), (trial, got, expected)


def test_tag_head_ignores_positions_labelled_minus_100(encoded: Encoded) -> None:
    head = TagHead(D, num_labels=5)
    labels = torch.full((B, T), -100)
    labels[:, 1] = torch.tensor([3, 4])
    out = head(encoded, labels)
    assert out.logits.shape == (B, T, 5)
    expected = torch.nn.functional.cross_entropy(out.logits[:, 1], labels[:, 1])
    assert torch.allclose(out.loss, expected)


def test_score_head_regresses_one_number_with_mse(encoded: Encoded) -> None:
    head = ScoreHead(D).eval()
    out = head(encoded, False, torch.tensor([1.0, 4.5]))
    assert out.logits.shape == (B,)
    assert torch.allclose(out.loss, ((out.logits - torch.tensor([1.0, 4.5])) ** 2).mean())


def test_tasks_share_the_head_of_their_format_and_tag_layers_per_label_set(backbone) -> None:
    specs = {
        "sst2": HeadSpec("choice"),
        "rte": HeadSpec("choice"),
        "conll2003": HeadSpec("tags", num_labels=9, label_set="conll2003"),
        "wnut17": HeadSpec("tags", num_labels=13, label_set="wnut17"),
        "stsb": HeadSpec("score"),
    }
    model = MultiTaskModel(backbone, specs)
    assert sorted(model.heads) == ["choice", "score", "tags-conll2003", "tags-wnut17"]
    assert model.head_for("sst2") is model.head_for("rte")


def test_task_specific_variant_gives_each_task_its_own_output_layer(backbone) -> None:
    model = MultiTaskModel(backbone, {"sst2": HeadSpec("choice", task_specific=True), "rte": HeadSpec("choice", task_specific=True)})
    assert sorted(model.heads) == ["choice-task-rte", "choice-task-sst2"]


def test_a_text_format_task_has_no_typed_head(backbone) -> None:
    with pytest.raises(ValueError, match="no typed head for format 'text'"):
        build_head(HeadSpec("text"), backbone.hidden_size)


def test_every_text_task_shares_the_one_text_head(backbone) -> None:
    from models.text_head import TextHead

    specs = {"multi30k_en_de": HeadSpec("text", decoder="tiny"), "woz": HeadSpec("text", decoder="tiny"), "sst2": HeadSpec("choice")}
    model = MultiTaskModel(backbone, specs)
    assert sorted(model.heads) == ["choice", "text"]
    assert isinstance(model.head_for("woz"), TextHead) and model.head_for("woz") is model.head_for("multi30k_en_de")


def test_classifier_head_is_a_linear_layer_on_the_first_token_and_the_mean_with_one_output_per_label(encoded: Encoded) -> None:
    head = ClassifierHead(D, num_labels=3, dropout=0.0)
    mask = torch.tensor([[True, True, True], [True, True, False]])  # the second row offers two of the three labels
    out = head(encoded, False, mask, labels=torch.tensor([2, 0]))
    real = encoded.mask.unsqueeze(-1).float()
    expected = head.classifier(torch.cat([encoded.hidden[:, 0], (encoded.hidden * real).sum(1) / real.sum(1)], dim=-1))
    assert torch.allclose(out.logits[0], expected[0]) and torch.allclose(out.logits[1, :2], expected[1, :2])
    assert out.logits[1, 2] < -1e30  # a label the row does not offer is never picked
    assert torch.allclose(out.loss, torch.nn.functional.cross_entropy(out.logits, torch.tensor([2, 0])))
    with pytest.raises(ValueError, match="2 candidates, but this head has 3 labels"):
        head(encoded, False, mask[:, :2])


def test_choice_tasks_with_the_linear_head_share_it_per_label_set(backbone) -> None:
    specs = {
        "rte": HeadSpec("choice", num_labels=2, label_set="rte"),
        "wnli": HeadSpec("choice", num_labels=2, label_set="rte"),  # the same labels: entailment, not entailment
        "sst2": HeadSpec("choice", num_labels=2, label_set="sst2"),
        "cola": HeadSpec("choice"),  # the label-word scorer
    }
    model = MultiTaskModel(backbone, specs)
    assert sorted(model.heads) == ["choice", "choice-rte", "choice-sst2"]
    assert model.head_for("rte") is model.head_for("wnli") and isinstance(model.head_for("sst2"), ClassifierHead)
    assert isinstance(model.head_for("cola"), ChoiceHead)


@pytest.mark.parametrize("spec", [HeadSpec("choice"), HeadSpec("choice", num_labels=2, label_set="sst2")], ids=["words", "linear"])
def test_multitask_model_routes_a_batch_to_its_task_head_and_learns(backbone, spec: HeadSpec) -> None:
    model = MultiTaskModel(backbone, {"sst2": spec}, dropout=0.0)
    tok = backbone.tokenizer
    enc = tok(["is this review negative or positive ?"] * 2, ["a warm , funny film", "the plot goes nowhere"], padding=True, return_tensors="pt")
    batch = {
        "input_ids": enc["input_ids"],
        "attention_mask": enc["attention_mask"],
        "token_type_ids": enc["token_type_ids"],
        "choice_spans": torch.tensor([[[4, 5], [6, 7]]] * 2),
        "choice_mask": torch.ones(2, 2, dtype=torch.bool),
        "labels": torch.tensor([1, 0]),
    }
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(30):
        out = model("sst2", batch)
        losses.append(out.loss.item())
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert losses[-1] < losses[0] / 2
