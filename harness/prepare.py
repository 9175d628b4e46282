"""What training and evaluation need, from a run config: tasks, examples, the model and the features.

- :func:`resolve_tasks` finds the config's tasks and splits in the registry;
- :func:`load_task_examples` reads their training and evaluation examples;
- :func:`new_model` builds the backbone (a preset over a local vocabulary
  trained on those examples, or a pretrained one) under fresh shared heads;
- :func:`prepare` does all of it and builds each task's features with the
  adapter of the head that answers it.

>>> # prep = prepare(load_config(None))
>>> # prep.model, prep.train_sets, prep.eval_sets
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import datasets
import torch

from harness.adapters import adapter_for, head_specs
from harness.config import RunConfig
from harness.errors import UserError
from harness.evaluate import EvalSet, EvalSettings
from harness.features import FeatureConfig, build_features, default_cache_dir, tokenizer_fingerprint
from harness.scaffold import resolve_device, seed_everything
from harness.train import TrainSet
from models.heads import HeadSpec, MultiTaskModel
from models.text_head import TEXT_HEAD_PRESETS, DecodeConfig, TextHead
from tasks.data import fingerprint, load_examples
from tasks.suite import SuiteData
from tasks.types import Example, Task

Examples = dict[str, list[Example]]
"""Examples by task name."""


@dataclass(frozen=True)
class RunTask:
    """A task of the run with its resolved splits and caps."""

    task: Task
    train_split: str | None  # None: evaluation only
    eval_split: str
    train_limit: int | None
    eval_limit: int | None
    sample_seed: int | None = None  # limits keep a random subset drawn by this seed; None: the first examples


@dataclass(frozen=True)
class Prepared:
    """Everything training and evaluation need."""

    config: RunConfig
    tasks: list[RunTask]  # the config's tasks (those evaluated unless a suite's protocol replaces them)
    model: MultiTaskModel
    device: torch.device
    pad_id: int
    train_sets: list[TrainSet]
    eval_sets: list[EvalSet]
    seconds: float = 0.0  # wall time of prepare(): tasks, examples, model, features

    def eval_settings(self) -> EvalSettings:
        """How this run evaluates (:func:`eval_settings`)."""
        return eval_settings(self.config, self.device, self.pad_id)


def resolve_tasks(config: RunConfig) -> list[RunTask]:
    """The run's tasks from the registry (after the config's ``include`` and ``task_dirs``); unknown names and splits are :class:`UserError`."""
    from tasks.errors import TaskError
    from tasks.registry import get, load_plugins

    try:
        load_plugins(config.task_dirs, config.include)
    except TaskError as err:
        raise UserError(f"config {config.where('include' if config.include else 'task_dirs')}: {err}") from None

    resolved = []
    for index, item in enumerate(config.tasks):
        try:
            task = get(item.name)
        except TaskError as err:
            raise UserError(f"config {config.where('tasks', index)}: {err}") from None
        train_split = item.train_split or task.train_split
        if not item.train:
            train_split = None
        for split in (train_split, item.eval_split):
            if split is not None and split not in task.splits:
                raise UserError(f"config {config.where('tasks', index)}: task {task.name!r} has no split {split!r}; its splits: {', '.join(task.splits)}")
        sample_seed = config.seed if item.sample == "random" else None
        resolved.append(RunTask(task, train_split, item.eval_split or task.eval_split, item.train_limit, item.eval_limit, sample_seed))
    return resolved


def decoder_preset(config: RunConfig) -> str:
    """The text head's size: ``heads.decoder``, where ``auto`` follows a local backbone's preset (small when pretrained)."""
    if config.heads.decoder != "auto":
        return config.heads.decoder
    preset = config.model.preset
    return preset if not config.model.pretrained and preset in TEXT_HEAD_PRESETS else "small"


def eval_settings(config: RunConfig, device: torch.device, pad_id: int) -> EvalSettings:
    """How a run evaluates; the text head decodes greedily or by beam search, up to ``heads.max_answer_tokens``."""
    decoding = DecodeConfig(
        beam_size=config.eval.beam_size, length_penalty=config.eval.length_penalty, max_length=config.heads.max_answer_tokens, min_length=config.eval.min_answer_tokens
    )
    return EvalSettings(config.eval.batch_size, device, pad_id, config.eval.max_answer_length, decoding)


def use_threads(config: RunConfig) -> None:
    """Set torch's CPU threads when the config names them (a process-wide setting)."""
    if config.threads:
        torch.set_num_threads(config.threads)


# --- examples --------------------------------------------------------------------------------------------------------


def _load(task: Task, split: str, config: RunConfig, limit: int | None, sample_seed: int | None) -> list[Example]:
    from tasks.errors import TaskError

    try:
        examples = load_examples(task, split, data_dir=config.data_dir, limit=limit, sample_seed=sample_seed, cache_dir=config.cache_dir or default_cache_dir())
    except TaskError as err:
        raise UserError(str(err)) from None
    if not examples:
        raise UserError(f"task {task.name!r}, split {split!r}: no examples")
    return examples


def load_task_examples(config: RunConfig, tasks: Sequence[RunTask], train: bool, suite: SuiteData | None = None) -> tuple[Examples, Examples]:
    """The training examples of the tasks that train (none unless ``train``) and the evaluation examples.

    They come from ``config.data_dir``, else ``$QABENCH_DATA``, else the hub
    (:func:`tasks.data.load_examples`), through the examples cache
    (:mod:`tasks.cache`) under ``config.cache_dir``: a warm run reads each
    split's examples back instead of recasting it. The evaluation examples are every
    task's, or with ``suite`` exactly the suite's.
    """
    train_examples = {t.task.name: _load(t.task, t.train_split, config, t.train_limit, t.sample_seed) for t in tasks if train and t.train_split}
    if suite is not None:
        return train_examples, {name: list(examples) for name, examples in suite.examples.items()}
    eval_examples = {t.task.name: _load(t.task, t.eval_split, config, t.eval_limit, t.sample_seed) for t in tasks}
    return train_examples, eval_examples


def suite_run_tasks(suite: SuiteData) -> list[RunTask]:
    """The suite's tasks as evaluation-only run tasks (each with its variant's metrics)."""
    return [RunTask(task, None, entry.split, None, None) for entry, task in zip(suite.suite.tasks, suite.tasks)]


def vocabulary_texts(train_examples: Examples, eval_examples: Examples) -> list[str]:
    """The text a local vocabulary is trained on: the training questions, contexts and answers, and the evaluation questions."""
    texts: list[str] = []
    for name in sorted(train_examples):
        for e in train_examples[name]:
            texts.extend((e.question, " ".join(e.tokens) if e.tokens else e.context, e.answer))
    texts += [e.question for name in sorted(eval_examples) for e in eval_examples[name]]
    return texts


# --- the model -------------------------------------------------------------------------------------------------------


def build_model(config: RunConfig, specs: dict[str, HeadSpec], texts: Sequence[str]) -> MultiTaskModel:
    """The backbone (built from a preset over a local vocabulary trained on ``texts``, or loaded as pretrained) under fresh heads."""
    from models.errors import ModelError
    from models.registry import build_backbone, load_backbone
    from models.tokenization import train_tokenizer

    seed_everything(config.seed)
    m = config.model
    try:
        if m.pretrained:
            backbone = load_backbone(m.backbone, m.pretrained, allow_pickle=m.allow_pickle)
        else:
            cache = Path(config.cache_dir) / "tokenizers" if config.cache_dir else None
            # Lowercase unless an answer is written token by token: it must come back cased and with its accents,
            # and spaced as written (that vocabulary is encoded at spaces only, so its ids say where the spaces were).
            writes_text = any(adapter_for(spec.format).keeps_case for spec in specs.values())
            lowercase = m.lowercase if m.lowercase is not None else not writes_text
            tokenizer = train_tokenizer(
                texts, vocab_size=m.vocab_size, cache_dir=str(cache) if cache else None, lowercase=lowercase, spacing=writes_text
            )
            backbone = build_backbone(m.backbone, m.preset, tokenizer=tokenizer)
    except ModelError as err:
        raise UserError(f"config {config.where('model')}: {err}") from None
    model = MultiTaskModel(backbone, specs, dropout=config.heads.dropout)
    vectors = backbone.word_vectors() if m.pretrained and config.heads.decoder_words == "backbone" else None
    if vectors is not None:  # the text head reads and writes the pretrained words (decaNLP's decoder read GloVe)
        for head in model.heads.values():
            if isinstance(head, TextHead) and vectors.shape[0] >= head.vocab_size:
                head.start_from_word_vectors(vectors)
    return model


def new_model(config: RunConfig, tasks: Sequence[RunTask], train_examples: Examples, eval_examples: Examples) -> MultiTaskModel:
    """The model a run starts from: each task's head (:func:`harness.adapters.head_specs`) over the config's backbone.

    ``tasks`` are the config's tasks, then any evaluated task (a suite's) that
    is not one of them: it gets the head of its format, to answer zero-shot.
    """
    every = list({t.task.name: t.task for t in tasks}.values())
    specs = head_specs(every, config.heads.task_specific, config.heads.mode, decoder_preset(config), config.heads.choice, config.heads.copy_spans)
    untrained_label_layers(specs, {t.task.name for t in tasks if t.train_split and t.task.name in train_examples}, config)
    return build_model(config, specs, vocabulary_texts(train_examples, eval_examples))


def untrained_label_layers(specs: dict[str, HeadSpec], trained: set[str], config: RunConfig) -> None:
    """Refuse a choice task evaluated zero-shot whose label set no trained task shares under ``heads.choice: linear``.

    Its linear layer would be the random one it was built with; the
    label-word head (``heads.choice: words``) is the one that scores new
    label words. Nothing is refused when nothing trains (``qabench eval`` of a
    config), nor a task that shares a trained task's label set (qnli and rte).
    """
    if not trained:
        return
    layers = {specs[name].key(name) for name in trained}
    for name, spec in specs.items():
        if name not in trained and spec.format == "choice" and spec.num_labels and spec.key(name) not in layers:
            raise UserError(
                f"config {config.where('heads')}: {name!r} is evaluated without training and no trained task shares its labels, "
                "so heads.choice: linear has no trained layer for them; heads.choice: words answers new label words zero-shot"
            )


def model_of_config(config: RunConfig) -> MultiTaskModel:
    """The fresh model ``config`` starts training from (its vocabulary from its own examples), to load a checkpoint's weights into."""
    use_threads(config)
    tasks = resolve_tasks(config)
    return new_model(config, tasks, *load_task_examples(config, tasks, train=True))


def pad_id_of(model: MultiTaskModel) -> int:
    """The padding id of the backbone's tokenizer (0 when it has none, as GPT-2)."""
    pad = model.backbone.tokenizer.pad_token_id
    return int(pad) if pad is not None else 0


# --- all of it -------------------------------------------------------------------------------------------------------


def prepare(config: RunConfig, train: bool = True, model: MultiTaskModel | None = None, suite: SuiteData | None = None) -> Prepared:
    """Resolve tasks, load examples, build the model (unless given) and the features (training features only when ``train``).

    With ``suite``, evaluation follows the suite's protocol instead of the
    config's: its tasks (scored by its metric variant) on exactly its
    examples; the config's tasks are only trained on.
    """
    started = time.perf_counter()
    use_threads(config)
    tasks = resolve_tasks(config)
    if train and not any(t.train_split for t in tasks):
        raise UserError(f"config {config.where('tasks')}: no task has a training split to train on")
    train_examples, eval_examples = load_task_examples(config, tasks, train, suite)
    eval_tasks = tasks if suite is None else suite_run_tasks(suite)
    if model is None:
        model = new_model(config, [*tasks, *eval_tasks], train_examples, eval_examples)
    device = resolve_device(config.device)
    model.to(device)
    tokenizer = model.backbone.tokenizer
    features = FeatureConfig(
        max_length=min(config.model.max_length, tokenizer.model_max_length), stride=config.model.stride, max_answer_tokens=config.heads.max_answer_tokens
    )
    cache = config.cache_dir or str(default_cache_dir())
    tokenizer_hash = tokenizer_fingerprint(tokenizer)  # once for every task's features
    # Each task's features are those of the head that answers it (the text head's, for every task in head mode text).
    adapters = {t.task.name: adapter_for(model.specs[t.task.name].format) for t in [*tasks, *eval_tasks]}

    def featurize(task: Task, examples: list[Example], examples_hash: str | None = None) -> datasets.Dataset:
        return build_features(
            adapters[task.name], examples, tokenizer, features, labels=task.labels, examples_fingerprint=examples_hash, cache_dir=cache, tokenizer_hash=tokenizer_hash
        )

    train_sets = [TrainSet(t.task.name, adapters[t.task.name], featurize(t.task, train_examples[t.task.name])) for t in tasks if t.task.name in train_examples]
    eval_sets = [
        EvalSet(t.task, t.eval_split, examples, featurize(t.task, examples, examples_hash), examples_hash, adapters[t.task.name])
        for t, examples, examples_hash in ((t, eval_examples[t.task.name], fingerprint(eval_examples[t.task.name])) for t in eval_tasks)
    ]
    return Prepared(config, tasks, model, device, pad_id_of(model), train_sets, eval_sets, time.perf_counter() - started)
