"""The task contract, checked for every registered task on its own sample rows.

Each task carries a few hand-written raw rows (``Task.sample_rows``) in its
source's columns. For every task:

- the rows recast to valid examples of the task's format;
- the gold answers, given back as predictions, score 100 on every metric;
- an empty prediction scores what it should: nothing on label, text, span and
  tag metrics, no correlation on score metrics, and, for dialogue state,
  exactly the turns whose gold is "no change" (an empty answer says that).

Then the tasks with their own machinery: SQuAD's title split, MWSC's file
reader and schema split, SNLI's dropped -1 rows, WOZ's turn expansion and
answer format, and MNLI appearing once a mirror holds it. All data here is
written in the tests; the real mirror is tests/test_mirror.py's business.
"""

from __future__ import annotations

import doctest
import importlib
import json
import math
import re
from pathlib import Path
from typing import Callable, Sequence

import pytest

from tasks import registry
from tasks.data import load_examples, local_splits
from tasks.errors import TaskError
from tasks.metrics import METRIC_VARIANTS, metric_variant, parse_dialogue_state
from tasks.recipes import content_id
from tasks.types import Example, Task
from tasks.validate import validate_split

TASKS = registry.all_tasks()
TASK_MODULES = (
    "cola", "conll2003", "iwslt2017", "mnli", "mrpc", "multi30k", "mwsc", "qnli", "rte", "snli",
    "squad", "sst2", "stsb", "tatoeba", "ud_pos", "wmt14", "wmt16", "wnut17", "woz",
)  # fmt: skip


def write_jsonl(path: Path, rows: Sequence[dict]) -> None:
    """Rows as a JSONL file, creating its directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def sample_examples(task: Task) -> list[Example]:
    """The task's sample rows, expanded, filtered and recast."""
    return list(task.rows_to_examples(task.sample_rows))


def test_the_registry_holds_the_built_in_tasks() -> None:
    assert {t.name for t in TASKS} >= {
        "sst2", "cola", "rte", "mrpc", "stsb", "qnli", "snli", "mnli", "squad", "conll2003", "wnut17",
        "ud_pos", "multi30k_en_de", "multi30k_de_en", "wmt14", "wmt16", "iwslt2017", "tatoeba", "woz", "mwsc",
    }  # fmt: skip


# --------------------------------------------------------------------------
# Every task


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
def test_task_describes_itself(task: Task) -> None:
    assert task.version and task.description and "\n" not in task.description
    assert len(task.sample_rows) >= 2, "two or three hand-written raw rows document the row shape"
    if task.format in ("choice", "tags") and task.name != "mwsc":  # MWSC's choices differ per schema
        assert task.labels, "a task with a fixed label set names it"
    if task.evaluation_only:
        said = f"{task.description} {task.notes}".lower()
        assert "evaluation only" in said, "an evaluation-only task says so"


def check_example(task: Task, ex: Example) -> None:
    """Assert that ``ex`` is a valid example of ``task``'s format."""
    assert ex.id and ex.question.strip() and ex.context.strip() and ex.answer.strip()
    assert ex.answer in ex.answers
    if task.format == "choice":
        assert len(ex.choices) >= 2 and ex.answer in ex.choices
        assert not task.labels or set(ex.choices) <= set(task.labels)
    elif task.format == "span":
        assert ex.answer_start is not None and ex.context[ex.answer_start :].startswith(ex.answer)
    elif task.format == "tags":
        assert ex.tokens and len(ex.tokens) == len(ex.tags) and set(ex.tags) <= set(task.labels)
        assert ex.context == " ".join(ex.tokens)
    elif task.format == "score":
        assert isinstance(ex.value, float) and float(ex.answer) == ex.value
    else:
        assert not (ex.choices or ex.tokens or ex.value is not None or ex.answer_start is not None)


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
def test_sample_rows_recast_to_valid_examples(task: Task) -> None:
    examples = sample_examples(task)
    assert examples
    for ex in examples:
        check_example(task, ex)
        assert Example.from_dict(json.loads(json.dumps(ex.to_dict()))) == ex
    assert sample_examples(task) == examples, "recasting is a pure function of the rows"


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
def test_gold_answers_score_100(task: Task) -> None:
    examples = sample_examples(task)
    if task.format == "choice":  # correlation-like metrics (MCC, F1) need every class in the corpus
        assert {ex.answer for ex in examples} >= set(task.labels), "the sample rows cover every label"
    scores = task.score([ex.answer for ex in examples], examples)
    assert scores == pytest.approx({name: 100.0 for name in scores}), scores


@pytest.mark.parametrize("variant", [v for v in METRIC_VARIANTS if v != "default"])
@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
def test_gold_answers_score_100_under_every_metric_variant(task: Task, variant: str) -> None:
    examples = sample_examples(task)
    predictions = [ex.answer for ex in examples]
    scores = {m.name: m(predictions, examples) for m in metric_variant(task.metrics, variant)}
    assert scores == pytest.approx({name: 100.0 for name in scores}), scores


def share(condition: Callable[[Example], bool]) -> Callable[[Sequence[Example]], float]:
    """Expected score: 100 times the share of examples for which ``condition`` holds."""
    return lambda examples: 100.0 * sum(map(condition, examples)) / len(examples)


def nothing(examples: Sequence[Example]) -> float:
    """Expected score of a metric that gives an empty answer no credit."""
    return 0.0


def joint_state_empty(examples: Sequence[Example]) -> float:
    """100 times the share of turns whose gold state, accumulated over the dialogue so far, is empty."""
    ordered = sorted(examples, key=lambda ex: (ex.id.rsplit("_")[0], int(ex.id.rsplit("_")[1])))
    state: dict[str, dict[str, str]] = {}
    empty = 0
    for ex in ordered:
        dialogue_state = state.setdefault(ex.id.rsplit("_")[0], {})
        dialogue_state.update(parse_dialogue_state(ex.answer)[0])
        empty += not dialogue_state
    return 100.0 * empty / len(examples)


# What an empty prediction scores, by metric. Label, span, text and tag metrics
# give it nothing (entity F1 would give 100 only to a corpus without any
# entity, which no sample corpus is); a constant prediction has no correlation;
# for dialogue state an empty answer means "no change", right exactly where
# the gold changes nothing.
EMPTY_PREDICTION_SCORE: dict[str, Callable[[Sequence[Example]], float]] = {
    "accuracy": nothing, "em": nothing, "nf1": nothing, "bleu": nothing, "f1": nothing, "mcc": nothing,
    "entity_f1": nothing, "token_accuracy": nothing, "pearson": nothing, "spearman": nothing,
    "turn_inform": share(lambda ex: not parse_dialogue_state(ex.answer)[0]),
    "turn_request": share(lambda ex: not parse_dialogue_state(ex.answer)[1]),
    "joint_goal": joint_state_empty,
}  # fmt: skip


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
def test_an_empty_prediction_scores_what_it_should(task: Task) -> None:
    examples = sample_examples(task)
    scores = task.score([""] * len(examples), examples)
    expected = {name: EMPTY_PREDICTION_SCORE[name](examples) for name in scores}
    assert scores == pytest.approx(expected)
    assert scores[task.headline.name] < 100.0


def test_woz_empty_prediction_is_credited_only_on_no_change_turns() -> None:
    examples = sample_examples(registry.get("woz"))
    assert [ex.answer for ex in examples] == ["food: thai;", "area: north; phone", "None", "; address"]
    scores = registry.get("woz").score([""] * 4, examples)
    # no inform change: turns 3 and 4; no request: turns 1 and 3; empty state so far: turn 4 only
    assert scores == pytest.approx({"joint_goal": 25.0, "turn_inform": 50.0, "turn_request": 50.0})


@pytest.mark.parametrize("module", [f"tasks.{name}" for name in TASK_MODULES] + ["tasks.recipes"])
def test_module_docstring_examples_run(module: str) -> None:
    failed, _ = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert failed == 0


# --------------------------------------------------------------------------
# SQuAD: train on half of validation, evaluate on the other half, by article


def squad_row(qid: str, title: str) -> dict:
    context = f"{title} was founded in 1900."
    return {"id": qid, "title": title, "context": context, "question": f"When was {title} founded?",
            "answers": {"text": ["1900"], "answer_start": [context.index("1900")]}}  # fmt: skip


TITLES = ["Rome", "Berlin", "Rome", "Oslo", "Athens", "Berlin", "Cairo"]
SQUAD_ROWS = [squad_row(f"q{i}", title) for i, title in enumerate(TITLES)]


def test_squad_validation_is_cut_by_sorted_article_title(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "rajpurkar/squad/plain_text/validation.jsonl", SQUAD_ROWS)
    squad = registry.get("squad")
    first = load_examples(squad, "validation_a", tmp_path)
    rest = load_examples(squad, "validation_b", tmp_path)
    # sorted titles: Athens Berlin Cairo Oslo Rome -> first half (5 // 2 = 2): Athens, Berlin
    assert [ex.id for ex in first] == ["q1", "q4", "q5"]
    assert [ex.id for ex in rest] == ["q0", "q2", "q3", "q6"]
    assert not {ex.context for ex in first} & {ex.context for ex in rest}, "no context on both sides"
    derived = {"validation_a": "from validation", "validation_b": "from validation"}
    assert local_splits(squad, tmp_path) == {"validation": 7, **derived}


def test_squad_title_split_does_not_depend_on_row_order() -> None:
    from tasks.squad import validation_a, validation_b

    shuffled = SQUAD_ROWS[::-1]
    titles = lambda rows, idx: {rows[i]["title"] for i in idx}  # noqa: E731
    first_titles = titles(SQUAD_ROWS, validation_a(SQUAD_ROWS))
    assert titles(shuffled, validation_a(shuffled)) == first_titles == {"Athens", "Berlin"}
    assert sorted(validation_a(SQUAD_ROWS) + validation_b(SQUAD_ROWS)) == list(range(len(SQUAD_ROWS)))


def test_squad_keeps_every_distinct_gold_answer_in_order() -> None:
    ex = registry.get("squad").recast(registry.get("squad").sample_rows[0])
    assert (ex.answer, ex.answers, ex.answer_start) == ("1874", ("1874", "in 1874"), 28)


# --------------------------------------------------------------------------
# MWSC: decaNLP's raw schema file, two readings per schema, split by schema

SCHEMAS = [
    ("The cup beat the bowl because it was [fast/slow].", "What was [fast/slow]?", "cup/bowl"),
    ("Emma's mother had died, and her [place/education] had been [taken/managed] by a governess.",
     "Whose [place/education] had been [taken/managed]?", "mother's/Emma's"),
    ("Lena felt [proud/ashamed] when Mia said that she had won.", "Who had won?", "Lena/Mia"),
    ("Al paid Bo because he [owed/lent] money.", "Who [owed/lent] money?", "Al/Bo"),
    ("The fish ate the worm because it was [hungry/tasty].", "What was [hungry/tasty]?", "fish/worm"),
    ("Jo called Kim because she [needed/had] help.", "Who [needed/had] help?", "Jo/Kim"),
]  # fmt: skip


def write_schemas(root: Path) -> Path:
    path = root / "decanlp" / "schema.txt"
    path.parent.mkdir(parents=True)
    # trailing spaces and no blank line after the last block, as in the real file
    path.write_text("\n\n".join(" \n".join(block) for block in SCHEMAS) + "\n", encoding="utf-8")
    return path


def test_mwsc_reads_every_schema_and_makes_two_readings(tmp_path: Path) -> None:
    write_schemas(tmp_path)
    examples = load_examples(registry.get("mwsc"), "all", tmp_path)
    assert len(examples) == 2 * len(SCHEMAS)
    two_alternatives = [ex for ex in examples if ex.id.startswith("1")]
    assert [(ex.context, ex.question, ex.answer) for ex in two_alternatives] == [
        ("Emma's mother had died, and her place had been taken by a governess.",
         "Whose place had been taken? mother's or Emma's?", "mother's"),
        ("Emma's mother had died, and her education had been managed by a governess.",
         "Whose education had been managed? mother's or Emma's?", "Emma's"),
    ]  # fmt: skip
    assert examples[5].question == "Who had won? Lena or Mia?" and examples[5].answer == "Mia"


def test_mwsc_split_puts_every_fifth_schema_in_validation(tmp_path: Path) -> None:
    write_schemas(tmp_path)
    mwsc = registry.get("mwsc")
    validation = load_examples(mwsc, "validation", tmp_path)
    train = load_examples(mwsc, "train", tmp_path)
    assert [ex.id for ex in validation] == ["4a", "4b"]
    assert [ex.id for ex in train] == ["0a", "0b", "1a", "1b", "2a", "2b", "3a", "3b", "5a", "5b"]
    assert local_splits(mwsc, tmp_path) == {"all": None, "train": "from all", "validation": "from all"}


def test_mwsc_names_file_and_line_of_a_malformed_schema(tmp_path: Path) -> None:
    path = write_schemas(tmp_path)
    path.write_text(path.read_text() + "\nA sentence without alternatives.\nWho?\nx/y\n")
    # 6 blocks of 3 lines with blank lines between end at line 23; a blank line; the bad block at 25
    with pytest.raises(TaskError, match=re.escape(f"{path}:25: expected a sentence with [a/b]")):
        load_examples(registry.get("mwsc"), "all", tmp_path)


# --------------------------------------------------------------------------
# SNLI: rows without a gold label are dropped and counted


def test_snli_drops_and_counts_the_rows_without_gold_label(tmp_path: Path) -> None:
    snli = registry.get("snli")
    rows = list(snli.sample_rows) * 3
    write_jsonl(tmp_path / "stanfordnlp/snli/plain_text/validation.jsonl", rows)
    assert len(load_examples(snli, "validation", tmp_path)) == 9  # 12 rows, three labelled -1
    report = validate_split(snli, "validation", tmp_path)
    assert (report.rows, report.examples, report.skipped) == (12, 9, 3)
    assert report.skip_reason == "label -1: annotators did not agree (no gold label)"


# --------------------------------------------------------------------------
# WOZ: one dialogue row, one example per turn


def test_woz_expands_a_dialogue_into_its_turns() -> None:
    woz = registry.get("woz")
    turns = list(woz.expand(woz.sample_rows[0]))
    assert [(t["dialogue_idx"], t["turn_idx"]) for t in turns] == [(0, 0), (0, 1), (0, 2)]
    assert set(turns[1]) == {"dialogue_idx", "turn_idx", "system_transcript", "transcript", "turn_label"}
    examples = sample_examples(woz)
    assert [ex.id for ex in examples] == ["0_0", "0_1", "0_2", "1_0"]
    assert examples[0].context == "User: I want Thai food."
    assert examples[1].context == (
        "System: What part of town do you have in mind? User: In the north please, and the phone number?"
    )


def test_woz_reads_a_dialogue_given_as_columns() -> None:
    woz = registry.get("woz")
    row = woz.sample_rows[0]
    columns = {key: [turn[key] for turn in row["dialogue"]] for key in row["dialogue"][0]}
    assert list(woz.expand({**row, "dialogue": columns})) == list(woz.expand(row))


@pytest.mark.parametrize(
    "turn_label",
    [[["food", "thai"], ["price range", "dontcare"]], [["request", "address"], ["request", "postcode"]],
     [["area", "west"], ["request", "phone"]], []],
)  # fmt: skip
def test_woz_answer_reads_back_as_the_turn_label(turn_label: list[list[str]]) -> None:
    from tasks.woz import state_change

    informed, requested = parse_dialogue_state(state_change(turn_label))
    assert informed == {slot: value for slot, value in turn_label if slot != "request"}
    assert requested == [value for slot, value in turn_label if slot == "request"]


# --------------------------------------------------------------------------
# MNLI: not mirrored; appears as soon as a mirror holds it


def test_mnli_lights_up_from_a_mirror_that_gains_it(tmp_path: Path) -> None:
    mnli = registry.get("mnli")
    assert local_splits(mnli, tmp_path) == {}
    write_jsonl(tmp_path / "nyu-mll/glue/mnli/validation_matched.jsonl", mnli.sample_rows)
    assert local_splits(mnli, tmp_path) == {"validation_matched": 3}
    examples = load_examples(mnli, mnli.eval_split, tmp_path)
    assert [ex.answer for ex in examples] == ["entailment", "neutral", "contradiction"]
    assert examples[0].context == 'Premise: "The shop opens on Sundays."'
    assert examples[0].question == 'Hypothesis: "It opens on Sundays." -- entailment, neutral, or contradiction?'


# --------------------------------------------------------------------------
# Score format and translation direction


def test_stsb_answers_read_back_as_their_value() -> None:
    stsb = registry.get("stsb")
    assert [(ex.answer, ex.value) for ex in sample_examples(stsb)] == [("4.8", 4.8), ("0", 0.0), ("2.67", 2.67)]
    assert all(math.isclose(float(ex.answer), ex.value or 0.0) for ex in sample_examples(stsb))


# Where each en -> de task keeps its English and German text.
ENGLISH_GERMAN: dict[str, Callable[[dict], tuple[str, str]]] = {
    "multi30k_en_de": lambda row: (row["en"], row["de"]),
    "wmt14": lambda row: (row["translation"]["en"], row["translation"]["de"]),
    "wmt16": lambda row: (row["translation"]["en"], row["translation"]["de"]),
    "iwslt2017": lambda row: (row["translation"]["en"], row["translation"]["de"]),
    "tatoeba": lambda row: (row["targetString"], row["sourceString"]),  # the German side is Tatoeba's source
}


@pytest.mark.parametrize("name", sorted(ENGLISH_GERMAN))
def test_zero_shot_translation_tasks_share_the_en_de_direction(name: str) -> None:
    task = registry.get(name)
    examples = sample_examples(task)
    assert [(ex.context, ex.answer) for ex in examples] == [ENGLISH_GERMAN[name](row) for row in task.sample_rows]
    for ex in examples:
        assert ex.question == "Translate from English to German"
        assert ex.id == content_id(ex.context, ex.answer), "rows have no id column: the id hashes the pair"


def test_multi30k_registers_both_directions_of_the_same_rows() -> None:
    forward = sample_examples(registry.get("multi30k_en_de"))
    backward = sample_examples(registry.get("multi30k_de_en"))
    assert [(ex.context, ex.answer) for ex in forward] == [(ex.answer, ex.context) for ex in backward]
    assert backward[0].question == "Translate from German to English"


def test_a_limit_keeps_the_first_rows_or_a_seeded_random_subset_in_split_order(tmp_path: Path) -> None:
    rows = [squad_row(f"q{i:02d}", f"T{i:02d}") for i in range(40)]
    write_jsonl(tmp_path / "rajpurkar/squad/plain_text/validation.jsonl", rows)
    squad = registry.get("squad")
    assert [ex.id for ex in load_examples(squad, "validation", tmp_path, limit=3)] == ["q00", "q01", "q02"]
    drawn = [ex.id for ex in load_examples(squad, "validation", tmp_path, limit=10, sample_seed=0)]
    assert drawn == [ex.id for ex in load_examples(squad, "validation", tmp_path, limit=10, sample_seed=0)]
    assert drawn != [ex.id for ex in load_examples(squad, "validation", tmp_path, limit=10, sample_seed=1)]
    assert len(set(drawn)) == 10 and drawn == sorted(drawn), "no repeats, in the split's order"
    assert drawn[-1] > "q10", "drawn from the whole split, not its head"
    assert len(load_examples(squad, "validation", tmp_path, limit=100, sample_seed=0)) == 40
