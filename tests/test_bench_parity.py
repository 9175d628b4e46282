"""bench/parity.py stays honest: both sides train on the same example ids for the same number of optimiser steps.

Runs the script's two sides on a tiny BERT saved with ``save_pretrained``
(what a hub checkpoint is) over a few inline rows laid out as the data
mirror is, for one task of each typed format it covers.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from transformers import BertConfig, BertModel, BertTokenizerFast

ROOT = Path(__file__).resolve().parents[1]

WORDS = (
    "a warm funny film the plot goes nowhere slowly great acting dull boring lovely story bad good movie it is was not "
    "john smith lives in paris and works for acme corp he met mary at london what where who does did city company "
    "from to of with on by an its this that very really truly quite"
).split()


@pytest.fixture(scope="module")
def parity() -> ModuleType:
    spec = importlib.util.spec_from_file_location("parity", ROOT / "bench" / "parity.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["parity"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A randomly initialised 2-layer BERT and its WordPiece tokenizer, saved as a hub checkpoint is."""
    directory = tmp_path_factory.mktemp("tiny-bert")
    vocab = directory / "vocab.txt"
    entries = dict.fromkeys(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(set(WORDS)), *"abcdefghijklmnopqrstuvwxyz0123456789.,?-\"'()"])
    vocab.write_text("\n".join(entries) + "\n")  # one line per token: a repeated line would give an id beyond len(tokenizer)
    tokenizer = BertTokenizerFast(vocab=str(vocab), do_lower_case=True)  # ``vocab_file=`` reads only the special tokens under transformers 5
    assert tokenizer.tokenize("John Smith lives in Paris") == ["john", "smith", "lives", "in", "paris"]
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37, max_position_embeddings=128)
    BertModel(config).save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    return str(directory)


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few rows of sst2, conll2003 and squad, laid out as the data mirror (``<hub_id>/<config>/<split>.jsonl``)."""
    root = tmp_path_factory.mktemp("mirror")
    sentences = ["a warm funny film", "the plot goes nowhere slowly", "great acting", "dull and boring", "a lovely story", "bad movie"]
    for split, n in (("train", 30), ("validation", 8)):
        _write(root / "nyu-mll/glue/sst2" / f"{split}.jsonl", [{"sentence": f"{sentences[i % 6]} ", "label": int(i % 6 in (0, 2, 4)), "idx": i} for i in range(n)])
        tokens = ["John", "Smith", "lives", "in", "Paris", "and", "works", "for", "Acme", "Corp", "."]
        tags = [1, 2, 0, 0, 5, 0, 0, 0, 3, 4, 0]
        _write(
            root / "eriktks/conll2003/conll2003" / f"{split}.jsonl",
            [{"id": str(i), "tokens": tokens[i % 3 :], "pos_tags": [0] * len(tokens[i % 3 :]), "chunk_tags": [0] * len(tokens[i % 3 :]), "ner_tags": tags[i % 3 :]} for i in range(n)],
        )
    context = "john smith lives in paris and works for acme corp . " * 3 + "he met mary in london ."
    questions = [("where does john smith live ?", "paris"), ("who did he meet ?", "mary"), ("what company ?", "acme corp"), ("which city ?", "london")]
    rows = []
    for i in range(24):
        question, answer = questions[i % 4]
        rows.append({"id": f"q{i}", "title": f"article{i % 4}", "context": context, "question": question, "answers": {"text": [answer], "answer_start": [context.index(answer)]}})
    _write(root / "rajpurkar/squad/plain_text/validation.jsonl", rows)
    return root


@pytest.mark.parametrize("task", ["sst2", "conll2003", "squad"])
def test_both_sides_train_on_the_same_example_ids_for_the_same_number_of_steps(
    parity: ModuleType, tiny_bert: str, mirror: Path, tmp_path: Path, task: str
) -> None:
    budget = parity.replace(parity.BUDGETS[task], limit=10, eval_limit=6, epochs=2, batch_size=4, lr=1e-3, max_length=32, stride=8)  # the task's splits at a tiny budget
    pair = parity.run_pair(task, budget, seed=0, model_dir=tiny_bert, data_dir=mirror, cache_dir=str(tmp_path / "cache"))

    windows = pair.qabench.windows
    assert pair.plain is not None and pair.plain.windows == windows
    assert pair.qabench.steps == pair.plain.steps == 2 * -(-windows // 4)
    assert pair.qabench.seen == pair.plain.seen
    assert len(pair.qabench.seen) == pair.train_examples == 10  # every training example, on both sides
    assert sum(pair.qabench.seen.values()) == 2 * windows  # each window once per epoch
    if task == "squad":
        assert windows > 10, "long contexts must give several windows per example"
    for side in (pair.qabench, pair.plain):
        assert 0 <= side.score <= 100 and side.examples_per_second > 0


def test_a_pair_whose_sides_saw_different_examples_is_refused(parity: ModuleType, tiny_bert: str, mirror: Path, tmp_path: Path) -> None:
    budget = parity.replace(parity.BUDGETS["sst2"], limit=8, eval_limit=4, batch_size=4, max_length=32, stride=8)
    honest = parity.run_pair("sst2", budget, seed=0, model_dir=tiny_bert, data_dir=mirror, cache_dir=str(tmp_path / "cache"))
    assert honest.plain is not None
    other = dict(honest.plain.seen)
    other[next(iter(other))] += 1
    with pytest.raises(SystemExit, match="the sides differ"):
        parity.run_pair("sst2", budget, seed=0, model_dir=tiny_bert, data_dir=mirror, cache_dir=str(tmp_path / "cache"), plain=parity.replace(honest.plain, seen=other))


def test_the_script_prints_the_table_and_writes_json(parity: ModuleType, tiny_bert: str, mirror: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pairs.json"
    args = ["--tasks", "sst2", "--seeds", "0,1", "--model", tiny_bert, "--data-dir", str(mirror), "--limit", "8", "--eval-limit", "4", "--json", str(out)]
    parity.main([*args, "--set", f"cache_dir={tmp_path / 'cache'}"])
    table = capsys.readouterr().out.splitlines()
    row = next(line for line in table if line.startswith("sst2 "))
    assert "±" in row and "[" in row and row.split()[2] == "2"  # two seeds, both sides, an interval
    saved = json.loads(out.read_text())
    assert [p["seed"] for p in saved] == [0, 1]
    assert all(p["qabench"]["seen_sha256"] == p["plain"]["seen_sha256"] and p["qabench"]["steps"] == p["plain"]["steps"] for p in saved)

    # A qabench variant alone, then one table of both files, its variant paired with the plain runs of the first.
    variant = tmp_path / "variant.json"
    parity.main([*args[:-2], "--sides", "qabench", "--set", "heads.choice=words", "--set", f"cache_dir={tmp_path / 'cache'}", "--json", str(variant)])
    capsys.readouterr()
    parity.main(["--from-json", str(out), str(variant)])
    lines = capsys.readouterr().out.splitlines()
    assert "sst2: qabench side with --set heads.choice=words cache_dir=" in "\n".join(lines)
    assert [line.split()[2] for line in lines if line.startswith("sst2 ")] == ["2", "2"] and all("[" in line for line in lines if line.startswith("sst2 "))

    # The plain side of an earlier run is reused, checked against the qabench side's ids.
    parity.main([*args[:-2], "--plain-from", str(out), "--set", f"cache_dir={tmp_path / 'cache'}"])
    assert any(line.startswith("sst2 ") for line in capsys.readouterr().out.splitlines())


def test_the_multitask_mode_trains_the_task_with_others_on_exactly_its_budget_alone(
    parity: ModuleType, tiny_bert: str, mirror: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    budget = parity.replace(parity.BUDGETS["sst2"], limit=10, eval_limit=4, epochs=2, batch_size=4, lr=1e-3, max_length=32, stride=8)
    pair = parity.run_with("sst2", budget, seed=0, model_dir=tiny_bert, data_dir=mirror, also=[("conll2003", 12)], cache_dir=str(tmp_path / "cache"))
    together, alone = pair.qabench, pair.plain
    assert alone is not None and pair.variant == "with conll2003"
    assert together.seen == alone.seen and sum(together.seen.values()) == 2 * 10  # sst2's 10 examples, twice each, in both runs
    assert alone.steps == 2 * -(-10 // 4) < together.steps  # the mixture took more steps to give sst2 the same batches

    # The command line: the run alone reused from an earlier --json file, a table of the two, and --from-json of it.
    args = ["--tasks", "sst2", "--seeds", "0", "--model", tiny_bert, "--data-dir", str(mirror), "--limit", "10", "--eval-limit", "4", "--epochs", "2"]
    single, multi = tmp_path / "single.json", tmp_path / "multi.json"
    cache = ["--set", f"cache_dir={tmp_path / 'cache'}"]
    parity.main([*args, "--sides", "qabench", *cache, "--json", str(single)])
    capsys.readouterr()
    parity.main([*args, "--with", "conll2003", "--with-limit", "12", "--alone-from", str(single), *cache, "--json", str(multi)])
    printed = capsys.readouterr().out
    assert "together - alone [95% CI]" in printed and "sst2: together side with conll2003" in printed
    assert json.loads(multi.read_text())[0]["plain"]["seen_sha256"] == json.loads(single.read_text())[0]["qabench"]["seen_sha256"]
    parity.main(["--from-json", str(multi)])
    assert "sst2: together side with conll2003" in capsys.readouterr().out


def test_the_qabench_side_also_scores_another_split_and_writes_its_predictions(parity: ModuleType, tiny_bert: str, mirror: Path, tmp_path: Path) -> None:
    budget = parity.replace(parity.BUDGETS["conll2003"], limit=6, eval_limit=5, batch_size=4, lr=1e-3, max_length=32, stride=8)
    written = tmp_path / "predictions" / "conll2003-seed0.jsonl"
    pair = parity.run_pair("conll2003", budget, 0, tiny_bert, mirror, cache_dir=str(tmp_path / "cache"), sides="qabench", also_split="train", predictions=written)
    assert pair.plain is None and 0 <= pair.qabench.metrics["train/entity_f1"] <= 100  # all 30 training rows, scored by the trained model
    rows = [json.loads(line) for line in written.read_text().splitlines()]
    assert len(rows) == pair.eval_examples == 5 and all("prediction" in row for row in rows)


def test_the_text_head_side_reports_its_copy_gates_and_its_score_under_beam_search(
    parity: ModuleType, tiny_bert: str, mirror: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--tasks", "squad", "--seeds", "0", "--model", tiny_bert, "--data-dir", str(mirror), "--limit", "8", "--eval-limit", "4", "--sides", "qabench"]
    out = tmp_path / "text.json"
    parity.main([*args, "--set", "heads.mode=text", "--set", "heads.decoder=tiny", "--set", "heads.max_answer_tokens=6", "--set", f"cache_dir={tmp_path / 'cache'}",
                 "--copy-stats", "--beam", "2", "--json", str(out)])
    printed = capsys.readouterr().out
    metrics = json.loads(out.read_text())[0]["qabench"]["metrics"]
    for kind in ("gold", "decoded"):
        assert metrics[f"copy-{kind}/answers"] == 4
        assert all(0 <= metrics[f"copy-{kind}/{name}"] <= 100 for name in ("copy_weight", "copied", "copyable", "probability", "eos_probability", "context_share"))
    assert 0 < metrics["copy-gold/tokens_per_answer"] <= 2 and metrics["copy-decoded/tokens_per_answer"] <= 5  # "acme corp" is the longest; 6 with EOS at most
    assert 0 <= metrics["beam2/nf1"] <= 100
    assert "squad seed 0" in printed and " decoded " in printed and "beam2/nf1" in printed
    parity.main(["--from-json", str(out)])
    assert " gold " in capsys.readouterr().out


def test_the_answer_table_shows_length_copying_and_score_by_gold_length(parity: ModuleType, tmp_path: Path) -> None:
    context = "john smith lives in paris and works for acme corp"
    rows = [  # gold, prediction, nF1
        ("paris", "paris", 100.0),  # right, one word, copied
        ("acme corp", "acme", 66.67),  # half of a two-word answer
        ("john smith lives", "", 0.0),  # empty
        ("john smith", "smith john", 50.0),  # not a stretch of the context
    ]
    path = tmp_path / "text" / "squad-seed0.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps({"prediction": p, "example": {"answer": g, "context": context}, "scores": {"em": 100.0 * (p == g), "nf1": f}}) + "\n" for g, p, f in rows))
    line = parity.answer_table([str(path)]).splitlines()[2].split()
    assert line[0] == "text/squad-seed0" and line[1] == "4"
    assert line[2:] == ["25.00", "54.17", "1.00", "2.00", "25.0", "50.0", "100.00", "38.89", "-"]  # no gold answer of 4+ words
