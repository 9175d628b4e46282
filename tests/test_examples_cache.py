"""The examples cache (tasks/cache.py): a warm run reads a split's examples back; anything that changes them misses.

Each test builds a small task over a JSONL file in a temporary directory and
loads it through :func:`tasks.data.load_examples` with a cache directory, as
a run does. A hit must not read the data file, and must give exactly the
examples a miss gives.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import tasks.cache as cache
import tasks.data as data
from tasks.cache import code_fingerprint, file_sha256
from tasks.data import load_examples
from tasks.recipes import template_task
from tasks.types import Example, Source, Task

ROWS = [{"sentence": f"review number {i} , {'fine' if i % 3 else 'dull'} ", "label": int(i % 3 != 0), "idx": i} for i in range(40)]


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def sentiment(train: Path, question: str = "Is this review {choices}?", **fields) -> Task:
    """An SST-2-like task over ``train``; ``question`` is its template."""
    return template_task(
        "cached_sentiment", family="classification", source=Source.local(train=str(train)), context="{sentence}",
        question=question, labels=("negative", "positive"), metrics=("accuracy",), splits=("train",), eval_split="train", **fields,
    )


def entries(root: Path) -> list[Path]:
    return sorted((root / "examples").glob("*.jsonl"))


@pytest.fixture
def train(tmp_path: Path) -> Path:
    return write_rows(tmp_path / "train.jsonl", ROWS)


@pytest.fixture
def no_reading(monkeypatch: pytest.MonkeyPatch):
    """Make reading rows fail, to show that a call was answered from the cache alone."""

    def refuse() -> None:
        def fail(*args, **kwargs):
            raise AssertionError("the split was read although its examples are cached")

        monkeypatch.setattr(data, "load_rows", fail)

    return refuse


def test_a_hit_gives_exactly_the_examples_of_a_miss_without_reading_the_split(train: Path, tmp_path: Path, no_reading) -> None:
    task, root = sentiment(train), tmp_path / "cache"
    fresh = load_examples(task, "train", limit=12, sample_seed=3)
    missed = load_examples(task, "train", limit=12, sample_seed=3, cache_dir=root)
    assert missed == fresh and len(entries(root)) == 1
    no_reading()
    hit = load_examples(task, "train", limit=12, sample_seed=3, cache_dir=root)
    assert hit == fresh
    assert [e.to_dict() for e in hit] == [e.to_dict() for e in fresh]


def test_every_kind_of_example_reads_back_unchanged(tmp_path: Path) -> None:
    examples = [
        Example(id="c", question="Negative or positive?", context="fine", answer="positive", choices=("negative", "positive")),
        Example(id="s", question="Who?", context="Ada wrote it\u2028\n", answer="Ada", answers=("Ada", "Ada L."), answer_start=0),
        Example(id="t", question="Entities?", context="Ada Lovelace", answer="Ada Lovelace (person)", tokens=("Ada", "Lovelace"), tags=("B-PER", "I-PER")),
        Example(id="v", question="How similar?", context="a | b", answer="3.8", value=3.8000000001),
        Example(id="x", question="Auf Deutsch?", context="the \"tree\"", answer="der \u201eBaum\u201c"),
    ]
    path = tmp_path / "entry.jsonl"
    cache.write_entry(path, "k" * 64, examples)
    assert cache.read_entry(path, "k" * 64) == examples


def test_questions_about_one_paragraph_share_its_string_when_read_back(tmp_path: Path) -> None:
    paragraph = "Ada Lovelace wrote the first program. " * 20
    examples = [Example(id=str(i), question=f"Question {i}?", context=paragraph, answer="Ada") for i in range(3)]
    path = tmp_path / "entry.jsonl"
    cache.write_entry(path, "k" * 64, examples)
    read = cache.read_entry(path, "k" * 64)
    assert read == examples
    assert read[0].context is read[1].context is read[2].context  # SQuAD's 5,763 questions hold 1,083 distinct paragraphs


def test_a_template_change_misses_the_cache(train: Path, tmp_path: Path) -> None:
    root = tmp_path / "cache"
    before = load_examples(sentiment(train), "train", cache_dir=root)
    after = load_examples(sentiment(train, question="Does this review sound {choices}?"), "train", cache_dir=root)
    assert after[0].question == "Does this review sound negative or positive?" != before[0].question
    assert len(entries(root)) == 2


def test_a_change_to_the_recast_code_misses_the_cache(train: Path, tmp_path: Path) -> None:
    def plugin_recast(body: str):
        """The same function of the same plugin module before and after an edit of its body."""
        namespace: dict = {"__name__": "my_plugin", "Example": Example}
        exec(f"def recast(row):\n    return Example(id=str(row['idx']), question='Tone?', context={body}, answer='x')\n", namespace)
        return namespace["recast"]

    base = sentiment(train)
    root = tmp_path / "cache"
    plain = Task(**{**base.__dict__, "recast": plugin_recast("row['sentence']"), "format": "text", "labels": ()})
    upper = Task(**{**plain.__dict__, "recast": plugin_recast("row['sentence'].upper()")})
    assert load_examples(plain, "train", cache_dir=root)[0].context == ROWS[0]["sentence"]
    assert load_examples(upper, "train", cache_dir=root)[0].context == ROWS[0]["sentence"].upper()
    assert code_fingerprint(plain.recast) != code_fingerprint(upper.recast)


def test_a_change_to_the_data_file_misses_the_cache_even_at_the_same_size(train: Path, tmp_path: Path) -> None:
    root = tmp_path / "cache"
    task = sentiment(train)
    before = load_examples(task, "train", cache_dir=root)
    edited = train.read_text(encoding="utf-8").replace("review number 0 ", "review number X ")
    assert len(edited) == train.stat().st_size
    train.write_text(edited, encoding="utf-8")
    after = load_examples(task, "train", cache_dir=root)
    assert after[0].context == "review number X , dull" != before[0].context
    assert after == load_examples(task, "train")


def test_limit_and_seed_are_part_of_the_key(train: Path, tmp_path: Path) -> None:
    root, task = tmp_path / "cache", sentiment(train)
    got = {(limit, seed): load_examples(task, "train", limit=limit, sample_seed=seed, cache_dir=root) for limit, seed in [(5, None), (5, 1), (5, 2), (8, 1)]}
    assert len(entries(root)) == 4
    assert got[5, None] == load_examples(task, "train", limit=5)
    assert [e.id for e in got[5, 1]] != [e.id for e in got[5, 2]]
    assert got[8, 1] == load_examples(task, "train", limit=8, sample_seed=1)


def test_a_derived_split_is_keyed_by_its_select_function(train: Path, tmp_path: Path) -> None:
    def evens(rows):
        return list(range(0, len(rows), 2))

    def odds(rows):
        return list(range(1, len(rows), 2))

    def derived(select) -> Task:
        base = sentiment(train)
        source = Source(hub_id=base.source.hub_id, on_hub=False, files=base.source.files, derived={"half": ("train", select)})
        return Task(**{**base.__dict__, "source": source, "splits": ("train", "half")})

    root = tmp_path / "cache"
    assert [e.id for e in load_examples(derived(evens), "half", cache_dir=root)][:2] == ["0", "2"]
    assert [e.id for e in load_examples(derived(odds), "half", cache_dir=root)][:2] == ["1", "3"]


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda b: b[: len(b) // 2], id="truncated"),
        pytest.param(lambda b: b.replace(b"review", b"REVIEW", 1), id="edited"),
        pytest.param(lambda b: b"\x00\xff" + b[2:], id="garbage-header"),
        pytest.param(lambda b: b"", id="empty"),
    ],
)
def test_a_damaged_entry_is_reported_deleted_and_rebuilt(damage, train: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, task = tmp_path / "cache", sentiment(train)
    fresh = load_examples(task, "train", limit=10, cache_dir=root)
    (entry,) = entries(root)
    entry.write_bytes(damage(entry.read_bytes()))
    capsys.readouterr()
    again = load_examples(task, "train", limit=10, cache_dir=root)
    err = capsys.readouterr().err
    assert again == fresh
    assert err.count("\n") == 1 and err.startswith(f"warning: damaged examples cache {entry} (") and err.rstrip().endswith("deleted and rebuilt")
    assert entries(root) == [entry] and cache.read_entry(entry, json.loads(entry.read_bytes().partition(b"\n")[0])["key"]) == fresh


def test_a_cache_that_cannot_be_written_warns_and_the_examples_still_come(train: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    def full_disk(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache, "write_bytes_atomic", full_disk)
    task = sentiment(train)
    assert load_examples(task, "train", cache_dir=tmp_path / "cache") == load_examples(task, "train")
    err = capsys.readouterr().err
    assert err.startswith("warning: could not write the examples cache") and "No space left on device" in err


def test_file_hashes_are_remembered_until_the_file_changes(train: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    memo = tmp_path / "memo"
    assert file_sha256(train, memo) == file_sha256(train) and not any(memo.glob("*.json"))  # just written: racy, not remembered
    monkeypatch.setattr(cache, "RACY_SECONDS", -1.0)
    real = file_sha256(train, memo)
    (stored,) = memo.glob("*.json")
    record = json.loads(stored.read_text())
    stored.write_text(json.dumps({**record, "sha256": "0" * 64}))  # a remembered hash is used as it is, without reading the file
    assert file_sha256(train, memo) == "0" * 64
    stat = train.stat()
    train.write_text(train.read_text().replace("dull", "dukl", 1))
    os.utime(train, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size and modification time: the change time still differs
    assert file_sha256(train, memo) not in ("0" * 64, real)


def test_a_damaged_file_hash_memo_is_reported_and_rebuilt(train: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(cache, "RACY_SECONDS", -1.0)
    memo = tmp_path / "memo"
    real = file_sha256(train, memo)
    (stored,) = memo.glob("*.json")
    stored.write_text('{"sha256": ')
    assert file_sha256(train, memo) == real
    assert capsys.readouterr().err.startswith(f"warning: damaged file-hash memo {stored}")
    assert json.loads(stored.read_text())["sha256"] == real


def test_code_fingerprints_follow_globals_partials_and_closures() -> None:
    def make(word: str):
        def recast(row):
            return Example(id="0", question=word, context=row["text"], answer="x")

        return recast

    assert code_fingerprint(make("a")) == code_fingerprint(make("a"))
    assert code_fingerprint(make("a")) != code_fingerprint(make("b"))  # a closure's value
    namespace: dict = {"__name__": "my_plugin", "SUFFIX": "!"}
    exec("def shout(text):\n    return text + SUFFIX\n\ndef recast(row):\n    return shout(row['text'])\n", namespace)
    before = code_fingerprint(namespace["recast"])
    namespace["SUFFIX"] = "?"  # a module constant used by a function the recast calls
    assert code_fingerprint(namespace["recast"]) != before


def test_a_run_reads_its_examples_from_the_cache_the_second_time(tmp_path: Path, no_reading) -> None:
    from harness.config import load_config
    from harness.prepare import load_task_examples, resolve_tasks

    config = load_config(None, ("optim.steps=1", f"cache_dir={tmp_path / 'cache'}"))
    tasks = resolve_tasks(config)
    cold = load_task_examples(config, tasks, train=True)
    no_reading()
    assert load_task_examples(config, tasks, train=True) == cold


def test_a_suite_reads_its_evaluation_examples_from_the_cache_the_second_time(tmp_path: Path, no_reading) -> None:
    from tasks.suite import get_suite, load_suite_data

    cold = load_suite_data(get_suite("quick"), cache_dir=tmp_path / "cache")
    no_reading()
    warm = load_suite_data(get_suite("quick"), cache_dir=tmp_path / "cache")
    assert warm.examples == cold.examples and warm.fingerprint == cold.fingerprint
