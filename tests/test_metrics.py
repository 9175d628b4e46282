"""The metrics (tasks/metrics.py): hand-computed cases, and exact agreement with the reference libraries."""

from __future__ import annotations

import json
import random
import re
import string
from collections import Counter
from pathlib import Path
from typing import Sequence

import pytest
import sacrebleu
from rouge_score import rouge_scorer
from scipy import stats
from seqeval.metrics import f1_score as seqeval_f1
from sklearn.metrics import f1_score as sklearn_f1
from sklearn.metrics import matthews_corrcoef

import tasks
from tasks import metrics as M
from tasks.errors import TaskError
from tasks.tagging import answer_to_tags, tags_to_answer
from tasks.types import Example


def ex(answer: str, i: int = 0, **fields: object) -> Example:
    """A minimal example; only the answer fields matter to a metric."""
    example_id = str(fields.pop("id", i))
    return Example(id=example_id, question="q", context="c", answer=answer, **fields)  # type: ignore[arg-type]


# --- the official SQuAD v1.1 evaluation script, verbatim, as the reference --------


def official_normalize_answer(s):  # type: ignore[no-untyped-def]
    def remove_articles(text):  # type: ignore[no-untyped-def]
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):  # type: ignore[no-untyped-def]
        return " ".join(text.split())

    def remove_punc(text):  # type: ignore[no-untyped-def]
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):  # type: ignore[no-untyped-def]
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def official_f1_score(prediction, ground_truth):  # type: ignore[no-untyped-def]
    prediction_tokens = official_normalize_answer(prediction).split()
    ground_truth_tokens = official_normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


def official_exact_match_score(prediction, ground_truth):  # type: ignore[no-untyped-def]
    return official_normalize_answer(prediction) == official_normalize_answer(ground_truth)


def official_evaluate(gold_answers, predictions):  # type: ignore[no-untyped-def]
    f1 = exact_match = total = 0
    for ground_truths, prediction in zip(gold_answers, predictions):
        total += 1
        exact_match += max(official_exact_match_score(prediction, g) for g in ground_truths)
        f1 += max(official_f1_score(prediction, g) for g in ground_truths)
    return {"exact_match": 100.0 * exact_match / total, "f1": 100.0 * f1 / total}


SQUAD_CASES = [
    # (prediction, acceptable answers)
    ("Denver Broncos", ("Denver Broncos", "The Denver Broncos")),
    ("the Denver Broncos!", ("Denver Broncos",)),
    ("Broncos defense", ("Denver Broncos",)),
    ("Santa Clara, California", ("Levi's Stadium", "Santa Clara, California", "Levi's Stadium in the Bay Area")),
    ("an  apple a day", ("apple day",)),
    ("", ("Carolina Panthers",)),
    ("", ("",)),
    ("the", ("a",)),  # both normalise to nothing: EM 1, F1 0 in the official script
    ("Ça  va, Émile?", ("ça va émile",)),
    ("1,000,000 dollars", ("1000000 dollars", "one million")),
    ("red red red", ("red",)),
]


def test_em_and_nf1_equal_the_official_squad_script_on_hand_cases() -> None:
    predictions = [p for p, _ in SQUAD_CASES]
    examples = [ex(golds[0], i, answers=golds) for i, (_, golds) in enumerate(SQUAD_CASES)]
    official = official_evaluate([golds for _, golds in SQUAD_CASES], predictions)
    assert M.EM(predictions, examples) == official["exact_match"]
    assert M.NF1(predictions, examples) == pytest.approx(official["f1"], rel=1e-12)  # float summation order
    for (prediction, golds), e in zip(SQUAD_CASES, examples):
        assert M.em_scores([prediction], [e]) == [100.0 * max(official_exact_match_score(prediction, g) for g in golds)]
        assert M.nf1_scores([prediction], [e]) == [100.0 * max(official_f1_score(prediction, g) for g in golds)]


def test_em_and_nf1_hand_values() -> None:
    # "Broncos defense" vs "Denver Broncos": 1 common token, P = R = 1/2.
    assert M.nf1_scores(["Broncos defense"], [ex("Denver Broncos")]) == [50.0]
    # "red red red" vs "red": P = 1/3, R = 1, F1 = 0.5.
    assert M.nf1_scores(["red red red"], [ex("red")]) == [50.0]
    assert M.em_scores(["The  Denver-Broncos."], [ex("denverbroncos")]) == [100.0]
    assert M.EM(["", "x"], [ex("Panthers"), ex("y")]) == 0.0


@pytest.mark.mirror
def test_em_and_nf1_equal_the_official_script_on_squad_validation(mirror: Path) -> None:
    path = mirror / "rajpurkar/squad/plain_text/validation.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} is absent from the data mirror")
    rng = random.Random(1)
    golds, predictions = [], []
    with open(path, encoding="utf-8") as f:
        for line, _ in zip(f, range(400)):
            row = json.loads(line)
            answers = tuple(row["answers"]["text"])
            words = rng.choice(answers).split() + row["context"].split()[:3]
            golds.append(answers)
            predictions.append(" ".join(words[: rng.randint(0, len(words))]))  # partial, noisy answers
    examples = [ex(a[0], i, answers=a) for i, a in enumerate(golds)]
    for prediction, answers, e in zip(predictions, golds, examples):
        assert M.nf1_scores([prediction], [e]) == [100.0 * max(official_f1_score(prediction, g) for g in answers)]
    official = official_evaluate(golds, predictions)
    assert M.EM(predictions, examples) == official["exact_match"]
    # Per example the values are identical; the mean differs only in float summation order.
    assert M.NF1(predictions, examples) == pytest.approx(official["f1"], rel=1e-12)


# --- accuracy -------------------------------------------------------------------


def test_accuracy_ignores_case_and_outer_spaces_only() -> None:
    examples = [ex("positive", i, choices=("negative", "positive")) for i in range(4)]
    assert M.accuracy_scores([" Positive\n", "POSITIVE", "positive.", ""], examples) == [100.0, 100.0, 0.0, 0.0]
    assert M.ACCURACY([" Positive\n", "POSITIVE", "positive.", ""], examples) == 50.0


# --- BLEU and ROUGE against their libraries -------------------------------------

HYPOTHESES = [
    "The cat sat on the mat.",
    "A dog ran in the park today",
    "",
    "Das ist ein Test , nicht wahr ?",
    "completely unrelated words here",
]
REFERENCES = [
    "The cat sat on the mat.",
    "The dog ran through the park today.",
    "Nothing was said.",
    "Das ist ein Test, nicht wahr?",
    "The summary mentions cats and dogs.",
]


def test_bleu_equals_sacrebleu_corpus_bleu() -> None:
    examples = [ex(r, i) for i, r in enumerate(REFERENCES)]
    expected = sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES]).score
    assert M.BLEU(HYPOTHESES, examples) == expected
    assert 0.0 < expected < 100.0


def test_bleu_of_gold_is_100_and_of_empty_predictions_0() -> None:
    examples = [ex(r, i) for i, r in enumerate(REFERENCES)]
    assert M.BLEU(REFERENCES, examples) == pytest.approx(100.0)
    assert M.BLEU([""] * len(REFERENCES), examples) == 0.0


@pytest.mark.parametrize(("metric", "rouge_type"), [(M.ROUGE1, "rouge1"), (M.ROUGE2, "rouge2"), (M.ROUGE_L, "rougeL")])
def test_rouge_equals_rouge_score_with_stemming(metric: object, rouge_type: str) -> None:
    scorer = rouge_scorer.RougeScorer([rouge_type], use_stemmer=True)
    examples = [ex(r, i) for i, r in enumerate(REFERENCES)]
    expected = [100.0 * scorer.score(r, h)[rouge_type].fmeasure for h, r in zip(HYPOTHESES, REFERENCES)]
    assert M.rouge_scores(rouge_type, HYPOTHESES, examples) == expected
    assert metric(HYPOTHESES, examples) == sum(expected) / len(expected)  # type: ignore[operator]


def test_rouge_hand_values_and_best_reference() -> None:
    # "cats sat" vs "the cat sat": stemmed unigrams {cat, sat} all match, P = 1, R = 2/3, F = 0.8.
    assert M.rouge_scores("rouge1", ["cats sat"], [ex("the cat sat")]) == [80.0]
    # bigrams: predicted {cat sat}, gold {the cat, cat sat}: P = 1, R = 1/2, F = 2/3.
    assert M.rouge_scores("rouge2", ["cats sat"], [ex("the cat sat")]) == [pytest.approx(200 / 3)]
    assert M.rouge_scores("rougeL", ["sat cat"], [ex("x", answers=("nothing", "sat cat"))]) == [100.0]
    assert M.rouge_scores("rouge1", [""], [ex("the cat sat")]) == [0.0]


# --- entity F1 and token accuracy ------------------------------------------------

NER = [
    (["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."],
     ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"]),
    (["Peter", "Blackburn"], ["B-PER", "I-PER"]),
    (["BRUSSELS", "1996-08-22"], ["B-LOC", "O"]),
    (["The", "European", "Commission", "said", "on", "Thursday"], ["O", "B-ORG", "I-ORG", "O", "O", "O"]),
]  # fmt: skip


def ner_examples() -> list[Example]:
    return [ex(tags_to_answer(t, g), i, tokens=tuple(t), tags=tuple(g)) for i, (t, g) in enumerate(NER)]


def test_entity_f1_hand_value() -> None:
    predictions = [
        "EU (ORG); German (MISC)",  # 2 right, British missed
        "Peter (PER)",  # wrong boundary
        "BRUSSELS (LOC)",  # right
        "European Commission (ORG); Thursday (DATE)",  # 1 right, 1 invented
    ]
    # gold 6 entities, predicted 6, correct 4: P = R = F1 = 4/6.
    assert M.ENTITY_F1(predictions, ner_examples()) == pytest.approx(100 * 4 / 6)


def test_entity_f1_equals_seqeval_on_the_parsed_tags() -> None:
    predictions = ["EU (ORG); rejects (ORG); lamb (MISC)", "Peter Blackburn (PER)", "none", "Commission (ORG)"]
    examples = ner_examples()
    gold = [list(g) for _, g in NER]
    parsed = [answer_to_tags(p, t, "bio") for p, (t, _) in zip(predictions, NER)]
    assert M.ENTITY_F1(predictions, examples) == 100.0 * seqeval_f1(gold, parsed)


def test_entity_f1_of_gold_is_100_and_of_empty_predictions_0() -> None:
    examples = ner_examples()
    assert M.ENTITY_F1([e.answer for e in examples], examples) == 100.0
    assert M.ENTITY_F1([""] * len(examples), examples) == 0.0


def test_entity_f1_without_any_entity_is_100_unless_one_is_invented() -> None:
    examples = [ex("none", 0, tokens=("Peter", "runs"), tags=("O", "O"))]
    assert M.ENTITY_F1(["none"], examples) == 100.0
    assert M.ENTITY_F1([""], examples) == 100.0
    assert M.ENTITY_F1(["Peter (PER)"], examples) == 0.0


def test_token_accuracy_counts_tokens_over_the_corpus() -> None:
    examples = [
        ex("", 0, tokens=("Al", "-", "Zaman"), tags=("PROPN", "PUNCT", "PROPN")),
        ex("", 1, tokens=("Go",), tags=("VERB",)),
    ]
    predictions = ["Al (PROPN); - (PUNCT); Zaman (NOUN)", "Go (VERB)"]
    assert M.TOKEN_ACCURACY(predictions, examples) == 75.0  # 3 of 4 tokens, not the mean 2/3 and 1
    assert M.TOKEN_ACCURACY([tags_to_answer(e.tokens, e.tags) for e in examples], examples) == 100.0
    assert M.TOKEN_ACCURACY(["", "garbage"], examples) == 0.0


def test_token_accuracy_gives_no_credit_for_a_missed_token_whose_gold_tag_is_underscore() -> None:
    examples = [ex("", 0, tokens=("don't", "do", "n't"), tags=("_", "AUX", "PART"))]  # UD's multiword token
    assert M.TOKEN_ACCURACY(["do (AUX); n't (PART)"], examples) == pytest.approx(200 / 3)
    assert M.TOKEN_ACCURACY([""], examples) == 0.0


# --- labels: MCC and binary F1 ----------------------------------------------------

COLA = ("unacceptable", "acceptable")


def test_mcc_equals_sklearn_and_treats_other_answers_as_their_own_wrong_label() -> None:
    rng = random.Random(2)
    gold = [rng.choice(COLA) for _ in range(60)]
    predictions = [rng.choice([*COLA, "Acceptable ", "maybe", ""]) for _ in gold]
    examples = [ex(g, i, choices=COLA) for i, g in enumerate(gold)]
    mapped = [p.strip().lower() if p.strip().lower() in COLA else p.strip() for p in predictions]
    assert M.MCC(predictions, examples) == 100.0 * matthews_corrcoef(gold, mapped)


def test_mcc_hand_values() -> None:
    gold = ["acceptable", "acceptable", "unacceptable", "unacceptable"]
    examples = [ex(g, i, choices=COLA) for i, g in enumerate(gold)]
    assert M.MCC(["acceptable", "acceptable", "unacceptable", "unacceptable"], examples) == 100.0
    assert M.MCC(["unacceptable", "unacceptable", "acceptable", "acceptable"], examples) == -100.0
    assert M.MCC(["acceptable"] * 4, examples) == 0.0
    assert M.MCC([""] * 4, examples) == 0.0


MRPC = ("not_equivalent", "equivalent")


def test_f1_is_that_of_the_last_choice_and_equals_sklearn() -> None:
    gold = ["equivalent", "equivalent", "not_equivalent", "not_equivalent", "equivalent"]
    predictions = ["equivalent", "not_equivalent", "equivalent", "not_equivalent", "yes"]
    examples = [ex(g, i, choices=MRPC) for i, g in enumerate(gold)]
    # positive = equivalent: TP 1, FP 1, FN 2 -> P 1/2, R 1/3, F1 0.4.
    assert M.F1(predictions, examples) == pytest.approx(40.0)
    expected = sklearn_f1(gold, [p if p in MRPC else "not_equivalent" for p in predictions], pos_label="equivalent")
    assert M.F1(predictions, examples) == 100.0 * expected
    assert M.F1([""] * 5, examples) == 0.0


def test_f1_needs_choices() -> None:
    with pytest.raises(TaskError, match="no choices"):
        M.F1(["a"], [ex("a")])


# --- numbers: Pearson and Spearman -----------------------------------------------


def test_correlations_equal_scipy() -> None:
    rng = random.Random(3)
    gold = [round(rng.uniform(0, 5), 2) for _ in range(50)]
    predicted = [g + rng.gauss(0, 1) for g in gold]
    examples = [ex(str(g), i, value=g) for i, g in enumerate(gold)]
    predictions = [f"{p}" for p in predicted]
    assert M.PEARSON(predictions, examples) == 100.0 * stats.pearsonr(gold, predicted).statistic
    assert M.SPEARMAN(predictions, examples) == 100.0 * stats.spearmanr(gold, predicted).statistic


def test_unparseable_predictions_take_the_mean_of_the_parseable_ones() -> None:
    gold = [1.0, 2.0, 3.0, 4.0]
    examples = [ex(str(g), i, value=g) for i, g in enumerate(gold)]
    filled = [1.0, 3.0, 3.0, 5.0]  # "n/a" -> mean(1, 3, 5) = 3
    assert M.PEARSON(["1", "n/a", "score: 3", "5"], examples) == 100.0 * stats.pearsonr(gold, filled).statistic


def test_constant_or_empty_predictions_score_zero_not_nan() -> None:
    examples = [ex(str(g), i, value=g) for i, g in enumerate([0.0, 2.5, 5.0])]
    for metric in (M.PEARSON, M.SPEARMAN):
        assert metric(["3", "3", "3"], examples) == 0.0
        assert metric(["", "", ""], examples) == 0.0
        assert metric(["1"], examples[:1]) == 0.0
        assert metric(["0", "2.5", "5"], examples) == pytest.approx(100.0)


def test_correlations_need_gold_values() -> None:
    with pytest.raises(TaskError, match="has no value"):
        M.PEARSON(["1", "2"], [ex("1", 0), ex("2", 1)])


# --- dialogue state (decaNLP's WOZ) -----------------------------------------------


@pytest.mark.parametrize(
    ("text", "inform", "requested"),
    [
        ("food: chinese, area: south; phone, address", {"food": "chinese", "area": "south"}, ["phone", "address"]),
        ("price range: cheap; ", {"price range": "cheap"}, []),
        ("; phone", {}, ["phone"]),
        ("None", {}, []),
        ("none", {}, []),
        ("", {}, []),
        (";", {}, []),
        ("food:  chinese ,food: thai;phone;phone", {"food": "thai"}, ["phone"]),
        ("area: south, garbage", {"area": "south"}, ["garbage"]),
        ("area south; phone", {}, ["phone"]),
        ("name: the: place;", {"name": "the: place"}, []),
    ],
)
def test_parse_dialogue_state_reads_decanlp_answers_and_tolerates_malformed_ones(
    text: str, inform: dict[str, str], requested: list[str]
) -> None:
    assert M.parse_dialogue_state(text) == (inform, requested)


def woz_examples() -> list[Example]:
    """Two dialogues, deliberately out of order (turn 10 after turn 2, dialogues interleaved)."""
    gold = {
        "5_0": "area: south; ",
        "5_1": "food: chinese; phone",
        "9_0": "food: thai; ",
        "5_2": "area: north; address",
        "9_1": "None",
        "5_10": "; postcode",
    }
    return [ex(answer, id=i) for i, answer in gold.items()]


def test_joint_goal_accumulates_each_dialogue_in_turn_order() -> None:
    examples = woz_examples()
    predictions = [
        "area: south; ",  # 5_0 state {area: south} = gold
        "food: thai; phone",  # 5_1 state {area: south, food: thai} != gold
        "food: thai; ",  # 9_0 = gold
        "area: north, food: chinese; address",  # 5_2 repaired: {area: north, food: chinese} = gold
        "None",  # 9_1 = gold
        "; postcode",  # 5_10 after 5_2 (not after 5_1): still = gold
    ]
    assert M.joint_goal_scores(predictions, examples) == [100.0, 0.0, 100.0, 100.0, 100.0, 100.0]
    assert M.turn_inform_scores(predictions, examples) == [100.0, 0.0, 100.0, 0.0, 100.0, 100.0]
    assert M.turn_request_scores(predictions, examples) == [100.0] * 6
    assert M.JOINT_GOAL(predictions, examples) == pytest.approx(500 / 6)


def test_a_missed_slot_fails_every_later_turn_of_its_dialogue_only() -> None:
    examples = woz_examples()
    predictions = ["None", "food: chinese; phone", "food: thai; ", "area: north; address", "None", "; postcode"]
    # 5_0 misses area: south; 5_2 informs area: north, which replaces it in both states.
    assert M.joint_goal_scores(predictions, examples) == [0.0, 0.0, 100.0, 100.0, 100.0, 100.0]


def test_request_order_does_not_matter_but_content_does() -> None:
    examples = [ex("; phone, address", id="1_0"), ex("; phone", id="1_1")]
    assert M.turn_request_scores(["; address, phone", "; phone, postcode"], examples) == [100.0, 0.0]


def test_dialogue_metrics_score_gold_100_and_empty_0() -> None:
    examples = [ex("food: thai; phone", id="3_0"), ex("area: west; address", id="3_1")]
    for metric in (M.JOINT_GOAL, M.TURN_INFORM, M.TURN_REQUEST):
        assert metric([e.answer for e in examples], examples) == 100.0
        assert metric(["", ""], examples) == 0.0


def test_dialogue_ids_must_name_dialogue_and_turn() -> None:
    with pytest.raises(TaskError, match="'<dialogue_idx>_<turn_idx>'"):
        M.joint_goal_scores(["None"], [ex("None", id="turn-3")])


# --- decaNLP's scoring: the ``decanlp`` variant ---------------------------------
# Each case is built from decaNLP's metrics.py definitions (computeEM's string equality,
# computeBLEU's corpus_bleu(lowercase=True), to_delta_state and computeDialogue) and
# asserts what both variants give.


def test_decanlp_em_is_exact_string_equality_where_accuracy_forgives_case_and_outer_spaces() -> None:
    examples = [ex("positive", i, choices=("negative", "positive")) for i in range(5)]
    predictions = ["positive", "Positive", " positive", "positive ", "POSITIVE"]
    assert M.accuracy_scores(predictions, examples) == [100.0] * 5
    assert M.decanlp_em_scores(predictions, examples) == [100.0, 0.0, 0.0, 0.0, 0.0]
    assert (M.ACCURACY(predictions, examples), M.DECANLP_EM(predictions, examples)) == (100.0, 20.0)
    assert M.DECANLP_EM(["maybe"], [ex("yes", answers=("yes", "maybe"))]) == 100.0, "best over acceptable answers"


def test_decanlp_bleu_is_sacrebleu_corpus_bleu_on_lowercased_text() -> None:
    references = [ex(r, i) for i, r in enumerate(REFERENCES)]
    shouted = [r.upper() for r in REFERENCES]
    assert M.DECANLP_BLEU(shouted, references) == sacrebleu.corpus_bleu(shouted, [REFERENCES], lowercase=True).score
    assert M.DECANLP_BLEU(shouted, references) == pytest.approx(100.0)
    assert M.BLEU(shouted, references) == sacrebleu.corpus_bleu(shouted, [REFERENCES]).score < 10.0
    spaced = ["  ".join(r.split(" ")) + " " for r in REFERENCES]  # 13a tokenisation makes runs of spaces one
    assert M.BLEU(spaced, references) == pytest.approx(100.0) and M.DECANLP_BLEU(spaced, references) == pytest.approx(100.0)
    assert M.DECANLP_BLEU(HYPOTHESES, references) == sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES], lowercase=True).score


@pytest.mark.parametrize(
    ("text", "inform", "requests"),
    [
        ("food: thai, area: north; phone, address", {"food": "thai", "area": "north"}, ("phone", "address")),
        ("food:  thai ;  phone ", {"food": "thai"}, ("phone",)),  # spaces around items are stripped
        ("food: thai;", {"food": "thai"}, ("",)),  # the empty request side is one empty request
        ("; address", {}, ("address",)),
        ("None", {}, None),
        ("  ", {}, None),
        ("none", {}, None),  # not "None", and without ';': unreadable, which is the same nothing
        ("food: thai", {}, None),  # no ';': nothing informed at all
        ("food: thai; phone; area: west", {}, None),  # two ';': unreadable
        ("time: 10:30, food: thai;", {"food": "thai"}, ("",)),  # two ':' in an item: that item is dropped
    ],
)
def test_decanlp_reads_dialogue_states_as_to_delta_state_does(text: str, inform: dict[str, str], requests: tuple[str, ...] | None) -> None:
    assert M.decanlp_delta_state(text) == (inform, requests)


def dialogue_scores(predictions: list[str], examples: list[Example]) -> dict[str, tuple[float, float]]:
    """(default, decanlp) value of each dialogue metric."""
    pairs = {"joint_goal": M.DECANLP_JOINT_GOAL, "turn_inform": M.DECANLP_TURN_INFORM, "turn_request": M.DECANLP_TURN_REQUEST}
    return {name: (M.get_metric(name)(predictions, examples), variant(predictions, examples)) for name, variant in pairs.items()}


def test_decanlp_compares_requests_in_order() -> None:
    examples = [ex("; phone, address", id="5_0")]
    assert dialogue_scores(["; address, phone"], examples) == {
        "joint_goal": (100.0, 100.0), "turn_inform": (100.0, 100.0), "turn_request": (100.0, 0.0),
    }  # fmt: skip


def test_decanlp_scores_a_prediction_without_semicolon_zero() -> None:
    examples = [ex("food: thai;", id="5_0"), ex("area: north; phone", id="5_1")]
    predictions = ["food: thai", "area: north, phone"]  # right slots, no ';'
    assert dialogue_scores(predictions, examples) == {
        "joint_goal": (100.0, 0.0), "turn_inform": (100.0, 0.0), "turn_request": (100.0, 0.0),
    }  # fmt: skip


def test_decanlp_dialogue_case_and_whitespace() -> None:
    examples = [ex("food: thai;", id="5_0"), ex("None", id="5_1")]
    assert dialogue_scores(["food:   thai ;", "none"], examples) == {
        "joint_goal": (100.0, 100.0), "turn_inform": (100.0, 100.0), "turn_request": (100.0, 100.0),
    }  # fmt: skip
    assert dialogue_scores(["food: Thai;", "None"], examples) == {  # values keep their case in both
        "joint_goal": (0.0, 0.0), "turn_inform": (50.0, 50.0), "turn_request": (100.0, 100.0),
    }  # fmt: skip
    # decaNLP's "None" has no request list, which never equals the [''] of a ';' with nothing after it.
    assert dialogue_scores([";"], [ex("None", id="5_0")])["turn_request"] == (100.0, 0.0)


def test_decanlp_folds_the_joint_goal_in_id_string_order() -> None:
    """decaNLP sorts turns by their id as strings: turn 10 comes right after turn 1."""
    gold = ["None", "food: thai;"] + ["None"] * 8 + ["food: thai;"]  # turns 0..10
    examples = [ex(answer, id=f"8_{turn}") for turn, answer in enumerate(gold)]
    predictions = ["None", "None"] + ["None"] * 8 + ["food: thai;"]  # turn 1's slot is missed, turn 10 says it again
    # In turn order only turns 0 and 10 hold the gold state; in decaNLP's order turn 10 precedes 2..9 and repairs them.
    assert M.joint_goal_scores(predictions, examples) == [100.0, 0.0] + [0.0] * 8 + [100.0]
    assert M.decanlp_joint_goal_scores(predictions, examples) == [100.0, 0.0] + [100.0] * 8 + [100.0]


def test_metric_variants_swap_metrics_by_name_and_refuse_unknown_variants() -> None:
    squad, sst2, woz = (tasks.registry.get(name).metrics for name in ("squad", "sst2", "woz"))
    assert M.metric_variant(squad, "default") == squad and M.metric_variant(squad, "decanlp") == squad  # nf1, em are decaNLP's nf1, nem
    assert [m.name for m in M.metric_variant(sst2, "decanlp")] == ["decanlp_em"]
    assert [m.name for m in M.metric_variant(woz, "decanlp")] == ["decanlp_joint_goal", "decanlp_turn_inform", "decanlp_turn_request"]
    assert [m.name for m in M.metric_variant(tasks.registry.get("multi30k_en_de").metrics, "decanlp")] == ["decanlp_bleu"]
    for swaps in M.METRIC_VARIANTS.values():
        assert all(M.get_metric(m.name) is m for m in swaps.values()), "every variant metric is registered by its name"
    with pytest.raises(TaskError, match="unknown metric variant 'decanpl'; did you mean 'decanlp'"):
        M.metric_variant(sst2, "decanpl")


# --- registry and decaScore --------------------------------------------------------


def test_registry_holds_every_metric_under_its_own_name() -> None:
    assert set(M.METRICS) == {
        "accuracy", "em", "nf1", "bleu", "rouge1", "rouge2", "rougeL", "entity_f1", "token_accuracy",
        "mcc", "pearson", "spearman", "f1", "joint_goal", "turn_inform", "turn_request",
        "decanlp_em", "decanlp_bleu", "decanlp_joint_goal", "decanlp_turn_inform", "decanlp_turn_request",
    }  # fmt: skip
    for name, metric in M.METRICS.items():
        assert metric.name == name and M.get_metric(name) is metric and metric.description


def gold_cases() -> dict[str, list[Example]]:
    """For every metric, a few examples its format fits (a new metric must add one)."""
    choice = [ex(a, i, choices=COLA) for i, a in enumerate(["acceptable", "unacceptable", "acceptable"])]
    pairs = [ex(a, i, choices=MRPC) for i, a in enumerate(["equivalent", "not_equivalent", "equivalent"])]
    squad = [ex("Denver Broncos", 0, answers=("Denver Broncos", "the Broncos")), ex("24-10", 1)]
    text = [ex(r, i) for i, r in enumerate(REFERENCES)]
    pos = [ex("Go (VERB); ! (PUNCT)", 0, tokens=("Go", "!"), tags=("VERB", "PUNCT"))]
    scores = [ex(str(v), i, value=v) for i, v in enumerate([0.0, 3.2, 5.0])]
    dialogue = [ex("food: thai; phone", id="3_0"), ex("area: west; address", id="3_1")]
    return {
        "accuracy": choice, "em": squad, "nf1": squad, "bleu": text, "rouge1": text, "rouge2": text,
        "rougeL": text, "entity_f1": ner_examples(), "token_accuracy": pos, "mcc": choice, "pearson": scores,
        "spearman": scores, "f1": pairs, "joint_goal": dialogue, "turn_inform": dialogue, "turn_request": dialogue,
        "decanlp_em": choice, "decanlp_bleu": text, "decanlp_joint_goal": dialogue, "decanlp_turn_inform": dialogue,
        "decanlp_turn_request": dialogue,
    }  # fmt: skip


def test_every_metric_scores_gold_answers_100_and_empty_answers_0() -> None:
    cases = gold_cases()
    assert set(cases) == set(M.METRICS)
    for name, examples in cases.items():
        metric = M.get_metric(name)
        assert metric([e.answer for e in examples], examples) == pytest.approx(100.0), name
        assert metric([""] * len(examples), examples) == 0.0, name


def test_only_corpus_level_scores_are_marked_not_decomposable() -> None:
    corpus = {name for name, metric in M.METRICS.items() if not metric.decomposable}
    assert corpus == {"bleu", "decanlp_bleu", "entity_f1", "token_accuracy", "mcc", "pearson", "spearman", "f1"}


def test_unknown_metric_suggests_a_close_name() -> None:
    with pytest.raises(TaskError, match="unknown metric 'acuracy'; did you mean 'accuracy'"):
        M.get_metric("acuracy")
    with pytest.raises(TaskError, match="known: accuracy, bleu"):
        M.get_metric("perplexity")


def test_deca_score_is_the_plain_sum_of_headlines() -> None:
    assert M.deca_score({"sst2": 91.5, "squad": 80.25, "cola": -3.0}) == 168.75
    assert M.deca_score({}) == 0.0


def test_metrics_of_no_examples_are_zero_and_length_mismatch_is_an_error() -> None:
    assert M.BLEU([], []) == 0.0
    with pytest.raises(ValueError, match="2 predictions for 1 examples"):
        M.EM(["a", "b"], [ex("a")])



# --- sufficient statistics: resampling without recomputing from strings ------------

POS_TAGS = ("NOUN", "VERB", "PUNCT", "ADJ")
WORDS = "the a cat dog sat ran on mat park today . , test ist das".split()


def _perturbed_tags(rng: random.Random, tags: Sequence[str]) -> list[str]:
    """Gold BIO tags with entities dropped, retyped, cut short, or invented."""
    out = list(tags)
    for i, tag in enumerate(out):
        roll = rng.random()
        if tag != "O" and roll < 0.15:
            out[i] = "O"
        elif tag != "O" and roll < 0.25:
            out[i] = tag[:2] + rng.choice(["PER", "ORG", "LOC", "MISC"])
        elif tag.startswith("I-") and roll < 0.35:
            out[i] = "B-" + tag[2:]
        elif tag == "O" and roll < 0.03:
            out[i] = "B-" + rng.choice(["PER", "ORG", "LOC", "MISC"])
    return out


def _ner_predictions(rng: random.Random, examples: Sequence[Example]) -> list[str]:
    """Answers from perturbed gold tags, plus gold answers, empty answers and junk."""
    predictions = []
    for e in examples:
        roll = rng.random()
        if roll < 0.1:
            predictions.append(rng.choice(["", "none", "nothing (PER)", e.answer]))
        else:
            predictions.append(tags_to_answer(e.tokens, _perturbed_tags(rng, e.tags), "bio"))
    return predictions


def stats_cases(rng: random.Random) -> dict[str, list[tuple[list[str], list[Example]]]]:
    """For every corpus metric, a few (predictions, examples) cases, random but seeded."""
    ner = ner_examples()
    no_entities = [ex("none", i, tokens=("Peter", "runs"), tags=("O", "O")) for i in range(3)]
    text = [ex(r, i) for i, r in enumerate(REFERENCES)]
    pos = [ex("", i, tokens=tuple(rng.choice(WORDS) for _ in range(rng.randint(0, 6))), tags=()) for i in range(12)]
    pos = [Example(e.id, "q", "c", "", tokens=e.tokens, tags=tuple(rng.choice(POS_TAGS) for _ in e.tokens)) for e in pos]
    cola = [ex(rng.choice(COLA), i, choices=COLA) for i in range(40)]
    nli = [ex(rng.choice(("yes", "no", "maybe")), i, choices=("yes", "no", "maybe")) for i in range(40)]
    mrpc = [ex(rng.choice(MRPC), i, choices=MRPC) for i in range(40)]
    values = [ex("", i, value=rng.choice([0.0, 1.0, 2.5, 2.5, 4.0, round(rng.uniform(0, 5), 3)])) for i in range(40)]

    def number(e: Example) -> str:
        return rng.choice([f"{e.value + rng.gauss(0, 1):.3f}", "n/a", "", "3", f"about {rng.randint(0, 5)} of 5"])

    def sentence(reference: str) -> str:
        words = reference.split()
        return rng.choice([reference, "", " ".join(rng.sample(words, len(words))), " ".join(rng.choices(WORDS, k=5))])

    return {
        "bleu": [([sentence(e.answer) for e in text], text), (HYPOTHESES, text), ([e.answer for e in text], text)],
        "decanlp_bleu": [([sentence(e.answer).upper() for e in text], text), (HYPOTHESES, text)],
        "entity_f1": [(_ner_predictions(rng, ner), ner), ([""] * 4, ner), (["none", "", "x"], no_entities),
                      (["none", "Peter (PER)", ""], no_entities)],
        "token_accuracy": [([tags_to_answer(e.tokens, [rng.choice(POS_TAGS) for _ in e.tokens], "token") for e in pos], pos),
                           ([""] * len(pos), pos)],
        "mcc": [([rng.choice([*COLA, "Acceptable ", "maybe", ""]) for _ in cola], cola),
                ([rng.choice(["yes", "no", "maybe", "perhaps"]) for _ in nli], nli), (["acceptable"] * 40, cola)],
        "f1": [([rng.choice([*MRPC, "yes"]) for _ in mrpc], mrpc), ([""] * 40, mrpc)],
        "pearson": [([number(e) for e in values], values), (["n/a"] * 40, values)],
        "spearman": [([number(e) for e in values], values), (["3"] * 40, values)],
    }  # fmt: skip


def test_every_corpus_metric_gives_statistics_whose_score_equals_the_corpus_score_exactly() -> None:
    np = pytest.importorskip("numpy")
    rng = random.Random(11)
    cases = stats_cases(rng)
    assert set(cases) == {name for name, metric in M.METRICS.items() if not metric.decomposable}
    for name, metric_cases in cases.items():
        metric = M.get_metric(name)
        assert metric.stats is not None and metric.from_stats is not None, name
        for predictions, examples in metric_cases:
            rows = metric.stats(predictions, examples)
            assert len(rows) == len(examples), name
            assert metric.from_stats(rows) == metric(predictions, examples), (name, predictions)
            # A resample (with repeats) scored from its rows equals the metric recomputed on it.
            table = np.array(rows, dtype=float)  # [n, k]
            for _ in range(5):
                idx = [rng.randrange(len(examples)) for _ in examples]
                expected = metric([predictions[i] for i in idx], [examples[i] for i in idx])
                assert metric.from_stats(table[idx]) == expected, (name, idx)


def test_statistics_are_only_given_as_a_pair_and_only_for_corpus_metrics() -> None:
    from tasks.types import Metric

    with pytest.raises(ValueError, match="both stats and from_stats"):
        Metric("half", corpus=M.bleu_corpus, stats=M.bleu_stats)
    with pytest.raises(ValueError, match="belong to a corpus metric"):
        Metric("mean", example_scores=M.accuracy_scores, stats=M.f1_stats, from_stats=M.f1_from_stats)


def test_entity_statistics_count_spans_as_seqeval_does() -> None:
    examples = ner_examples()
    predictions = ["EU (ORG); German (MISC)", "Peter (PER)", "BRUSSELS (LOC)", "European Commission (ORG); Thursday (DATE)"]
    # [right, predicted, gold, tags other than O] per sentence; see test_entity_f1_hand_value.
    assert M.entity_f1_stats(predictions, examples) == [[2, 2, 3, 5], [0, 1, 1, 3], [1, 1, 1, 2], [1, 2, 1, 5]]
    assert M.entity_f1_from_stats(M.entity_f1_stats(predictions, examples)) == 100.0 * seqeval_f1(
        [list(e.tags) for e in examples], [answer_to_tags(p, e.tokens, "bio") for p, e in zip(predictions, examples)])


def test_entity_statistics_keep_the_no_entity_rule() -> None:
    examples = [ex("none", 0, tokens=("Peter", "runs"), tags=("O", "O"))]
    assert M.entity_f1_from_stats(M.entity_f1_stats(["none"], examples)) == 100.0
    assert M.entity_f1_from_stats(M.entity_f1_stats(["Peter (PER)"], examples)) == 0.0
    assert M.entity_f1_from_stats([[0, 0, 0, 0], [0, 0, 0, 0]]) == 100.0


def test_mcc_statistics_keep_each_unknown_answer_its_own_label() -> None:
    examples = [ex(g, i, choices=COLA) for i, g in enumerate(["acceptable", "acceptable", "unacceptable"])]
    predictions = ["acceptable", "maybe", "perhaps"]
    # sorted labels: acceptable 0, maybe 1, perhaps 2, unacceptable 3
    assert M.mcc_stats(predictions, examples) == [[0, 0], [0, 1], [3, 2]]
    assert M.mcc_from_stats(M.mcc_stats(predictions, examples)) == 100.0 * matthews_corrcoef(
        [e.answer for e in examples], predictions)


def test_correlation_statistics_fill_unparseable_predictions_within_the_resample() -> None:
    examples = [ex(str(g), i, value=g) for i, g in enumerate([1.0, 2.0, 3.0, 4.0])]
    rows = M.correlation_stats(["1", "n/a", "score: 3", "5"], examples)
    assert rows[1][1] == 2.0 and rows[1][0] != rows[1][0]  # NaN until scored
    # The NaN becomes mean(1, 3, 5) = 3, as test_unparseable_predictions_take_the_mean_of_the_parseable_ones.
    assert M.pearson_from_stats(rows) == 100.0 * stats.pearsonr([1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 3.0, 5.0]).statistic


def test_bleu_statistics_are_sacrebleus_and_sum_to_corpus_bleu() -> None:
    examples = [ex(r, i) for i, r in enumerate(REFERENCES)]
    rows = M.bleu_stats(HYPOTHESES, examples)
    bleu = sacrebleu.metrics.BLEU()
    assert rows == [[float(x) for x in row] for row in bleu._extract_corpus_statistics(HYPOTHESES, [REFERENCES])]
    assert M.bleu_from_stats(rows) == sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES]).score


@pytest.mark.mirror
def test_entity_statistics_equal_seqeval_on_conll2003_validation(mirror: Path) -> None:
    np = pytest.importorskip("numpy")
    from tasks import registry
    from tasks.data import load_examples

    task = registry.get("conll2003")
    path = mirror / task.source.mirror_dir / "validation.jsonl"
    if not path.exists():
        pytest.skip(f"{path} is absent from the data mirror")
    examples = list(load_examples(task, "validation", mirror))
    assert len(examples) == 3_250
    rng = random.Random(5)
    predictions = _ner_predictions(rng, examples)
    rows = np.array(M.entity_f1_stats(predictions, examples))  # [3250, 4]
    expected = M.ENTITY_F1(predictions, examples)
    assert 50.0 < expected < 95.0  # a perturbed, imperfect corpus
    assert M.entity_f1_from_stats(rows) == expected
    assert M.entity_f1_from_stats(M.entity_f1_stats([e.answer for e in examples], examples)) == 100.0
    idx = [rng.randrange(len(examples)) for _ in range(800)]
    assert M.entity_f1_from_stats(rows[idx]) == M.ENTITY_F1([predictions[i] for i in idx], [examples[i] for i in idx])


def test_the_docstring_examples_of_the_metrics_run() -> None:
    import doctest

    failed, attempted = doctest.testmod(M, optionflags=doctest.ELLIPSIS)
    assert failed == 0 and attempted > 0
