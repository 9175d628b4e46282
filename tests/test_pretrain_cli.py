"""``qabench pretrain`` end to end: corpus in, a pretrained directory and its record out.

Every run here is a tiny preset for a few steps on a few sentences; what is
checked is the plumbing: the directory loads back as the backbone with the
same weights, the record says what happened, --resume continues exactly, and
bad input is one line with exit status 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import harness.pretrain as pretrain_module
from harness.cli import main
from harness.corpus import Document, build_corpus
from harness.pretrain import HEAD_FILE, RECORD_FILE, PretrainConfig, pretrain, read_pretrain_record, tokenize_corpus
from models.registry import load_backbone
from models.tokenization import train_tokenizer

QUICKSTART_DATA = Path(__file__).resolve().parents[1] / "harness" / "quickstart" / "data"

TEXT = """The cat sat on the mat in the sun .
Tom Hanks flew from New York to Paris on Monday .
A dog ran to the park and ate the red ball .
The bank of America reported strong profits this week .
She read a new book by the window while it rained .
"""



@pytest.fixture
def corpus_file(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT)
    return path


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["pretrain", *args, "--quiet"])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def tiny(model: str, out: Path, corpus: Path, steps: int = 3, **extra) -> PretrainConfig:
    return PretrainConfig(model=model, out=str(out), corpus=(str(corpus),), steps=steps, batch_size=4, seq_len=32,
                          vocab_size=120, progress=False, **extra)


def test_cli_pretrains_a_tiny_bert_and_writes_the_record(tmp_path, corpus_file):
    out = tmp_path / "bert"
    code, output = invoke("--model", "bert", "--corpus", str(corpus_file), "--steps", "4", "--batch-size", "4",
                          "--seq-len", "32", "--vocab-size", "120", "--out", str(out))
    assert code == 0, output
    assert "mlm-nsp" in output and f"model.pretrained: {out}" in output
    record = json.loads((out / RECORD_FILE).read_text())
    assert record["backbone"] == "bert" and record["preset"] == "tiny" and record["objective"] == "mlm-nsp"
    assert record["training"]["steps"] == 4 and record["training"]["seed"] == 0
    assert record["corpus"]["documents"] == 5 and record["corpus"]["tokens"] > 40 and len(record["corpus"]["sha256"]) == 64
    assert set(record["final_parts"]) == {"mlm", "nsp"} and record["perplexity"] > 1 and record["seconds"] > 0
    assert (out / HEAD_FILE).is_file() and not (out / "checkpoints").exists()
    assert read_pretrain_record(out) == record


@pytest.mark.parametrize("model", ["word2vec", "elmo", "ulmfit", "transformer", "gpt", "bert", "ernie", "xlnet"])
def test_a_pretrained_directory_loads_back_into_its_backbone_with_identical_weights(tmp_path, corpus_file, model):
    result = pretrain(tiny(model, tmp_path / model, corpus_file, steps=2), echo=lambda line: None)
    loaded = load_backbone(model, str(result.out))
    assert type(loaded) is type(result.backbone)
    trained, reloaded = result.backbone.state_dict(), loaded.state_dict()
    assert trained.keys() == reloaded.keys()
    assert all(torch.equal(trained[key], reloaded[key]) for key in trained)
    assert loaded.tokenizer.get_vocab() == result.backbone.tokenizer.get_vocab()


def test_word2vec_pretraining_changes_the_vectors_and_records_the_coverage(tmp_path, corpus_file):
    result = pretrain(tiny("word2vec", tmp_path / "w2v", corpus_file, steps=3, objective="cbow"), echo=lambda line: None)
    record = result.record
    assert record["objective"] == "cbow" and record["training"]["unit"] == "epoch" and record["perplexity"] is None
    assert 0 < record["coverage"]["covered"] <= record["coverage"]["vocab_size"]


def test_resume_continues_an_interrupted_pretraining_exactly(tmp_path, corpus_file, monkeypatch):
    whole = pretrain(tiny("gpt", tmp_path / "whole", corpus_file, steps=4), echo=lambda line: None)

    calls = {"n": 0}
    real_sample = pretrain_module._sample

    def interrupted(*args):
        calls["n"] += 1
        if calls["n"] == 4:  # the process dies during step 4; steps 1-2 were checkpointed
            raise KeyboardInterrupt
        return real_sample(*args)

    config = tiny("gpt", tmp_path / "parts", corpus_file, steps=4, checkpoint_every=2)
    monkeypatch.setattr(pretrain_module, "_sample", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pretrain(config, echo=lambda line: None)
    monkeypatch.setattr(pretrain_module, "_sample", real_sample)
    code, output = invoke("--model", "gpt", "--corpus", str(corpus_file), "--steps", "4", "--batch-size", "4", "--seq-len", "32",
                          "--vocab-size", "120", "--out", str(tmp_path / "parts"))
    assert code == 2 and "--resume" in output  # an interrupted directory is not silently restarted
    resumed = pretrain(config, resume=True, echo=lambda line: None)
    assert resumed.record["training"]["resumed_from_step"] == 2
    assert resumed.record["loss_curve"] == whole.record["loss_curve"]
    assert all(torch.equal(a, b) for a, b in zip(whole.backbone.state_dict().values(), resumed.backbone.state_dict().values()))


def test_the_default_corpus_is_the_tasks_training_text_with_ner_tags(tmp_path):
    result = CliRunner().invoke(main, ["--data-dir", str(QUICKSTART_DATA), "pretrain", "--model", "ernie", "--tasks", "conll2003,sst2,squad:validation_a",
                                       "--steps", "2", "--batch-size", "4", "--seq-len", "32", "--vocab-size", "200", "--quiet",
                                       "--out", str(tmp_path / "ernie")])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "ernie" / RECORD_FILE).read_text())
    assert record["corpus"]["sources"] == ["task:conll2003/train", "task:sst2/train", "task:squad/validation_a"]  # NAME:SPLIT picks a split
    assert record["objective"] == "knowledge-mask"
    documents = build_corpus(tasks=("conll2003",), data_dir=str(QUICKSTART_DATA)).documents
    tagged = [d for d in documents if d.tags]
    assert tagged and all(len(d.tags) == len(d.words) for d in tagged)  # entities for ERNIE come from the NER tags
    assert len({d.text for d in documents}) == len(documents)  # repeated questions appear once


def test_ulmfit_second_stage_fine_tunes_the_lm_on_task_text_from_a_pretrained_directory(tmp_path, corpus_file):
    first = pretrain(tiny("ulmfit", tmp_path / "general", corpus_file, steps=2), echo=lambda line: None)
    config = PretrainConfig(model="ulmfit", out=str(tmp_path / "sst2"), init=str(first.out), tasks=("sst2",),
                            data_dir=str(QUICKSTART_DATA), steps=2, batch_size=4, seq_len=32, progress=False)
    second = pretrain(config, echo=lambda line: None)
    assert second.record["init"] == str(first.out) and second.record["preset"] is None
    assert second.record["training"]["schedule"] == "stlr"
    assert second.backbone.tokenizer.get_vocab() == first.backbone.tokenizer.get_vocab()  # stage 2 keeps the vocabulary


def test_jsonl_corpus_reads_the_named_field_and_bad_lines_name_file_and_line(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(json.dumps({"body": line}) for line in TEXT.splitlines()) + "\n")
    code, output = invoke("--model", "gpt", "--corpus", str(good), "--text-field", "body", "--steps", "1", "--batch-size", "2",
                          "--vocab-size", "120", "--out", str(tmp_path / "g"))
    assert code == 0, output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"text": broken\n')
    code, output = invoke("--model", "gpt", "--corpus", str(bad), "--out", str(tmp_path / "b"))
    assert code == 2 and output.strip() == f"error: {bad}:2: invalid JSON (Expecting value); each line must be one JSON object"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "brt"], "unknown backbone 'brt'; did you mean 'bert'?"),
        (["--model", "bert", "--objective", "mlmm"], "unknown objective 'mlmm'; did you mean 'mlm'?"),
        (["--model", "gpt", "--objective", "mlm"], "objective 'mlm' does not fit backbone 'gpt'; it takes: causal-lm"),
        (["--model", "bert", "-O", "mask_prob=0.2"], "objective 'mlm-nsp' has no option 'mask_prob'"),
        (["--model", "bert", "--preset", "huge"], "unknown preset 'huge'"),
        (["--model", "bert", "--corpus", "missing.txt"], "--corpus missing.txt: no such file"),
        (["--model", "bert", "--tasks", "qnli"], "--tasks qnli: the task has no training split (evaluation only)"),
        (["--model", "bert", "--tasks", "sst2:validation"], "--tasks sst2:validation: 'validation' is the task's evaluation split"),
        (["--model", "bert", "--tasks", "sst2:dev"], "--tasks sst2:dev: the task has no split 'dev'; its splits: train, validation"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, corpus_file, args, message):
    extra = [] if "--corpus" in args or "--tasks" in args else ["--corpus", str(corpus_file)]
    code, output = invoke(*args, *extra, "--steps", "1", "--vocab-size", "120", "--out", str(tmp_path / "out"))
    assert code == 2
    assert len(output.strip().splitlines()) == 1 and output.startswith("error: ") and message in output, output


def test_packing_keeps_word_boundaries_and_fills_rows(tmp_path):
    tokenizer = train_tokenizer(TEXT.splitlines() * 3, vocab_size=120, cache_dir=str(tmp_path / "tok"))
    documents = [Document(line) for line in TEXT.splitlines()]
    packed = tokenize_corpus(documents, tokenizer, max_tokens=30)
    single = tokenize_corpus(documents, tokenizer, max_tokens=30, pack=False)
    assert len(packed) < len(single) and all(len(s) <= 30 for s in packed)
    assert sum(len(s) for s in packed) == sum(len(s) for s in single)
    for s in packed:
        assert len(s.words) == s.word_index[-1] + 1 and list(s.word_index) == sorted(s.word_index)


def test_a_run_started_from_a_pretrained_directory_copies_its_pretrain_record(tmp_path, corpus_file):
    from harness.config import from_dict
    from harness.runner import run

    pretrained = pretrain(tiny("bert", tmp_path / "bert", corpus_file, steps=2), echo=lambda line: None)
    config = from_dict({
        "data_dir": str(QUICKSTART_DATA),
        "model": {"backbone": "bert", "pretrained": str(pretrained.out), "max_length": 64},
        "tasks": [{"name": "sst2", "train_limit": 8, "eval_limit": 8}],
        "optim": {"steps": 2, "batch_size": 4},
        "output": {"dir": str(tmp_path / "runs"), "leaderboard": False, "progress": False},
    })
    outcome = run(config, echo=lambda line: None)
    model = outcome.record.model
    assert model.pretrained == str(pretrained.out)
    assert model.pretrain_record == pretrained.record  # the leaderboard can tell which pretraining a run started from


@pytest.mark.parametrize("resume", [True, False])
def test_an_older_pickled_pretraining_checkpoint_is_refused_unread(tmp_path, corpus_file, resume):
    legacy = tmp_path / "out" / "checkpoints" / "last.pt"
    legacy.parent.mkdir(parents=True)
    torch.save({"format": "qabench-pretrain-checkpoint", "version": 1}, legacy)
    code, output = invoke("--model", "gpt", "--corpus", str(corpus_file), "--steps", "2", "--out", str(tmp_path / "out"), *(["--resume"] if resume else []))
    assert code == 2 and "older qabench, written by torch.save (pickle)" in output and str(legacy) in output
    assert sorted(p.name for p in legacy.parent.iterdir()) == ["last.pt"]  # nothing started beside it
