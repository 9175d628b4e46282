"""Reliability sweep, run configs and ``qabench pretrain`` options: each value checked before any work.

Every value is checked before any work starts and before a run directory
exists: each case ends in exit status 2 and one line naming the file and
line (or the ``--set``, or the option), and leaves the directory as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bad_input import Case, check

BASE = "tasks: [sst2]\noptim: {steps: 2}\n"


def config(text: str | bytes, *extra: str, command: str = "run") -> Any:
    """Setup: write run.yaml and run ``qabench COMMAND run.yaml EXTRA``."""

    def setup(root: Path) -> list[str]:
        path = root / "run.yaml"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return [command, "run.yaml", *extra]

    return setup


def override(key_value: str, command: str = "run") -> Any:
    return config(BASE, "--set", key_value, command=command)


def pretrain(*options: str) -> Any:
    """Setup: a two-line corpus and ``qabench pretrain --model bert ... OPTIONS``."""

    def setup(root: Path) -> list[str]:
        (root / "corpus.txt").write_text("a warm and funny film\nthe plot goes nowhere\n", encoding="utf-8")
        return ["pretrain", "--model", "bert", "--corpus", "corpus.txt", "--steps", "1", "--out", "pt", *options]

    return setup


CASES = [
    # --- values (item 4): named by --set, or by file and line ---
    Case("vocab-size-zero", override("model.vocab_size=0"), ("run.yaml (--set model.vocab_size)", "model.vocab_size must be >=")),
    Case("vocab-size-negative-in-file", config("tasks: [sst2]\nmodel:\n  vocab_size: -5\n"), ("run.yaml:3", "model.vocab_size")),
    Case("seed-negative", override("seed=-1"), ("--set seed", "seed must be in [0, 4294967295]")),
    Case("seed-too-large", override("seed=18446744073709551616"), ("--set seed", "seed must be in")),
    Case("device-unknown", override("device=gpu"), ("--set device", "'gpu' is not a device")),
    Case("device-typo-in-file", config("tasks: [sst2]\ndevice: cuda0\n"), ("run.yaml:2", "'cuda0' is not a device")),
    Case("batch-tokens-negative", override("optim.batch_tokens=-1"), ("--set optim.batch_tokens", "optim.batch_tokens must be 0 (off) or at least model.max_length (256)")),
    Case("batch-tokens-below-a-window", config("tasks: [sst2]\nmodel: {max_length: 128}\noptim: {steps: 2, batch_tokens: 100}\n"),
         ("run.yaml:3", "optim.batch_tokens must be 0 (off) or at least model.max_length (128)")),
    Case("batch-tokens-string", override("optim.batch_tokens=many"), ("--set optim.batch_tokens", "optim.batch_tokens must be int")),
    Case("adamw-implementation-unknown", override("optim.implementation=fast"), ("--set optim.implementation", "must be one of auto, fused, foreach, single")),
    Case("clip-negative", override("optim.clip=-1"), ("--set optim.clip", "optim.clip must be a finite number >= 0")),
    Case("lr-nan", override("optim.lr=.nan"), ("--set optim.lr", "optim.lr must be a finite number > 0")),
    Case("lr-inf", override("optim.lr=.inf"), ("--set optim.lr", "finite")),
    Case("lr-zero", override("optim.lr=0"), ("--set optim.lr", "> 0")),
    Case("lr-string", override("optim.lr=fast"), ("--set optim.lr", "optim.lr must be float, got str 'fast'")),
    Case("weight-decay-nan", override("optim.weight_decay=.nan"), ("--set optim.weight_decay", "finite")),
    Case("weight-decay-inf-in-file", config("tasks: [sst2]\noptim:\n  weight_decay: .inf\n"), ("run.yaml:3", "optim.weight_decay")),
    Case("warmup-nan", override("optim.warmup=.nan"), ("--set optim.warmup", "must be a fraction")),
    Case("warmup-one", override("optim.warmup=1"), ("--set optim.warmup", "must be a fraction")),
    Case("dropout-nan", override("heads.dropout=.nan"), ("--set heads.dropout", "heads.dropout must be in [0, 1)")),
    Case("dropout-negative", override("heads.dropout=-0.1"), ("--set heads.dropout",)),
    Case("temperature-inf", override("mixture.temperature=.inf"), ("--set mixture.temperature", "finite")),
    Case("length-penalty-nan", override("eval.length_penalty=.nan"), ("--set eval.length_penalty", "finite")),
    Case("steps-zero", override("optim.steps=0"), ("--set optim.steps", "must be >= 1")),
    Case("batch-size-zero-train", override("optim.batch_size=0", command="train"), ("--set optim.batch_size", "must be >= 1")),
    Case("max-length-tiny", override("model.max_length=4"), ("--set model.max_length", "must be >= 16")),
    Case("threads-zero", override("threads=0"), ("--set threads",)),
    Case("task-limit-zero", config("tasks:\n  - {name: sst2, limit: 0}\n"), ("run.yaml:2", "limits must be >= 1")),
    Case("task-twice", config("tasks: [sst2, rte, sst2]\n"), ("run.yaml:1", "names task 'sst2' twice")),
    Case("no-task-trains", config("tasks:\n  - {name: sst2, train: false}\n"), ("run.yaml", "has no task to train on")),
    Case("unknown-task-in-config", config("tasks: [sst3]\n"), ("run.yaml:1", "unknown task 'sst3'")),
    # --- the file itself (item 4) ---
    Case("duplicate-key", config("tasks: [sst2]\noptim:\n  lr: 1e-3\n  steps: 2\n  lr: 3e-3\n"),
         ("run.yaml:5", "duplicate key 'optim.lr'", "first given on line 3")),
    Case("duplicate-section", config("tasks: [sst2]\nseed: 1\nmodel: {preset: tiny}\nseed: 2\n"), ("run.yaml:4", "duplicate key 'seed'", "line 2")),
    Case("duplicate-key-in-task", config("tasks:\n  - name: sst2\n    limit: 5\n    limit: 6\n"), ("run.yaml:4", "duplicate key 'tasks.0.limit'")),
    Case("not-utf8", config(b"tasks: [sst2]\nmodel: {backbone: b\xe9rt}\n"), ("run.yaml:2", "not UTF-8", "byte offset 33")),
    Case("latin1-bom-like", config(b"\xff\xfetasks: [sst2]\n"), ("run.yaml:1", "not UTF-8", "byte offset 0")),
    Case("unknown-key", config("tasks: [sst2]\noptim: {lr: 1e-3, stpes: 3}\n"), ("run.yaml:2", "unknown key 'optim.stpes'", "did you mean 'steps'")),
    Case("not-yaml", config("tasks: [sst2\n"), ("run.yaml:2", "not valid YAML")),
    Case("yaml-python-tag", config("tasks: !!python/object/apply:os.system ['true']\n"), ("run.yaml:1", "not valid YAML")),
    Case("not-a-mapping", config("- sst2\n"), ("run.yaml", "expected a mapping")),
    Case("no-tasks", config("model: {backbone: bert}\n"), ("run.yaml", "no tasks")),
    Case("missing-config", lambda root: ["run", "nope.yaml"], ("config nope.yaml: no such file",)),
    Case("set-not-key-value", override("optim.lr"), ("--set 'optim.lr'", "expected KEY=VALUE")),
    Case("set-bad-index", override("tasks.3.limit=5"), ("--set tasks.3.limit=5", "not an index")),
    Case("set-unknown-key", override("optim.learning_rate=1"), ("unknown key 'optim.learning_rate'",)),
    # --- eval of something that is not a run (item 7: no --resume in its messages) ---
    Case("eval-missing-run", lambda root: ["eval", "runs/nope"], ("eval runs/nope", "no such run directory")),
    # --- qabench pretrain options (item 4) ---
    Case("pretrain-lr-nan", pretrain("--lr", "nan"), ("--lr nan", "finite")),
    Case("pretrain-lr-negative", pretrain("--lr", "-0.1"), ("--lr -0.1", "> 0")),
    Case("pretrain-seq-len-beyond-max", pretrain("--seq-len", "600"), ("--seq-len 600", "bert tiny reads at most 512 positions")),
    Case("pretrain-gpt-seq-len", pretrain("--seq-len", "4096", "--model", "gpt"), ("--seq-len 4096", "at most 512")),
    Case("pretrain-vocab-size-zero", pretrain("--vocab-size", "0"), ("--vocab-size 0", "must be >=")),
    Case("pretrain-warmup-nan", pretrain("--warmup", "nan"), ("--warmup nan",)),
    Case("pretrain-weight-decay-inf", pretrain("--weight-decay", "inf"), ("--weight-decay inf",)),
    Case("pretrain-seed-negative", pretrain("--seed", "-3"), ("--seed -3",)),
    Case("pretrain-device", pretrain("--device", "tpu"), ("--device tpu", "not a device")),
    Case("pretrain-unknown-model", pretrain("--model", "bret"), ("--model", "unknown backbone 'bret'")),
    Case("pretrain-unknown-objective", pretrain("--objective", "plm"), ("--objective",)),
    Case("pretrain-bad-option", pretrain("-O", "mask_probability"), ("--option", "not KEY=VALUE")),
    Case("pretrain-steps-zero", pretrain("--steps", "0"), ("--steps 0", "must be >= 1")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_config_is_refused_before_any_work(case: Case, tmp_path: Path) -> None:
    check(case, tmp_path)
