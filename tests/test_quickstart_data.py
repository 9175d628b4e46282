"""The quickstart's bundled sample data is a tiny, well-formed mirror of the hub.

``harness/quickstart/data`` holds four small datasets in the local-mirror layout
``<hub_id>/<config>/<split>.jsonl`` with exactly the Hugging Face hub's columns,
so the real tasks (sst2, rte, squad, conll2003) read them unchanged and
``qabench run`` works offline on a fresh install. These tests pin that shape:
each file parses, has the hub's columns and label ids, SQuAD answers sit at
their offsets, CoNLL tags are valid IOB2, and the files stay small.
"""

from __future__ import annotations

import collections
import json
import os
from pathlib import Path
from typing import Any

import pytest
from datasets import ClassLabel, Dataset, Features, Sequence, Value

import harness

QUICKSTART_DATA = Path(harness.__file__).parent / "quickstart" / "data"

SST2 = "nyu-mll/glue/sst2"
RTE = "nyu-mll/glue/rte"
SQUAD = "rajpurkar/squad/plain_text"
CONLL = "eriktks/conll2003/conll2003"
DATASETS = (SST2, RTE, SQUAD, CONLL)
SPLITS = ("train", "validation")

CONLL_POS = ['"', "''", "#", "$", "(", ")", ",", ".", ":", "``", "CC", "CD", "DT", "EX", "FW", "IN", "JJ", "JJR",
             "JJS", "LS", "MD", "NN", "NNP", "NNPS", "NNS", "NN|SYM", "PDT", "POS", "PRP", "PRP$", "RB", "RBR", "RBS",
             "RP", "SYM", "TO", "UH", "VB", "VBD", "VBG", "VBN", "VBP", "VBZ", "WDT", "WP", "WP$", "WRB"]
CONLL_CHUNK = ["O", "B-ADJP", "I-ADJP", "B-ADVP", "I-ADVP", "B-CONJP", "I-CONJP", "B-INTJ", "I-INTJ", "B-LST",
               "I-LST", "B-NP", "I-NP", "B-PP", "I-PP", "B-PRT", "I-PRT", "B-SBAR", "I-SBAR", "B-UCP", "I-UCP",
               "B-VP", "I-VP"]
CONLL_NER = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]

# The hub's features for each dataset (from its dataset card), label names in hub order.
HUB_FEATURES: dict[str, Features] = {
    SST2: Features({
        "sentence": Value("string"),
        "label": ClassLabel(names=["negative", "positive"]),
        "idx": Value("int32"),
    }),
    RTE: Features({
        "sentence1": Value("string"),
        "sentence2": Value("string"),
        "label": ClassLabel(names=["entailment", "not_entailment"]),
        "idx": Value("int32"),
    }),
    SQUAD: Features({
        "id": Value("string"),
        "title": Value("string"),
        "context": Value("string"),
        "question": Value("string"),
        "answers": Sequence({"text": Value("string"), "answer_start": Value("int32")}),
    }),
    CONLL: Features({
        "id": Value("string"),
        "tokens": Sequence(Value("string")),
        "pos_tags": Sequence(ClassLabel(names=CONLL_POS)),
        "chunk_tags": Sequence(ClassLabel(names=CONLL_CHUNK)),
        "ner_tags": Sequence(ClassLabel(names=CONLL_NER)),
    }),
}

MAX_FILE_BYTES = 50_000
TRAIN_ROWS = range(20, 61)
MIN_VALIDATION_ROWS = 10


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every line of ``path`` as a JSON object; a bad line fails naming file and line."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        row = json.loads(line)
        assert isinstance(row, dict), f"{path}:{number}: expected a JSON object, got {type(row).__name__}"
        rows.append(row)
    return rows


def rows_of(dataset: str, split: str) -> list[dict[str, Any]]:
    """The quickstart rows of one dataset split."""
    return read_jsonl(QUICKSTART_DATA / dataset / f"{split}.jsonl")


def mirror_root() -> Path | None:
    """The real data mirror (QABENCH_DATA, else ../shared/data beside the repo), or None when absent."""
    configured = os.environ.get("QABENCH_DATA")
    root = Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared" / "data"
    return root if root.is_dir() else None


ALL_FILES = [(dataset, split) for dataset in DATASETS for split in SPLITS]


@pytest.mark.parametrize(("dataset", "split"), ALL_FILES)
def test_file_has_exactly_the_hub_columns(dataset: str, split: str) -> None:
    expected = set(HUB_FEATURES[dataset])
    for number, row in enumerate(rows_of(dataset, split), start=1):
        assert set(row) == expected, f"{dataset}/{split}.jsonl:{number}: columns {sorted(row)}"


@pytest.mark.parametrize(("dataset", "split"), ALL_FILES)
def test_file_encodes_with_the_hub_features(dataset: str, split: str) -> None:
    # datasets rejects wrong types and class ids outside the label lists.
    loaded = Dataset.from_list(rows_of(dataset, split), features=HUB_FEATURES[dataset])
    assert loaded.num_rows == len(rows_of(dataset, split))


@pytest.mark.parametrize(("dataset", "split"), ALL_FILES)
def test_file_is_small(dataset: str, split: str) -> None:
    assert (QUICKSTART_DATA / dataset / f"{split}.jsonl").stat().st_size < MAX_FILE_BYTES


@pytest.mark.parametrize("dataset", DATASETS)
def test_split_sizes(dataset: str) -> None:
    assert len(rows_of(dataset, "train")) in TRAIN_ROWS
    assert len(rows_of(dataset, "validation")) >= MIN_VALIDATION_ROWS


@pytest.mark.parametrize("dataset", (SST2, RTE))
@pytest.mark.parametrize("split", SPLITS)
def test_glue_labels_are_binary_balanced_and_idx_counts_up(dataset: str, split: str) -> None:
    rows = rows_of(dataset, split)
    counts = collections.Counter(row["label"] for row in rows)
    assert set(counts) == {0, 1}
    assert abs(counts[0] - counts[1]) <= len(rows) // 10
    assert [row["idx"] for row in rows] == list(range(len(rows)))


@pytest.mark.parametrize("split", SPLITS)
def test_glue_sentences_are_not_empty(split: str) -> None:
    for row in rows_of(SST2, split):
        assert row["sentence"].strip()
    for row in rows_of(RTE, split):
        assert row["sentence1"].strip() and row["sentence2"].strip()


@pytest.mark.parametrize("split", SPLITS)
def test_squad_answers_sit_at_answer_start(split: str) -> None:
    for row in rows_of(SQUAD, split):
        texts, starts = row["answers"]["text"], row["answers"]["answer_start"]
        assert texts and len(texts) == len(starts), row["id"]
        for text, start in zip(texts, starts):
            assert text and row["context"][start:start + len(text)] == text, (row["id"], text, start)


def test_squad_ids_are_unique_and_splits_share_no_article() -> None:
    train, validation = rows_of(SQUAD, "train"), rows_of(SQUAD, "validation")
    ids = [row["id"] for row in train + validation]
    assert len(ids) == len(set(ids))
    assert not {row["title"] for row in train} & {row["title"] for row in validation}
    assert not {row["context"] for row in train} & {row["context"] for row in validation}


def iob2_errors(tags: list[str]) -> list[str]:
    """Positions where an I- tag does not continue a span of its own type."""
    errors = []
    previous = "O"
    for position, tag in enumerate(tags):
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            errors.append(f"{position}: {tag} after {previous}")
        previous = tag
    return errors


def test_iob2_errors_flags_an_i_tag_that_starts_a_span() -> None:
    assert iob2_errors(["B-PER", "I-PER", "O", "B-LOC"]) == []
    assert iob2_errors(["O", "I-ORG"]) == ["1: I-ORG after O"]
    assert iob2_errors(["B-PER", "I-LOC"]) == ["1: I-LOC after B-PER"]


@pytest.mark.parametrize("split", SPLITS)
def test_conll_tags_line_up_and_are_valid_iob2(split: str) -> None:
    rows = rows_of(CONLL, split)
    assert [row["id"] for row in rows] == [str(i) for i in range(len(rows))]
    for row in rows:
        length = len(row["tokens"])
        assert length and len(row["pos_tags"]) == len(row["chunk_tags"]) == len(row["ner_tags"]) == length, row["id"]
        assert iob2_errors([CONLL_NER[i] for i in row["ner_tags"]]) == [], row["id"]
        assert iob2_errors([CONLL_CHUNK[i] for i in row["chunk_tags"]]) == [], row["id"]


@pytest.mark.parametrize("split", SPLITS)
def test_conll_split_has_every_entity_type(split: str) -> None:
    beginnings = {CONLL_NER[i] for row in rows_of(CONLL, split) for i in row["ner_tags"] if CONLL_NER[i][0] == "B"}
    assert beginnings == {"B-PER", "B-ORG", "B-LOC", "B-MISC"}


@pytest.mark.mirror
@pytest.mark.parametrize(("dataset", "split"), ALL_FILES)
def test_columns_match_the_real_mirror(dataset: str, split: str) -> None:
    root = mirror_root()
    if root is None:
        pytest.skip("no data mirror: set QABENCH_DATA or put it at ../shared/data")
    real = root / dataset / f"{split}.jsonl"
    if not real.exists():
        real = root / dataset / "validation.jsonl"  # the mirror holds SQuAD's validation split only
    with real.open(encoding="utf-8") as handle:
        first_real_row = json.loads(handle.readline())
    assert set(rows_of(dataset, split)[0]) == set(first_real_row)
