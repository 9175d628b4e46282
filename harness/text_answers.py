"""Answer strings <-> the text head's token ids, for one tokenizer.

Encoding is the tokenizer's own (no special tokens). Decoding must give back
the string the ids stand for, exactly: a metric reads it, and BLEU counts
"Giants - Trikot" as three words where the reference has one.

The shared local vocabulary (:mod:`models.tokenization`) cuts text at spaces
only, so a piece glued to the one before it is a ``##`` continuation and the
ids carry the spacing: cased, it decodes back exactly (``lossless``).
Lowercased, only case and accents are lost (``spacing``): the surface is
restored from the sources, each longest run of answer tokens that also
occurs, token for token, in the context or the question being written as
that stretch of the original text (offset mappings give its characters), and
the runs and the other tokens are joined exactly where the ids say (a space
before every piece that is not a continuation). Copied answers (spans, labels
named in the question, entity types) thus come back exactly as written, and
an unknown token ([UNK]) is restored where the sources hold it.

A pretrained WordPiece vocabulary (BERT-uncased, MiniLM) drops the spaces
around punctuation altogether: ``"EU (ORG); German (MISC)"`` reads
``eu ( org ) ; german ( misc )``. There, and only there, runs are joined with
a space unless punctuation says otherwise (no space before closing and after
opening punctuation): the best guess a tokenizer without spacing allows.
A byte-level BPE tokenizer (GPT-2) is lossless and decodes directly.

>>> # codec = AnswerCodec.for_tokenizer(tokenizer)
>>> # ids = codec.encode("EU (ORG)")
>>> # codec.decode(ids, sources=(context, question)) == "EU (ORG)"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

PROBE = "Nordic skiers (MISC); Zoë's 3.5-km run, at Oslo!"
"""A string with case, an accent, punctuation and odd spacing: a tokenizer that decodes it back exactly is lossless."""

NO_SPACE_BEFORE = frozenset(",.;:!?)]}%")
NO_SPACE_AFTER = frozenset("([{$")


@dataclass(frozen=True)
class _Piece:
    text: str
    continues: bool  # glued to the previous piece (a ``##`` sub-word)


@dataclass(frozen=True)
class AnswerCodec:
    """Encodes answers for the text head and decodes its ids back to answer strings.

    Build it with :meth:`for_tokenizer`; ``lossless`` says whether the
    tokenizer's own decoding already gives back the original text.
    """

    tokenizer: Any
    lossless: bool
    continuation: str  # WordPiece's sub-word prefix ("##"), "" when the tokenizer has none
    spacing: bool = False  # the ids say where the spaces are (a continuation is glued, anything else is not)

    @classmethod
    def for_tokenizer(cls, tokenizer: Any) -> AnswerCodec:
        """Probe ``tokenizer`` once and remember how to decode with it."""
        ids = tokenizer(PROBE, add_special_tokens=False)["input_ids"]
        backend = getattr(tokenizer, "backend_tokenizer", None)
        decoder = getattr(backend, "decoder", None)
        prefix = getattr(decoder, "prefix", "") if type(decoder).__name__ == "WordPiece" else ""
        # Words cut at spaces only and decoded without clean-up: every glued piece is a continuation. Such a
        # vocabulary is lossless (but for [UNK], restored from the sources) when its normalizer keeps case and accents.
        cut_at_spaces = type(getattr(backend, "pre_tokenizer", None)).__name__ == "WhitespaceSplit"
        spacing = bool(prefix) and cut_at_spaces and getattr(decoder, "cleanup", True) is False
        normalizer = getattr(backend, "normalizer", None)
        keeps_case = normalizer is None or normalizer.normalize_str(PROBE) == PROBE
        lossless = tokenizer.decode(ids, clean_up_tokenization_spaces=False) == PROBE or (spacing and keeps_case)
        spacing = spacing or lossless
        return cls(tokenizer=tokenizer, lossless=lossless, continuation=prefix, spacing=spacing)

    def encode(self, answer: str) -> list[int]:
        """The answer's token ids, without special tokens (the text head adds EOS)."""
        return list(self.tokenizer(answer, add_special_tokens=False)["input_ids"])

    def decode(self, ids: Sequence[int], sources: Sequence[str] = ()) -> str:
        """The answer string of ``ids``, with copied stretches written as they stand in ``sources``.

        ``sources`` are the texts the answer may copy from, in order of
        preference (context first, then the question).
        """
        special = set(self.tokenizer.all_special_ids)
        ids = [i for i in ids if i not in special or i == self.tokenizer.unk_token_id]
        if not ids or (self.lossless and (self.tokenizer.unk_token_id not in ids or not sources)):
            return self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False).strip()
        encoded = [self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True) for text in sources]
        starts: dict[int, list[tuple[int, int]]] = {}  # token id -> (source, position) where it occurs
        for s, enc in enumerate(encoded):
            for position, token in enumerate(enc["input_ids"]):
                starts.setdefault(token, []).append((s, position))
        pieces: list[_Piece] = []
        unmatched: list[int] = []
        i = 0
        while i < len(ids):
            best_length, best = 0, (0, 0)
            for s, position in starts.get(ids[i], ()):
                source_ids = encoded[s]["input_ids"]
                length = 1
                while (
                    i + length < len(ids)
                    and position + length < len(source_ids)
                    and source_ids[position + length] == ids[i + length]
                ):
                    length += 1
                if length > best_length:
                    best_length, best = length, (s, position)
            if best_length == 0:
                unmatched.append(ids[i])
                i += 1
                continue
            self._flush(unmatched, pieces)
            s, position = best
            offsets = encoded[s]["offset_mapping"]
            text = sources[s][offsets[position][0] : offsets[position + best_length - 1][1]]
            pieces.append(_Piece(text, self._continues(ids[i])))
            i += best_length
        self._flush(unmatched, pieces)
        return _join(pieces, self.spacing)

    def _continues(self, token_id: int) -> bool:
        return bool(self.continuation) and self.tokenizer.convert_ids_to_tokens(token_id).startswith(self.continuation)

    def _flush(self, unmatched: list[int], pieces: list[_Piece]) -> None:
        """Decode the pending unmatched ids: token by token for WordPiece (so punctuation spacing follows
        :func:`_join`), else as one run through the tokenizer's decoder."""
        if not unmatched:
            return
        if self.continuation:
            for token_id, token in zip(unmatched, self.tokenizer.convert_ids_to_tokens(unmatched)):
                if token_id in self.tokenizer.all_special_ids:
                    continue
                continues = token.startswith(self.continuation)
                pieces.append(_Piece(token[len(self.continuation) :] if continues else token, continues))
        else:
            text = self.tokenizer.decode(unmatched, skip_special_tokens=True, clean_up_tokenization_spaces=True).strip()
            if text:
                pieces.append(_Piece(text, False))
        unmatched.clear()


def _join(pieces: Sequence[_Piece], spacing: bool = False) -> str:
    """Join pieces with single spaces, except at sub-words; without ``spacing`` also before closing and after opening punctuation.

    With ``spacing`` the tokenizer's ids say where the spaces are, so only continuations glue:

    >>> _join([_Piece("Giants", False), _Piece("-Trikot", True), _Piece("(ORG)", False)], spacing=True)
    'Giants-Trikot (ORG)'
    >>> _join([_Piece("EU", False), _Piece("(ORG)", False), _Piece(";", False), _Piece("German", False)])
    'EU (ORG); German'
    """
    text = ""
    for piece in pieces:
        guessed = not spacing and (piece.text[0] in NO_SPACE_BEFORE or text[-1:] in NO_SPACE_AFTER)
        glued = not text or piece.continues or guessed
        text += piece.text if glued else " " + piece.text
    return text
