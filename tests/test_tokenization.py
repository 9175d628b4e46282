"""The shared local vocabulary: lowercase for reading, cased where answers are written back."""

from __future__ import annotations

from pathlib import Path

from models.tokenization import train_tokenizer

TEXTS = ["Zwei junge Männer sind im Freien.", "Two young men are outside.", "None of the above."] * 5


def test_lowercase_vocabulary_folds_case_and_accents(tmp_path: Path) -> None:
    tok = train_tokenizer(TEXTS, vocab_size=200, cache_dir=str(tmp_path))
    assert tok.decode(tok("Männer")["input_ids"], skip_special_tokens=True) == "manner"


def test_cased_vocabulary_writes_german_and_none_back_exactly(tmp_path: Path) -> None:
    tok = train_tokenizer(TEXTS, vocab_size=200, cache_dir=str(tmp_path), lowercase=False)
    for text in ("Zwei junge Männer", "None"):
        assert tok.decode(tok(text)["input_ids"], skip_special_tokens=True) == text


def test_casing_is_part_of_the_cache_key(tmp_path: Path) -> None:
    train_tokenizer(TEXTS, vocab_size=200, cache_dir=str(tmp_path))
    train_tokenizer(TEXTS, vocab_size=200, cache_dir=str(tmp_path), lowercase=False)
    assert len([p for p in tmp_path.iterdir() if not p.name.startswith(".")]) == 2
