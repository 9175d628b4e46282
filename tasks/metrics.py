"""The metrics of qabench: predicted answer strings against gold Examples.

Every metric is a :class:`~tasks.types.Metric` on a 0-100 scale and a pure
function of the predictions and the examples: whatever it needs (choices,
tokens, gold tags, gold values, dialogue ids) comes from the
:class:`~tasks.types.Example`. Where a well-kept library computes the score
(sacrebleu, rouge-score, seqeval, scikit-learn, scipy) the metric calls it and
the tests compare against it exactly; the libraries are imported on first use
so that importing :mod:`tasks` (``qabench tasks list``) stays fast.

Look metrics up by name with :func:`get_metric`, or use the constants:

>>> get_metric("em")(["The Eiffel Tower!"], [Example("0", "q", "c", "eiffel tower")])
100.0
>>> ACCURACY(["positive", "Negative "], [
...     Example("0", "q", "c", "positive", choices=("negative", "positive")),
...     Example("1", "q", "c", "positive", choices=("negative", "positive"))])
50.0
"""

from __future__ import annotations

import functools
import math
import re
import string
from collections import Counter
from pathlib import Path
from typing import Any, Mapping, Sequence

from catalog import Registry, did_you_mean
from tasks.errors import TaskError
from tasks.tagging import answer_to_tags
from tasks.types import Example, Metric


def _column_sums(rows: Any, width: int) -> list[float]:
    """The column sums of sufficient-statistics ``rows`` ([n, width], a list or array) as floats."""
    import numpy as np  # imported on use: keeps ``import tasks`` light

    return np.asarray(rows, dtype=np.float64).reshape(-1, width).sum(axis=0).tolist()  # [n, width] -> [width]

# --------------------------------------------------------------------------
# Text answers: accuracy, SQuAD EM / nF1


def _same_text(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


def accuracy_scores(predictions: Sequence[str], examples: Sequence[Example]) -> list[float]:
    """100 where the prediction equals a gold answer up to case and outer spaces.

    >>> accuracy_scores(["Positive", "negative"], [Example("0", "q", "c", "positive")] * 2)
    [100.0, 0.0]
    """
    return [100.0 * any(_same_text(p, a) for a in ex.answers) for p, ex in zip(predictions, examples)]


_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD v1.1's normalisation: lower case, no punctuation, no articles, single spaces.

    >>> normalize_answer("The  Eiffel-Tower, (Paris)")
    'eiffeltower paris'
    """
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def squad_exact_match(prediction: str, gold: str) -> float:
    """1.0 when the normalised strings are equal, as SQuAD v1.1 scores it.

    >>> squad_exact_match("the Denver Broncos", "Denver Broncos!")
    1.0
    """
    return float(normalize_answer(prediction) == normalize_answer(gold))


def squad_f1(prediction: str, gold: str) -> float:
    """SQuAD v1.1 token F1 (0-1) of the normalised strings; 0 when nothing overlaps.

    >>> round(squad_f1("Denver Broncos defense", "the Denver Broncos"), 4)
    0.8
    """
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def em_scores(predictions: Sequence[str], examples: Sequence[Example]) -> list[float]:
    """SQuAD exact match ×100, the best over each example's acceptable answers.

    >>> em_scores(["an apple", "pear"], [Example("0", "q", "c", "Apple", answers=("Apple", "apples")),
    ...                                   Example("1", "q", "c", "apple")])
    [100.0, 0.0]
    """
    return [100.0 * max(squad_exact_match(p, a) for a in ex.answers) for p, ex in zip(predictions, examples)]


def nf1_scores(predictions: Sequence[str], examples: Sequence[Example]) -> list[float]:
    """SQuAD token F1 ×100 (decaNLP's nF1), the best over acceptable answers.

    >>> nf1_scores(["red apple"], [Example("0", "q", "c", "apple", answers=("apple", "green pear"))])
    [66.66666666666666]
    """
    return [100.0 * max(squad_f1(p, a) for a in ex.answers) for p, ex in zip(predictions, examples)]


# --------------------------------------------------------------------------
# Generated text: BLEU, ROUGE


def bleu_corpus(predictions: Sequence[str], examples: Sequence[Example]) -> float:
    """sacrebleu's corpus BLEU (13a tokenisation), one reference per example: its ``answer``.

    BLEU counts n-grams up to 4 over the whole corpus, so a corpus whose
    answers are all shorter than four tokens scores 0 even when it is perfect.

    >>> round(bleu_corpus(["the cat sat on the mat"], [Example("0", "q", "c", "the cat sat on the mat")]), 6)
    100.0
    """
    import sacrebleu  # imported on use: keeps ``import tasks`` light

    return float(sacrebleu.corpus_bleu(list(predictions), [[ex.answer for ex in examples]]).score)


@functools.cache
def _bleu_scorer() -> Any:
    from sacrebleu.metrics import BLEU  # imported on use: keeps ``import tasks`` light

    return BLEU()  # the settings of sacrebleu.corpus_bleu's defaults


def bleu_stats(predictions: Sequence[str], examples: Sequence[Example]) -> list[list[float]]:
    """sacrebleu's sentence statistics: hypothesis and reference length, then n-gram matches and totals (n=1..4).

    >>> bleu_stats(["the cat sat"], [Example("0", "q", "c", "the cat sat down")])
    [[3.0, 4.0, 3.0, 2.0, 1.0, 0.0, 3.0, 2.0, 1.0, 0.0]]
    """
    from sacrebleu.metrics import BLEU  # a fresh scorer: reading references changes its state

    rows = BLEU()._extract_corpus_statistics(list(predictions), [[ex.answer for ex in examples]])
    return [[float(x) for x in row] for row in rows]


def bleu_from_stats(rows: Any) -> float:
    """Corpus BLEU from :func:`bleu_stats` rows: sacrebleu on the summed statistics, as corpus BLEU does.

    >>> exs = [Example("0", "q", "c", "the cat sat on the mat")]
    >>> bleu_from_stats(bleu_stats(["the cat sat on the mat"], exs)) == bleu_corpus(["the cat sat on the mat"], exs)
    True
    """
    scorer = _bleu_scorer()
    totals = [int(x) for x in _column_sums(rows, 2 + 2 * scorer.max_ngram_order)]
    return float(scorer._compute_score_from_stats(totals).score)


@functools.cache
def _rouge_scorer(rouge_type: str) -> Any:
    from rouge_score import rouge_scorer  # imported on use: it pulls in nltk

    return rouge_scorer.RougeScorer([rouge_type], use_stemmer=True)


def rouge_scores(rouge_type: str, predictions: Sequence[str], examples: Sequence[Example]) -> list[float]:
    """rouge-score F-measure ×100 with Porter stemming, the best over acceptable answers.

    ``rouge_type`` is ``rouge1``, ``rouge2`` or ``rougeL``.

    >>> rouge_scores("rouge1", ["cats sat"], [Example("0", "q", "c", "the cat sat")])
    [80.0]
    """
    scorer = _rouge_scorer(rouge_type)
    return [
        100.0 * max(scorer.score(a, p)[rouge_type].fmeasure for a in ex.answers)
        for p, ex in zip(predictions, examples)
    ]


# --------------------------------------------------------------------------
# Tags: entity F1, token accuracy


def entity_f1_corpus(predictions: Sequence[str], examples: Sequence[Example]) -> float:
    """seqeval micro F1 ×100 (conlleval's default mode) of the spans read from the answers.

    Each prediction is read back to tags with
    :func:`tasks.tagging.answer_to_tags` (scheme ``bio``) and compared with
    ``example.tags``. A corpus with no gold and no predicted entity at all
    scores 100: there was nothing to find and nothing was invented.

    >>> ex = Example("0", "q", "c", "EU (ORG)", tokens=("EU", "rejects", "it"), tags=("B-ORG", "O", "O"))
    >>> entity_f1_corpus(["EU (ORG)"], [ex]), entity_f1_corpus(["EU (LOC); it (ORG)"], [ex])
    (100.0, 0.0)
    """
    from seqeval.metrics import f1_score  # imported on use: it pulls in scikit-learn

    gold = [list(ex.tags) for ex in examples]
    predicted = [answer_to_tags(p, ex.tokens, "bio") for p, ex in zip(predictions, examples)]
    if all(tag == "O" for tags in gold + predicted for tag in tags):
        return 100.0
    return 100.0 * float(f1_score(gold, predicted, zero_division=0))


def entity_f1_stats(predictions: Sequence[str], examples: Sequence[Example]) -> list[list[float]]:
    """Per example: [entities right, entities predicted, gold entities, tags other than ``O``].

    Spans are seqeval's (``get_entities``, conlleval's default mode), so
    :func:`entity_f1_from_stats` of all rows equals :func:`entity_f1_corpus`.

    >>> ex = Example("0", "q", "c", "EU (ORG)", tokens=("EU", "rejects", "it"), tags=("B-ORG", "O", "O"))
    >>> entity_f1_stats(["EU (ORG); it (ORG)"], [ex])
    [[1.0, 2.0, 1.0, 3.0]]
    """
    from seqeval.metrics.sequence_labeling import get_entities  # imported on use: it pulls in scikit-learn

    rows = []
    for prediction, ex in zip(predictions, examples):
        gold = list(ex.tags)
        predicted = answer_to_tags(prediction, ex.tokens, "bio")
        if len(predicted) != len(gold):
            raise ValueError(f"example {ex.id!r}: {len(ex.tokens)} tokens but {len(gold)} gold tags")
        gold_spans, predicted_spans = set(get_entities(gold)), set(get_entities(predicted))
        tagged = sum(tag != "O" for tag in gold + predicted)
        rows.append([float(len(gold_spans & predicted_spans)), float(len(predicted_spans)), float(len(gold_spans)), float(tagged)])
    return rows


def entity_f1_from_stats(rows: Any) -> float:
    """Micro entity F1 ×100 from summed :func:`entity_f1_stats` rows, computed as seqeval does.

    No tag other than ``O`` anywhere scores 100, as in :func:`entity_f1_corpus`.

    >>> entity_f1_from_stats([[1, 2, 1, 3], [0, 0, 1, 1]]), entity_f1_from_stats([[0, 0, 0, 0]])
    (50.0, 100.0)
    """
    right, predicted, gold, tagged = _column_sums(rows, 4)
    if tagged == 0:
        return 100.0
    precision = right / predicted if predicted else 0.0
    recall = right / gold if gold else 0.0
    denominator = precision + recall
    return 100.0 * (2 * precision * recall / denominator if denominator else 0.0)


def token_accuracy_corpus(predictions: Sequence[str], examples: Sequence[Example]) -> float:
    """Correct tokens / all tokens ×100 over the corpus, tags read with scheme ``token`` (POS).

    A corpus without tokens scores 100.

    >>> ex = Example("0", "q", "c", "", tokens=("Al", "-", "Zaman"), tags=("PROPN", "PUNCT", "PROPN"))
    >>> token_accuracy_corpus(["Al (PROPN); - (PUNCT); Zaman (NOUN)"], [ex])
    66.66666666666667
    """
    correct = total = 0
    for prediction, ex in zip(predictions, examples):
        predicted = answer_to_tags(prediction, ex.tokens, "token")
        correct += sum(p == g for p, g in zip(predicted, ex.tags))
        total += len(ex.tags)
    return 100.0 * correct / total if total else 100.0


def token_accuracy_stats(predictions: Sequence[str], examples: Sequence[Example]) -> list[list[float]]:
    """Per example: [tokens tagged right, tokens], tags read as in :func:`token_accuracy_corpus`.

    >>> ex = Example("0", "q", "c", "", tokens=("Al", "-", "Zaman"), tags=("PROPN", "PUNCT", "PROPN"))
    >>> token_accuracy_stats(["Al (PROPN); - (PUNCT); Zaman (NOUN)"], [ex])
    [[2.0, 3.0]]
    """
    rows = []
    for prediction, ex in zip(predictions, examples):
        predicted = answer_to_tags(prediction, ex.tokens, "token")
        rows.append([float(sum(p == g for p, g in zip(predicted, ex.tags))), float(len(ex.tags))])
    return rows


def token_accuracy_from_stats(rows: Any) -> float:
    """Token accuracy ×100 from summed :func:`token_accuracy_stats` rows; no tokens scores 100.

    >>> token_accuracy_from_stats([[2, 3], [1, 1]])
    75.0
    """
    correct, total = _column_sums(rows, 2)
    return 100.0 * correct / total if total else 100.0


# --------------------------------------------------------------------------
# Labels: MCC, binary F1


def choice_label(prediction: str, example: Example) -> str:
    """The choice a prediction names (up to case and outer spaces), else the prediction itself.

    A prediction outside ``example.choices`` stays its own label, which never
    equals a gold label, so it counts as wrong.

    >>> ex = Example("0", "q", "c", "positive", choices=("negative", "positive"))
    >>> choice_label(" Positive", ex), choice_label("great", ex)
    ('positive', 'great')
    """
    for choice in example.choices:
        if _same_text(prediction, choice):
            return choice
    return prediction.strip()


def mcc_corpus(predictions: Sequence[str], examples: Sequence[Example]) -> float:
    """Matthews correlation ×100 (scikit-learn) of predicted and gold labels (CoLA).

    >>> exs = [Example(str(i), "q", "c", a, choices=("unacceptable", "acceptable"))
    ...        for i, a in enumerate(["acceptable", "unacceptable", "acceptable", "unacceptable"])]
    >>> mcc_corpus(["acceptable", "unacceptable", "acceptable", "unacceptable"], exs)
    100.0
    >>> mcc_corpus(["acceptable"] * 4, exs)
    0.0
    """
    from sklearn.metrics import matthews_corrcoef  # imported on use: heavy

    gold = [ex.answer for ex in examples]
    predicted = [choice_label(p, ex) for p, ex in zip(predictions, examples)]
    return 100.0 * float(matthews_corrcoef(gold, predicted))


def mcc_stats(predictions: Sequence[str], examples: Sequence[Example]) -> list[list[float]]:
    """Per example: [gold label index, predicted label index], over the sorted labels of this call.

    Indices mean something only among rows of the same call.

    >>> exs = [Example(str(i), "q", "c", a, choices=("no", "yes")) for i, a in enumerate(["yes", "no"])]
    >>> mcc_stats(["yes", "maybe"], exs)
    [[2.0, 2.0], [1.0, 0.0]]
    """
    gold = [ex.answer for ex in examples]
    predicted = [choice_label(p, ex) for p, ex in zip(predictions, examples)]
    index = {label: i for i, label in enumerate(sorted(set(gold) | set(predicted)))}
    return [[float(index[g]), float(index[p])] for g, p in zip(gold, predicted)]


def mcc_from_stats(rows: Any) -> float:
    """Matthews correlation ×100 of :func:`mcc_stats` rows, with scikit-learn's formula on their confusion matrix.

    >>> mcc_from_stats([[0, 0], [1, 1], [0, 0], [1, 1]]), mcc_from_stats([[0, 0], [1, 0]])
    (100.0, 0.0)
    """
    import numpy as np  # imported on use: keeps ``import tasks`` light

    pairs = np.asarray(rows, dtype=np.float64).reshape(-1, 2).astype(np.int64)  # [n, 2]
    size = int(pairs.max()) + 1 if len(pairs) else 1
    confusion = np.bincount(pairs[:, 0] * size + pairs[:, 1], minlength=size * size).reshape(size, size)  # [gold, predicted]
    t_sum = confusion.sum(axis=1, dtype=np.float64)
    p_sum = confusion.sum(axis=0, dtype=np.float64)
    n_correct = np.trace(confusion, dtype=np.float64)
    n_samples = p_sum.sum()
    cov_ytyp = n_correct * n_samples - np.dot(t_sum, p_sum)
    cov_ypyp = n_samples**2 - np.dot(p_sum, p_sum)
    cov_ytyt = n_samples**2 - np.dot(t_sum, t_sum)
    cov_ypyp_ytyt = cov_ypyp * cov_ytyt
    return 0.0 if cov_ypyp_ytyt == 0 else 100.0 * float(cov_ytyp / np.sqrt(cov_ypyp_ytyt))


def f1_corpus(predictions: Sequence[str], examples: Sequence[Example]) -> float:
    """Binary F1 ×100 (scikit-learn); the positive class is the last of each example's choices.

    MRPC's choices are ``("not_equivalent", "equivalent")``, so F1 is that of
    ``equivalent``. A prediction outside the choices counts as negative.

    >>> exs = [Example(str(i), "q", "c", a, choices=("not_equivalent", "equivalent"))
    ...        for i, a in enumerate(["equivalent", "equivalent", "not_equivalent"])]
    >>> round(f1_corpus(["equivalent", "not_equivalent", "equivalent"], exs), 4)
    50.0
    """
    from sklearn.metrics import f1_score  # imported on use: heavy

    for ex in examples:
        if not ex.choices:
            raise TaskError(f"example {ex.id!r} has no choices; the f1 metric needs a choice task")
    gold = [ex.answer == ex.choices[-1] for ex in examples]
    predicted = [choice_label(p, ex) == ex.choices[-1] for p, ex in zip(predictions, examples)]
    return 100.0 * float(f1_score(gold, predicted, zero_division=0))


def f1_stats(predictions: Sequence[str], examples: Sequence[Example]) -> list[list[float]]:
    """Per example: [true positive, false positive, false negative], positive as in :func:`f1_corpus`.

    >>> exs = [Example(str(i), "q", "c", a, choices=("no", "yes")) for i, a in enumerate(["yes", "no"])]
    >>> f1_stats(["no", "yes"], exs)
    [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    """
    rows = []
    for prediction, ex in zip(predictions, examples):
        if not ex.choices:
            raise TaskError(f"example {ex.id!r} has no choices; the f1 metric needs a choice task")
        gold, predicted = ex.answer == ex.choices[-1], choice_label(prediction, ex) == ex.choices[-1]
        rows.append([float(gold and predicted), float(predicted and not gold), float(gold and not predicted)])
    return rows


def f1_from_stats(rows: Any) -> float:
    """Binary F1 ×100 from summed :func:`f1_stats` rows, as scikit-learn computes it (0 with no positives).

    >>> f1_from_stats([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    50.0
    """
    tp, fp, fn = _column_sums(rows, 3)
    denominator = (tp + fn) + (tp + fp)
    return 100.0 * (2.0 * tp / denominator) if denominator else 0.0


# --------------------------------------------------------------------------
# Numbers: Pearson, Spearman

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def parse_number(text: str) -> float | None:
    """The first finite number written in ``text``, or None.

    >>> parse_number(" 3.8"), parse_number("about 2.5 of 5"), parse_number("nan"), parse_number("")
    (3.8, 2.5, None, None)
    """
    match = _NUMBER.search(text)
    if match is None:
        return None
    value = float(match.group())
    return value if math.isfinite(value) else None


def _gold_values(examples: Sequence[Example]) -> list[float]:
    values = []
    for ex in examples:
        if ex.value is None:
            raise TaskError(f"example {ex.id!r} has no value; correlation metrics need a score task")
        values.append(float(ex.value))
    return values


def _predicted_values(predictions: Sequence[str]) -> list[float]:
    """Parsed predictions; an unparseable one becomes the mean of those that parse.

    The mean of the model's own predictions carries no information about the
    example and leaves the other predictions' mean unchanged, so it neither
    adds nor removes correlation by itself; it also keeps the model's scale
    (the gold mean would mix in the gold scale). No parseable prediction at
    all gives a constant list, which scores 0.
    """
    return _filled([parse_number(p) for p in predictions])


def _filled(parsed: Sequence[float | None]) -> list[float]:
    """``parsed`` with each None replaced by the mean of the others (see :func:`_predicted_values`)."""
    known = [v for v in parsed if v is not None]
    fill = sum(known) / len(known) if known else 0.0
    return [fill if v is None else v for v in parsed]


def _correlation(kind: str, predictions: Sequence[str], examples: Sequence[Example]) -> float:
    return _correlation_of(kind, _gold_values(examples), _predicted_values(predictions))


def _correlation_of(kind: str, gold: list[float], predicted: list[float]) -> float:
    from scipy import stats  # imported on use: heavy

    if len(gold) < 2 or len(set(gold)) < 2 or len(set(predicted)) < 2:
        return 0.0  # correlation is undefined for constant inputs; no signal scores 0
    result = stats.pearsonr(gold, predicted) if kind == "pearson" else stats.spearmanr(gold, predicted)
    return 100.0 * float(result.statistic)


def pearson_corpus(predictions: Sequence[str], examples: Sequence[Example]) -> float:
    """Pearson correlation ×100 (scipy) of parsed predictions and ``example.value`` (STS-B).

    Unparseable predictions take the mean of the parseable ones; constant
    predictions (or gold) score 0.0.

    >>> exs = [Example(str(i), "q", "c", str(v), value=v) for i, v in enumerate([0.0, 2.5, 5.0])]
    >>> round(pearson_corpus(["0", "2.5", "5"], exs), 6), pearson_corpus(["3", "3", "3"], exs)
    (100.0, 0.0)
    """
    return _correlation("pearson", predictions, examples)


def spearman_corpus(predictions: Sequence[str], examples: Sequence[Example]) -> float:
    """Spearman rank correlation ×100 (scipy), parsed as for :func:`pearson_corpus`.

    >>> exs = [Example(str(i), "q", "c", str(v), value=v) for i, v in enumerate([0.0, 2.5, 5.0])]
    >>> round(spearman_corpus(["1", "2", "30"], exs), 6)
    100.0
    """
    return _correlation("spearman", predictions, examples)


def correlation_stats(predictions: Sequence[str], examples: Sequence[Example]) -> list[list[float]]:
    """Per example: [parsed prediction, ``example.value``]; an unparseable prediction is NaN.

    The NaNs are filled when scoring, with the mean of the parsed predictions
    scored together, as :func:`pearson_corpus` does.

    >>> correlation_stats(["3.5", "n/a"], [Example("0", "q", "c", "4", value=4.0)] * 2)
    [[3.5, 4.0], [nan, 4.0]]
    """
    gold = _gold_values(examples)
    parsed = [parse_number(p) for p in predictions]
    return [[math.nan if v is None else v, g] for v, g in zip(parsed, gold)]


def _correlation_from_stats(kind: str, rows: Any) -> float:
    import numpy as np  # imported on use: keeps ``import tasks`` light

    pairs = np.asarray(rows, dtype=np.float64).reshape(-1, 2)  # [n, 2]: prediction, gold
    parsed = [None if math.isnan(v) else v for v in pairs[:, 0].tolist()]
    return _correlation_of(kind, pairs[:, 1].tolist(), _filled(parsed))


def pearson_from_stats(rows: Any) -> float:
    """Pearson correlation ×100 of :func:`correlation_stats` rows, as :func:`pearson_corpus` scores them.

    >>> round(pearson_from_stats([[0.0, 0.0], [float("nan"), 2.5], [5.0, 5.0]]), 6)
    100.0
    """
    return _correlation_from_stats("pearson", rows)


def spearman_from_stats(rows: Any) -> float:
    """Spearman correlation ×100 of :func:`correlation_stats` rows, as :func:`spearman_corpus` scores them.

    >>> round(spearman_from_stats([[1.0, 0.0], [2.0, 2.5], [30.0, 5.0]]), 6)
    100.0
    """
    return _correlation_from_stats("spearman", rows)


# --------------------------------------------------------------------------
# Dialogue state (decaNLP's WOZ)

NO_CHANGE = "None"  # decaNLP's answer for a turn that changes nothing


def parse_dialogue_state(text: str) -> tuple[dict[str, str], list[str]]:
    """Read a decaNLP dialogue-state answer into (inform slot values, requested slots).

    The answer is ``"slot: value, slot: value; requested, requested"``; either
    side may be empty and ``None`` (any case) means no change. Malformed text is read as
    far as it goes: items without ``:`` on the inform side are dropped, text
    after a second ``;`` joins the requests, and without any ``;`` an item
    with ``:`` informs and one without requests. A slot informed twice keeps
    its last value. Whitespace is normalised; case is kept.

    >>> parse_dialogue_state("food: chinese, price range: cheap; phone, address")
    ({'food': 'chinese', 'price range': 'cheap'}, ['phone', 'address'])
    >>> parse_dialogue_state("None"), parse_dialogue_state("; phone")
    (({}, []), ({}, ['phone']))
    >>> parse_dialogue_state("area: south, garbage")
    ({'area': 'south'}, ['garbage'])
    """
    text = " ".join(text.split())
    if text in ("", ";") or text.casefold() == NO_CHANGE.casefold():
        return {}, []
    if ";" in text:
        inform_side, request_side = text.split(";", 1)
        inform_items = inform_side.split(",")
        request_items = request_side.replace(";", ",").split(",")
    else:
        items = text.split(",")
        inform_items = [item for item in items if ":" in item]
        request_items = [item for item in items if ":" not in item]
    inform: dict[str, str] = {}
    for item in inform_items:
        slot, colon, value = item.partition(":")
        if colon and slot.strip():
            inform[slot.strip()] = value.strip()
    request: list[str] = []
    for item in request_items:
        slot = item.strip()
        if slot and slot not in request:
            request.append(slot)
    return inform, request


def dialogue_turn(example: Example) -> tuple[str, int]:
    """``(dialogue, turn)`` from an id of the form ``"<dialogue_idx>_<turn_idx>"``.

    >>> dialogue_turn(Example("600_3", "q", "c", "None"))
    ('600', 3)
    """
    dialogue, sep, turn = example.id.rpartition("_")
    if not sep or not dialogue or not turn.isdigit():
        raise TaskError(
            f"example id {example.id!r} is not '<dialogue_idx>_<turn_idx>'; "
            "the dialogue-state metrics group turns by that id"
        )
    return dialogue, int(turn)


def joint_goal_scores(predictions: Sequence[str], examples: Sequence[Example]) -> list[float]:
    """decaNLP's joint goal accuracy: 100 where the accumulated inform states agree.

    Examples are grouped by dialogue and walked in turn order; each turn's
    predicted and gold inform deltas are folded into a predicted and a gold
    state (a later value of a slot replaces the earlier one), and the turn
    scores 100 when the two states are equal. Scores come back in the
    examples' order.

    >>> exs = [Example("7_1", "q", "c", "; phone"), Example("7_0", "q", "c", "area: south; ")]
    >>> joint_goal_scores(["area: north; phone", "area: south; "], exs)
    [0.0, 100.0]
    """
    turns = [dialogue_turn(ex) for ex in examples]
    scores = [0.0] * len(examples)
    dialogue: str | None = None
    predicted_state: dict[str, str] = {}
    gold_state: dict[str, str] = {}
    for i in sorted(range(len(examples)), key=turns.__getitem__):
        turn_dialogue = turns[i][0]
        if turn_dialogue != dialogue:
            dialogue, predicted_state, gold_state = turn_dialogue, {}, {}
        predicted_state.update(parse_dialogue_state(predictions[i])[0])
        gold_state.update(parse_dialogue_state(examples[i].answer)[0])
        scores[i] = 100.0 * (predicted_state == gold_state)
    return scores


def turn_inform_scores(predictions: Sequence[str], examples: Sequence[Example]) -> list[float]:
    """100 where a turn's predicted inform slot values equal the gold ones (decaNLP's turn goal).

    >>> turn_inform_scores(["area: south; phone"], [Example("7_0", "q", "c", "area: south; ")])
    [100.0]
    """
    return [
        100.0 * (parse_dialogue_state(p)[0] == parse_dialogue_state(ex.answer)[0])
        for p, ex in zip(predictions, examples)
    ]


def turn_request_scores(predictions: Sequence[str], examples: Sequence[Example]) -> list[float]:
    """100 where a turn's predicted requested slots equal the gold ones, as sets.

    >>> turn_request_scores(["; address, phone"], [Example("7_0", "q", "c", "; phone, address")])
    [100.0]
    """
    return [
        100.0 * (set(parse_dialogue_state(p)[1]) == set(parse_dialogue_state(ex.answer)[1]))
        for p, ex in zip(predictions, examples)
    ]


# --------------------------------------------------------------------------
# decaNLP's own scoring (the ``decanlp`` variant)
#
# decaNLP (salesforce/decaNLP, metrics.py) scores some tasks differently from
# the libraries above; a suite that reports decaNLP-comparable numbers swaps
# these in with :func:`metric_variant`. Its quirks are kept on purpose.


def decanlp_em_scores(predictions: Sequence[str], examples: Sequence[Example]) -> list[float]:
    """decaNLP's ``em``: 100 where the prediction is exactly a gold answer, case and spaces included.

    decaNLP scores its classification tasks (SST, MNLI, the Winograd schemas)
    by this string equality; :func:`accuracy_scores` forgives case and outer spaces.

    >>> decanlp_em_scores(["positive", "Positive", "positive "], [Example("0", "q", "c", "positive")] * 3)
    [100.0, 0.0, 0.0]
    """
    return [100.0 * any(p == a for a in ex.answers) for p, ex in zip(predictions, examples)]


def decanlp_bleu_corpus(predictions: Sequence[str], examples: Sequence[Example]) -> float:
    """decaNLP's ``bleu``: sacrebleu's ``corpus_bleu(..., lowercase=True)``, one reference per example.

    >>> exs = [Example("0", "q", "c", "Two men are outside in the garden.")]
    >>> prediction = ["two men are outside in the GARDEN."]
    >>> round(decanlp_bleu_corpus(prediction, exs), 6), round(bleu_corpus(prediction, exs), 2)
    (100.0, 54.11)
    """
    import sacrebleu  # imported on use: keeps ``import tasks`` light

    return float(sacrebleu.corpus_bleu(list(predictions), [[ex.answer for ex in examples]], lowercase=True).score)


@functools.cache
def _lowercase_bleu_scorer() -> Any:
    from sacrebleu.metrics import BLEU  # imported on use: keeps ``import tasks`` light

    return BLEU(lowercase=True)


def decanlp_bleu_stats(predictions: Sequence[str], examples: Sequence[Example]) -> list[list[float]]:
    """Sentence statistics of :func:`decanlp_bleu_corpus` (as :func:`bleu_stats`, on lowercased text).

    >>> decanlp_bleu_stats(["The cat"], [Example("0", "q", "c", "the cat")])
    [[2.0, 2.0, 2.0, 1.0, 0.0, 0.0, 2.0, 1.0, 0.0, 0.0]]
    """
    from sacrebleu.metrics import BLEU  # a fresh scorer: reading references changes its state

    rows = BLEU(lowercase=True)._extract_corpus_statistics(list(predictions), [[ex.answer for ex in examples]])
    return [[float(x) for x in row] for row in rows]


def decanlp_bleu_from_stats(rows: Any) -> float:
    """Lowercased corpus BLEU from summed :func:`decanlp_bleu_stats` rows.

    >>> exs = [Example("0", "q", "c", "The cat sat on the mat")]
    >>> round(decanlp_bleu_from_stats(decanlp_bleu_stats(["the cat sat on the MAT"], exs)), 6)
    100.0
    """
    scorer = _lowercase_bleu_scorer()
    totals = [int(x) for x in _column_sums(rows, 2 + 2 * scorer.max_ngram_order)]
    return float(scorer._compute_score_from_stats(totals).score)


def decanlp_delta_state(text: str) -> tuple[dict[str, str], tuple[str, ...] | None]:
    """A dialogue-state answer read as decaNLP's ``to_delta_state`` reads it: (inform slots, requests).

    Exactly ``"None"`` or blank text is no change: ``({}, None)``. Otherwise
    the text must split on ``;`` into exactly two sides, else the whole answer
    is unreadable and also counts as ``({}, None)``: a prediction without
    ``;`` informs nothing. Inform items are ``slot: value`` with exactly one
    ``:`` (others are dropped); requests are the comma-separated items of the
    right side, stripped, in order, empty ones kept. ``None`` requests (no
    change, unreadable) never equal a parsed tuple, not even an empty one, as
    decaNLP's ``{}`` never equals its ``['']``.

    >>> decanlp_delta_state("food: thai, area: north; phone, address")
    ({'food': 'thai', 'area': 'north'}, ('phone', 'address'))
    >>> decanlp_delta_state("food: thai;"), decanlp_delta_state("food: thai"), decanlp_delta_state("None")
    (({'food': 'thai'}, ('',)), ({}, None), ({}, None))
    """
    if text == NO_CHANGE or not text.strip():
        return {}, None
    sides = text.split(";")
    if len(sides) != 2:
        return {}, None
    inform_items, request_items = ([item.strip() for item in side.strip().split(",")] for side in sides)
    inform: dict[str, str] = {}
    for item in inform_items:
        parts = item.split(":")
        if len(parts) == 2:
            inform[parts[0].strip()] = parts[1].strip()
    return inform, tuple(request_items)


def _decanlp_dialogue(predictions: Sequence[str], examples: Sequence[Example]) -> list[tuple[float, float, float]]:
    """Per example, decaNLP's (joint goal, turn inform, turn request) hits ×100.

    decaNLP walks the turns sorted by their id *as strings* and starts a new
    dialogue where the id before the last ``_`` changes; so turn ``10`` of a
    dialogue comes between turns ``1`` and ``2``, and the joint goal is folded
    in that order. The same order is kept here, so the numbers are decaNLP's.
    """
    for example in examples:
        dialogue_turn(example)  # the same id check as the other dialogue metrics
    hits = [(0.0, 0.0, 0.0)] * len(examples)
    dialogue: str | None = None
    predicted_state: dict[str, str] = {}
    gold_state: dict[str, str] = {}
    for i in sorted(range(len(examples)), key=lambda j: examples[j].id):
        turn_dialogue = examples[i].id.rpartition("_")[0]
        if turn_dialogue != dialogue:
            dialogue, predicted_state, gold_state = turn_dialogue, {}, {}
        predicted_inform, predicted_request = decanlp_delta_state(predictions[i])
        gold_inform, gold_request = decanlp_delta_state(examples[i].answer)
        predicted_state.update(predicted_inform)
        gold_state.update(gold_inform)
        hits[i] = (
            100.0 * (predicted_state == gold_state),
            100.0 * (predicted_inform == gold_inform),
            100.0 * (predicted_request == gold_request),
        )
    return hits


def decanlp_joint_goal_scores(predictions: Sequence[str], examples: Sequence[Example]) -> list[float]:
    """decaNLP's ``joint_goal_em`` per turn: the states folded in decaNLP's order agree.

    >>> exs = [Example("7_0", "q", "c", "area: south;"), Example("7_1", "q", "c", "; phone")]
    >>> decanlp_joint_goal_scores(["area: south;", "; phone"], exs), decanlp_joint_goal_scores(["area: south", "; phone"], exs)
    ([100.0, 100.0], [0.0, 0.0])
    """
    return [joint for joint, _, _ in _decanlp_dialogue(predictions, examples)]


def decanlp_turn_inform_scores(predictions: Sequence[str], examples: Sequence[Example]) -> list[float]:
    """decaNLP's ``turn_goal_em`` per turn: the turn's inform slots, as decaNLP reads them, agree.

    >>> decanlp_turn_inform_scores(["area: south; phone"], [Example("7_0", "q", "c", "area: south;")])
    [100.0]
    """
    return [inform for _, inform, _ in _decanlp_dialogue(predictions, examples)]


def decanlp_turn_request_scores(predictions: Sequence[str], examples: Sequence[Example]) -> list[float]:
    """decaNLP's ``turn_request_em`` per turn: the requested slots agree *in order*.

    >>> decanlp_turn_request_scores(["; address, phone"], [Example("7_0", "q", "c", "; phone, address")])
    [0.0]
    """
    return [request for _, _, request in _decanlp_dialogue(predictions, examples)]


# --------------------------------------------------------------------------
# The metrics, by name

ACCURACY = Metric("accuracy", example_scores=accuracy_scores, description="answer equals gold, ignoring case")
EM = Metric("em", example_scores=em_scores, description="SQuAD exact match, best over answers")
NF1 = Metric("nf1", example_scores=nf1_scores, description="SQuAD token F1, best over answers")
BLEU = Metric("bleu", corpus=bleu_corpus, description="sacrebleu corpus BLEU, 13a tokenisation",
              stats=bleu_stats, from_stats=bleu_from_stats)
ROUGE1 = Metric("rouge1", example_scores=functools.partial(rouge_scores, "rouge1"), description="ROUGE-1 F, stemmed")
ROUGE2 = Metric("rouge2", example_scores=functools.partial(rouge_scores, "rouge2"), description="ROUGE-2 F, stemmed")
ROUGE_L = Metric("rougeL", example_scores=functools.partial(rouge_scores, "rougeL"), description="ROUGE-L F, stemmed")
ENTITY_F1 = Metric("entity_f1", corpus=entity_f1_corpus, description="seqeval micro F1 of entity spans",
                   stats=entity_f1_stats, from_stats=entity_f1_from_stats)
TOKEN_ACCURACY = Metric("token_accuracy", corpus=token_accuracy_corpus, description="share of tokens tagged right",
                        stats=token_accuracy_stats, from_stats=token_accuracy_from_stats)
MCC = Metric("mcc", corpus=mcc_corpus, description="Matthews correlation of labels",
             stats=mcc_stats, from_stats=mcc_from_stats)
PEARSON = Metric("pearson", corpus=pearson_corpus, description="Pearson correlation of numbers",
                 stats=correlation_stats, from_stats=pearson_from_stats)
SPEARMAN = Metric("spearman", corpus=spearman_corpus, description="Spearman correlation of numbers",
                  stats=correlation_stats, from_stats=spearman_from_stats)
F1 = Metric("f1", corpus=f1_corpus, description="binary F1, positive class = last choice",
            stats=f1_stats, from_stats=f1_from_stats)
JOINT_GOAL = Metric("joint_goal", example_scores=joint_goal_scores, description="dialogue state so far equals gold")
TURN_INFORM = Metric("turn_inform", example_scores=turn_inform_scores, description="turn's informed slots equal gold")
TURN_REQUEST = Metric("turn_request", example_scores=turn_request_scores, description="turn's requests equal gold")
DECANLP_EM = Metric("decanlp_em", example_scores=decanlp_em_scores, description="decaNLP em: answer is exactly gold")
DECANLP_BLEU = Metric("decanlp_bleu", corpus=decanlp_bleu_corpus, description="decaNLP bleu: sacrebleu corpus BLEU, lowercased",
                      stats=decanlp_bleu_stats, from_stats=decanlp_bleu_from_stats)
DECANLP_JOINT_GOAL = Metric("decanlp_joint_goal", example_scores=decanlp_joint_goal_scores,
                            description="decaNLP joint_goal_em: state so far equals gold, turns in id-string order")
DECANLP_TURN_INFORM = Metric("decanlp_turn_inform", example_scores=decanlp_turn_inform_scores,
                             description="decaNLP turn_goal_em: turn's informed slots equal gold; no ';' informs nothing")
DECANLP_TURN_REQUEST = Metric("decanlp_turn_request", example_scores=decanlp_turn_request_scores,
                              description="decaNLP turn_request_em: turn's requests equal gold, in order")

METRICS: Registry[Metric] = Registry("metric", error=TaskError, item_type=Metric)
"""qabench's own metrics by name (registered in alphabetical order, which is how an unknown name lists them)."""
for _metric in sorted(
    (
        ACCURACY, EM, NF1, BLEU, ROUGE1, ROUGE2, ROUGE_L, ENTITY_F1, TOKEN_ACCURACY,
        MCC, PEARSON, SPEARMAN, F1, JOINT_GOAL, TURN_INFORM, TURN_REQUEST,
        DECANLP_EM, DECANLP_BLEU, DECANLP_JOINT_GOAL, DECANLP_TURN_INFORM, DECANLP_TURN_REQUEST,
    ),
    key=lambda metric: metric.name,
):  # fmt: skip
    METRICS.register(_metric)
del _metric


def get_metric(name: str) -> Metric:
    """The metric called ``name``; an unknown name raises with a close suggestion.

    ``evaluate:SOURCE`` (or ``evaluate:SOURCE#KEY``) names a Hugging Face
    ``evaluate`` metric instead: see :func:`evaluate_metric`.

    >>> get_metric("nf1").decomposable
    True
    >>> get_metric("rouge-l")
    Traceback (most recent call last):
    ...
    tasks.errors.TaskError: unknown metric 'rouge-l'; did you mean 'rougeL'?
    >>> get_metric("evaluate:exact_match").name
    'evaluate:exact_match'
    """
    if name.startswith(EVALUATE_PREFIX):
        if name in _EVALUATE_METRICS:
            return _EVALUATE_METRICS[name]
        source, _, key = name[len(EVALUATE_PREFIX) :].partition("#")
        return evaluate_metric(source, key=key or None)
    return METRICS.lookup(name)


# --------------------------------------------------------------------------
# Hugging Face evaluate metrics

EVALUATE_PREFIX = "evaluate:"
"""A metric name that starts with this names an ``evaluate`` metric: ``evaluate:exact_match``, ``evaluate:path/to/metric.py#f1``."""

_EVALUATE_METRICS: dict[str, Metric] = {}  # name -> metric, so that a record's metric name finds the same metric again


def evaluate_metric(source: str, *, key: str | None = None, scale: float = 1.0, name: str | None = None, higher_is_better: bool = True) -> Metric:
    """A Hugging Face ``evaluate`` metric as a qabench :class:`~tasks.types.Metric`, scored by ``evaluate``'s own ``compute``.

    ``source`` is what ``evaluate.load`` takes: a hub id for users online
    (``exact_match``, ``bleu``, ``org/metric``) or, offline, the path of a
    local metric script (a relative path that exists is made absolute now).
    ``compute`` gets the predicted answers and the gold answers as strings
    (every acceptable answer, when the metric's references are lists); the
    number kept is ``result[key]``, or the result's only number, times
    ``scale`` (``evaluate`` metrics often give 0-1 where qabench's give 0-100).

    It is a corpus metric: the score is one ``compute`` over all examples, and
    a confidence interval resamples examples and computes again. The metric is
    called ``name``, by default ``evaluate:<script name or hub id>[#key][*scale]``,
    which :func:`get_metric` resolves again in this process (a hub id: in any).
    The ``evaluate`` library is imported when the metric is first computed.

    >>> metric = evaluate_metric("exact_match", scale=100, name="exact_match_100")
    >>> metric.name, metric.decomposable, metric.description
    ('exact_match_100', False, "evaluate.load('exact_match') x 100")
    """
    path = Path(source).expanduser()
    is_script = source.endswith(".py") or path.exists()
    if is_script and path.exists():
        source = str(path.resolve())
    label = Path(source).stem if is_script else source
    name = name or f"{EVALUATE_PREFIX}{label}" + (f"#{key}" if key else "") + (f"*{scale:g}" if scale != 1 else "")
    description = f"evaluate.load({source!r})" + (f"[{key!r}]" if key else "") + (f" x {scale:g}" if scale != 1 else "")
    known = _EVALUATE_METRICS.get(name)
    if known is not None:
        if known.description != description or known.higher_is_better != higher_is_better:
            raise TaskError(f"metric name {name!r} is taken by {known.description}; give this one another name")
        return known
    corpus = functools.partial(_evaluate_compute, source, key, scale)
    metric = Metric(name, corpus=corpus, higher_is_better=higher_is_better, description=description)
    _EVALUATE_METRICS[name] = metric
    return metric


@functools.cache
def _evaluate_module(source: str) -> Any:
    import evaluate  # imported on use: it is heavy (and imports torch)

    try:
        return evaluate.load(source)
    except Exception as err:  # noqa: BLE001 - missing file, no network, bad script: one line naming the metric
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise TaskError(f"evaluate metric {source!r}: evaluate.load failed: {first}") from None


def _wants_reference_lists(module: Any) -> bool:
    """True when the metric's references are lists of strings (sacrebleu, squad-style), not one string each."""
    features = module.features[0] if isinstance(module.features, list) else module.features
    reference = features.get("references") if features is not None else None
    return reference is not None and not hasattr(reference, "dtype")  # a Value has a dtype; a Sequence or list does not


def _evaluate_compute(source: str, key: str | None, scale: float, predictions: Sequence[str], examples: Sequence[Example]) -> float:
    module = _evaluate_module(source)
    references = [list(ex.answers) for ex in examples] if _wants_reference_lists(module) else [ex.answer for ex in examples]
    result = module.compute(predictions=list(predictions), references=references)
    numbers = {k: v for k, v in (result or {}).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if key is not None:
        if key not in numbers:
            raise TaskError(f"evaluate metric {source!r} gives no number {key!r}; it gives {', '.join(numbers) or 'none'}")
        value = numbers[key]
    elif len(numbers) == 1:
        (value,) = numbers.values()
    else:
        raise TaskError(f"evaluate metric {source!r} gives several numbers ({', '.join(numbers)}); name one: {EVALUATE_PREFIX}{source}#KEY")
    return float(value) * scale


METRIC_VARIANTS: dict[str, dict[str, Metric]] = {
    "default": {},
    "decanlp": {
        ACCURACY.name: DECANLP_EM,
        BLEU.name: DECANLP_BLEU,
        JOINT_GOAL.name: DECANLP_JOINT_GOAL,
        TURN_INFORM.name: DECANLP_TURN_INFORM,
        TURN_REQUEST.name: DECANLP_TURN_REQUEST,
    },
}
"""Scoring variants, by name: for each, the metric that takes the place of a task's metric of a given name.

A suite names one variant for all its tasks, or one per task
(``metric_variant``); :func:`metric_variant` applies it. ``default`` is
each task's own metrics. ``decanlp`` scores as decaNLP's ``metrics.py``
does: classification answers by exact string equality (``decanlp_em``),
translation by lowercased corpus BLEU (``decanlp_bleu``), and dialogue
states by decaNLP's reading of them (``decanlp_joint_goal``,
``decanlp_turn_inform``, ``decanlp_turn_request``: an answer without ``;``
informs nothing, requests are compared in order). nF1 and SQuAD EM are
decaNLP's ``nf1`` and ``nem`` already, so they stay. A swapped metric keeps
its own name, so a record always says which definition produced a number.
"""


def metric_variant(metrics: Sequence[Metric], variant: str) -> tuple[Metric, ...]:
    """``metrics`` as the scoring variant ``variant`` defines them (unchanged where it defines nothing).

    >>> [m.name for m in metric_variant((ACCURACY, NF1), "default")]
    ['accuracy', 'nf1']
    >>> [m.name for m in metric_variant((JOINT_GOAL, TURN_INFORM, NF1), "decanlp")]
    ['decanlp_joint_goal', 'decanlp_turn_inform', 'nf1']
    >>> metric_variant((BLEU,), "decanlp_v2")
    Traceback (most recent call last):
    ...
    tasks.errors.TaskError: unknown metric variant 'decanlp_v2'; did you mean 'decanlp'?
    """
    if variant not in METRIC_VARIANTS:
        hint = did_you_mean(variant, METRIC_VARIANTS) or f"known: {', '.join(sorted(METRIC_VARIANTS))}"
        raise TaskError(f"unknown metric variant {variant!r}; {hint}")
    swap = METRIC_VARIANTS[variant]
    return tuple(swap.get(m.name, m) for m in metrics)


def deca_score(headlines: Mapping[str, float]) -> float:
    """decaScore: the plain sum of each task's headline metric.

    >>> deca_score({"sst2": 90.0, "squad": 75.5, "woz": 84.0})
    249.5
    """
    return float(sum(headlines.values()))
