"""Every built-in task on the real data mirror: each local split loads and recasts every row.

Marked ``mirror`` and skipped, with the reason, when the mirror is absent
(``QABENCH_DATA``, else ``../shared/data`` beside the repository; see
tests/conftest.py). Only splits present in the mirror are read: nothing here
reaches for the hub. The row counts checked are the ones the mirror's README
and SOURCES files state.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks import registry
from tasks.data import load_examples, load_rows, local_splits
from tasks.types import Task
from tasks.validate import problems_of

pytestmark = pytest.mark.mirror

# (task, split) -> examples, from the mirror's README and SOURCES-A/B/C.
KNOWN_EXAMPLES: dict[tuple[str, str], int] = {
    ("sst2", "train"): 67_349, ("sst2", "validation"): 872, ("cola", "train"): 8_551, ("cola", "validation"): 1_043,
    ("mrpc", "validation"): 408, ("stsb", "validation"): 1_500, ("rte", "validation"): 277,
    ("qnli", "validation"): 5_463, ("squad", "validation"): 10_570, ("conll2003", "train"): 14_041,
    ("conll2003", "validation"): 3_250, ("wnut17", "validation"): 1_009, ("ud_pos", "train"): 12_543,
    ("ud_pos", "validation"): 2_002, ("multi30k_en_de", "train"): 29_000, ("multi30k_de_en", "validation"): 1_014,
    ("wmt14", "validation"): 3_000, ("wmt16", "validation"): 2_169, ("iwslt2017", "validation"): 888,
    ("tatoeba", "test"): 17_565, ("woz", "train"): 2_536, ("woz", "validation"): 830,  # turns
    ("mwsc", "all"): 264, ("mwsc", "validation"): 52,  # two readings per schema
}  # fmt: skip


def present_splits(task: Task, mirror: Path) -> list[str]:
    """The task's splits that the mirror holds (derived ones included), or skip the test."""
    splits = list(local_splits(task, mirror))
    if not splits:
        pytest.skip(f"{task.name}: the mirror has none of its splits ({mirror / task.source.mirror_dir})")
    return splits


@pytest.mark.parametrize("task", registry.all_tasks(), ids=lambda t: t.name)
def test_every_local_split_recasts_every_row(task: Task, mirror: Path) -> None:
    for split in present_splits(task, mirror):
        rows = load_rows(task, split, mirror)
        examples = load_examples(task, split, mirror)
        subrows = [sub for row in rows for sub in (task.expand(row) if task.expand else (row,))]
        assert len(examples) == sum(1 for sub in subrows if task.keep is None or task.keep(sub))
        invalid = [(ex.id, problems_of(ex, task.format, task.labels)) for ex in examples]
        assert [item for item in invalid if item[1]][:5] == [], f"{task.name}/{split}"
        if (task.name, split) in KNOWN_EXAMPLES:
            assert len(examples) == KNOWN_EXAMPLES[task.name, split], f"{task.name}/{split}"


def test_snli_validation_keeps_the_rows_with_a_gold_label(mirror: Path) -> None:
    path = mirror / "stanfordnlp/snli/plain_text/validation.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} is absent from the mirror")
    labels = [json.loads(line)["label"] for line in path.read_text(encoding="utf-8").splitlines()]
    assert (len(labels), labels.count(-1)) == (10_000, 158)
    assert len(load_examples(registry.get("snli"), "validation", mirror)) == 10_000 - 158


def test_squad_validation_halves_share_no_article(mirror: Path) -> None:
    squad = registry.get("squad")
    if "validation" not in local_splits(squad, mirror):
        pytest.skip("rajpurkar/squad validation is absent from the mirror")
    first = load_rows(squad, "validation_a", mirror)
    rest = load_rows(squad, "validation_b", mirror)
    titles_a, titles_b = set(first["title"]), set(rest["title"])
    assert (len(titles_a), len(titles_b), len(first), len(rest)) == (24, 24, 4_807, 5_763)
    assert max(titles_a) < min(titles_b), "the first half of the sorted titles trains, the rest evaluates"
    assert not set(first["context"]) & set(rest["context"])


def test_mwsc_parses_every_schema_of_decanlp_file(mirror: Path) -> None:
    mwsc = registry.get("mwsc")
    if "all" not in local_splits(mwsc, mirror):
        pytest.skip("decanlp/schema.txt is absent from the mirror")
    schemas = load_rows(mwsc, "all", mirror)
    blocks = (mirror / "decanlp/schema.txt").read_text(encoding="utf-8").strip().split("\n\n")
    assert len(schemas) == len(blocks) == 132
    train, validation = load_rows(mwsc, "train", mirror), load_rows(mwsc, "validation", mirror)
    assert (len(train), len(validation)) == (106, 26)
    assert all(row["schema_idx"] % 5 == 4 for row in validation)
