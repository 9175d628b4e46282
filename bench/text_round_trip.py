"""Fidelity: do gold answers survive the text head's round trip, string -> token ids -> string?

A perfect text-head model writes exactly the gold answer's token ids; what it
is scored on is :meth:`harness.text_answers.AnswerCodec.decode` of them. So a
decoder that loses the original text (spaces around ``-`` and ``'``, case)
caps every model's score below 100. For each task this prints the score of
the decoded gold answers under the task's headline metric and the share of
answers decoded exactly, over the whole evaluation split.

The vocabulary is the shared local one, trained as a run with the text head
trains it (on the training split's questions, contexts and answers,
``--vocab-size``, keeping the spacing), cased because these tasks answer
through the text head (``--lowercase`` shows a lowercasing vocabulary).
Needs the data mirror (``QABENCH_DATA``).

Run: ``PYTHONPATH=. python bench/text_round_trip.py [--vocab-size 8000] [--lowercase]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import tasks  # noqa: E402
from harness.prepare import vocabulary_texts  # noqa: E402
from harness.text_answers import AnswerCodec  # noqa: E402
from models.tokenization import train_tokenizer  # noqa: E402
from tasks.data import load_examples  # noqa: E402

CASES = (  # task, training split (the vocabulary's text), evaluation split
    ("multi30k_en_de", "train", "validation"),
    ("multi30k_de_en", "train", "validation"),
    ("squad", "validation_a", "validation_b"),
    ("woz", "train", "validation"),
)


def main() -> None:
    from _conditions import conditions  # bench/, beside this script

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--lowercase", action="store_true", help="a lowercasing vocabulary (BERT-uncased style)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        for name, train_split, eval_split in CASES:
            task = tasks.registry.get(name)
            train = load_examples(task, train_split)
            examples = load_examples(task, eval_split)
            texts = vocabulary_texts({name: train}, {name: examples})
            codec = AnswerCodec.for_tokenizer(train_tokenizer(texts, vocab_size=args.vocab_size, cache_dir=cache, lowercase=args.lowercase, spacing=True))
            decoded = [codec.decode(codec.encode(e.answer), sources=(e.context, e.question)) for e in examples]
            exact = sum(d == e.answer for d, e in zip(decoded, examples)) / len(examples)
            rows.append((name, eval_split, len(examples), task.headline.name, task.headline(decoded, examples), 100.0 * exact))
    print(f"{'task':<16} {'split':<13} {'answers':>7} {'metric':<13} {'decoded gold':>12} {'exact %':>8}")
    for name, split, count, metric, score, exact in rows:
        print(f"{name:<16} {split:<13} {count:>7} {metric:<13} {score:>12.2f} {exact:>8.2f}")
    print(conditions())


if __name__ == "__main__":
    main()
