"""Features: choice spans, span windows mapped back to characters, tag alignment, the cache, batching."""

from __future__ import annotations

import ctypes
import ctypes.util
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from harness.adapters import ADAPTERS, SpanAdapter, adapter_for, head_specs, locate_choices
from harness.features import FeatureConfig, build_features, large_blocks_mapped, length_grouped_batches, read_columns, read_rows, release_freed_memory, sorted_batches, take_rows
from tasks.types import Example

CONTEXT = (
    "Honey bees live in colonies that can contain tens of thousands of individuals. "
    "Each colony has a single queen, whose main task is to lay eggs. "
    "Workers collect nectar and pollen from flowers and build the wax comb. "
    "Male bees, called drones, do not collect food; their role is to mate with a queen from another colony. "
    "Honey is made from nectar, which the bees store in the comb and dry by fanning it with their wings."
)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory):
    from models.tokenization import train_tokenizer

    texts = [CONTEXT, "Is this review negative or positive?", "a gorgeous , witty film", "EU rejects German call to boycott British lamb ."]
    return train_tokenizer(texts * 3, vocab_size=300, cache_dir=str(tmp_path_factory.mktemp("tok")))


def span_examples() -> list[Example]:
    questions = [("What are male bees called?", "drones"), ("What do workers build?", "the wax comb"), ("What is honey made from?", "nectar")]
    return [
        Example(id=str(i), question=q, context=CONTEXT, answer=a, answer_start=CONTEXT.index(a, CONTEXT.index("Honey is") if a == "nectar" else 0))
        for i, (q, a) in enumerate(questions)
    ]


def test_locate_choices_finds_each_choice_word_or_appends_it() -> None:
    assert locate_choices("Is this review negative or positive?", ["negative", "positive"])[1] == [(15, 23), (27, 35)]
    question, spans = locate_choices("Does the premise entail the hypothesis?", ["entailment", "not_entailment"])
    assert [question[s:e] for s, e in spans] == ["entailment", "not_entailment"]


def test_choice_features_point_at_each_candidate_in_the_question(tokenizer, tmp_path: Path) -> None:
    example = Example(id="0", question="Is this review negative or positive?", context="a gorgeous , witty film", answer="positive", choices=("negative", "positive"))
    row = build_features(adapter_for("choice"), [example], tokenizer, FeatureConfig(max_length=64), cache_dir=tmp_path)[0]
    pieces = [tokenizer.decode(row["input_ids"][s:e]) for s, e in row["choice_spans"]]
    assert pieces == ["negative", "positive"] and row["label"] == 1
    assert row["token_type_ids"][-2] == 1  # the context is the second segment


def test_long_contexts_become_overlapping_windows_whose_answers_map_back_to_characters(tokenizer, tmp_path: Path) -> None:
    examples = span_examples()
    dataset = build_features(adapter_for("span"), examples, tokenizer, FeatureConfig(max_length=48, stride=16), cache_dir=tmp_path)
    windows_per_example = np.bincount(dataset["example_index"])
    assert (windows_per_example > 1).all()  # every context needed several windows
    found = set()
    for row in dataset:
        example = examples[row["example_index"]]
        if row["start_position"] == 0:  # this window does not hold the answer
            continue
        start, end = row["offsets"][row["start_position"]][0], row["offsets"][row["end_position"]][1]
        assert example.context[start:end] == example.answer
        assert row["context_start"] <= row["start_position"] <= row["end_position"] < row["context_end"]
        found.add(row["example_index"])
    assert found == {0, 1, 2}


def test_tag_labels_sit_on_the_first_sub_token_of_each_word(tokenizer, tmp_path: Path) -> None:
    labels = ("O", "B-ORG", "B-MISC")
    tokens = ("EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", ".")
    tags = ("B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O")
    example = Example(id="0", question="Which entities are mentioned?", context=" ".join(tokens), answer="EU (ORG)", tokens=tokens, tags=tags)
    row = build_features(adapter_for("tags"), [example], tokenizer, FeatureConfig(max_length=64), labels=labels, cache_dir=tmp_path)[0]
    labelled = [(w, lab) for w, lab in zip(row["word_ids"], row["labels"]) if lab != -100]
    assert [w for w, _ in labelled] == list(range(len(tokens)))  # each word labelled once, in order
    assert [labels[lab] for _, lab in labelled] == list(tags)
    assert sum(w >= 0 for w in row["word_ids"]) == len(tokens)


def test_a_second_identical_build_loads_the_cache_without_tokenizing(tokenizer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = build_features(adapter_for("span"), span_examples(), tokenizer, FeatureConfig(max_length=48, stride=16), cache_dir=tmp_path)

    def must_not_run(*args, **kwargs):
        raise AssertionError("tokenized again despite the cache")

    monkeypatch.setattr(SpanAdapter, "encode", must_not_run)
    second = build_features(adapter_for("span"), span_examples(), tokenizer, FeatureConfig(max_length=48, stride=16), cache_dir=tmp_path)
    assert second.to_list() == first.to_list()
    assert len(list((tmp_path / "features").glob("span-*.arrow"))) == 1
    with pytest.raises(AssertionError, match="tokenized again"):  # other settings are another cache entry
        build_features(adapter_for("span"), span_examples(), tokenizer, FeatureConfig(max_length=64, stride=16), cache_dir=tmp_path)


def test_collate_pads_to_the_longest_row_of_the_batch(tokenizer, tmp_path: Path) -> None:
    dataset = build_features(adapter_for("span"), span_examples(), tokenizer, FeatureConfig(max_length=48, stride=16), cache_dir=tmp_path)
    rows = dataset[0:3]
    batch = adapter_for("span").collate(rows, pad_id=tokenizer.pad_token_id)
    width = max(len(ids) for ids in rows["input_ids"])
    assert batch["input_ids"].shape == batch["attention_mask"].shape == batch["context_mask"].shape == (3, width)
    assert batch["attention_mask"].sum().item() == sum(len(ids) for ids in rows["input_ids"])
    assert batch["start_positions"].tolist() == rows["start_position"]


def test_collate_can_round_the_width_up_to_a_multiple_with_padding_masked(tokenizer, tmp_path: Path) -> None:
    dataset = build_features(adapter_for("span"), span_examples(), tokenizer, FeatureConfig(max_length=45, stride=16), cache_dir=tmp_path)
    rows = dataset[0:3]
    exact, rounded = (adapter_for("span").collate(rows, pad_id=tokenizer.pad_token_id, multiple=m) for m in (1, 16))
    width = exact["input_ids"].shape[1]
    assert width % 16 and rounded["input_ids"].shape[1] == -(-width // 16) * 16
    for key in ("input_ids", "attention_mask", "token_type_ids", "context_mask"):
        assert rounded[key][:, :width].equal(exact[key]) and not rounded[key][:, width:].any()  # pad id 0, masked out
    assert rounded["start_positions"].equal(exact["start_positions"])


def test_read_rows_and_columns_give_the_rows_asked_for_however_the_dataset_is_held(tokenizer, tmp_path: Path) -> None:
    import datasets

    cached = build_features(adapter_for("span"), span_examples(), tokenizer, FeatureConfig(max_length=48, stride=16), cache_dir=tmp_path)
    assert cached.cache_files  # read through a fresh memory map of the cache file per call
    held = {
        "cache file": cached,
        "contiguous select (a slice of the file)": cached.select(range(2, cached.num_rows - 1)),
        "indices mapping": cached.select([4, 0, 3]),
        "in memory": datasets.Dataset.from_dict(cached.to_dict()),
    }
    for how, dataset in held.items():
        every = dataset.to_list()
        positions = list(range(dataset.num_rows))[::-1][::2] + [0]  # out of order, one row twice
        assert read_rows(dataset, positions).to_pylist() == [every[p] for p in positions], how
        assert read_columns(dataset, ["length", "example_index"], 1, 3) == {
            "length": [row["length"] for row in every[1:3]], "example_index": [row["example_index"] for row in every[1:3]]}, how
        assert read_columns(dataset, ["length"], dataset.num_rows, dataset.num_rows + 4) == {"length": []}, how


def test_take_rows_copies_only_the_rows_taken_from_a_table_of_many_record_batches() -> None:
    table = pa.Table.from_batches([pa.record_batch({"n": list(range(k, k + 1000)), "tokens": [[k] * 300] * 1000}) for k in range(0, 8000, 1000)])
    before = pa.total_allocated_bytes()
    taken = take_rows(table, [7999, 0, 4500, 4501, 0])
    assert taken.column("n").to_pylist() == [7999, 0, 4500, 4501, 0]
    assert taken.column("tokens").to_pylist()[2] == [4000] * 300
    assert pa.total_allocated_bytes() - before < 100_000  # Table.take would first copy all 8,000 rows (9.6 MB of tokens)
    assert take_rows(table, []).num_rows == 0


def test_sorted_batches_put_each_position_once_longest_first() -> None:
    lengths = list(np.random.default_rng(0).integers(5, 500, size=101))
    batches = sorted_batches(lengths, 10)
    assert sorted(i for b in batches for i in b) == list(range(101)) and [len(b) for b in batches] == [10] * 10 + [1]
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(lengths, reverse=True)


def test_length_grouped_batches_cover_every_row_once_and_group_similar_lengths() -> None:
    lengths = list(np.random.default_rng(0).integers(5, 500, size=1000))
    batches = length_grouped_batches(lengths, batch_size=10, rng=np.random.default_rng(1), group=100)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    spread = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches])
    assert spread < 20  # random batches of 10 would spread over ~400


def test_token_budget_batches_stay_within_the_budget_and_cover_every_row_once() -> None:
    lengths = [int(x) for x in np.random.default_rng(0).integers(5, 384, size=1000)]
    batches = length_grouped_batches(lengths, 0, np.random.default_rng(1), batch_tokens=1024)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    padded = [len(b) * max(lengths[i] for i in b) for b in batches]
    assert max(padded) <= 1024
    assert sum(lengths) / sum(padded) > 0.9  # rows of similar length share a batch
    sizes = {len(b) for b in batches}
    assert min(sizes) <= 3 and max(sizes) >= 15  # long windows come few to a batch, short rows many


def test_token_budget_batches_are_a_function_of_the_seed() -> None:
    lengths = [int(x) for x in np.random.default_rng(0).integers(5, 200, size=300)]

    def draw(seed: int) -> list[list[int]]:
        return length_grouped_batches(lengths, 0, np.random.default_rng(seed), batch_tokens=512)

    assert draw(3) == draw(3) != draw(4)


def test_a_row_longer_than_the_budget_is_a_batch_of_its_own() -> None:
    batches = length_grouped_batches([300, 10, 10], 0, np.random.default_rng(0), batch_tokens=256)
    assert sorted(map(sorted, batches)) == [[0], [1, 2]]


def one_example_per_format() -> dict[str, Example]:
    tokens = ("EU", "rejects", "German", "call")
    return {
        "choice": Example(id="0", question="Is this review negative or positive?", context="a gorgeous , witty film", answer="positive", choices=("negative", "positive")),
        "span": span_examples()[0],
        "tags": Example(id="0", question="Which entities are mentioned?", context=" ".join(tokens), answer="EU (ORG)", tokens=tokens, tags=("B-ORG", "O", "O", "O")),
        "score": Example(id="0", question="How similar are these sentences?", context="a witty film", answer="3.5", value=3.5),
        "text": Example(id="0", question="What is the translation?", context="EU rejects German call", answer="Die EU lehnt ab"),
    }


def test_every_answer_format_has_one_adapter_whose_features_collate_into_its_training_batch(tokenizer, tmp_path: Path) -> None:
    from tasks.types import FORMATS

    assert tuple(ADAPTERS) == FORMATS
    for fmt, example in one_example_per_format().items():
        adapter = adapter_for(fmt)
        dataset = build_features(adapter, [example], tokenizer, FeatureConfig(max_length=48, stride=16), labels=("O", "B-ORG"), cache_dir=tmp_path)
        assert set(adapter.train_columns) <= set(dataset.column_names), fmt
        batch = adapter.collate(dataset.select_columns(list(adapter.train_columns))[:], pad_id=tokenizer.pad_token_id)
        assert batch["input_ids"].shape == batch["attention_mask"].shape == batch["token_type_ids"].shape, fmt
        assert len(batch) > 3, f"{fmt}: no field of its own in the batch"


def test_head_specs_share_label_layers_per_label_set_and_send_everything_to_the_text_head_in_text_mode() -> None:
    from tasks.registry import get

    tasks = [get("sst2"), get("conll2003"), get("wnut17"), get("multi30k_en_de")]
    typed = head_specs(tasks, task_specific=False)
    assert {name: spec.key(name) for name, spec in typed.items()} == {"sst2": "choice", "conll2003": "tags-conll2003", "wnut17": "tags-wnut17", "multi30k_en_de": "text"}
    text = head_specs(tasks, task_specific=False, head_mode="text", decoder="tiny")
    assert {spec.format for spec in text.values()} == {"text"} and {spec.decoder for spec in text.values()} == {"tiny"}
    assert not any(spec.copy_spans for spec in text.values())
    spans = head_specs(tasks, task_specific=False, copy_spans=True)
    assert [name for name, spec in spans.items() if spec.copy_spans] == ["multi30k_en_de"]  # the text head's spec only
    assert adapter_for("text").keeps_case and not any(adapter_for(f).keeps_case for f in ("choice", "span", "tags", "score"))


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def test_inside_large_blocks_mapped_a_few_mib_block_is_mapped_on_its_own_and_outside_it_comes_from_the_heap_again() -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    if not hasattr(libc, "mallinfo2"):
        pytest.skip("not glibc 2.33 or later: no mallinfo2 to count mapped blocks with")
    libc.mallinfo2.restype = _MallInfo2
    libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_size_t], [ctypes.c_void_p]

    def mapped(size: int) -> int:
        """How many blocks of its own glibc mapped for one malloc of ``size`` bytes."""
        release_freed_memory()  # a free heap top would serve the request whatever the threshold
        before = libc.mallinfo2().hblks
        block = libc.malloc(size)
        after = libc.mallinfo2().hblks
        libc.free(block)
        return after - before

    libc.free(libc.malloc(20 * 2**20))  # freeing a mapped 20 MiB block raises glibc's threshold to 20 MiB
    assert mapped(6 * 2**20) == 0
    with large_blocks_mapped():
        assert mapped(6 * 2**20) == 1
    assert mapped(6 * 2**20) == 0 and mapped(40 * 2**20) == 1  # back to glibc's largest threshold (32 MiB)


def test_freed_memory_is_given_back_first_and_then_only_once_the_process_has_grown_by_the_slack(monkeypatch) -> None:
    import harness.features as features

    released, resident = [], [100 * 2**20]
    monkeypatch.setattr(features, "release_freed_memory", lambda: released.append(resident[0]))
    monkeypatch.setattr(features, "resident_bytes", lambda: resident[0])
    heap = features.FreedMemory()
    heap.release()
    assert len(released) == 1  # always, without a slack
    resident[0] += features.HEAP_SLACK  # grown by exactly the slack: not yet
    heap.release_if_grown()
    assert len(released) == 1
    resident[0] += 1
    heap.release_if_grown()
    assert len(released) == 2
