"""Reliability sweep, damaged files: truncated or replaced run files, hostile weights, damaged cache entries.

A run directory whose files are truncated or replaced, a pretrained directory
without a tokenizer, hostile pickle weights: each is one line naming the file,
exit status 2, and nothing written. A damaged cache entry is a warning, and
the run goes on with the entry rebuilt.
"""

from __future__ import annotations

import os
import pickle
import shutil
import warnings
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from bad_input import Case, check
from click.testing import CliRunner

from harness.cli import main
from harness.config import QUICKSTART

TRAIN = ("--set", "optim.steps=2", "--set", "optim.batch_size=4", "-q", "--set", "tasks=[{name: sst2, limit: 8, eval_limit: 4}]",
         "--set", "output.leaderboard=false", "--set", "output.checkpoint_every=2")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny trained run directory (model/ and checkpoints/), copied by each case before it damages a file."""
    root = tmp_path_factory.mktemp("trained")
    old = os.environ.get("QABENCH_CACHE")
    os.environ["QABENCH_CACHE"] = str(root / "cache")
    try:
        result = CliRunner().invoke(main, ["train", str(QUICKSTART), *TRAIN, "--set", f"output.dir={root / 'runs'}"])
    finally:
        if old is None:
            os.environ.pop("QABENCH_CACHE", None)
        else:
            os.environ["QABENCH_CACHE"] = old
    assert result.exit_code == 0, result.output
    return Path(result.output.split("run: ")[1].split()[0])


class Evil:
    """A pickle that would run a command when loaded."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("touch PWNED",))


def damaged(rel: str, damage: Callable[[Path], None], target: str = "run") -> Callable[[Path], list[str]]:
    """Setup: copy the trained run to ./run, damage ``run/REL``, then ``qabench eval run`` (or ``TARGET``)."""

    def setup(root: Path) -> list[str]:
        shutil.copytree(TRAINED[0], root / "run")
        damage(run_file(root / "run", rel))
        return ["eval", target]

    return setup


OLDER_NAMES = {"model/heads.safetensors": "model/heads.pt", "checkpoints/last.safetensors": "checkpoints/last.pt"}
"""Where qabench before the sweep kept these files: bench/sweep_table.py runs these cases against such a checkout's run."""


def run_file(run: Path, rel: str) -> Path:
    """``run/REL``, or the older name of that file where only the older one exists."""
    older = run / OLDER_NAMES.get(rel, rel)
    return older if not (run / rel).exists() and older.exists() else run / rel


TRAINED: list[Path] = []


def unpickling_is_a_bug(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError(f"torch.load{args!r}: nothing in a run directory is read as a pickle")


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 3)])


def garbage(path: Path) -> None:
    path.write_bytes(b"\x00\x01 not what this file should hold")


def write(text: str) -> Callable[[Path], None]:
    return lambda path: path.write_text(text, encoding="utf-8")


def remove(path: Path) -> None:
    path.unlink()


def legacy_pickle_heads(path: Path) -> None:
    path.unlink()
    with open(path.parent / "heads.pt", "wb") as fh:
        pickle.dump(Evil(), fh)


def legacy_torch_save_heads(path: Path) -> None:
    """The heads' weights as an earlier qabench saved them: ``torch.save`` of the very state dict, in ``heads.pt``."""
    from safetensors.torch import load_file

    state = load_file(str(path))
    path.unlink()
    torch.save(state, path.parent / "heads.pt")


def drop_a_tensor(path: Path) -> None:
    """A valid safetensors file of the heads, less one of their tensors (as a qabench with other heads wrote it)."""
    from safetensors.torch import load_file, save_file

    state = load_file(str(path))
    del state[sorted(state)[-1]]
    save_file(state, str(path))


def legacy_pickle_checkpoint(path: Path) -> None:
    """An earlier qabench's checkpoint file name, holding a pickle that would run a command if loaded."""
    path.unlink()
    with open(path.parent / "last.pt", "wb") as fh:
        pickle.dump(Evil(), fh)


def copy_from(rel: str) -> Callable[[Path], None]:
    """Damage: the file becomes a copy of the run's ``REL`` (a valid file of the wrong kind)."""
    return lambda path: shutil.copyfile(path.parents[1] / rel, path)


def resumed(damage: Callable[[Path], None]) -> Callable[[Path], list[str]]:
    """Setup: copy the trained run to ./run, damage its checkpoint, then resume training from it."""

    def setup(root: Path) -> list[str]:
        shutil.copytree(TRAINED[0], root / "run")
        damage(run_file(root / "run", "checkpoints/last.safetensors"))
        return ["run", str(QUICKSTART), *TRAIN, "--set", "output.dir=runs", "--resume", "run"]

    return setup


CASES = [
    Case("heads-weights-truncated", damaged("model/heads.safetensors", truncate), ("run/model/heads.safetensors", "truncated or damaged")),
    Case("heads-weights-garbage", damaged("model/heads.safetensors", garbage), ("run/model/heads.safetensors",)),
    Case("heads-weights-missing", damaged("model/heads.safetensors", remove), ("run/model/heads.safetensors", "missing")),
    Case("heads-weights-missing-a-tensor", damaged("model/heads.safetensors", drop_a_tensor), ("run/model/heads.safetensors", "do not fit", "missing ")),
    Case("heads-weights-hostile-legacy-pickle", damaged("model/heads.safetensors", legacy_pickle_heads),
         ("run/model/heads.pt", "older qabench, written by torch.save (pickle)", "qabench that wrote it")),
    Case("heads-weights-legacy-torch-save", damaged("model/heads.safetensors", legacy_torch_save_heads),
         ("run/model/heads.pt", "older qabench, written by torch.save (pickle), which qabench no longer reads")),
    Case("heads-json-truncated", damaged("model/heads.json", truncate), ("run/model/heads.json", "not valid JSON")),
    Case("heads-json-not-specs", damaged("model/heads.json", write('{"specs": [1, 2]}')), ("run/model/heads.json", "not the heads' specs")),
    Case("heads-json-wrong-head", damaged("model/heads.json", write('{"specs": {"sst2": {"kind": "nope"}}, "dropout": 0.1}')),
         ("run/model/heads.json",)),
    Case("config-json-truncated", damaged("config.json", truncate), ("run/config.json", "not valid JSON")),
    Case("config-json-a-list", damaged("config.json", write("[1, 2]")), ("run/config.json", "not a run config")),
    Case("config-json-unknown-key", damaged("config.json", write('{"tasks": ["sst2"], "optim": {"stpes": 1}}')), ("run/config.json", "unknown key 'optim.stpes'")),
    Case("backbone-meta-truncated", damaged("model/qabench.json", truncate), ("run/model/qabench.json", "invalid JSON")),
    Case("backbone-weights-truncated", damaged("model/model.safetensors", truncate), ("run/model/model.safetensors", "damaged")),
    Case("tokenizer-truncated", damaged("model/tokenizer.json", truncate), ("run/model", "tokenizer files")),
    Case("checkpoint-truncated-eval", damaged("checkpoints/last.safetensors", truncate, target="run/checkpoints/last.safetensors"),
         ("eval run/checkpoints/last.safetensors", "not a readable checkpoint")),
    Case("checkpoint-garbage-eval", damaged("checkpoints/last.safetensors", garbage, target="run/checkpoints/last.safetensors"),
         ("eval run/checkpoints/last.safetensors", "not a readable checkpoint")),
    Case("checkpoint-other-safetensors-eval", damaged("checkpoints/last.safetensors", copy_from("model/heads.safetensors"), target="run/checkpoints"),
         ("eval run/checkpoints/last.safetensors", "no 'qabench_state' metadata")),
    Case("checkpoint-hostile-legacy-pickle-eval", damaged("checkpoints/last.safetensors", legacy_pickle_checkpoint, target="run/checkpoints"),
         ("eval run/checkpoints/last.pt", "older qabench, written by torch.save (pickle)", "qabench that wrote it")),
    Case("checkpoint-hostile-legacy-pickle-resume", resumed(legacy_pickle_checkpoint),
         ("--resume run/checkpoints/last.pt", "older qabench, written by torch.save (pickle)")),
    Case("eval-not-a-run", lambda root: (root / "empty").mkdir() or ["eval", "empty"], ("eval empty", "neither a finished run directory")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_damaged_run_directory_is_named_in_one_line(case: Case, trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    TRAINED[:] = [trained]
    monkeypatch.setattr(torch, "load", unpickling_is_a_bug)  # legacy files are refused by name, never read
    with warnings.catch_warnings(record=True) as caught:  # torch's or transformers' load warnings would reach the terminal
        warnings.simplefilter("always")
        message = check(case, tmp_path)
    assert not [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    if "resume" not in case.id:
        assert "--resume" not in message  # eval has no --resume option
    assert not (tmp_path / "PWNED").exists()


def test_eval_of_the_undamaged_copy_works(trained: Path, tmp_path: Path) -> None:
    shutil.copytree(trained, tmp_path / "run")
    kinds = {p.suffix for p in (tmp_path / "run").rglob("*") if p.is_file()}
    assert kinds <= {".json", ".jsonl", ".safetensors", ".txt"}, kinds  # no pickle anywhere in a run directory
    assert (tmp_path / "run" / "checkpoints" / "last.safetensors").is_file()
    with warnings.catch_warnings(record=True) as caught:  # loading the model prints no torch or transformers warning
        warnings.simplefilter("always")
        result = CliRunner().invoke(main, ["eval", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert not [str(w.message) for w in caught if issubclass(w.category, (UserWarning, FutureWarning))]
    assert "warning" not in result.stderr.lower()


def _tiny_bert_dir(path: Path, tokenizer: bool) -> Path:
    from transformers import BertConfig, BertModel

    model = BertModel(BertConfig(vocab_size=40, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64))
    model.save_pretrained(str(path))
    if tokenizer:
        (path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "good", "film"]) + "\n")
    return path


def pretrained(setup_dir: Callable[[Path], None], *extra: str) -> Callable[[Path], list[str]]:
    def setup(root: Path) -> list[str]:
        setup_dir(root / "pt")
        (root / "run.yaml").write_text(f"seed: 0\nmodel:\n  pretrained: {root / 'pt'}\n" + "".join(f"  {e}\n" for e in extra)
                                       + f"data_dir: {QUICKSTART.parent / 'data'}\ntasks: [{{name: sst2, limit: 4, eval_limit: 4}}]\n")
        return ["run", "run.yaml", "--set", "optim.steps=1", "--set", f"output.dir={root / 'runs'}"]

    return setup


def _hostile_bin(path: Path) -> None:
    _tiny_bert_dir(path, tokenizer=True)
    (path / "model.safetensors").unlink()
    with open(path / "pytorch_model.bin", "wb") as fh:
        pickle.dump(Evil(), fh)


PRETRAINED_CASES = [
    Case("pretrained-without-tokenizer", pretrained(lambda p: _tiny_bert_dir(p, tokenizer=False)), ("run.yaml:2", "no tokenizer files in", "/pt")),
    Case("pretrained-hostile-bin-allow-pickle", pretrained(_hostile_bin, "allow_pickle: true"), ("run.yaml:2", "pickle weights hold objects other than tensors")),
    Case("pretrained-pickle-refused", pretrained(_hostile_bin), ("run.yaml:2", "only pickle weights")),
    Case("pretrained-missing-dir", pretrained(lambda p: None), ("run.yaml:2", "no such directory")),
]


@pytest.mark.parametrize("case", PRETRAINED_CASES, ids=[c.id for c in PRETRAINED_CASES])
def test_a_bad_pretrained_directory_is_refused_in_one_line(case: Case, tmp_path: Path) -> None:
    check(case, tmp_path)
    assert not (tmp_path / "PWNED").exists()


def test_damaged_cache_entries_are_rebuilt_with_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("QABENCH_CACHE", str(cache))
    args = ["train", str(QUICKSTART), *TRAIN, "--set", f"output.dir={tmp_path / 'runs'}", "--set", "output.checkpoint_every=0"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    features = sorted((cache / "features").glob("*.arrow"))
    tokenizers = sorted(cache.rglob("tokenizer.json"))
    assert features and tokenizers
    for path in (*features, *tokenizers):
        truncate(path)
    second = CliRunner().invoke(main, args)
    assert second.exit_code == 0, second.output
    assert "warning: damaged tokenizer cache" in second.stderr
    assert "warning: damaged features cache" in second.stderr
    third = CliRunner().invoke(main, args)  # rebuilt: no warning now
    assert third.exit_code == 0 and "warning" not in third.stderr
