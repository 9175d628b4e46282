"""The text answer of tagging examples (tasks/tagging.py) and its way back to tags."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tasks.errors import TaskError
from tasks.tagging import answer_to_tags, iob2_spans, is_bio, tags_to_answer

CONLL_TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
WNUT_TAGS = [
    "O", "B-corporation", "I-corporation", "B-creative-work", "I-creative-work", "B-group", "I-group",
    "B-location", "I-location", "B-person", "I-person", "B-product", "I-product",
]  # fmt: skip
UPOS_TAGS = [
    "NOUN", "PUNCT", "ADP", "NUM", "SYM", "SCONJ", "ADJ", "PART", "DET",
    "CCONJ", "PROPN", "PRON", "X", "_", "ADV", "INTJ", "VERB", "AUX",
]  # fmt: skip


# --- writing answers ---------------------------------------------------------


def test_bio_answer_lists_entity_spans_in_order() -> None:
    tokens = ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."]
    tags = ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"]
    assert tags_to_answer(tokens, tags) == "EU (ORG); German (MISC); British (MISC)"


def test_multi_token_span_joins_its_tokens_with_single_spaces() -> None:
    assert tags_to_answer(["in", "New", "York", "City"], ["O", "B-LOC", "I-LOC", "I-LOC"]) == "New York City (LOC)"


def test_adjacent_spans_of_one_type_stay_separate() -> None:
    assert tags_to_answer(["Bonn", "Paris"], ["B-LOC", "B-LOC"]) == "Bonn (LOC); Paris (LOC)"


def test_bio_example_without_entities_answers_none() -> None:
    assert tags_to_answer(["Peter", "runs"], ["O", "O"]) == "none"
    assert tags_to_answer([], []) == "none"


def test_pos_answer_makes_every_token_a_span() -> None:
    assert tags_to_answer(["Al", "-", "Zaman", ":"], ["PROPN", "PUNCT", "PROPN", "PUNCT"]) == (
        "Al (PROPN); - (PUNCT); Zaman (PROPN); : (PUNCT)"
    )


def test_scheme_is_detected_from_the_tags_unless_given() -> None:
    assert is_bio(["O", "B-PER", "I-PER"]) and is_bio([])
    assert not is_bio(["O", "NOUN"])
    assert tags_to_answer(["Rome", "fell"], ["B-LOC", "O"], scheme="token") == "Rome (B-LOC); fell (O)"


def test_i_tag_without_a_matching_start_opens_a_span_like_conlleval() -> None:
    assert iob2_spans(["I-PER", "I-PER", "O", "I-LOC", "I-ORG"]) == [(0, 2, "PER"), (3, 4, "LOC"), (4, 5, "ORG")]
    assert tags_to_answer(["Ann", "Lee", "in", "Rome", "UN"], ["I-PER", "I-PER", "O", "I-LOC", "I-ORG"]) == (
        "Ann Lee (PER); Rome (LOC); UN (ORG)"
    )


def test_one_tag_per_token_is_required() -> None:
    with pytest.raises(TaskError, match="2 tokens but 1 tags"):
        tags_to_answer(["a", "b"], ["O"])


# --- reading answers back ------------------------------------------------------

ROUND_TRIP_CASES = [
    (["EU", "rejects", "German", "call"], ["B-ORG", "O", "B-MISC", "O"]),
    (["New", "York", "City", "and", "Boston"], ["B-LOC", "I-LOC", "I-LOC", "O", "B-LOC"]),
    (["Bonn", "Paris"], ["B-LOC", "B-LOC"]),
    (["Paris", "Paris", "in", "Paris"], ["B-LOC", "B-LOC", "O", "B-LOC"]),
    (["Peter", "runs"], ["O", "O"]),
    (["(", "AFP", ")", ";", "Reuters"], ["O", "B-ORG", "O", "O", "B-ORG"]),
    (["AT&T", "(", "T", ")", "shares"], ["B-ORG", "O", "B-ORG", "O", "O"]),
    (["Smith", ";", "Jones"], ["B-PER", "I-PER", "I-PER"]),  # a span whose text holds ";"
    (["Guns", "N'", "Roses", "(band)"], ["B-group", "I-group", "I-group", "O"]),
]


@pytest.mark.parametrize(("tokens", "tags"), ROUND_TRIP_CASES)
def test_gold_bio_answers_read_back_to_the_gold_tags(tokens: list[str], tags: list[str]) -> None:
    assert answer_to_tags(tags_to_answer(tokens, tags), tokens, "bio") == tags


def test_gold_pos_answers_read_back_even_for_bracket_and_semicolon_tokens() -> None:
    tokens = ["(", ";", ")", ":", "(see", "below)", "a;b", "-"]
    tags = ["PUNCT", "PUNCT", "PUNCT", "PUNCT", "NOUN", "ADV", "X", "PUNCT"]
    assert answer_to_tags(tags_to_answer(tokens, tags), tokens, "token") == tags


def test_random_valid_iob2_sequences_round_trip() -> None:
    rng = random.Random(0)
    shapes = ["w{}", "({}", "{})", "{};", ";", "(", ")", "{}:{}", "-"]
    for _ in range(300):
        n = rng.randint(0, 12)
        tokens = [rng.choice(shapes).format(i, i) + str(i) for i in range(n)]  # distinct tokens
        tags: list[str] = []
        for _ in range(n):
            previous = tags[-1] if tags else "O"
            options = ["O", "B-PER", "B-LOC"] + ([f"I-{previous[2:]}"] if previous != "O" else [])
            tags.append(rng.choice(options))
        answer = tags_to_answer(tokens, tags, scheme="bio")
        assert answer_to_tags(answer, tokens, "bio") == tags, answer


def test_span_is_located_after_the_previous_span_and_first_place_wins() -> None:
    tokens = ["Paris", "in", "Paris"]
    assert answer_to_tags("Paris (LOC); Paris (LOC)", tokens, "bio") == ["B-LOC", "O", "B-LOC"]
    # The format has no positions: a lone span reads back at its first occurrence.
    assert answer_to_tags("Paris (LOC)", tokens, "bio") == ["B-LOC", "O", "O"]


def test_malformed_and_unknown_items_are_skipped_and_the_rest_kept() -> None:
    tokens = ["EU", "rejects", "German", "call"]
    assert answer_to_tags("Brussels (LOC); German (MISC)", tokens, "bio") == ["O", "O", "B-MISC", "O"]
    assert answer_to_tags("oops; EU (ORG); call (", tokens, "bio") == ["B-ORG", "O", "O", "O"]
    assert answer_to_tags("German (MISC); EU (ORG)", tokens, "bio") == ["O", "O", "B-MISC", "O"]  # out of order
    assert answer_to_tags("EU(ORG)", tokens, "bio") == ["O"] * 4
    assert answer_to_tags("EU (two words)", tokens, "bio") == ["O"] * 4


@pytest.mark.parametrize("answer", ["", "none", "None", "nothing here", ";;;", "(((", " (X)"])
def test_answers_without_readable_spans_leave_every_token_untagged(answer: str) -> None:
    assert answer_to_tags(answer, ["a", "b"], "bio") == ["O", "O"]
    assert answer_to_tags(answer, ["a", "b"], "token") == ["", ""]


def test_token_scheme_tags_every_token_of_a_multi_token_item() -> None:
    assert answer_to_tags("New York (PROPN); is (AUX)", ["New", "York", "is"], "token") == ["PROPN", "PROPN", "AUX"]


def test_unknown_scheme_is_rejected() -> None:
    with pytest.raises(ValueError, match="scheme"):
        answer_to_tags("a (X)", ["a"], "iob")  # type: ignore[arg-type]


# --- the real data -------------------------------------------------------------


@pytest.mark.mirror
@pytest.mark.parametrize(
    ("path", "column", "names", "scheme"),
    [
        ("eriktks/conll2003/conll2003/validation.jsonl", "ner_tags", CONLL_TAGS, "bio"),
        ("leondz/wnut_17/wnut_17/validation.jsonl", "ner_tags", WNUT_TAGS, "bio"),
        ("universal_dependencies/en_ewt/validation.jsonl", "upos", UPOS_TAGS, "token"),
    ],
)
def test_every_validation_sentence_of_the_mirror_round_trips(
    mirror: Path, path: str, column: str, names: list[str], scheme: str
) -> None:
    if not (mirror / path).is_file():
        pytest.skip(f"{path} is absent from the data mirror")
    sentences = 0
    with open(mirror / path, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            tags = [names[i] for i in row[column]]
            answer = tags_to_answer(row["tokens"], tags)
            back = answer_to_tags(answer, row["tokens"], scheme)  # type: ignore[arg-type]
            assert back == tags, (row.get("id"), answer)
            sentences += 1
    assert sentences > 1000
