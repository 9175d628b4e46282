"""The whole job of ``qabench run``: config -> tasks and data -> model -> training -> evaluation -> record.

This module orchestrates; each step is a plain function elsewhere, so
``qabench train`` and ``qabench eval`` are the two halves of :func:`run`:

- :func:`harness.prepare.prepare` resolves the tasks, loads their examples,
  builds (or loads) the backbone with the shared heads and the features;
- :func:`train_run` trains and saves the model into the run directory
  (:func:`models.heads.save_model`);
- :func:`evaluate_run` evaluates it and writes ``record.json`` and
  ``predictions.jsonl`` atomically, then adds the record to the leaderboard.

A run directory ``<output.dir>/<run_id>/`` holds ``config.json``,
``model/`` (the backbone as ``models.registry.save_backbone`` writes it, plus
``heads.safetensors`` and ``heads.json``: no pickle), ``train.json``, ``checkpoints/last.safetensors``
when checkpoints are on, and finally the record and predictions.

>>> # outcome = run(load_config("quickstart.yaml"))
>>> # outcome.record_path
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch

from atomicio import write_json_atomic
from harness import config as config_module
from harness.adapters import head_specs
from harness.config import RunConfig, TaskConfig
from harness.curves import CurveLog, curve_every
from harness.errors import UserError
from harness.evaluate import EvalSet, evaluate_tasks
from harness.prepare import Prepared, RunTask, decoder_preset, model_of_config, prepare, resolve_tasks, suite_run_tasks
from harness.record import build_record, directory_sha256, hardware_info, new_run_id
from harness.scaffold import distributed, is_main_process, join_process_group
from harness.train import LAST_CHECKPOINT, TrainingDiverged, TrainResult, check_compatible, find_checkpoint, load_checkpoint, train
from leaderboard.run_record import PREDICTIONS_FILE, RECORD_FILE, ModelInfo, RunRecord, SuiteRef, Timings, TrainingInfo
from models.heads import HEADS_FILE, MultiTaskModel, load_model, save_model
from tasks.metrics import deca_score
from tasks.scoring import TaskResult
from tasks.suite import Evaluated, SuiteData, followed_suite

MODEL_DIR = "model"
TRAIN_FILE = "train.json"
CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class RunOutcome:
    """Where a run wrote its record, and the record itself."""

    record_path: Path
    record: RunRecord
    leaderboard_note: str


# --- the two halves --------------------------------------------------------------------------------------------------


def model_info(model: MultiTaskModel, config: RunConfig) -> ModelInfo:
    """The record's ``model`` section."""
    backbone = model.backbone
    pretrained = config.model.pretrained
    if pretrained:  # harness.pretrain imports every pretraining objective: only for a pretrained backbone
        from harness.pretrain import read_pretrain_record
    return ModelInfo(
        backbone=backbone.name,
        preset=None if pretrained else config.model.preset,
        parameters=backbone.num_parameters(),
        head_parameters=sum(p.numel() for p in model.heads.parameters()),
        heads={name: spec.format for name, spec in model.specs.items()},  # the head that answers each task
        pretrained=pretrained,
        pretrained_sha256=directory_sha256(pretrained) if pretrained else None,
        pretrain_record=read_pretrain_record(pretrained) if pretrained else None,  # a qabench-pretrained directory says how it was made
    )


def new_run_dir(config: RunConfig, created: datetime) -> tuple[str, Path]:
    """A fresh run id and its directory (shared by every process of a distributed run)."""
    preset = None if config.model.pretrained else config.model.preset
    run_id = new_run_id(created, config.model.backbone, preset, config.to_dict())
    if distributed()[1] > 1:
        box = [run_id]
        torch.distributed.broadcast_object_list(box, src=0)
        run_id = box[0]
    return run_id, Path(config.output.dir) / run_id


def train_run(prep: Prepared, run_dir: Path, resume: Path | None = None) -> TrainResult:
    """Train and save the model, its config and a training summary into ``run_dir``."""
    config = prep.config
    run_dir.mkdir(parents=True, exist_ok=True)
    if is_main_process():
        write_json_atomic(run_dir / CONFIG_FILE, config.to_dict())
    periodic = [s.first(config.eval.periodic_limit) for s in prep.eval_sets]

    curves = CurveLog(run_dir, curve_every(config.output.curves_every, config.optim.steps), config.output.tensorboard) if is_main_process() else None

    def validation_score(model: MultiTaskModel) -> float:
        results = evaluate_tasks(model, periodic, prep.eval_settings())
        if curves is not None:
            curves.add_eval(results)
        return deca_score({r.name: r.score for r in results})

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
    if is_main_process():
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
            results = evaluate_tasks(prep.model, prep.eval_sets, prep.eval_settings(), writer)
        eval_seconds = time.perf_counter() - started
        train_info = dataclasses.asdict(training) if isinstance(training, TrainResult) else dict(training or {})
        train_tasks = [s.name for s in prep.train_sets] or train_info.get("tasks") or [t.task.name for t in prep.tasks if t.train_split]
        if suite is None:  # a config that evaluates exactly a suite's protocol (the quickstart: quick) is a run of that suite
            evaluated = [Evaluated(s.task, s.split, s.examples, whole=t.eval_limit is None) for s, t in zip(prep.eval_sets, prep.tasks)]
            suite = followed_suite(evaluated, config.data_dir or os.environ.get("QABENCH_DATA"))
        results = flag_zero_shot(results, prep.eval_sets, train_tasks)
        record = build_record(
            run_id=run_id,
            created=created,
            config=config.to_dict(),
            model=model_info(prep.model, config),
            head_mode=config.heads.mode,
            training=TrainingInfo(
                regime="multitask" if len(train_tasks) > 1 else "single-task",
                mixture=config.mixture.strategy,
                steps=train_info.get("steps", 0),
                seed=config.seed,
                recipe=_recipe(config),
                best_step=train_info.get("best_step"),
                stopped_early=train_info.get("stopped_early", False),
                resumed_from_step=train_info.get("resumed_from_step"),
                train_tasks=tuple(train_tasks),
            ),
            results=results,
            timings=_timings({} if source_run else train_info, results, eval_seconds, prep),
            hardware=hardware_info(prep.device),
            kind="evaluation" if source_run else "run",
            source_run=source_run,
            suite=SuiteRef(**suite.info()) if suite else None,
        )
        os.replace(tmp, predictions_path)
        record_path = run_dir / RECORD_FILE
        write_json_atomic(record_path, record.to_dict())
    finally:
        tmp.unlink(missing_ok=True)
    return RunOutcome(record_path, record, add_to_leaderboard(config, record_path))


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


def _timings(train_info: dict[str, Any], results: Sequence[TaskResult], eval_seconds: float, prep: Prepared) -> Timings:
    """Preparation, training and evaluation time, with examples/s and tokens/s of each phase."""
    evaluated = sum(r.examples for r in results)
    trained = "seconds" in train_info  # a later evaluation of a run does not repeat (nor claim) its training time
    train_tokens = train_info.get("tokens_per_second")  # None: a train summary written before tokens were counted
    return Timings(
        train_seconds=float(train_info["seconds"]) if trained else None,
        eval_seconds=eval_seconds,
        train_examples_per_second=float(train_info.get("examples_per_second", 0.0)) if trained else None,
        eval_examples_per_second=evaluated / eval_seconds if eval_seconds > 0 else 0.0,
        prepare_seconds=prep.seconds,
        train_tokens_per_second=float(train_tokens) if trained and train_tokens is not None else None,
        eval_tokens_per_second=input_tokens(prep.eval_sets) / eval_seconds if eval_seconds > 0 else 0.0,
    )


def input_tokens(eval_sets: Sequence[EvalSet]) -> int:
    """Non-padding input tokens the evaluation reads: every feature row's ``input_ids`` (windows of a long context each count).

    >>> import datasets
    >>> from types import SimpleNamespace
    >>> rows = datasets.Dataset.from_dict({"input_ids": [[101, 7, 102], [101, 102], [101, 8, 9, 102]]}).select([0, 2])
    >>> input_tokens([SimpleNamespace(features=rows)])
    7
    """
    import pyarrow.compute as pc

    return sum(int(pc.sum(pc.list_value_length(s.features.with_format("arrow")["input_ids"])).as_py() or 0) for s in eval_sets)


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


def _start(config: RunConfig, resume: str | None, created: datetime) -> tuple[str, Path, Path | None]:
    """The run id, its directory and the checkpoint to resume from: those of ``resume``, or a fresh run's (checkpoint None).

    A checkpoint that does not fit the config fails here, before the slow preparation.
    """
    if resume is None:
        run_id, run_dir = new_run_dir(config, created)
        return run_id, run_dir, None
    checkpoint = find_checkpoint(resume)
    check_compatible(load_checkpoint(checkpoint), config, checkpoint)
    remove_stale_temporaries(checkpoint.parent)
    run_dir = checkpoint.parent.parent
    return run_dir.name, run_dir, checkpoint


def run(config: RunConfig, resume: str | None = None, echo: Callable[[str], None] = print) -> RunOutcome | None:
    """Train, evaluate, record. Returns the outcome on the main process (None on the others).

    ``echo`` gets the run directory as soon as it is known (where checkpoints go).
    """
    join_process_group()
    created = datetime.now(timezone.utc)
    run_id, run_dir, checkpoint = _start(config, resume, created)
    if is_main_process():
        echo(f"run: {run_dir}" + (f" (resuming {checkpoint})" if checkpoint else ""))
    with removed_on_failure(run_dir, fresh=checkpoint is None):
        prep = prepare(config)
        result = train_run(prep, run_dir, resume=checkpoint)
        if not is_main_process():
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
        if fresh and not existed and not resumable and is_main_process():
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


def train_only(config: RunConfig, resume: str | None = None) -> tuple[Path, TrainResult]:
    """``qabench train``: the training half; the run directory then holds the model for ``qabench eval``."""
    join_process_group()
    _, run_dir, checkpoint = _start(config, resume, datetime.now(timezone.utc))
    with removed_on_failure(run_dir, fresh=checkpoint is None):
        return run_dir, train_run(prepare(config), run_dir, resume=checkpoint)


def eval_only(
    path: str,
    tasks: Sequence[str] = (),
    split: str | None = None,
    output: str | None = None,
    eval_limit: int | None = None,
    overrides: Sequence[str] = (),
    suite: SuiteData | None = None,
    leaderboard: bool = True,
) -> RunOutcome:
    """``qabench eval``: evaluate a run directory's saved model (or a training checkpoint) and write a record.

    ``tasks`` narrows the run's tasks or names new ones, evaluated zero-shot
    through the head of their format when the model has it (a translation
    task through the text head of a model trained on another language pair);
    ``split`` evaluates another split of each; ``eval_limit`` keeps that many
    examples per task (a random subset drawn by the run's seed);
    ``overrides`` are ``key=value`` changes to the run's saved config (the
    command line's ``--data-dir``). The record goes to the run directory when
    it has none yet, else to a new run directory beside it, as an evaluation
    naming the run it came from. With ``suite``, the suite's protocol
    replaces the run's tasks (those the run did not train are answered
    zero-shot, as with ``tasks``); ``leaderboard`` False keeps the record out
    of the leaderboard.
    """
    source = Path(path)
    if (source / MODEL_DIR / HEADS_FILE).is_file():
        run_dir = source
        model = load_model(source / MODEL_DIR)
        full = _saved_config(read_json(source / CONFIG_FILE, "the run's config"), run_dir, overrides)
        training = read_json(source / TRAIN_FILE, "the training summary") if (source / TRAIN_FILE).is_file() else {}
    else:  # a bare checkpoint: rebuild its model (and local vocabulary) from its config, then load the weights
        checkpoint = find_checkpoint(source, option="eval")
        state = load_checkpoint(checkpoint, option="eval")
        run_dir, training = checkpoint.parent.parent, {"steps": state["step"]}
        full = _saved_config(state["config"], run_dir, overrides)
        model = model_of_config(full)
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as err:
            raise UserError(f"{path}: checkpoint weights do not fit the model of its config ({str(err).splitlines()[0]})") from None
    config = _narrow(full, tasks, split, eval_limit)
    if not leaderboard:
        config = dataclasses.replace(config, output=dataclasses.replace(config.output, leaderboard=False))
    _add_zero_shot_tasks(model, suite_run_tasks(suite) if suite else resolve_tasks(config), config, path)
    prep = prepare(config, train=False, model=model, suite=suite)
    created = datetime.now(timezone.utc)
    source_run = run_dir.name if (run_dir / RECORD_FILE).exists() else None
    if source_run or output:
        run_id = new_run_id(created, config.model.backbone, None if config.model.pretrained else config.model.preset, config.to_dict())
        run_dir = Path(output) if output else run_dir.parent / run_id
    else:
        run_id = run_dir.name
    return evaluate_run(prep, run_dir, run_id, created, training, source_run=source_run, suite=suite)


def read_json(path: Path, what: str) -> Any:
    """A JSON file of a run directory; missing, truncated or invalid is one line naming the file."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: missing; the run directory is incomplete ({what})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        where = f":{err.lineno}" if isinstance(err, json.JSONDecodeError) else ""
        raise UserError(f"{path}{where}: not valid JSON ({what}); the file is truncated or damaged") from None


def _saved_config(saved: Any, run_dir: Path, overrides: Sequence[str]) -> RunConfig:
    """The config a run saved (``config.json`` or its checkpoint's copy), with ``overrides``."""
    if not isinstance(saved, dict):
        raise UserError(f"{run_dir / CONFIG_FILE}: not a run config (a JSON {type(saved).__name__}); the file is damaged")
    return config_module.from_dict(saved, origin=str(run_dir / CONFIG_FILE), overrides=overrides)


def _narrow(config: RunConfig, names: Sequence[str], split: str | None, eval_limit: int | None = None) -> RunConfig:
    """The run's config cut to ``names`` (a name the run lacks becomes an evaluation-only task), ``split`` and ``eval_limit``."""
    tasks = list(config.tasks)
    if names:
        known = {t.name: t for t in tasks}
        tasks = [known.get(n, TaskConfig(name=n, train=False)) for n in names]
    if split:
        tasks = [dataclasses.replace(t, eval_split=split) for t in tasks]
    if eval_limit is not None:
        if eval_limit < 1:
            raise UserError(f"--limit: must be >= 1, got {eval_limit}")
        tasks = [dataclasses.replace(t, eval_limit=eval_limit, sample="random") for t in tasks]
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
    copy_spans = any(spec.copy_spans for spec in model.specs.values())  # the saved text head's, not the config's
    specs = head_specs(trained + [t.task for t in new], task_specific, config.heads.mode, decoder_preset(config), "linear" if linear else "words", copy_spans)
    for name, spec in ((t.task.name, specs[t.task.name]) for t in new):
        key = spec.key(name)
        if key not in model.heads:
            what = f"a {spec.format} head" + (f" for the labels of {spec.label_set!r}" if spec.label_set else "")
            hint = "; a model trained with heads.choice: words answers new label words zero-shot" if spec.format == "choice" else ""
            raise UserError(
                f"--tasks: {name!r} was not trained in {path} and needs {what}, which the model lacks; its tasks: {', '.join(model.specs)}{hint}"
            )
        model.specs[name] = spec
