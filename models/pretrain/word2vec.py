"""word2vec's own pretraining: skip-gram or CBOW with negative sampling (Mikolov et al., 2013), by gensim.

gensim's ``Word2Vec`` is the engine; it trains on the corpus as sequences of
the shared vocabulary's tokens (WordPiece pieces, so every vector it learns has
a row in the backbone), and the learned vectors are copied into the
backbone's embedding table with ``Word2VecBackbone.initialise_from`` (tokens
the corpus never shows keep their random initialisation, and the coverage is
reported). ``epochs`` plays the role of the other objectives' steps.

The loss reported per epoch is gensim's negative-sampling loss summed over the
epoch, divided by the tokens of the epoch.

>>> # losses = train_word2vec(backbone, corpus, skip_gram=True, epochs=5)
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from gensim.models import Word2Vec
from gensim.models.callbacks import CallbackAny2Vec

from models.pretrain.base import TokenSequence
from models.word2vec import Vectors, VectorsReport, Word2VecBackbone


@dataclass(frozen=True)
class Word2VecRun:
    """What gensim's training did."""

    epoch_losses: tuple[float, ...]  # negative-sampling loss per token, one per epoch
    tokens: int  # tokens per epoch
    seconds: float
    report: VectorsReport  # how many vocabulary rows got a trained vector


def stable_hash(text: str) -> int:
    """A hash that is the same in every process (Python's ``hash`` of a string is salted per process).

    gensim seeds each word's initial vector with it, so one seed gives one result.
    """
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=4).digest(), "little")


class _EpochLoss(CallbackAny2Vec):
    """Turns gensim's running (cumulative) loss into one value per epoch."""

    def __init__(self, tokens: int, on_epoch: Callable[[int, float], None] | None) -> None:
        self.tokens = max(tokens, 1)
        self.on_epoch = on_epoch
        self.previous = 0.0
        self.losses: list[float] = []

    def on_epoch_end(self, model: Word2Vec) -> None:
        total = model.get_latest_training_loss()
        loss = (total - self.previous) / self.tokens
        self.previous = total
        self.losses.append(loss)
        if self.on_epoch is not None:
            self.on_epoch(len(self.losses), loss)


def train_word2vec(
    backbone: Word2VecBackbone,
    corpus: Sequence[TokenSequence],
    skip_gram: bool = True,
    epochs: int = 5,
    window: int = 5,
    negative: int = 5,
    learning_rate: float = 0.025,
    seed: int = 0,
    workers: int = 1,
    on_epoch: Callable[[int, float], None] | None = None,
) -> Word2VecRun:
    """Train skip-gram (``skip_gram=True``) or CBOW vectors on ``corpus`` and copy them into ``backbone``.

    ``on_epoch(epoch, loss)`` is called after each epoch (the progress bar).
    One worker gives the same vectors for the same seed.
    """
    tokenizer = backbone.tokenizer
    sentences = [tokenizer.convert_ids_to_tokens(list(s.ids)) for s in corpus if len(s)]
    tokens = sum(len(s) for s in sentences)
    callback = _EpochLoss(tokens, on_epoch)
    started = time.perf_counter()
    model = Word2Vec(
        sentences=sentences,
        vector_size=backbone.config.dim,
        window=window,
        min_count=1,
        sg=1 if skip_gram else 0,
        negative=negative,
        hs=0,
        alpha=learning_rate,
        epochs=epochs,
        seed=seed,
        workers=workers,
        hashfxn=stable_hash,
        compute_loss=True,
        callbacks=[callback],
    )
    seconds = time.perf_counter() - started
    method = "skip-gram" if skip_gram else "CBOW"
    vectors = Vectors(f"word2vec {method} pretraining", "gensim", list(model.wv.index_to_key), model.wv.vectors)
    report = backbone.initialise_from(vectors)
    backbone.source = None  # a locally pretrained table, not vectors read from a file
    return Word2VecRun(tuple(callback.losses), tokens, seconds, report)
