"""The contracts of the task side: Example, Metric, Source and Task.

Every task, whatever its family, becomes a stream of :class:`Example` triples
(question, context, answer) plus the few fields its answer *format* needs.
Nothing here imports torch: ``qabench tasks ...`` stays fast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Literal, Mapping, Sequence

Format = Literal["choice", "span", "tags", "score", "text"]
FORMATS: tuple[str, ...] = ("choice", "span", "tags", "score", "text")

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Example:
    """One question about one context, with its gold answer as text.

    ``answer`` is always the canonical gold answer as a string, so every
    example can be answered by a text head. The format-specific fields carry
    what a typed head needs:

    - ``choice``: ``choices`` (``answer`` is one of them)
    - ``span``: ``answer_start`` (character offset of ``answer`` in ``context``)
    - ``tags``: ``tokens`` and ``tags`` (one label per token)
    - ``score``: ``value``
    - ``text``: nothing more

    ``answers`` holds every acceptable answer (SQuAD keeps several); it
    defaults to ``(answer,)``.

    >>> Example(id="0", question="Is this review negative or positive?",
    ...         context="a gorgeous film", answer="positive",
    ...         choices=("negative", "positive")).answers
    ('positive',)
    """

    id: str
    question: str
    context: str
    answer: str
    answers: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    answer_start: int | None = None
    tokens: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    value: float | None = None

    def __post_init__(self) -> None:
        if not self.answers:
            object.__setattr__(self, "answers", (self.answer,))

    @property
    def label_index(self) -> int:
        """Index of the gold answer in ``choices`` (choice format only)."""
        return self.choices.index(self.answer)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict that :meth:`from_dict` reads back unchanged."""
        d: dict[str, Any] = {"id": self.id, "question": self.question, "context": self.context, "answer": self.answer}
        if self.answers != (self.answer,):
            d["answers"] = list(self.answers)
        if self.choices:
            d["choices"] = list(self.choices)
        if self.answer_start is not None:
            d["answer_start"] = self.answer_start
        if self.tokens:
            d["tokens"] = list(self.tokens)
            d["tags"] = list(self.tags)
        if self.value is not None:
            d["value"] = self.value
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Example:
        """Inverse of :meth:`to_dict`."""
        return cls(
            id=str(d["id"]),
            question=d["question"],
            context=d["context"],
            answer=d["answer"],
            answers=tuple(d.get("answers", ())),
            choices=tuple(d.get("choices", ())),
            answer_start=d.get("answer_start"),
            tokens=tuple(d.get("tokens", ())),
            tags=tuple(d.get("tags", ())),
            value=d.get("value"),
        )


@dataclass(frozen=True)
class Metric:
    """A metric over predicted answer strings, on a 0-100 scale.

    Exactly one of the two scoring functions is set:

    - ``example_scores(predictions, examples) -> list[float]``: the score is
      the mean of the per-example values (accuracy, EM, nF1, joint goal).
    - ``corpus(predictions, examples) -> float``: a corpus-level score that is
      not a mean (BLEU, entity F1, MCC, Pearson); confidence intervals
      resample examples and call it again.

    A corpus metric may also give sufficient statistics, so that resampling
    does not recompute it from strings (both or neither):

    - ``stats(predictions, examples) -> list[list[float]]``: one row of
      numbers per example (entity F1: true positives, predicted and gold
      entities). Rows from one call share one encoding (MCC's label indices),
      so compute the rows of runs to be compared in one call.
    - ``from_stats(rows) -> float``: the score of the examples whose rows
      are given (a 2-D array or list of rows, repeats allowed); it does the
      summing itself, and equals ``corpus`` on the same examples.
    """

    name: str
    example_scores: Callable[[Sequence[str], Sequence[Example]], list[float]] | None = None
    corpus: Callable[[Sequence[str], Sequence[Example]], float] | None = None
    higher_is_better: bool = True
    description: str = ""
    stats: Callable[[Sequence[str], Sequence[Example]], list[list[float]]] | None = None
    from_stats: Callable[[Any], float] | None = None

    def __post_init__(self) -> None:
        if (self.example_scores is None) == (self.corpus is None):
            raise ValueError(f"metric {self.name!r}: give exactly one of example_scores or corpus")
        if (self.stats is None) != (self.from_stats is None):
            raise ValueError(f"metric {self.name!r}: give both stats and from_stats, or neither")
        if self.stats is not None and self.corpus is None:
            raise ValueError(f"metric {self.name!r}: stats and from_stats belong to a corpus metric")

    @property
    def decomposable(self) -> bool:
        """True when the score is the mean of per-example scores."""
        return self.example_scores is not None

    def __call__(self, predictions: Sequence[str], examples: Sequence[Example]) -> float:
        if len(predictions) != len(examples):
            raise ValueError(f"metric {self.name!r}: {len(predictions)} predictions for {len(examples)} examples")
        if not examples:
            return 0.0
        if self.corpus is not None:
            return float(self.corpus(predictions, examples))
        assert self.example_scores is not None
        scores = self.example_scores(predictions, examples)
        return float(sum(scores) / len(scores))


@dataclass(frozen=True)
class Source:
    """Where a task's rows come from.

    Resolution order (DESIGN.md): files the user names; a local mirror
    directory laid out as ``<hub_id>/<config>/<split>.jsonl`` (or
    ``.parquet``); then the Hugging Face hub via
    ``datasets.load_dataset(hub_id, config, revision=...)``.

    - ``files``: split -> a local file of rows (``.jsonl``, ``.json``,
      ``.parquet`` or ``.csv``) that the task names itself; those splits are
      read from there and nowhere else. A relative path is relative to the
      directory qabench runs in, so a plugin file names its data with
      ``Path(__file__).parent / "train.jsonl"``. :meth:`local` builds a
      source of local files only.

    - ``split_files``: file names inside the mirror directory for splits
      whose file is not ``<split>.jsonl`` (decaNLP's ``schema.txt``).
    - ``reader``: replaces the JSONL/parquet reader for raw files that are not
      row files; it gets a path and returns the rows.
    - ``derived``: split name -> ``(base_split, select)``, a split made from
      another one: ``select(rows)`` is a pure function returning the indices
      of the rows to keep (SQuAD's train-on-part-of-validation splits).
    - ``on_hub``: False when the source exists only as a local file.
    - ``local_dir``: a directory that holds the split files itself (a
      zero-code task directory); it takes the place of the mirror.
    """

    hub_id: str
    config: str | None = None
    revision: str | None = None
    split_files: Mapping[str, str] = field(default_factory=dict)
    reader: Callable[[str], list[Row]] | None = None
    mirror_path: str | None = None  # overrides "<hub_id>/<config>" inside the mirror
    derived: Mapping[str, tuple[str, Callable[[Sequence[Row]], list[int]]]] = field(default_factory=dict)
    on_hub: bool = True
    local_dir: str | None = None
    files: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def local(cls, **files: str | os.PathLike[str]) -> Source:
        """A source of local files only, one per split; paths are made absolute now.

        >>> source = Source.local(train="data/train.jsonl", validation="data/dev.jsonl")
        >>> source.on_hub, sorted(source.files), source.describe().startswith("local:")
        (False, ['train', 'validation'], True)
        """
        if not files:
            raise ValueError("Source.local needs at least one split=PATH")
        paths = {split: str(Path(path).expanduser().resolve()) for split, path in files.items()}
        folder = os.path.commonpath([str(Path(p).parent) for p in paths.values()])
        return cls(hub_id=f"local:{folder}", on_hub=False, files=paths)

    @property
    def mirror_dir(self) -> str:
        """Directory of this source inside a mirror, relative to its root."""
        if self.mirror_path is not None:
            return self.mirror_path
        return f"{self.hub_id}/{self.config}" if self.config else self.hub_id

    def describe(self) -> str:
        """Short human-readable name, e.g. ``nyu-mll/glue:sst2``."""
        return f"{self.hub_id}:{self.config}" if self.config else self.hub_id


@dataclass(frozen=True)
class Task:
    """A named, versioned recipe from raw rows to :class:`Example` triples.

    ``recast`` is a pure function of one row. Optional pure hooks run before
    it: ``expand`` turns one raw row into several (a WOZ dialogue into its
    turns) and ``keep`` drops rows that carry no gold answer (SNLI's label
    -1); ``skip_reason`` says why, for ``qabench tasks validate``.

    ``metrics[0]`` is the headline metric that decaScore adds up.
    ``train_split`` is None for evaluation-only tasks. ``sample_rows`` are a
    few raw rows in the source's own columns, written by hand: they document
    the row shape and feed the task contract test (tests/test_task_contract.py).
    """

    name: str
    version: str
    family: str
    format: Format
    source: Source
    recast: Callable[[Row], Example]
    metrics: tuple[Metric, ...]
    splits: tuple[str, ...] = ("train", "validation")
    train_split: str | None = "train"
    eval_split: str = "validation"
    labels: tuple[str, ...] = ()
    description: str = ""
    expand: Callable[[Row], Iterable[Row]] | None = None
    keep: Callable[[Row], bool] | None = None
    skip_reason: str = ""
    notes: str = ""
    sample_rows: tuple[Row, ...] = ()

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"task {self.name!r}: format {self.format!r} is not one of {', '.join(FORMATS)}")
        if not self.metrics:
            raise ValueError(f"task {self.name!r}: needs at least one metric (the first is the headline)")
        if self.train_split is not None and self.train_split not in self.splits:
            raise ValueError(f"task {self.name!r}: train_split {self.train_split!r} is not in splits {self.splits}")
        if self.eval_split not in self.splits:
            raise ValueError(f"task {self.name!r}: eval_split {self.eval_split!r} is not in splits {self.splits}")

    @property
    def headline(self) -> Metric:
        """The metric decaScore adds up."""
        return self.metrics[0]

    @property
    def evaluation_only(self) -> bool:
        """True when the task has no training split."""
        return self.train_split is None

    def rows_to_examples(self, rows: Iterable[Row]) -> Iterator[Example]:
        """Expand, filter and recast raw rows, in order."""
        for row in rows:
            for sub in self.expand(row) if self.expand else (row,):
                if self.keep is None or self.keep(sub):
                    yield self.recast(sub)

    def score(self, predictions: Sequence[str], examples: Sequence[Example]) -> dict[str, float]:
        """Every metric of the task, by name."""
        return {m.name: m(predictions, examples) for m in self.metrics}
