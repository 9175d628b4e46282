"""The one shared local vocabulary of locally built backbones.

Every backbone built from a preset in one comparison tokenizes with the same
WordPiece vocabulary, trained with the ``tokenizers`` library on the text of
the tasks in the run, so differences between backbones are never differences
of tokenization. Backbones loaded as pretrained keep their own tokenizer.

>>> # tok = train_tokenizer(["the cat sat", "a dog ran"], vocab_size=200)
>>> # tok("is it a cat?", "the cat sat", truncation="only_second")["token_type_ids"]
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from models.errors import one_line

SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
"""Special tokens, in id order: [PAD] is 0 everywhere."""

MODEL_MAX_LENGTH = 512
"""Longest sequence a locally built backbone accepts (its position tables)."""

_CACHE_FORMAT = "qabench-wordpiece-v2"  # bump when the recipe below changes (v2: deterministic training)


def default_cache_dir() -> Path:
    """``$QABENCH_CACHE/tokenizers`` or ``~/.cache/qabench/tokenizers``."""
    root = os.environ.get("QABENCH_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "qabench")
    return Path(root) / "tokenizers"


def texts_fingerprint(texts: Iterable[str], vocab_size: int, lowercase: bool = True, spacing: bool = False) -> str:
    """sha256 of the training texts (length-prefixed, so boundaries count), the vocabulary size, the casing and the spacing."""
    casing = "" if lowercase else "cased\n"  # lowercase keeps the fingerprints of earlier caches
    spaces = "spacing\n" if spacing else ""  # likewise: the recipe without spacing is unchanged
    digest = hashlib.sha256(f"{_CACHE_FORMAT}\n{vocab_size}\n{casing}{spaces}".encode())
    for text in texts:
        data = text.encode("utf-8")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def wrap_tokenizer(tokenizer: Tokenizer) -> PreTrainedTokenizerFast:
    """Wrap a ``tokenizers.Tokenizer`` whose vocabulary holds :data:`SPECIAL_TOKENS` for ``transformers``."""
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=MODEL_MAX_LENGTH,
        padding_side="right",
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
        clean_up_tokenization_spaces=False,  # decode what the ids say; BERT's clean-up would drop real spaces
    )


def pair_template(tokenizer: Tokenizer) -> processors.TemplateProcessing:
    """BERT's template: ``[CLS] A [SEP]`` and ``[CLS] A [SEP] B [SEP]`` with segment ids 0 then 1."""
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    return processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )


def _train(texts: list[str], vocab_size: int, lowercase: bool, spacing: bool) -> Tokenizer:
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    # Lowercasing also strips accents (BERT-uncased); generated answers (German, "None") need the cased form.
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=lowercase, strip_accents=lowercase)
    # With ``spacing`` text is encoded at spaces only: a piece glued to the one before it ("-" and "Trikot" in
    # "Giants-Trikot", "." after "Sofa") is a "##" continuation, so the ids say where the spaces were and decoding
    # (without BERT's clean-up of spaces before punctuation) gives the text back. The pieces are still learnt from
    # BERT's words (cut at spaces and around punctuation), so punctuation never merges into a word piece.
    encoding_words = pre_tokenizers.WhitespaceSplit() if spacing else pre_tokenizers.BertPreTokenizer()
    tokenizer.pre_tokenizer = encoding_words
    tokenizer.decoder = decoders.WordPiece(cleanup=not spacing)
    # tokenizers' trainer gives continuation pieces ("##e") their ids in hash-map order, and those ids break ties
    # between equally frequent merges, so two trainings on the same texts can differ (huggingface/tokenizers#1794).
    # Seeding every "##c" in sorted order, as special tokens that are made ordinary afterwards, makes it deterministic.
    # The characters are those inside the words text is encoded in, so a glued piece is never [UNK].
    continuations = [f"##{c}" for c in continuation_chars(tokenizer, texts)]
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    seeded = [piece for piece in continuations if piece not in SPECIAL_TOKENS]
    trainer = trainers.WordPieceTrainer(
        vocab_size=max(vocab_size, len(SPECIAL_TOKENS) + len(seeded) + 1), special_tokens=[*SPECIAL_TOKENS, *seeded], show_progress=False
    )
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
    state = json.loads(tokenizer.to_str())
    state["added_tokens"] = [t for t in state["added_tokens"] if t["content"] in SPECIAL_TOKENS]  # the seeds are ordinary pieces
    tokenizer = Tokenizer.from_str(json.dumps(state))
    tokenizer.pre_tokenizer = encoding_words
    tokenizer.post_processor = pair_template(tokenizer)
    return tokenizer


def continuation_chars(tokenizer: Tokenizer, texts: Iterable[str]) -> list[str]:
    """The characters that occur inside a pre-tokenized word (not at its start), after normalisation, sorted."""
    normalizer, pre_tokenizer = tokenizer.normalizer, tokenizer.pre_tokenizer
    chars: set[str] = set()
    for text in texts:
        for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)):
            chars.update(word[1:])
    return sorted(chars)


def train_tokenizer(
    texts: Iterable[str], vocab_size: int = 8000, cache_dir: str | None = None, lowercase: bool = True, spacing: bool = False
) -> PreTrainedTokenizerFast:
    """Train (or load from the cache) the shared WordPiece vocabulary on ``texts``.

    ``lowercase`` (the default, as BERT-uncased) folds case and strips
    accents; a vocabulary that must write answers back exactly (translation
    into German, dialogue states) needs ``lowercase=False``. ``spacing``
    encodes text at spaces only, so the ids keep where the spaces were and a
    generated answer decodes back to the original text (``"Giants-Trikot"``,
    not ``"Giants - Trikot"``): the vocabulary of a run with the text head.
    The result is cached under ``cache_dir`` (default :func:`default_cache_dir`)
    in a folder named by the sha256 of the texts, ``vocab_size``, the casing
    and the spacing; a second call with the same texts loads it instead of
    training again.

    >>> # tok = train_tokenizer(task_texts, vocab_size=8000)
    >>> # enc = tok(question, context, truncation="only_second", stride=64,
    >>> #           return_overflowing_tokens=True, return_offsets_mapping=True)
    """
    corpus = [text for text in texts if text]
    if not corpus:
        raise ValueError("train_tokenizer needs at least one non-empty text")
    if vocab_size < len(SPECIAL_TOKENS) + 1:
        raise ValueError(f"vocab_size={vocab_size} is too small; it must exceed the {len(SPECIAL_TOKENS)} special tokens")
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = root / texts_fingerprint(corpus, vocab_size, lowercase, spacing)
    if (target / "tokenizer.json").is_file():
        try:
            return wrap_tokenizer(Tokenizer.from_file(str(target / "tokenizer.json")))
        except Exception as err:  # noqa: BLE001 - tokenizers raises a bare Exception on a truncated or damaged file
            print(f"warning: damaged tokenizer cache {target} ({one_line(err)[:120]}); deleted and rebuilt", file=sys.stderr)
            shutil.rmtree(target, ignore_errors=True)
    tokenizer = _train(corpus, vocab_size, lowercase, spacing)
    root.mkdir(parents=True, exist_ok=True)
    # Write into a private folder and rename it, so a concurrent run never sees half a tokenizer.
    staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    tokenizer.save(str(staging / "tokenizer.json"))
    try:
        os.replace(staging, target)
    except OSError:  # another process won the race; its files are the same
        for leftover in staging.iterdir():
            leftover.unlink()
        staging.rmdir()
    return wrap_tokenizer(tokenizer)
