"""The whole job of ``qabench run``: config -> tasks and data -> model -> training -> evaluation -> record.

Each step is a plain function, so ``qabench train`` and ``qabench eval`` are
the two halves of :func:`run`:

- :func:`prepare` resolves the tasks, loads their examples, builds (or loads)
  the backbone with the shared heads and the features;
- :func:`train_run` trains and saves the model into the run directory;
- :func:`evaluate_run` evaluates it and writes ``record.json`` and
  ``predictions.jsonl`` atomically, then adds the record to the leaderboard.

A run directory ``<output.dir>/<run_id>/`` holds ``config.json``,
``model/`` (the backbone as ``models.registry.save_backbone`` writes it, plus
``heads.safetensors`` and ``heads.json``: no pickle), ``train.json``, ``checkpoints/last.pt``
when checkpoints are on, and finally the record and predictions.

>>> # outcome = run(load_config("quickstart.yaml"))
>>> # outcome.record_path
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pickle
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch

from harness import config as config_module
from harness.adapters import adapter_for, head_specs
from harness.config import RunConfig, TaskConfig
from harness.curves import CurveLog, curve_every
from harness.errors import UserError
from harness.evaluate import EvalSet, EvalSettings, TaskResult, deca_score, evaluate_tasks
from harness.features import FeatureConfig, build_features, default_cache_dir
from harness.record import PREDICTIONS_FILE, RECORD_FILE, build_record, directory_sha256, hardware_info, new_run_id, write_json_atomic
from harness.train import LAST_CHECKPOINT, TrainingDiverged, TrainResult, TrainSet, check_compatible, find_checkpoint, load_checkpoint, seed_everything, train
from models.heads import HeadSpec, MultiTaskModel
from models.text_head import TEXT_HEAD_PRESETS, DecodeConfig
from tasks.data import fingerprint, load_examples
from tasks.suite import Evaluated, SuiteData, followed_suite
from tasks.types import Example, Task

MODEL_DIR = "model"
HEADS_WEIGHTS = "heads.safetensors"
LEGACY_HEADS_WEIGHTS = "heads.pt"  # run directories written before heads were safetensors (read weights-only)
HEADS_FILE = "heads.json"
TRAIN_FILE = "train.json"
CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class RunTask:
    """A task of the run with its resolved splits and caps."""

    task: Task
    train_split: str | None  # None: evaluation only
    eval_split: str
    limit: int | None
    eval_limit: int | None
    sample_seed: int | None = None  # limits keep a random subset drawn by this seed; None: the first examples


@dataclass
class Prepared:
    """Everything training and evaluation need."""

    config: RunConfig
    tasks: list[RunTask]
    model: MultiTaskModel
    device: torch.device
    pad_id: int
    train_sets: list[TrainSet]
    eval_sets: list[EvalSet]
    data_dir: str | None


@dataclass(frozen=True)
class RunOutcome:
    """Where a run wrote its record, and the record itself."""

    run_dir: Path
    record_path: Path
    record: dict[str, Any]
    leaderboard_note: str


# --- tasks and data --------------------------------------------------------------------------------------------------


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
        resolved.append(RunTask(task, train_split, item.eval_split or task.eval_split, item.limit, item.eval_limit, sample_seed))
    return resolved


def decoder_preset(config: RunConfig) -> str:
    """The text head's size: ``heads.decoder``, where ``auto`` follows a local backbone's preset (small when pretrained)."""
    if config.heads.decoder != "auto":
        return config.heads.decoder
    preset = config.model.preset
    return preset if not config.model.pretrained and preset in TEXT_HEAD_PRESETS else "small"


def eval_settings(config: RunConfig, device: torch.device, pad_id: int) -> EvalSettings:
    """How the run evaluates; the text head decodes greedily or by beam search, up to ``heads.max_answer_tokens``."""
    decoding = DecodeConfig(beam_size=config.eval.beam_size, length_penalty=config.eval.length_penalty, max_length=config.heads.max_answer_tokens)
    return EvalSettings(config.eval.batch_size, device, pad_id, config.eval.max_answer_length, decoding)


def _load(task: Task, split: str, data_dir: str | None, limit: int | None, sample_seed: int | None = None) -> list[Example]:
    from tasks.errors import TaskError

    try:
        examples = load_examples(task, split, data_dir=data_dir, limit=limit, sample_seed=sample_seed)
    except TaskError as err:
        raise UserError(str(err)) from None
    if not examples:
        raise UserError(f"task {task.name!r}, split {split!r}: no examples")
    return examples


def tokenizer_texts(examples: Sequence[Example]) -> list[str]:
    """The text a local vocabulary is trained on: questions, contexts and answers."""
    texts: list[str] = []
    for e in examples:
        texts.extend((e.question, " ".join(e.tokens) if e.tokens else e.context, e.answer))
    return texts


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when present, else CPU (under torchrun, each process its own GPU)."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {name}: CUDA is not available on this machine; use auto or cpu")
    return torch.device(name)


# --- the model -------------------------------------------------------------------------------------------------------


def build_model(config: RunConfig, specs: dict[str, HeadSpec], texts: Sequence[str]) -> MultiTaskModel:
    """The backbone (built from a preset over a local vocabulary, or loaded as pretrained) under fresh heads."""
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
    return MultiTaskModel(backbone, specs, dropout=config.heads.dropout)


def save_model(model: MultiTaskModel, directory: Path) -> None:
    """The backbone (``save_backbone``), the heads' weights (safetensors) and their specs."""
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    from models.registry import save_backbone

    # Own contiguous copies: safetensors refuses tensors that share storage (tied or sliced weights).
    weights = {key: tensor.detach().to("cpu", copy=True).contiguous() for key, tensor in model.heads.state_dict().items()}
    try:
        save_backbone(model.backbone, str(directory))
        save_file(weights, str(directory / HEADS_WEIGHTS), metadata={"format": "pt"})
    except (OSError, SafetensorError, RuntimeError) as err:  # a full disk or a read-only directory
        raise UserError(f"{getattr(err, 'filename', None) or directory}: cannot write the model ({str(err).splitlines()[0][:120] if str(err) else type(err).__name__})") from None
    specs = {name: dataclasses.asdict(spec) for name, spec in model.specs.items()}
    write_json_atomic(directory / HEADS_FILE, {"specs": specs, "dropout": _dropout(model)})


def read_json(path: Path, what: str) -> Any:
    """A JSON file of a run directory; missing, truncated or invalid is one line naming the file."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: missing; the run directory is incomplete ({what})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        where = f":{err.lineno}" if isinstance(err, json.JSONDecodeError) else ""
        raise UserError(f"{path}{where}: not valid JSON ({what}); the file is truncated or damaged") from None


def load_model(directory: Path) -> MultiTaskModel:
    """Reload :func:`save_model`'s directory; a damaged file is one line naming it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from models.errors import ModelError
    from models.registry import load_saved

    if not (directory / HEADS_FILE).is_file():
        raise UserError(f"{directory}: no {HEADS_FILE}; not a model saved by qabench train/run")
    try:
        backbone = load_saved(str(directory))
    except ModelError as err:
        raise UserError(str(err)) from None
    heads_file = directory / HEADS_FILE
    meta = read_json(heads_file, "the heads' specs")
    try:
        specs = {k: HeadSpec(**v) for k, v in meta["specs"].items()}
        model = MultiTaskModel(backbone, specs, dropout=float(meta["dropout"]))
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise UserError(f"{heads_file}: not the heads' specs qabench wrote ({type(err).__name__}: {err}); the file is damaged") from None
    weights_file = directory / HEADS_WEIGHTS
    try:
        if weights_file.is_file():
            state = load_file(str(weights_file))
        else:
            weights_file = directory / LEGACY_HEADS_WEIGHTS
            state = torch.load(weights_file, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"{directory / HEADS_WEIGHTS}: missing; the run directory is incomplete") from None
    except (SafetensorError, OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as err:
        raise UserError(f"{weights_file}: cannot read the heads' weights ({type(err).__name__}); the file is truncated or damaged") from None
    try:
        model.heads.load_state_dict(state)
    except RuntimeError as err:
        raise UserError(f"{weights_file}: the heads' weights do not fit {HEADS_FILE} ({str(err).splitlines()[0][:160]})") from None
    return model


def _dropout(model: MultiTaskModel) -> float:
    for module in model.heads.modules():
        if isinstance(module, torch.nn.Dropout):
            return float(module.p)
    return 0.1


def pad_id_of(model: MultiTaskModel) -> int:
    """The padding id of the backbone's tokenizer (0 when it has none, as GPT-2)."""
    pad = model.backbone.tokenizer.pad_token_id
    return int(pad) if pad is not None else 0


# --- prepare ---------------------------------------------------------------------------------------------------------


def prepare(
    config: RunConfig, data_dir: str | None = None, train: bool = True, model: MultiTaskModel | None = None, suite: SuiteData | None = None
) -> Prepared:
    """Resolve tasks, load examples, build the model (unless given) and the features.

    With ``suite``, evaluation follows the suite's protocol instead of the
    config's: its tasks (scored by its metric variant) on exactly its
    examples; the config's tasks are only trained on. Sets torch's CPU
    threads when the config names them (a process-wide setting).
    """
    if config.threads:
        torch.set_num_threads(config.threads)
    data_dir = data_dir or config.data_dir
    tasks = resolve_tasks(config)
    if train and not any(t.train_split for t in tasks):
        raise UserError(f"config {config.where('tasks')}: no task has a training split to train on")
    train_examples = {
        t.task.name: _load(t.task, t.train_split, data_dir, t.limit, t.sample_seed) for t in tasks if train and t.train_split
    }
    if suite is None:
        eval_tasks = tasks
        eval_examples = {t.task.name: _load(t.task, t.eval_split, data_dir, t.eval_limit, t.sample_seed) for t in tasks}
    else:
        eval_tasks = suite_run_tasks(suite)
        eval_examples = {name: list(examples) for name, examples in suite.examples.items()}
    if model is None:
        texts = [text for name in sorted(train_examples) for text in tokenizer_texts(train_examples[name])]
        texts += [e.question for name in sorted(eval_examples) for e in eval_examples[name]]
        trained = {t.task.name for t in tasks}
        every = [t.task for t in tasks] + [t.task for t in eval_tasks if t.task.name not in trained]  # suite tasks not trained: zero-shot heads
        specs = head_specs(every, config.heads.task_specific, config.heads.mode, decoder_preset(config), config.heads.choice)
        model = build_model(config, specs, texts)
    device = resolve_device(config.device)
    model.to(device)
    tokenizer = model.backbone.tokenizer
    features = FeatureConfig(
        max_length=min(config.model.max_length, tokenizer.model_max_length), stride=config.model.stride, max_answer_tokens=config.heads.max_answer_tokens
    )
    cache = config.cache_dir or str(default_cache_dir())

    def featurize(task: Task, examples: list[Example]) -> Any:
        # The features are those of the head that answers the task (the text head's, for every task in head mode text).
        return build_features(adapter_for(model.specs[task.name].format), examples, tokenizer, features, labels=task.labels, cache_dir=cache)

    train_sets = [TrainSet(t.task.name, adapter_for(model.specs[t.task.name].format), featurize(t.task, train_examples[t.task.name])) for t in tasks if t.task.name in train_examples]
    eval_sets = [
        EvalSet(
            t.task, t.eval_split, eval_examples[t.task.name], featurize(t.task, eval_examples[t.task.name]), fingerprint(eval_examples[t.task.name]),
            adapter_for(model.specs[t.task.name].format),
        )
        for t in eval_tasks
    ]
    return Prepared(config, tasks, model, device, pad_id_of(model), train_sets, eval_sets, data_dir)


def suite_run_tasks(suite: SuiteData) -> list[RunTask]:
    """The suite's tasks as evaluation-only run tasks (each with its variant's metrics)."""
    return [RunTask(task, None, entry.split, None, None) for entry, task in zip(suite.suite.tasks, suite.tasks)]


def _limited(eval_sets: Sequence[EvalSet], limit: int | None) -> list[EvalSet]:
    """The evaluation sets cut to their first ``limit`` examples (for evaluations during training)."""
    if limit is None:
        return list(eval_sets)
    out = []
    for s in eval_sets:
        if len(s.examples) <= limit:
            out.append(s)
            continue
        rows = [i for i, example in enumerate(s.features["example_index"]) if example < limit]
        out.append(dataclasses.replace(s, examples=s.examples[:limit], features=s.features.select(rows)))
    return out


# --- the two halves --------------------------------------------------------------------------------------------------


def model_info(model: MultiTaskModel, config: RunConfig) -> dict[str, Any]:
    """The record's ``model`` section."""
    from harness.pretrain import read_pretrain_record

    backbone = model.backbone
    pretrained = config.model.pretrained
    digest = directory_sha256(pretrained) if pretrained else None
    return {
        "backbone": backbone.name,
        "preset": None if pretrained else config.model.preset,
        "parameters": backbone.num_parameters(),
        "head_parameters": sum(p.numel() for p in model.heads.parameters()),
        "heads": {name: spec.format for name, spec in model.specs.items()},  # the head that answers each task
        "pretrained": pretrained,
        "pretrained_sha256": digest,
        "pretrain_record": read_pretrain_record(pretrained) if pretrained else None,  # a qabench-pretrained directory says how it was made
    }


def new_run_dir(config: RunConfig, created: datetime) -> tuple[str, Path]:
    """A fresh run id and its directory (shared by every process of a distributed run)."""
    preset = None if config.model.pretrained else config.model.preset
    run_id = new_run_id(created, config.model.backbone, preset, config.to_dict())
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        box = [run_id]
        torch.distributed.broadcast_object_list(box, src=0)
        run_id = box[0]
    return run_id, Path(config.output.dir) / run_id


def train_run(prep: Prepared, run_dir: Path, resume: Path | None = None) -> TrainResult:
    """Train and save the model, its config and a training summary into ``run_dir``."""
    config = prep.config
    rank = torch.distributed.get_rank() if torch.distributed.is_available() and torch.distributed.is_initialized() else 0
    run_dir.mkdir(parents=True, exist_ok=True)
    if rank == 0:
        write_json_atomic(run_dir / CONFIG_FILE, config.to_dict())
    periodic = _limited(prep.eval_sets, config.eval.limit)

    curves = CurveLog(run_dir, curve_every(config.output.curves_every, config.optim.steps), config.output.tensorboard) if rank == 0 else None

    def validation_score(model: MultiTaskModel) -> float:
        results = evaluate_tasks(model, periodic, eval_settings(config, prep.device, prep.pad_id))
        if curves is not None:
            curves.add_eval(results)
        return deca_score(results)

    try:
        result = train(
            prep.model,
            prep.train_sets,
            config,
            prep.device,
            prep.pad_id,
            checkpoint_dir=run_dir / "checkpoints",
            evaluate=validation_score if config.eval.every else None,
            resume=resume,
            progress=config.output.progress,
            curves=curves,
        )
    finally:
        if curves is not None:
            curves.close()
    if rank == 0:
        save_model(prep.model, run_dir / MODEL_DIR)
        summary = dataclasses.asdict(result) | {"mixture": config.mixture.strategy, "seed": config.seed, "tasks": [s.name for s in prep.train_sets]}
        write_json_atomic(run_dir / TRAIN_FILE, summary)
    return result


def evaluate_run(
    prep: Prepared,
    run_dir: Path,
    run_id: str,
    created: datetime,
    training: TrainResult | dict[str, Any] | None,
    source_run: str | None = None,
    suite: SuiteData | None = None,
) -> RunOutcome:
    """Evaluate every task, write predictions and the record atomically, add the record to the leaderboard.

    ``source_run`` names the trained run when this is a later evaluation of
    it (a record of kind ``evaluation``: the run's regime, not its training
    time); ``suite`` the suite whose protocol ``prep`` evaluates.
    """
    config = prep.config
    run_dir.mkdir(parents=True, exist_ok=True)
    predictions_path = run_dir / PREDICTIONS_FILE
    tmp = run_dir / f".{PREDICTIONS_FILE}.tmp"
    started = time.perf_counter()
    try:
        with tmp.open("w", encoding="utf-8") as writer:
            results = evaluate_tasks(prep.model, prep.eval_sets, eval_settings(config, prep.device, prep.pad_id), writer)
        eval_seconds = time.perf_counter() - started
        train_info = dataclasses.asdict(training) if isinstance(training, TrainResult) else dict(training or {})
        train_tasks = [s.name for s in prep.train_sets] or train_info.get("tasks") or [t.task.name for t in prep.tasks if t.train_split]
        if suite is None:  # a config that evaluates exactly a suite's protocol (the quickstart: quick) is a run of that suite
            evaluated = [Evaluated(s.task, s.split, s.examples, whole=t.eval_limit is None) for s, t in zip(prep.eval_sets, prep.tasks)]
            suite = followed_suite(evaluated, prep.data_dir or os.environ.get("QABENCH_DATA"))
        results = flag_zero_shot(results, prep.eval_sets, train_tasks)
        record = build_record(
            run_id=run_id,
            created=created,
            config=config.to_dict(),
            model=model_info(prep.model, config),
            head_mode=config.heads.mode,
            training={
                "regime": "multitask" if len(train_tasks) > 1 else "single-task",
                "mixture": config.mixture.strategy,
                "steps": train_info.get("steps", 0),
                "seed": config.seed,
                "recipe": _recipe(config),
                "best_step": train_info.get("best_step"),
                "stopped_early": train_info.get("stopped_early", False),
                "resumed_from_step": train_info.get("resumed_from_step"),
                "train_tasks": train_tasks,
            },
            results=results,
            timings=_timings({} if source_run else train_info, results, eval_seconds),
            hardware=hardware_info(prep.device),
            kind="evaluation" if source_run else "run",
            source_run=source_run,
            suite=suite.info() if suite else None,
        )
        os.replace(tmp, predictions_path)
        record_path = run_dir / RECORD_FILE
        write_json_atomic(record_path, record)
    finally:
        tmp.unlink(missing_ok=True)
    return RunOutcome(run_dir, record_path, record, add_to_leaderboard(config, record_path))


def flag_zero_shot(results: Sequence[TaskResult], eval_sets: Sequence[EvalSet], train_tasks: Sequence[str]) -> list[TaskResult]:
    """Mark each result of a task the model did not train on, with the label words no trained task offered."""
    from tasks.registry import get, names
    from tasks.scoring import untrained_labels

    registered = set(names())
    trained = [get(name) for name in train_tasks if name in registered]
    tasks = {s.task.name: s.task for s in eval_sets}
    return [
        r if r.name in train_tasks else dataclasses.replace(r, zero_shot=untrained_labels(tasks[r.name], trained))
        for r in results
    ]


def _recipe(config: RunConfig) -> str:
    from harness.train import resolve_recipe

    return resolve_recipe(config.optim, config.model.backbone)


def _timings(train_info: dict[str, Any], results: Sequence[TaskResult], eval_seconds: float) -> dict[str, float | None]:
    evaluated = sum(r.examples for r in results)
    trained = "seconds" in train_info  # a later evaluation of a run does not repeat (nor claim) its training time
    return {
        "train_seconds": float(train_info["seconds"]) if trained else None,
        "eval_seconds": eval_seconds,
        "train_examples_per_second": float(train_info.get("examples_per_second", 0.0)) if trained else None,
        "eval_examples_per_second": evaluated / eval_seconds if eval_seconds > 0 else 0.0,
    }


def add_to_leaderboard(config: RunConfig, record_path: Path) -> str:
    """Add the record to the leaderboard database; a failure is reported, never fatal (the record is safe on disk)."""
    if not config.output.leaderboard:
        return "leaderboard: skipped (output.leaderboard is false)"
    try:
        from leaderboard.store import add_record, database_url, default_db, describe

        db = config.output.db or default_db()
        added = add_record(db, record_path)
        db = describe(database_url(db))  # a URL's password never reaches the log
    except Exception as err:  # noqa: BLE001 - the run's result is already written; say why it is not in the database
        return f"leaderboard: not added ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); add it later with 'qabench leaderboard add {record_path}'"
    return f"leaderboard: {'added to' if added else 'already in'} {db}"


# --- whole runs ------------------------------------------------------------------------------------------------------


def _distributed_setup() -> None:
    """Join the process group when launched by torchrun / accelerate (``WORLD_SIZE`` > 1)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        torch.distributed.init_process_group(backend)


def _is_main() -> bool:
    return not (torch.distributed.is_available() and torch.distributed.is_initialized()) or torch.distributed.get_rank() == 0


def run(config: RunConfig, data_dir: str | None = None, resume: str | None = None, echo: Callable[[str], None] = print) -> RunOutcome | None:
    """Train, evaluate, record. Returns the outcome on the main process (None on the others).

    ``echo`` gets the run directory as soon as it is known (where checkpoints go).
    """
    _distributed_setup()
    checkpoint = None
    if resume is not None:
        checkpoint = find_checkpoint(resume)
        check_compatible(load_checkpoint(checkpoint), config, checkpoint)  # fail before the slow preparation
        remove_stale_temporaries(checkpoint.parent)
        run_dir = checkpoint.parent.parent
        run_id = run_dir.name
        created = datetime.now(timezone.utc)
    else:
        created = datetime.now(timezone.utc)
        run_id, run_dir = new_run_dir(config, created)
    if _is_main():
        echo(f"run: {run_dir}" + (f" (resuming {checkpoint})" if checkpoint else ""))
    with removed_on_failure(run_dir, fresh=checkpoint is None):
        prep = prepare(config, data_dir)
        result = train_run(prep, run_dir, resume=checkpoint)
        if not _is_main():
            return None
        return evaluate_run(prep, run_dir, run_id, created, result)


@contextlib.contextmanager
def removed_on_failure(run_dir: Path, fresh: bool) -> Iterator[None]:
    """Leave no half-made run directory: a fresh one is removed when the run fails.

    Kept when it holds a checkpoint to ``--resume`` from after an
    interruption (Ctrl-C, a full disk); removed when training diverged, since
    resuming would diverge again. A resumed run's directory is never removed.
    A disk or permission fault becomes one line naming the file.
    """
    existed = run_dir.exists()
    try:
        yield
    except BaseException as err:
        resumable = (run_dir / "checkpoints" / LAST_CHECKPOINT).is_file() and not isinstance(err, TrainingDiverged)
        if fresh and not existed and not resumable and _is_main():
            shutil.rmtree(run_dir, ignore_errors=True)
        if isinstance(err, OSError) and not isinstance(err, FileNotFoundError):
            path = err.filename or run_dir
            raise UserError(f"{path}: cannot write the run ({err.strerror or err}){'; run directory removed' if not run_dir.exists() else ''}") from None
        raise


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Delete the ``.*.tmp`` files an interrupted atomic write left in ``directory`` (a checkpoint cut off by kill -9)."""
    stale = sorted(directory.glob(".*.tmp")) if directory.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def train_only(config: RunConfig, data_dir: str | None = None, resume: str | None = None) -> tuple[Path, TrainResult]:
    """``qabench train``: the training half; the run directory then holds the model for ``qabench eval``."""
    _distributed_setup()
    if resume is not None:
        checkpoint: Path | None = find_checkpoint(resume)
        check_compatible(load_checkpoint(checkpoint), config, checkpoint)
        remove_stale_temporaries(checkpoint.parent)
        run_dir = checkpoint.parent.parent
    else:
        checkpoint = None
        _, run_dir = new_run_dir(config, datetime.now(timezone.utc))
    with removed_on_failure(run_dir, fresh=checkpoint is None):
        prep = prepare(config, data_dir)
        return run_dir, train_run(prep, run_dir, resume=checkpoint)


def eval_only(
    path: str,
    data_dir: str | None = None,
    tasks: Sequence[str] = (),
    split: str | None = None,
    output: str | None = None,
    limit: int | None = None,
    suite: SuiteData | None = None,
    leaderboard: bool = True,
) -> RunOutcome:
    """``qabench eval``: evaluate a run directory's saved model (or a training checkpoint) and write a record.

    ``tasks`` narrows the run's tasks or names new ones, evaluated zero-shot
    through the head of their format when the model has it (a translation
    task through the text head of a model trained on another language pair);
    ``split`` evaluates another split of each; ``limit`` keeps that many
    examples per task (a random subset drawn by the run's seed). The record
    goes to the run directory when it has none yet, else to a new run
    directory beside it, as an evaluation naming the run it came from.
    With ``suite``, the suite's protocol replaces the run's tasks (those the
    run did not train are answered zero-shot, as with ``tasks``);
    ``leaderboard`` False keeps the record out of the leaderboard.
    """
    source = Path(path)
    if (source / MODEL_DIR / HEADS_FILE).is_file():
        run_dir, model = source, load_model(source / MODEL_DIR)
        saved = read_json(source / CONFIG_FILE, "the run's config")
        training = read_json(source / TRAIN_FILE, "the training summary") if (source / TRAIN_FILE).is_file() else {}
        checkpoint_state = None
    else:
        checkpoint = find_checkpoint(source, option="eval")
        checkpoint_state = load_checkpoint(checkpoint, option="eval")
        saved, run_dir, model = checkpoint_state["config"], checkpoint.parent.parent, None
        training = {"steps": checkpoint_state["step"]}
    if not isinstance(saved, dict):
        raise UserError(f"{run_dir / CONFIG_FILE}: not a run config (a JSON {type(saved).__name__}); the file is damaged")
    full = config_module.from_dict(saved, origin=str(run_dir / CONFIG_FILE))
    config = _narrow(full, tasks, split, limit)
    if not leaderboard:
        config = dataclasses.replace(config, output=dataclasses.replace(config.output, leaderboard=False))
    if model is None:  # a bare checkpoint: rebuild its model (and local vocabulary) from its config, then load the weights
        model = prepare(full, data_dir, train=True).model
        try:
            model.load_state_dict(checkpoint_state["model"])
        except RuntimeError as err:
            raise UserError(f"{path}: checkpoint weights do not fit the model of its config ({str(err).splitlines()[0]})") from None
    _add_zero_shot_tasks(model, suite_run_tasks(suite) if suite else resolve_tasks(config), config, path)
    prep = prepare(config, data_dir, train=False, model=model, suite=suite)
    created = datetime.now(timezone.utc)
    source_run = run_dir.name if (run_dir / RECORD_FILE).exists() else None
    if source_run or output:
        run_id = new_run_id(created, config.model.backbone, None if config.model.pretrained else config.model.preset, config.to_dict())
        run_dir = Path(output) if output else run_dir.parent / run_id
    else:
        run_id = run_dir.name
    return evaluate_run(prep, run_dir, run_id, created, training, source_run=source_run, suite=suite)


def _narrow(config: RunConfig, names: Sequence[str], split: str | None, limit: int | None = None) -> RunConfig:
    """The run's config cut to ``names`` (a name the run lacks becomes an evaluation-only task), ``split`` and ``limit``."""
    tasks = list(config.tasks)
    if names:
        known = {t.name: t for t in tasks}
        tasks = [known.get(n, TaskConfig(name=n, train=False)) for n in names]
    if split:
        tasks = [dataclasses.replace(t, eval_split=split) for t in tasks]
    if limit is not None:
        if limit < 1:
            raise UserError(f"--limit: must be >= 1, got {limit}")
        tasks = [dataclasses.replace(t, eval_limit=limit, sample="random") for t in tasks]
    narrowed = dataclasses.replace(config, tasks=tuple(tasks))
    try:
        resolve_tasks(narrowed)
    except UserError as err:
        raise UserError(f"--tasks: {str(err).split(': ', 1)[-1]}") from None
    return narrowed


def _add_zero_shot_tasks(model: MultiTaskModel, run_tasks: Sequence[RunTask], config: RunConfig, path: str) -> None:
    """Give each task the model was not trained on the head of its format, where the model has that head.

    The heads carry no parameter per task in typed mode (choice, span, score)
    or in the text head, so a new task of such a format is answered zero-shot.
    A tag task needs a tag layer of its own label set, and a task-specific
    head exists only for its task: those are errors.
    """
    new = [t for t in run_tasks if t.task.name not in model.specs]
    if not new:
        return
    from tasks.registry import get, names

    registered = set(names())  # a trained plugin task that is not loaded now only loses its label-set match
    trained = [get(name) for name in sorted(model.specs) if name in registered]  # label sets are named after a trained task
    task_specific = any(spec.task_specific for spec in model.specs.values())
    linear = any(spec.format == "choice" and spec.num_labels for spec in model.specs.values())
    specs = head_specs(trained + [t.task for t in new], task_specific, config.heads.mode, decoder_preset(config), "linear" if linear else "words")
    for name, spec in ((t.task.name, specs[t.task.name]) for t in new):
        key = spec.key(name)
        if key not in model.heads:
            what = f"a {spec.format} head" + (f" for the labels of {spec.label_set!r}" if spec.label_set else "")
            hint = "; a model trained with heads.choice: words answers new label words zero-shot" if spec.format == "choice" else ""
            raise UserError(
                f"--tasks: {name!r} was not trained in {path} and needs {what}, which the model lacks; its tasks: {', '.join(model.specs)}{hint}"
            )
        model.specs[name] = spec
