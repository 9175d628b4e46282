"""The pretraining objectives of models/pretrain: each learns, and each corrupts its input the way its paper says.

- every objective's loss falls on a tiny corpus (tiny presets, a few dozen steps);
- BERT: 15% of the tokens predicted, of those 80% [MASK], 10% random, 10% kept;
- ERNIE: phrases and entities are masked whole, never in part;
- XLNet: the permutation mask is one factorisation order, and no target sees its own token;
- word2vec: gensim's skip-gram and CBOW losses fall and the vectors land in the backbone.
"""

from __future__ import annotations

import math

import pytest
import torch

from models.pretrain import BACKBONE_OBJECTIVES, TokenSequence, build_objective
from models.pretrain.denoise import local_shuffle, span_corruption
from models.pretrain.ernie_continual import TASKS, ContinualMultiTask
from models.pretrain.ernie_masking import KnowledgeMasking, capitalised_spans, entity_spans_from_tags
from models.pretrain.masking import IGNORE, MaskedLM
from models.pretrain.word2vec import train_word2vec
from models.pretrain.xlnet_plm import permutation_inputs
from models.registry import build_backbone
from models.tokenization import train_tokenizer

SENTENCES = [
    "the cat sat on the mat .",
    "a dog ran to the park and ate the ball .",
    "Tom Hanks flew from New York to Paris .",
    "the bank of america reported strong profits today .",
    "she read the new book by the window .",
    "the children played in the garden after school .",
    "prices rose at the bank of america last week .",
    "we walked to New York in the rain .",
]



@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory):
    return train_tokenizer(SENTENCES * 4, vocab_size=120, cache_dir=str(tmp_path_factory.mktemp("tok")))


def sequence(tokenizer, words: list[str], tags: tuple[str, ...] = ()) -> TokenSequence:
    encoded = tokenizer(words, is_split_into_words=True, add_special_tokens=False)
    return TokenSequence(tuple(encoded["input_ids"]), tuple(encoded.word_ids()), tuple(words), tags)


@pytest.fixture(scope="module")
def corpus(tokenizer) -> list[TokenSequence]:
    return [sequence(tokenizer, s.split()) for s in SENTENCES]


MULTI_TASK = "ernie2-multitask"  # several losses, one task a batch: tested on its own below
TORCH_OBJECTIVES = [
    (backbone, objective)
    for backbone, names in BACKBONE_OBJECTIVES.items() if backbone != "word2vec"
    for objective in names if objective != MULTI_TASK
]


def probe_loss(objective, batch) -> float:
    """The objective's loss on a fixed batch, without dropout."""
    objective.eval()
    with torch.no_grad():
        loss = objective(batch).loss.item()
    objective.train()
    return loss


@pytest.mark.parametrize(("backbone_name", "objective_name"), TORCH_OBJECTIVES)
def test_each_objective_lowers_its_loss_on_a_tiny_corpus(tokenizer, corpus, backbone_name, objective_name):
    torch.manual_seed(0)
    backbone = build_backbone(backbone_name, "tiny", tokenizer)
    objective = build_objective(objective_name, backbone, max_length=32)
    objective.prepare(corpus)
    optimizer = torch.optim.AdamW(objective.parameters(), lr=5e-3)
    generator = torch.Generator().manual_seed(0)
    probe = objective.make_batch(corpus, torch.Generator().manual_seed(123))  # one fixed corruption of the corpus
    before = probe_loss(objective, probe)
    for step in range(40):
        # Every other step sees a fresh corruption of the corpus, the steps between see the probe batch.
        batch = probe if step % 2 else objective.make_batch(corpus, generator, step / 40)
        out = objective(batch)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        assert out.predicted > 0
    after = probe_loss(objective, probe)
    assert after < 0.9 * before, f"{objective_name}: loss on the probe batch {before:.3f} -> {after:.3f}"


@pytest.mark.parametrize("skip_gram", [True, False], ids=["skipgram", "cbow"])
def test_word2vec_objectives_lower_their_loss_and_fill_the_backbone(tokenizer, corpus, skip_gram):
    backbone = build_backbone("word2vec", "tiny", tokenizer)
    before = backbone.embedding.weight.detach().clone()
    run = train_word2vec(backbone, corpus * 20, skip_gram=skip_gram, epochs=8, seed=0)
    assert run.epoch_losses[-1] < run.epoch_losses[0]
    assert run.report.covered > 0
    the = tokenizer.convert_tokens_to_ids("the")
    assert not torch.equal(backbone.embedding.weight[the], before[the])  # a corpus token got its trained vector


# --- BERT ------------------------------------------------------------------------------------------------------------


def test_bert_masking_predicts_15_percent_and_corrupts_80_10_10(tokenizer):
    backbone = build_backbone("bert", "tiny", tokenizer)
    objective = MaskedLM(backbone, max_length=64)
    rng = torch.Generator().manual_seed(0)
    first = objective.special.first_regular
    rows = [TokenSequence(tuple(torch.randint(first, len(tokenizer), (60,), generator=rng).tolist()), tuple(range(60)), ("w",) * 60) for _ in range(400)]
    batch = objective.make_batch(rows, torch.Generator().manual_seed(1))
    original = torch.tensor([[objective.special.cls, *r.ids, objective.special.sep] for r in rows])  # [B, T]
    predicted = batch["labels"] != IGNORE  # [B, T]
    assert torch.equal(batch["labels"][predicted], original[predicted])  # labels are the original tokens
    assert predicted.sum(dim=1).eq(9).all()  # round(0.15 * 60) per row, exactly
    assert not predicted[:, 0].any() and not predicted[:, -1].any()  # never [CLS] or [SEP]
    inputs = batch["input_ids"][predicted]
    masked = (inputs == objective.special.mask).float().mean().item()
    kept = (inputs == original[predicted]).float().mean().item()
    assert abs(masked - 0.8) < 0.02 and abs(kept - 0.1) < 0.015 and abs((1 - masked - kept) - 0.1) < 0.015
    assert torch.equal(batch["input_ids"][~predicted], original[~predicted])  # nothing else changes


def test_next_sentence_pairs_are_half_continuations_with_two_segments(tokenizer, corpus):
    objective = MaskedLM(build_backbone("bert", "tiny", tokenizer), max_length=32, next_sentence=True)
    batch = objective.make_batch(corpus * 50, torch.Generator().manual_seed(0))
    labels = batch["next_sentence_label"].float()
    assert abs(labels.mean().item() - 0.5) < 0.06
    sep = objective.special.sep
    for row, types in zip(batch["input_ids"], batch["token_type_ids"]):
        length = int((row != objective.special.pad).sum())
        assert row[0] == objective.special.cls and (row[:length] == sep).sum() == 2 and row[length - 1] == sep
        assert types[1] == 0 and types[length - 1] == 1  # A is segment 0, B segment 1


# --- ERNIE -----------------------------------------------------------------------------------------------------------


def test_entity_spans_come_from_bio_tags_or_capitalised_runs():
    assert entity_spans_from_tags(["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-ORG"]) == [(0, 2), (3, 4), (4, 5), (5, 6)]
    assert capitalised_spans("The trip to New York with Tom .".split()) == [(3, 5), (6, 7)]  # sentence-initial "The" is no entity


def _units_are_whole(labels: torch.Tensor, spans_in_tokens: list[list[int]]) -> list[bool]:
    """For each unit: True if fully masked, False if untouched; fails if masked in part."""
    states = []
    for positions in spans_in_tokens:
        chosen = [bool(labels[p] != IGNORE) for p in positions]
        assert all(chosen) or not any(chosen), f"unit {positions} masked in part: {chosen}"
        states.append(all(chosen))
    return states


def test_ernie_masks_whole_entities_and_phrases_never_part_of_one(tokenizer):
    backbone = build_backbone("ernie", "tiny", tokenizer)
    words = "prices rose at the bank of america while Tom Hanks was in New York .".split()
    tags = ("O",) * 8 + ("B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O")
    tagged = sequence(tokenizer, words, tags)

    def tokens(span: tuple[int, int]) -> list[int]:
        return [1 + i for i, w in enumerate(tagged.word_index) if span[0] <= w < span[1]]  # +1: [CLS]

    word_units = [tokens((w, w + 1)) for w in range(len(words))]
    for level in ("phrase", "entity"):
        objective = KnowledgeMasking(backbone, max_length=64, levels=(level,), phrase_min_count=2, phrase_threshold=0.1)
        objective.prepare([sequence(tokenizer, s.split()) for s in SENTENCES] * 3)
        phrases, entities = objective.spans(tagged)
        assert (4, 7) in phrases  # "bank of america", learned from the corpus's n-gram statistics
        assert entities == [(8, 10), (12, 14)]  # from the NER tags
        spans = phrases if level == "phrase" else entities
        masked_whole = 0
        for seed in range(40):
            labels = objective.make_batch([tagged], torch.Generator().manual_seed(seed))["labels"][0]
            states = _units_are_whole(labels, [tokens(s) for s in spans] + word_units)
            masked_whole += any(states[: len(spans)])
        assert masked_whole == 40  # at these levels a row's budget goes to its phrases (entities) first


def test_ernie_curriculum_goes_basic_then_phrase_then_entity(tokenizer):
    objective = KnowledgeMasking(build_backbone("ernie", "tiny", tokenizer), curriculum=True)
    generator = torch.Generator().manual_seed(0)
    assert [objective.level(generator, p) for p in (0.0, 0.4, 0.9)] == ["basic", "phrase", "entity"]


def test_ernie2_trains_each_task_with_its_task_id_and_each_task_loss_falls(tokenizer, corpus):
    torch.manual_seed(0)
    objective = ContinualMultiTask(build_backbone("ernie", "tiny", tokenizer), max_length=32, staged=False, phrase_min_count=2)
    objective.prepare(corpus)
    optimizer = torch.optim.AdamW(objective.parameters(), lr=5e-3)
    generator = torch.Generator().manual_seed(0)
    history: dict[str, list[float]] = {}
    for _ in range(45):
        batch = objective.make_batch(corpus, generator)
        task_ids = batch["task_type_ids"].unique().tolist()
        assert len(task_ids) == 1  # one task a batch, named by its id
        out = objective(batch)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        assert len(out.parts) == 1
        history.setdefault(TASKS[task_ids[0]], []).append(out.loss.item())
    assert set(history) == set(TASKS)
    for task, losses in history.items():
        assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3, f"{task}: {losses}"


# --- XLNet -----------------------------------------------------------------------------------------------------------


def test_xlnet_permutation_mask_is_one_factorisation_order_and_hides_each_target_from_itself():
    lengths = [12, 7, 1]
    perm_mask, targets, rank = permutation_inputs(lengths, 12, torch.Generator().manual_seed(0), predict_one_in=3)
    for b, n in enumerate(lengths):
        sees = perm_mask[b, :n, :n] == 0  # [n, n]: i may attend to j
        assert not sees.diagonal().any()  # the query stream never sees its own token
        order = sorted(range(n), key=lambda i: int(sees[i].sum()))  # how much each position sees gives its place
        assert [int(sees[i].sum()) for i in order] == list(range(n))  # 0, 1, ..., n-1: a total order
        for place, i in enumerate(order):
            assert set(torch.nonzero(sees[i]).flatten().tolist()) == set(order[:place])  # sees exactly its predecessors
        assert perm_mask[b, :n, n:].eq(1).all()  # nobody attends to padding
        chosen = [t for t in targets[b].tolist() if t >= 0]
        assert chosen == order[n - len(chosen) :] and len(chosen) == max(1, math.ceil(n / 3))  # the last of the order


def test_xlnet_prediction_ignores_its_own_token_and_later_ones(tokenizer, corpus):
    torch.manual_seed(0)
    objective = build_objective("plm", build_backbone("xlnet", "tiny", tokenizer), max_length=32).eval()
    batch = objective.make_batch(corpus[:1], torch.Generator().manual_seed(3))
    target = int(batch["target_mapping"][0, 0].argmax())
    with torch.no_grad():
        logits = objective._lm(**{k: batch[k] for k in ("input_ids", "attention_mask", "perm_mask", "target_mapping")}, use_mems=False).logits
        changed = dict(batch)
        changed["input_ids"] = batch["input_ids"].clone()
        later = (batch["perm_mask"][0, target] == 1).nonzero().flatten()  # the target itself and every later position
        changed["input_ids"][0, later] = objective.special.mask
        again = objective._lm(**{k: changed[k] for k in ("input_ids", "attention_mask", "perm_mask", "target_mapping")}, use_mems=False).logits
    assert torch.allclose(logits[0, 0], again[0, 0], atol=1e-5)


# --- Transformer denoising -------------------------------------------------------------------------------------------


def test_span_corruption_covers_15_percent_in_separate_spans_and_shuffle_moves_tokens_locally():
    generator = torch.Generator().manual_seed(0)
    spans, covered = span_corruption(list(range(200)), generator)
    assert covered == sum(e - s for s, e in spans) == 30
    assert all(b[0] > a[1] for a, b in zip(spans, spans[1:]))  # ordered, never touching
    order = local_shuffle(50, generator, distance=3)
    assert sorted(order) == list(range(50)) and max(abs(o - i) for i, o in enumerate(order)) <= 3 and order != list(range(50))


def test_span_denoising_targets_are_the_masked_spans(tokenizer, corpus):
    objective = build_objective("span-denoise", build_backbone("transformer", "tiny", tokenizer), max_length=32)
    batch = objective.make_batch(corpus[:1], torch.Generator().manual_seed(0))
    source, target = batch["input_ids"][0].tolist(), [t for t in batch["labels"][0].tolist() if t != -100]
    mask = objective.special.mask
    assert source.count(mask) == target.count(mask) >= 1
    rebuilt, spans = [], iter(" ".join(map(str, target[:-1])).split(str(mask)))
    next(spans)
    for token in source[1:-1]:
        rebuilt += [int(t) for t in next(spans).split()] if token == mask else [token]
    assert rebuilt == list(corpus[0].ids)  # the source with each [MASK] replaced by its span is the original
