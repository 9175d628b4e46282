"""The run configuration: a YAML file mapped onto frozen dataclasses.

Every field has a default except ``tasks``; a config names only what it
changes. Unknown keys and bad values are errors that name the key, the file
and its line. ``--set a.b=value`` overrides a key; the value is read as a YAML
scalar (``--set optim.lr=3e-4``, ``--set tasks.0.train_limit=50``,
``--set "tasks=[sst2, rte]"``).

>>> cfg = parse_config("tasks: [sst2]\\noptim: {steps: 10}", origin="inline")
>>> cfg.optim.steps, cfg.tasks[0].name, cfg.model.backbone
(10, 'sst2', 'bert')
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from catalog import did_you_mean
from harness.errors import UserError

QUICKSTART = Path(__file__).parent / "quickstart" / "quickstart.yaml"
"""The config ``qabench run`` uses when given none."""

MIXTURES = ("proportional", "temperature", "round_robin", "anti_curriculum")
RECIPES = ("auto", "adamw", "ulmfit")
ADAMW_IMPLEMENTATIONS = ("auto", "fused", "foreach", "single")
HEAD_MODES = ("typed", "text")
CHOICE_HEADS = ("words", "linear")  # models.heads.ChoiceHead | models.heads.ClassifierHead
SAMPLES = ("random", "first")  # which examples a task's limit keeps
DECODERS = ("auto", "tiny", "small", "base")  # text head sizes: models.text_head.TEXT_HEAD_PRESETS; auto = the backbone's preset
DECODER_WORDS = ("backbone", "fresh")  # where a text head's word embeddings start over a pretrained backbone: models.text_head.TextHead.start_from_word_vectors
OVERRIDDEN = -1  # line marker of a key set by --set
INTERNAL_FIELDS = ("origin", "lines")  # RunConfig fields that are not config keys
MIN_VOCAB_SIZE = 16  # models.tokenization has 5 special tokens; a vocabulary needs words besides
MAX_SEED = 2**32 - 1  # numpy's seeds are 32-bit
DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def device_problem(name: str) -> str:
    """Why ``name`` is not a device qabench can use ('' when it is one).

    >>> device_problem("cuda:1"), device_problem("gpu")
    ('', "'gpu' is not a device; use auto, cpu, cuda, cuda:N or mps")
    """
    return "" if DEVICE_PATTERN.fullmatch(name) else f"{name!r} is not a device; use auto, cpu, cuda, cuda:N or mps"


@dataclass(frozen=True)
class ModelConfig:
    """The backbone."""

    backbone: str = "bert"  # registry name: word2vec, elmo, ulmfit, transformer, gpt, bert, ernie, xlnet
    preset: str = "tiny"  # size preset of a locally built backbone: tiny, small, base
    pretrained: str | None = None  # a directory or hub id to load instead (it keeps its own tokenizer)
    allow_pickle: bool = False  # let a pretrained checkpoint load pickled (.bin) weights
    vocab_size: int = 8000  # size of the local WordPiece vocabulary trained on the run's text
    lowercase: bool | None = None  # local vocabulary folds case and accents; default: cased when a task answers through the text head
    max_length: int = 256  # tokens per window (question + context)
    stride: int = 64  # overlap in tokens between the windows of a long context


@dataclass(frozen=True)
class HeadsConfig:
    """The answer heads."""

    mode: str = "typed"  # typed: each task uses the head of its format (MT-DNN), text-format tasks the text head; text: every task the text head (decaNLP)
    task_specific: bool = False  # MT-DNN's own variant: one output layer per task instead of per format
    dropout: float = 0.1  # dropout inside the heads, in training
    choice: str = "linear"  # fixed-label choice tasks: linear (MT-DNN: one layer per label set) | words (scores label words; zero-shot for new labels). Varying candidates: always words
    decoder: str = "auto"  # text head size: tiny | small | base | auto (the backbone's preset; small for a pretrained one)
    max_answer_tokens: int = 64  # text head: answers are cut to this many tokens (EOS included) in training, and decoding stops there
    decoder_words: str = "fresh"  # text head over a pretrained backbone: its word embeddings start from the backbone's (backbone) or at random (fresh)
    copy_spans: bool = True  # text head: its pointer copies spans as a span head points (start score, bonus for following the stretch copied, end score); false: MQAN's pointer alone


@dataclass(frozen=True)
class TaskConfig:
    """One task of the run; a bare name in the YAML list means all defaults."""

    name: str  # a registered task (qabench tasks list), or one of include / task_dirs
    train_split: str | None = None  # default: the task's own training split
    eval_split: str | None = None  # default: the task's own evaluation split
    train_limit: int | None = None  # train on N examples only (the old key `limit` still reads as this)
    eval_limit: int | None = None  # evaluate on N examples only (the final evaluation; `qabench eval --limit N` sets it)
    sample: str = "random"  # which N examples train_limit / eval_limit keep: random (a subset drawn by the run's seed) | first
    train: bool = True  # false: evaluate only


@dataclass(frozen=True)
class MixtureConfig:
    """Which task each training step draws its batch from."""

    strategy: str = "proportional"  # proportional | temperature | round_robin | anti_curriculum
    temperature: float = 2.0  # temperature: weights proportional to size ** (1 / T)
    first_task: str | None = None  # anti_curriculum: the task trained alone first (default: the first task)
    first_steps: int = 0  # anti_curriculum: steps of the first task alone
    then: str = "round_robin"  # anti_curriculum: the mixture after the first phase


@dataclass(frozen=True)
class OptimConfig:
    """Optimisation."""

    steps: int = 100  # optimizer steps
    batch_size: int = 16  # examples (windows) per batch, per process
    batch_tokens: int = 0  # token-budget batches (decaNLP's train_batch_tokens): as many windows as fit in this many padded tokens (rows x longest row), instead of batch_size; 0 = off
    group_by_length: bool = False  # batches of similar lengths (mega-batches of 50 sorted by length); pad less, but scored lower on SST-2 than plain's random batches
    accumulate: int = 1  # batches per optimizer step
    lr: float = 5e-5  # peak learning rate (of the heads, under the ulmfit recipe)
    head_lr: float | None = None  # adamw recipe: peak learning rate of the answer heads (parameters new to the run, e.g. the text head's decoder); default: lr
    weight_decay: float = 0.01  # AdamW's decoupled weight decay (not applied to biases and norms)
    implementation: str = "auto"  # AdamW's kernels: fused (one kernel for all parameters) | foreach | single (a loop over tensors) | auto (fused where torch has it for the device, else foreach)
    warmup: float = 0.1  # fraction of the steps spent warming up (adamw recipe)
    clip: float = 1.0  # gradient norm clipping; 0 = off
    recipe: str = "auto"  # adamw | ulmfit | auto (ulmfit for the ulmfit backbone)
    lr_decay: float = 2.6  # ulmfit: each layer group down learns at lr / lr_decay ** depth
    unfreeze_every: int = 0  # ulmfit: steps between unfreezing layer groups (0 = steps / groups)
    cut_frac: float = 0.1  # ulmfit: fraction of steps the slanted triangular schedule rises
    ratio: float = 32.0  # ulmfit: how much smaller the lowest learning rate is than the peak


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation, and early stopping on the validation decaScore."""

    batch_size: int = 64  # feature rows (windows) per evaluation batch
    every: int = 0  # evaluate every N steps during training (0 = only at the end)
    patience: int = 0  # stop after N evaluations without a better decaScore (0 = never stop early)
    periodic_limit: int | None = None  # examples per task in the evaluations during training (the old key `limit` still reads as this)
    max_answer_length: int = 30  # span head: longest answer in tokens
    beam_size: int = 1  # text head: 1 = greedy decoding, more = beam search
    length_penalty: float = 1.0  # text head, beam search: a finished answer scores sum(log p) / length ** length_penalty
    min_answer_tokens: int = 0  # text head: EOS is blocked until this many answer tokens are written (1: never an empty answer)


@dataclass(frozen=True)
class OutputConfig:
    """Where results go."""

    dir: str = "runs"  # run directories are <dir>/<run_id>/
    checkpoint_every: int = 0  # save a resumable checkpoint every N steps (0 = never)
    leaderboard: bool = True  # add the record to the leaderboard database when the run finishes
    db: str | None = None  # database path or URL, e.g. postgresql+psycopg://user@host/db (default: $QABENCH_DB or the leaderboard's default)
    progress: bool = True  # show a progress bar
    curves_every: int = 0  # write each task's mean training loss to curves.jsonl every N steps (0: about 100 points per run)
    tensorboard: bool = False  # also write the curves as TensorBoard event files under <run_dir>/tensorboard/


@dataclass(frozen=True)
class RunConfig:
    """A whole run. ``origin`` is the file it came from; ``lines`` maps key paths to its lines."""

    tasks: tuple[TaskConfig, ...]  # the tasks to train and evaluate, in order
    model: ModelConfig = ModelConfig()
    heads: HeadsConfig = HeadsConfig()
    mixture: MixtureConfig = MixtureConfig()
    optim: OptimConfig = OptimConfig()
    eval: EvalConfig = EvalConfig()
    output: OutputConfig = OutputConfig()
    seed: int = 0  # one seed for all randomness: weights, dropout, data order, mixture
    data_dir: str | None = None  # local mirror; a relative path is relative to the config file
    cache_dir: str | None = None  # examples, tokenizers and features cache (default: $QABENCH_CACHE or ~/.cache/qabench)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int | None = None  # CPU threads for torch (None: torch's default); tiny models run fastest on 1, and shared CPUs punish more
    include: tuple[str, ...] = ()  # plugin files that register tasks, as --include FILE.py (relative to the config file; with --set, to the current directory)
    task_dirs: tuple[str, ...] = ()  # zero-code task directories, as --task-dir DIR (relative as include)
    origin: str = field(default="<none>", compare=False)
    lines: Mapping[tuple[str, ...], int] = field(default_factory=dict, compare=False, repr=False)

    def where(self, *path: str | int) -> str:
        """``file:line`` of a key (or of the file alone, or the ``--set`` that gave it), for error messages."""
        return _where(self.origin, self.lines, tuple(str(p) for p in path))

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as a plain, JSON-ready dict (what the run record keeps)."""
        data = dataclasses.asdict(self)
        data.pop("origin")
        data.pop("lines")
        data["tasks"] = [dict(t) for t in data["tasks"]]
        return {key: list(value) if isinstance(value, tuple) else value for key, value in data.items()}


# --- loading --------------------------------------------------------------------------------------------------------


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> RunConfig:
    """Read a YAML config (default: the quickstart) and apply ``--set`` overrides."""
    path = Path(path) if path is not None else QUICKSTART
    if not path.is_file():
        raise UserError(f"config {path}: no such file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise UserError(f"config {path}:{line}: not UTF-8 (byte 0x{raw[err.start]:02x} at byte offset {err.start}); save the file as UTF-8") from None
    config = parse_config(text, origin=str(path), overrides=overrides)
    if config.data_dir is not None and not Path(config.data_dir).expanduser().is_absolute():
        config = dataclasses.replace(config, data_dir=str((path.parent / config.data_dir).resolve()))
    return _with_plugin_paths(config, path.parent)


def _with_plugin_paths(config: RunConfig, base: Path) -> RunConfig:
    """``include`` and ``task_dirs`` made absolute and checked to exist.

    A path in the file is relative to ``base`` (the config's folder), one
    given by ``--set`` to the current directory. Absolute paths go into the
    run's saved config, so ``qabench eval RUN`` finds the same plugins from
    any directory.
    """
    resolved: dict[str, tuple[str, ...]] = {}
    for key, exists, what in (("include", Path.is_file, "file"), ("task_dirs", Path.is_dir, "directory")):
        paths = []
        for index, item in enumerate(getattr(config, key)):
            overridden = OVERRIDDEN in (config.lines.get((key,)), config.lines.get((key, str(index))))
            path = ((Path.cwd() if overridden else base) / Path(item).expanduser()).resolve()
            if not exists(path):
                raise UserError(f"config {config.where(key, index)}: {key}: no such {what} {path}")
            paths.append(str(path))
        resolved[key] = tuple(paths)
    return dataclasses.replace(config, **resolved)


def parse_config(text: str, origin: str = "<string>", overrides: Sequence[str] = ()) -> RunConfig:
    """Build a :class:`RunConfig` from YAML text; errors name ``origin`` and the line."""
    data, lines = _read_yaml(text, origin)
    for item in overrides:
        data = apply_override(data, item)
        key = tuple(item.split("=", 1)[0].strip().split("."))
        for path in [p for p in lines if p[: len(key)] == key]:
            del lines[path]
        lines[key] = OVERRIDDEN
    data = _normalise_tasks(data, origin, lines)
    config = _build(RunConfig, data, (), origin, lines)
    config = dataclasses.replace(config, origin=origin, lines=lines)
    validate(config)
    return config


def from_dict(data: Mapping[str, Any], origin: str = "<dict>", overrides: Sequence[str] = ()) -> RunConfig:
    """Rebuild a config from :meth:`RunConfig.to_dict` (checkpoints and records keep that form), with ``--set`` overrides."""
    lines: dict[tuple[str, ...], int] = {}
    data = dict(data)
    for item in overrides:
        data = apply_override(data, item)
        lines[tuple(item.split("=", 1)[0].strip().split("."))] = OVERRIDDEN
    config = _build(RunConfig, _normalise_tasks(data, origin, lines), (), origin, lines)
    return dataclasses.replace(config, origin=origin, lines=lines)


def apply_override(data: Mapping[str, Any], item: str) -> dict[str, Any]:
    """Return ``data`` with one ``key.path=value`` override applied (value read as YAML).

    >>> apply_override({"optim": {"lr": 1.0}}, "optim.lr=0.0003")
    {'optim': {'lr': 0.0003}}
    """
    if "=" not in item:
        raise UserError(f"--set {item!r}: expected KEY=VALUE, e.g. --set optim.lr=3e-4")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as err:
        raise UserError(f"--set {key}: value {raw!r} is not valid YAML ({err.problem if hasattr(err, 'problem') else err})") from None
    parts = key.strip().split(".")
    if not all(parts):
        raise UserError(f"--set {item!r}: empty key part; write keys like optim.lr")
    root: dict[str, Any] = _deep_copy(data)
    node: Any = root
    for depth, part in enumerate(parts[:-1]):
        nxt = _child(node, part, parts[: depth + 1], item)
        if nxt is None:
            nxt = {}
            _assign(node, part, nxt, item)
        node = nxt
    _assign(node, parts[-1], value, item)
    return root


def _child(node: Any, part: str, path: list[str], item: str) -> Any:
    if isinstance(node, list):
        index = _index(node, part, item)
        if isinstance(node[index], str):  # a bare task name becomes a mapping to hold the key
            node[index] = {"name": node[index]}
        return node[index]
    if isinstance(node, dict):
        return node.get(part)
    raise UserError(f"--set {item}: {'.'.join(path[:-1])} is not a section")


def _assign(node: Any, part: str, value: Any, item: str) -> None:
    if isinstance(node, list):
        node[_index(node, part, item)] = value
    elif isinstance(node, dict):
        node[part] = value
    else:
        raise UserError(f"--set {item}: cannot set {part!r} inside a {type(node).__name__}")


def _index(node: list, part: str, item: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise UserError(f"--set {item}: {part!r} is not an index of the list (0..{len(node) - 1})")
    return int(part)


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _read_yaml(text: str, origin: str) -> tuple[dict[str, Any], dict[tuple[str, ...], int]]:
    """The YAML document as plain data, and the line of every key path."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{origin}:{mark.line + 1}" if mark is not None else origin
        raise UserError(f"config {where}: not valid YAML: {getattr(err, 'problem', None) or err}") from None
    finally:
        loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"config {origin}: expected a mapping of sections (model:, tasks:, ...), got {type(data).__name__}")
    lines: dict[tuple[str, ...], int] = {}
    if node is not None:
        _collect_lines(node, (), lines, origin)
    return data, lines


def _collect_lines(node: yaml.Node, path: tuple[str, ...], lines: dict[tuple[str, ...], int], origin: str = "<string>") -> None:
    """Record the line of every key path; a key given twice in one mapping is an error naming both lines.

    YAML loaders keep the last of two equal keys silently, so a forgotten
    earlier ``lr:`` would quietly lose to a later one.
    """
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            name = str(key.value)
            line = key.start_mark.line + 1
            if name in seen:
                dotted = ".".join(path + (name,))
                raise UserError(f"config {origin}:{line}: duplicate key {dotted!r} (first given on line {seen[name]}); keep one")
            seen[name] = line
            sub = path + (name,)
            lines[sub] = line
            _collect_lines(value, sub, lines, origin)
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            _collect_lines(value, path + (str(index),), lines, origin)


def _normalise_tasks(data: dict[str, Any], origin: str, lines: Mapping[tuple[str, ...], int]) -> dict[str, Any]:
    """``tasks: [sst2, {name: rte, train_limit: 5}]`` -> a list of mappings."""
    tasks = data.get("tasks")
    if tasks is None:
        raise UserError(f"config {origin}: no tasks; add e.g. 'tasks: [sst2, rte]'")
    if isinstance(tasks, str):
        tasks = [tasks]
    if not isinstance(tasks, list) or not tasks:
        raise UserError(f"config {_where(origin, lines, ('tasks',))}: tasks must be a non-empty list of task names or mappings")
    out = []
    for index, item in enumerate(tasks):
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or "name" not in item:
            raise UserError(f"config {_where(origin, lines, ('tasks', str(index)))}: tasks[{index}] needs a name (a task name or a mapping with name:)")
        out.append(item)
    return {**data, "tasks": out}


def _where(origin: str, lines: Mapping[tuple[str, ...], int], path: tuple[str, ...]) -> str:
    while path and path not in lines:
        path = path[:-1]
    line = lines.get(path)
    if line == OVERRIDDEN:
        return f"{origin} (--set {'.'.join(path)})"
    return f"{origin}:{line}" if line else origin


RENAMED_KEYS: dict[type, dict[str, str]] = {
    TaskConfig: {"limit": "train_limit"},
    EvalConfig: {"limit": "periodic_limit"},
}
"""Old key -> new key, per section: configs (and saved runs) from before a rename still load."""


def _build(cls: type, data: Any, path: tuple[str, ...], origin: str, lines: Mapping[tuple[str, ...], int]) -> Any:
    """An instance of the dataclass ``cls`` from a mapping, checking keys and value types."""
    section = ".".join(path) or "the top level"
    if not isinstance(data, dict):
        raise UserError(f"config {_where(origin, lines, path)}: {section} must be a mapping, got {_show(data)}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls) if f.name not in INTERNAL_FIELDS}
    values: dict[str, Any] = {}
    for key, value in data.items():
        key_path = path + (str(key),)
        dotted = ".".join(key_path)
        renamed = RENAMED_KEYS.get(cls, {}).get(str(key))
        if renamed is not None:  # a config written before the key was renamed
            if renamed in data:
                raise UserError(f"config {_where(origin, lines, key_path)}: {dotted!r} is the old name of {renamed!r}; give only {renamed!r}")
            key = renamed
        if key not in known:
            hint = did_you_mean(str(key), known) or f"known keys: {', '.join(known)}"
            raise UserError(f"config {_where(origin, lines, key_path)}: unknown key {dotted!r}; {hint}")
        values[key] = _convert(hints[key], value, key_path, origin, lines)
    missing = [f.name for f in known.values() if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.name not in values]
    if missing:
        raise UserError(f"config {_where(origin, lines, path)}: {section} needs {', '.join(missing)}")
    return cls(**values)


def _convert(hint: Any, value: Any, path: tuple[str, ...], origin: str, lines: Mapping[tuple[str, ...], int]) -> Any:
    dotted = ".".join(path)
    where = _where(origin, lines, path)
    origin_type = typing.get_origin(hint)
    if origin_type in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _convert(options[0], value, path, origin, lines)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, path, origin, lines)
    if origin_type is tuple:
        item_type = typing.get_args(hint)[0]
        if not isinstance(value, list):
            raise UserError(f"config {where}: {dotted} must be a list, got {_show(value)}")
        return tuple(_convert(item_type, v, path + (str(i),), origin, lines) for i, v in enumerate(value))
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif hint is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    else:  # pragma: no cover - every field type is handled above
        raise TypeError(f"config field {dotted} has an unsupported type {hint}")
    raise UserError(f"config {where}: {dotted} must be {hint.__name__}, got {_show(value)}")


def _show(value: Any) -> str:
    return f"{type(value).__name__} {value!r}" if value is not None else "nothing"


def validate(config: RunConfig) -> None:
    """Check values the types alone do not (choices, ranges); errors name the key."""

    def bad(path: tuple[str, ...], message: str) -> UserError:
        return UserError(f"config {config.where(*path)}: {'.'.join(path)} {message}")

    checks: list[tuple[tuple[str, ...], bool, str]] = [
        (("mixture", "strategy"), config.mixture.strategy in MIXTURES, f"must be one of {', '.join(MIXTURES)}"),
        (("mixture", "then"), config.mixture.then in MIXTURES[:3], f"must be one of {', '.join(MIXTURES[:3])}"),
        (("mixture", "temperature"), config.mixture.temperature > 0, "must be > 0"),
        (("mixture", "first_steps"), config.mixture.first_steps >= 0, "must be >= 0"),
        (("optim", "recipe"), config.optim.recipe in RECIPES, f"must be one of {', '.join(RECIPES)}"),
        (("optim", "steps"), config.optim.steps >= 1, "must be >= 1"),
        (("optim", "implementation"), config.optim.implementation in ADAMW_IMPLEMENTATIONS, f"must be one of {', '.join(ADAMW_IMPLEMENTATIONS)}"),
        (("optim", "batch_size"), config.optim.batch_size >= 1, "must be >= 1"),
        (("optim", "batch_tokens"), config.optim.batch_tokens == 0 or config.optim.batch_tokens >= config.model.max_length,
         f"must be 0 (off) or at least model.max_length ({config.model.max_length}), so that the longest window fits in a batch"),
        (("optim", "accumulate"), config.optim.accumulate >= 1, "must be >= 1"),
        (("optim", "lr"), 0 < config.optim.lr < math.inf, "must be a finite number > 0"),
        (("optim", "head_lr"), config.optim.head_lr is None or 0 < config.optim.head_lr < math.inf, "must be a finite number > 0 (or null: optim.lr)"),
        (("optim", "weight_decay"), 0 <= config.optim.weight_decay < math.inf, "must be a finite number >= 0"),
        (("optim", "clip"), 0 <= config.optim.clip < math.inf, "must be a finite number >= 0 (0 = off)"),
        (("optim", "warmup"), 0 <= config.optim.warmup < 1, "must be a fraction in [0, 1)"),
        (("optim", "lr_decay"), 0 < config.optim.lr_decay < math.inf, "must be a finite number > 0"),
        (("optim", "ratio"), 0 < config.optim.ratio < math.inf, "must be a finite number > 0"),
        (("optim", "unfreeze_every"), config.optim.unfreeze_every >= 0, "must be >= 0"),
        (("optim", "cut_frac"), 0 < config.optim.cut_frac < 1, "must be a fraction in (0, 1)"),
        (("heads", "mode"), config.heads.mode in HEAD_MODES, f"must be one of {', '.join(HEAD_MODES)}"),
        (("heads", "dropout"), 0 <= config.heads.dropout < 1, "must be in [0, 1)"),
        (("heads", "choice"), config.heads.choice in CHOICE_HEADS, f"must be one of {', '.join(CHOICE_HEADS)}"),
        (("heads", "decoder"), config.heads.decoder in DECODERS, f"must be one of {', '.join(DECODERS)}"),
        (("eval", "min_answer_tokens"), 0 <= config.eval.min_answer_tokens < config.heads.max_answer_tokens, "must be >= 0 and below heads.max_answer_tokens"),
        (("heads", "decoder_words"), config.heads.decoder_words in DECODER_WORDS, f"must be one of {', '.join(DECODER_WORDS)}"),
        (("heads", "max_answer_tokens"), config.heads.max_answer_tokens >= 2, "must be >= 2 (one answer token and EOS)"),
        (("eval", "beam_size"), config.eval.beam_size >= 1, "must be >= 1"),
        (("eval", "length_penalty"), math.isfinite(config.eval.length_penalty), "must be a finite number"),
        (("eval", "max_answer_length"), config.eval.max_answer_length >= 1, "must be >= 1"),
        (("mixture", "temperature"), math.isfinite(config.mixture.temperature), "must be a finite number > 0"),
        (("model", "vocab_size"), config.model.vocab_size >= MIN_VOCAB_SIZE, f"must be >= {MIN_VOCAB_SIZE} (room for the special tokens and some words)"),
        (("seed",), 0 <= config.seed <= MAX_SEED, f"must be in [0, {MAX_SEED}] (numpy's seeds are 32-bit)"),
        (("device",), not device_problem(config.device), device_problem(config.device)),
        (("model", "max_length"), config.model.max_length >= 16, "must be >= 16"),
        (("model", "stride"), 0 <= config.model.stride <= config.model.max_length // 2, "must be >= 0 and at most half of model.max_length"),
        (("eval", "batch_size"), config.eval.batch_size >= 1, "must be >= 1"),
        (("eval", "every"), config.eval.every >= 0, "must be >= 0"),
        (("eval", "patience"), config.eval.patience >= 0, "must be >= 0"),
        (("output", "checkpoint_every"), config.output.checkpoint_every >= 0, "must be >= 0"),
        (("output", "curves_every"), config.output.curves_every >= 0, "must be >= 0"),
        (("threads",), config.threads is None or config.threads >= 1, "must be >= 1 (or left out for torch's default)"),
    ]
    for path, ok, message in checks:
        if not ok:
            raise bad(path, message)
    names = [t.name for t in config.tasks]
    for index, name in enumerate(names):
        if names.index(name) != index:
            raise bad(("tasks", str(index)), f"names task {name!r} twice")
        limits = (config.tasks[index].train_limit, config.tasks[index].eval_limit)
        if any(v is not None and v < 1 for v in limits):
            raise bad(("tasks", str(index)), "limits must be >= 1")
        if config.tasks[index].sample not in SAMPLES:
            raise bad(("tasks", str(index), "sample"), f"sample must be one of {', '.join(SAMPLES)}")
    if not any(t.train for t in config.tasks):
        raise bad(("tasks",), "has no task to train on (every task says train: false)")
    first = config.mixture.first_task
    if first is not None and first not in names:
        raise bad(("mixture", "first_task"), f"{first!r} is not one of the run's tasks ({', '.join(names)})")
