"""ERNIE 1.0's knowledge masking (Sun et al., 2019): mask whole phrases and entities, not just tokens.

Three levels, each masking whole units and never part of one:

- basic: single tokens, as BERT;
- phrase: multi-word phrases first, then whole words. Phrases are collocations
  learned from the corpus by n-gram statistics (gensim's ``Phrases``: bigram
  counts scored against their parts, with English connector words allowed
  inside, so "bank of america" is one phrase);
- entity: named entities first, then whole words. Entities come from the
  corpus's BIO NER tags when it has them (CoNLL-2003), else from a
  capitalised-span chunker (a run of capitalised words, except a lone
  capitalised word that opens a sentence).

Each row draws its level at random (``curriculum=False``), or the levels follow
the paper's stages in order, basic, then phrase, then entity, each for a third
of training (``curriculum=True``); ``levels`` restricts the levels used. The masked units then go through BERT's
15% budget and 80/10/10 corruption (models/pretrain/masking.py), one decision
per unit.

>>> # objective = KnowledgeMasking(build_backbone("ernie", "tiny", tok))
>>> # objective.prepare(corpus)   # learns the phrases
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Sequence

import torch

from models.base import Backbone
from models.pretrain.base import TokenSequence
from models.pretrain.masking import MaskedLM, Unit

if TYPE_CHECKING:  # gensim is imported when phrases are learned, so importing the objectives stays light
    from gensim.models.phrases import FrozenPhrases

LEVELS: tuple[str, ...] = ("basic", "phrase", "entity")
_DELIMITER = "\x1f"  # joins the words of a learned phrase; never part of a word
_SENTENCE_END = {".", "!", "?", '"', "'", ":", ";", "``", "''", "-DOCSTART-"}

WordSpan = tuple[int, int]  # [start, end) word indices


def entity_spans_from_tags(tags: Sequence[str]) -> list[WordSpan]:
    """Word spans of the BIO entities in ``tags`` (an ``I-`` without its ``B-`` opens an entity, as seqeval reads it).

    >>> entity_spans_from_tags(["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "B-ORG"])
    [(0, 2), (3, 5), (5, 6)]
    """
    spans: list[WordSpan] = []
    start, kind = None, None
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, label = tag.partition("-")
        continues = prefix == "I" and start is not None and label == kind
        if start is not None and not continues:
            spans.append((start, i))
            start, kind = None, None
        if prefix in ("B", "I") and not continues:
            start, kind = i, label
    return spans


def capitalised_spans(words: Sequence[str]) -> list[WordSpan]:
    """Entity candidates without tags: runs of capitalised words, except a lone one that opens a sentence.

    >>> capitalised_spans("The film stars Tom Hanks and was shot in Paris .".split())
    [(3, 5), (9, 10)]
    """
    spans: list[WordSpan] = []
    i = 0
    while i < len(words):
        if not _capitalised(words[i]):
            i += 1
            continue
        end = i
        while end < len(words) and _capitalised(words[end]):
            end += 1
        opens_sentence = i == 0 or words[i - 1] in _SENTENCE_END
        if end - i > 1 or not opens_sentence:
            spans.append((i, end))
        i = end
    return spans


def _capitalised(word: str) -> bool:
    return word[:1].isupper()


def learn_phrases(sentences: Iterable[Sequence[str]], min_count: int = 5, threshold: float = 10.0) -> FrozenPhrases:
    """Collocations of the corpus (lowercased words) by gensim's n-gram statistics."""
    from gensim.models.phrases import ENGLISH_CONNECTOR_WORDS, Phrases

    lowered = [[w.lower() for w in words] for words in sentences]
    model = Phrases(lowered, min_count=min_count, threshold=threshold, connector_words=ENGLISH_CONNECTOR_WORDS, delimiter=_DELIMITER)
    return model.freeze()


def phrase_spans(words: Sequence[str], phrases: FrozenPhrases | None) -> list[WordSpan]:
    """Word spans of the learned phrases found in ``words`` (each of two words or more)."""
    if phrases is None:
        return []
    spans: list[WordSpan] = []
    position = 0
    for token, score in phrases.analyze_sentence([w.lower() for w in words]):
        length = token.count(_DELIMITER) + 1 if score is not None else 1
        if length > 1:
            spans.append((position, position + length))
        position += length
    return spans


class KnowledgeMasking(MaskedLM):
    """ERNIE 1.0's masked LM: basic, phrase-level and entity-level masking of whole units."""

    name = "knowledge-mask"

    def __init__(
        self,
        backbone: Backbone,
        max_length: int = 128,
        next_sentence: bool = False,
        mask_probability: float = 0.15,
        curriculum: bool = False,
        levels: Sequence[str] = LEVELS,
        phrase_min_count: int = 5,
        phrase_threshold: float = 10.0,
    ) -> None:
        super().__init__(backbone, max_length=max_length, next_sentence=next_sentence, mask_probability=mask_probability)
        unknown = sorted(set(levels) - set(LEVELS))
        if unknown or not levels:
            raise ValueError(f"levels must be a non-empty subset of {LEVELS}, not {tuple(levels)}")
        self.curriculum = curriculum
        self.levels = tuple(level for level in LEVELS if level in levels)  # the paper's order
        self.phrase_min_count = phrase_min_count
        self.phrase_threshold = phrase_threshold
        self.phrases: FrozenPhrases | None = None
        self._spans: dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[list[WordSpan], list[WordSpan]]] = {}

    def prepare(self, corpus: Sequence[TokenSequence]) -> None:
        """Learn the corpus's phrases (n-gram statistics)."""
        self.phrases = learn_phrases((s.words for s in corpus), self.phrase_min_count, self.phrase_threshold)
        self._spans.clear()

    def spans(self, sequence: TokenSequence) -> tuple[list[WordSpan], list[WordSpan]]:
        """(phrases, entities) of a sequence as word spans; entities from its tags, else the capitalised chunker."""
        key = (sequence.words, sequence.tags)
        if key not in self._spans:
            entities = entity_spans_from_tags(sequence.tags) if sequence.tags else capitalised_spans(sequence.words)
            self._spans[key] = (phrase_spans(sequence.words, self.phrases), entities)
        return self._spans[key]

    def level(self, generator: torch.Generator, progress: float) -> str:
        """The masking level of one row: the paper's stage at ``progress``, or one of ``levels`` at random."""
        if self.curriculum:
            return self.levels[min(int(progress * len(self.levels)), len(self.levels) - 1)]
        return self.levels[int(torch.randint(len(self.levels), (), generator=generator))]

    def units(self, sequence: TokenSequence, generator: torch.Generator, progress: float) -> tuple[list[Unit], list[Unit]]:
        level = self.level(generator, progress)
        if level == "basic":
            return [], [(i,) for i in range(len(sequence))]
        tokens_of: dict[int, list[int]] = {}
        for position, word in enumerate(sequence.word_index):
            tokens_of.setdefault(word, []).append(position)
        phrases, entities = self.spans(sequence)
        spans = phrases if level == "phrase" else entities
        preferred: list[Unit] = []
        inside: set[int] = set()
        for start, end in spans:
            unit = tuple(p for w in range(start, end) for p in tokens_of.get(w, ()))
            if unit:
                preferred.append(unit)
                inside.update(range(start, end))
        others = [tuple(tokens_of[w]) for w in sorted(tokens_of) if w not in inside]
        return preferred, others
