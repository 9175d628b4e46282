"""The text answer of a tagging example, and the way back to tags.

A tagging example (NER, POS) is answered in text as its labelled spans, in
order, each written ``span text (TYPE)`` and joined by ``"; "``:

- BIO tags (``B-PER``, ``I-PER``, ``O``): the entity spans, or ``none``
  when there is none: ``"EU (ORG); German (MISC)"``.
- any other tag set (POS: ``NOUN``, ``VERB``, ...): every token is its own
  span: ``"Al (PROPN); - (PUNCT); Zaman (PROPN)"``.

:func:`tags_to_answer` writes that answer; :func:`answer_to_tags` reads a
(possibly model-generated, possibly malformed) answer back to one tag per
token, which is what the tag metrics compare. The two round-trip exactly on
valid IOB2 gold tags, with one limit the text format cannot avoid: a span is
located at the *first* occurrence of its words after the previous span, so a
span whose words also occur untagged before it (``"Paris in Paris (LOC)"``
with only the second tagged) reads back at the earlier place. Every POS
answer round-trips, since every token is a span.
"""

from __future__ import annotations

import re
from typing import Literal, Sequence

from tasks.errors import TaskError

Scheme = Literal["bio", "token"]

NO_SPANS = "none"  # the answer of a BIO example without entities
SPAN_SEPARATOR = "; "
# Tag of a token that no parsed span covers. For POS it must equal no gold tag:
# UD's upos labels include "_" itself, so the placeholder is the empty string.
UNTAGGED: dict[str, str] = {"bio": "O", "token": ""}

# One answer item: lazy span text, " (TYPE)", then the separator or the end.
# Lazy text plus a mandatory "; " or end lets tokens such as ";" or "(" parse.
_ITEM = re.compile(r"(.+?) \(([^()\s]+)\)(?:; |$)")


def is_bio(tags: Sequence[str]) -> bool:
    """True when every tag is ``O`` or starts with ``B-`` or ``I-``.

    >>> is_bio(["B-PER", "I-PER", "O"]), is_bio(["PROPN", "PUNCT"])
    (True, False)
    """
    return all(tag == "O" or tag.startswith(("B-", "I-")) for tag in tags)


def iob2_spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """The labelled spans of BIO tags as ``(start, end, type)``, end exclusive.

    A span starts at ``B-X``, or at an ``I-X`` that does not continue a span
    of type ``X`` (conlleval reads IOB1 and broken IOB2 the same way), and
    runs over the ``I-X`` tags that follow.

    >>> iob2_spans(["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-ORG"])
    [(0, 2, 'PER'), (3, 4, 'LOC'), (4, 5, 'LOC'), (5, 6, 'ORG')]
    """
    spans: list[tuple[int, int, str]] = []
    start, kind = -1, ""
    for i, tag in enumerate(tags):
        continues = tag.startswith("I-") and start >= 0 and tag[2:] == kind
        if continues:
            continue
        if start >= 0:
            spans.append((start, i, kind))
            start, kind = -1, ""
        if tag.startswith(("B-", "I-")):
            start, kind = i, tag[2:]
    if start >= 0:
        spans.append((start, len(tags), kind))
    return spans


def _resolve_scheme(tags: Sequence[str], scheme: Scheme | None) -> Scheme:
    if scheme is None:
        return "bio" if is_bio(tags) else "token"
    if scheme not in UNTAGGED:
        raise ValueError(f"scheme {scheme!r} is not one of {', '.join(UNTAGGED)}")
    return scheme


def tags_to_answer(tokens: Sequence[str], tags: Sequence[str], scheme: Scheme | None = None) -> str:
    """The text answer of a tagging example: its spans as ``text (TYPE); ...``.

    ``scheme`` is ``"bio"`` (entity spans), ``"token"`` (one span per token)
    or None to detect it with :func:`is_bio`.

    >>> tags_to_answer(["EU", "rejects", "German", "call"], ["B-ORG", "O", "B-MISC", "O"])
    'EU (ORG); German (MISC)'
    >>> tags_to_answer(["New", "York"], ["B-LOC", "I-LOC"])
    'New York (LOC)'
    >>> tags_to_answer(["Peter", "runs"], ["O", "O"])
    'none'
    >>> tags_to_answer(["Al", "-", "Zaman"], ["PROPN", "PUNCT", "PROPN"])
    'Al (PROPN); - (PUNCT); Zaman (PROPN)'
    """
    if len(tokens) != len(tags):
        raise TaskError(f"tagging example has {len(tokens)} tokens but {len(tags)} tags; give one tag per token")
    if _resolve_scheme(tags, scheme) == "token":
        spans = [(i, i + 1, tag) for i, tag in enumerate(tags)]
    else:
        spans = iob2_spans(tags)
    if not spans:
        return NO_SPANS
    return SPAN_SEPARATOR.join(f"{' '.join(tokens[start:end])} ({kind})" for start, end, kind in spans)


def _locate(text: str, tokens: Sequence[str], start: int) -> tuple[int, int] | None:
    """First ``(i, j)`` with ``i >= start`` and ``" ".join(tokens[i:j]) == text``."""
    for i in range(start, len(tokens)):
        joined = tokens[i]
        j = i + 1
        while len(joined) < len(text) and text.startswith(joined) and j < len(tokens):
            joined = f"{joined} {tokens[j]}"
            j += 1
        if joined == text:
            return i, j
    return None


def _locate_item(text: str, tokens: Sequence[str], start: int) -> tuple[int, int] | None:
    """Locate an item's text, else the part after a ``"; "`` in it.

    The lazy item pattern swallows a malformed item into the next one
    (``"oops; German"``); trying what follows each separator recovers it.
    """
    candidates = [text] + [text[m.end() :] for m in re.finditer(SPAN_SEPARATOR, text)]
    for candidate in candidates:
        found = _locate(candidate, tokens, start)
        if found is not None:
            return found
    return None


def answer_to_tags(answer: str, tokens: Sequence[str], scheme: Scheme) -> list[str]:
    """Read a text answer back to one tag per token.

    Items ``text (TYPE)`` are matched left to right; each span text is looked
    for in ``tokens`` from the end of the previously located span on, and the
    first place it fits wins. Items that are malformed or whose text is not
    found are skipped, so a half-right answer keeps its right spans. Tokens no
    span covers get ``O`` (``bio``) or ``""`` (``token``, a tag no tag set
    uses, so a missed token never counts as right). In the ``bio``
    scheme a span becomes ``B-TYPE I-TYPE ...``; in the ``token`` scheme every
    token of a span gets ``TYPE``.

    >>> tokens = ["EU", "rejects", "German", "call"]
    >>> answer_to_tags("EU (ORG); German (MISC)", tokens, "bio")
    ['B-ORG', 'O', 'B-MISC', 'O']
    >>> answer_to_tags("Brussels (LOC); oops; German (MISC)", tokens, "bio")
    ['O', 'O', 'B-MISC', 'O']
    >>> answer_to_tags("none", tokens, "bio")
    ['O', 'O', 'O', 'O']
    >>> answer_to_tags("( (PUNCT); ; (PUNCT); ) (PUNCT)", ["(", ";", ")"], "token")
    ['PUNCT', 'PUNCT', 'PUNCT']
    >>> answer_to_tags("runs (VERB)", ["Al", "runs"], "token")
    ['', 'VERB']
    """
    if scheme not in UNTAGGED:
        raise ValueError(f"scheme {scheme!r} is not one of {', '.join(UNTAGGED)}")
    tags = [UNTAGGED[scheme]] * len(tokens)
    position = 0
    for match in _ITEM.finditer(answer.strip()):
        text, kind = match.group(1), match.group(2)
        found = _locate_item(text, tokens, position)
        if found is None:
            continue
        start, end = found
        if scheme == "bio":
            tags[start:end] = [f"B-{kind}"] + [f"I-{kind}"] * (end - start - 1)
        else:
            tags[start:end] = [kind] * (end - start)
        position = end
    return tags
