"""DESIGN.md's package table, enforced: who may import whom, and which commands stay torch-free."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# package -> top-level modules it must never import (DESIGN.md, "The four packages").
FORBIDDEN: dict[str, set[str]] = {
    "tasks": {"torch", "transformers", "models", "harness"},
    "models": {"tasks", "harness", "leaderboard"},
    "leaderboard": {"torch", "models", "harness"},
    "harness": set(),
}

# package -> the only top-level modules it may import besides the standard library and itself.
STDLIB_ONLY: dict[str, set[str]] = {
    "atomicio": set(),  # the one atomic file write: tasks, models and harness import it
    "catalog": set(),  # the shared name registry: every package above imports it
}


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every module a file imports, at any depth of its code."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_respect_the_design_table(package: str) -> None:
    broken = [
        f"{path.relative_to(REPO)} imports {name}"
        for path in sorted((REPO / package).rglob("*.py"))
        for name in sorted(imported_modules(path) & FORBIDDEN[package])
    ]
    assert not broken, "DESIGN.md forbids: " + "; ".join(broken)


@pytest.mark.parametrize("package", sorted(STDLIB_ONLY))
def test_stdlib_only_packages_import_nothing_else(package: str) -> None:
    allowed = set(sys.stdlib_module_names) | {package, "__future__"} | STDLIB_ONLY[package]
    broken = [
        f"{path.relative_to(REPO)} imports {name}"
        for path in sorted((REPO / package).rglob("*.py"))
        for name in sorted(imported_modules(path) - allowed)
    ]
    assert not broken, "stdlib only: " + "; ".join(broken)


def _torch_loaded_after(args: list[str], tmp_path: Path) -> tuple[int, bool, str]:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from harness.cli import main\n"
        f"result = CliRunner().invoke(main, {args!r})\n"
        "print(result.exit_code, 'torch' in sys.modules)\n"
        "sys.stderr.write(result.output)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "QABENCH_DB": str(tmp_path / "lb.db"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    exit_code, loaded = done.stdout.split()
    return int(exit_code), loaded == "True", done.stderr


@pytest.mark.parametrize(
    "args", [["tasks", "list"], ["tasks", "show", "sst2", "--help"], ["leaderboard", "show"], ["--help"], ["suites", "list"], ["suites", "show", "quick"], ["score", "--help"]]
)
def test_fast_commands_do_not_import_torch(args: list[str], tmp_path: Path) -> None:
    exit_code, loaded, output = _torch_loaded_after(args, tmp_path)
    assert exit_code == 0, output
    assert not loaded, f"'qabench {' '.join(args)}' imported torch"


def _modelling_modules_after(backbone: str) -> set[str]:
    """transformers' modelling modules loaded by a fresh process that builds ``backbone``'s tiny preset."""
    code = (
        "import sys\n"
        "from models.registry import build_backbone\n"
        "from models.tokenization import train_tokenizer\n"
        "tokenizer = train_tokenizer(['a few words of text'] * 4, vocab_size=40)\n"
        f"build_backbone({backbone!r}, 'tiny', tokenizer=tokenizer)\n"
        "print(' '.join(m for m in sys.modules if m.startswith('transformers.models.') and '.modeling_' in m and '_auto' not in m))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return {name.rsplit(".", 1)[-1] for name in done.stdout.split()}


@pytest.mark.parametrize(("backbone", "modelling"), [("word2vec", set()), ("elmo", set()), ("bert", {"modeling_bert"})])
def test_a_backbone_imports_only_the_modelling_code_it_runs(backbone: str, modelling: set[str]) -> None:
    assert _modelling_modules_after(backbone) == modelling  # warm starts skip the rest (python -X importtime)
