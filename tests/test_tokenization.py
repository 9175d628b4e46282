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


def test_training_is_deterministic_even_where_merges_tie(tmp_path: Path) -> None:
    """tokenizers alone gives a different vocabulary almost every time on this corpus (huggingface/tokenizers#1794)."""
    import random

    rng = random.Random(0)
    words = ("".join(rng.choice("abcdefgh") for _ in range(rng.randint(2, 7))) for _ in range(300 * 12))
    texts = [" ".join(next(words) for _ in range(12)) for _ in range(300)]
    vocabularies = [train_tokenizer(texts, vocab_size=120, cache_dir=str(tmp_path / str(i))).get_vocab() for i in range(6)]
    assert all(v == vocabularies[0] for v in vocabularies)
    glued = [text.replace(" ", "-", 2) + "." for text in texts]  # pieces glued by punctuation
    spaced = [train_tokenizer(glued, vocab_size=120, cache_dir=str(tmp_path / f"s{i}"), spacing=True).get_vocab() for i in range(4)]
    assert all(v == spaced[0] for v in spaced), "a vocabulary that keeps the spacing is deterministic too"
    tokenizer = train_tokenizer(texts, vocab_size=120, cache_dir=str(tmp_path / "0"))
    assert "##a" in tokenizer.get_vocab() and "##a" not in tokenizer.all_special_tokens, "seeded pieces are ordinary"
    assert tokenizer.decode(tokenizer(texts[0], add_special_tokens=False)["input_ids"]) == texts[0]


def test_a_vocabulary_with_spacing_decodes_glued_punctuation_back(tmp_path: Path) -> None:
    texts = ["Ein Mann im Giants-Trikot.", "A woman's hat (red); 3.5-km run!", "spaced ( out ) , too ."] * 5
    plain = train_tokenizer(texts, vocab_size=200, cache_dir=str(tmp_path), lowercase=False)
    spaced = train_tokenizer(texts, vocab_size=200, cache_dir=str(tmp_path), lowercase=False, spacing=True)
    assert len([p for p in tmp_path.iterdir() if not p.name.startswith(".")]) == 2, "spacing is part of the cache key"
    for text in texts[:3]:
        assert spaced.decode(spaced(text, add_special_tokens=False)["input_ids"]) == text
    assert plain.decode(plain("Giants-Trikot", add_special_tokens=False)["input_ids"]) == "Giants - Trikot"
    assert spaced.convert_ids_to_tokens(spaced("Trikot.", add_special_tokens=False)["input_ids"])[-1] == "##."
