"""GPT, BERT, ERNIE and XLNet: transformers' own classes behind the backbone contract.

- gpt: ``GPT2Model`` (built from presets; OpenAI GPT checkpoints load as
  ``OpenAIGPTModel``): a causal transformer, no position attends to a later one.
- bert: ``BertModel`` with segment (token type) embeddings.
- ernie: ``ErnieModel`` (ERNIE 2.0: BERT's layout plus task-type embeddings).
- xlnet: ``XLNetModel`` with relative positions and relative segment
  encodings; its two-stream attention (``perm_mask``/``target_mapping``) stays
  reachable through ``backbone.model`` for pretraining. XLNet conventionally
  pads on the left; its relative attention makes right padding with a mask
  equally correct, which is what the harness uses.

Built from a preset, a backbone uses the shared local vocabulary; loaded as
pretrained (a local directory or a hub id), it uses the checkpoint's own
tokenizer. Loading reads safetensors only unless ``allow_pickle``, checks the
checkpoint's ``model_type`` against the backbone, and never sets
``trust_remote_code``.

>>> # backbone = build_backbone("bert", "tiny", tok)
>>> # backbone = load_backbone("bert", "bert-base-uncased")   # online
>>> # backbone.model  # the transformers PreTrainedModel
"""

from __future__ import annotations

import pickle
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import transformers
from safetensors import SafetensorError
from torch import nn
from transformers import AutoConfig, AutoTokenizer, PreTrainedTokenizerFast
from transformers.utils import logging as hf_logging

from models.base import Backbone, Encoded
from models.errors import ModelError, one_line

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedModel


@dataclass(frozen=True)
class Architecture:
    """A transformers architecture by the names of its classes, imported on first use.

    transformers imports a model's modelling code when its class is first
    looked up, so only the architecture a run uses pays for it (a word2vec or
    LSTM run imports none; ``python -X importtime`` shows it).
    """

    config_name: str  # e.g. "BertConfig"
    model_name: str  # e.g. "BertModel"
    layers: str  # the path of its list of layers

    @property
    def config_class(self) -> type[PretrainedConfig]:
        """The config class (light: no modelling code)."""
        return getattr(transformers, self.config_name)

    @property
    def model_class(self) -> type[PreTrainedModel]:
        """The model class; its modelling code is imported here."""
        return getattr(transformers, self.model_name)


ARCHITECTURES: dict[str, Architecture] = {
    "gpt2": Architecture("GPT2Config", "GPT2Model", "h"),
    "openai-gpt": Architecture("OpenAIGPTConfig", "OpenAIGPTModel", "h"),
    "bert": Architecture("BertConfig", "BertModel", "encoder.layer"),
    "ernie": Architecture("ErnieConfig", "ErnieModel", "encoder.layer"),
    "xlnet": Architecture("XLNetConfig", "XLNetModel", "layer"),
}
"""transformers ``model_type`` -> its architecture."""

ACCEPTED_MODEL_TYPES: dict[str, tuple[str, ...]] = {
    "gpt": ("gpt2", "openai-gpt"),
    "bert": ("bert",),
    "ernie": ("ernie",),
    "xlnet": ("xlnet",),
}
"""Which checkpoint ``model_type`` each backbone loads; the first is the one built from presets."""

_SEGMENT_AWARE = {"bert", "ernie", "xlnet"}  # model types with segment (token type) inputs
_NO_POOLER = {"bert", "ernie"}  # heads read token states; an unused pooler would only idle in DDP

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "gpt": {
        "tiny": {"n_embd": 64, "n_layer": 2, "n_head": 2, "n_positions": 512},
        "small": {"n_embd": 256, "n_layer": 4, "n_head": 4, "n_positions": 512},
        "base": {"n_embd": 768, "n_layer": 12, "n_head": 12, "n_positions": 1024},  # GPT-2 124M (50257 tokens)
    },
    "bert": {
        "tiny": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 256},
        "small": {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 1024},
        "base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072},
    },
    "ernie": {  # ERNIE 2.0 (nghuyong/ernie-2.0-base-en): 4 segment types and task-type embeddings
        "tiny": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 256,
                 "type_vocab_size": 4, "use_task_id": True, "task_type_vocab_size": 3},
        "small": {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 1024,
                  "type_vocab_size": 4, "use_task_id": True, "task_type_vocab_size": 3},
        "base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
                 "type_vocab_size": 4, "use_task_id": True, "task_type_vocab_size": 3},
    },
    "xlnet": {
        "tiny": {"d_model": 64, "n_layer": 2, "n_head": 2, "d_inner": 256},
        "small": {"d_model": 256, "n_layer": 4, "n_head": 4, "d_inner": 1024},
        "base": {"d_model": 768, "n_layer": 12, "n_head": 12, "d_inner": 3072},  # xlnet-base-cased
    },
}


def preset_config(name: str, hyper: dict[str, Any], vocab_size: int, tokenizer: PreTrainedTokenizerFast | None) -> PretrainedConfig:
    """The transformers config of backbone ``name`` with hyper-parameters ``hyper`` over ``vocab_size`` tokens."""
    model_type = ACCEPTED_MODEL_TYPES[name][0]
    config_class = ARCHITECTURES[model_type].config_class
    special: dict[str, Any] = {"pad_token_id": 0, "bos_token_id": None, "eos_token_id": None}
    if tokenizer is not None:
        special = {"pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.cls_token_id,
                   "eos_token_id": tokenizer.sep_token_id}
    extra: dict[str, Any] = {"mem_len": None, "use_mems_eval": False} if model_type == "xlnet" else {}
    try:
        return config_class(vocab_size=vocab_size, **special, **extra, **hyper)
    except (TypeError, ValueError) as err:
        raise ModelError(f"{name}: invalid hyper-parameters {hyper}: {err}") from err


class TransformersBackbone(Backbone):
    """A transformers ``PreTrainedModel`` (``.model``) behind the backbone contract."""

    def __init__(self, name: str, model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast | None) -> None:
        super().__init__()
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.causal = name == "gpt"
        self.hidden_size = int(model.config.hidden_size)
        self.model_type = str(model.config.model_type)
        self.config = model.config

    def encode(
        self,
        input_ids: torch.Tensor,  # [B, T]
        attention_mask: torch.Tensor,  # [B, T]
        token_type_ids: torch.Tensor | None = None,  # [B, T]; GPT has no segments and ignores them
    ) -> Encoded:
        kwargs: dict[str, Any] = {}
        if token_type_ids is not None and self.model_type in _SEGMENT_AWARE:
            kwargs["token_type_ids"] = token_type_ids
        if self.model_type == "xlnet":
            kwargs["use_mems"] = False
        elif self.model_type == "gpt2":
            kwargs["use_cache"] = False
        output = self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        mask = attention_mask.bool()  # [B, T]
        return Encoded(output.last_hidden_state * mask.unsqueeze(-1), mask)  # [B, T, D]

    def word_vectors(self) -> torch.Tensor | None:
        """The checkpoint's word embeddings [V, D] (``get_input_embeddings``)."""
        embeddings = self.model.get_input_embeddings()
        return embeddings.weight if isinstance(embeddings, nn.Embedding) else None

    def config_dict(self) -> dict[str, Any]:
        return self.model.config.to_dict()

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """[embeddings], [layer 1], ..., [layer N + the final norms registered after the layers]."""
        path = ARCHITECTURES[self.model_type].layers
        per_layer = [list(layer.parameters()) for layer in self.model.get_submodule(path)]
        bottom: list[nn.Parameter] = []
        top: list[nn.Parameter] = []
        past_layers = False  # named_parameters follows registration order: embeddings, layers, final norms
        for parameter_name, parameter in self.model.named_parameters():
            if parameter_name.startswith(path + "."):
                past_layers = True
            else:
                (top if past_layers else bottom).append(parameter)
        return [bottom, *per_layer[:-1], per_layer[-1] + top]


def model_from_config(config: PretrainedConfig) -> PreTrainedModel:
    """A randomly initialised model of ``config``'s architecture (without BERT/ERNIE's pooler)."""
    model_class = ARCHITECTURES[config.model_type].model_class
    kwargs = {"add_pooling_layer": False} if config.model_type in _NO_POOLER else {}
    return model_class(config, **kwargs)


def build(name: str, config: PretrainedConfig, tokenizer: PreTrainedTokenizerFast | None) -> TransformersBackbone:
    """Build a randomly initialised backbone ``name`` from a transformers config."""
    return TransformersBackbone(name, model_from_config(config), tokenizer)


def config_from_dict(values: dict[str, Any]) -> PretrainedConfig:
    """Rebuild a transformers config saved by :meth:`TransformersBackbone.config_dict`."""
    model_type = values.get("model_type")
    if model_type not in ARCHITECTURES:
        raise ModelError(f"saved config has model_type {model_type!r}; qabench knows {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[model_type].config_class.from_dict(values)


_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def _backbone_for(model_type: str) -> str | None:
    return next((name for name, types in ACCEPTED_MODEL_TYPES.items() if model_type in types), None)


TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model")
"""A checkpoint directory's tokenizer is one of these (transformers would otherwise build one of special tokens only)."""


def _check_directory(name: str, directory: Path, allow_pickle: bool) -> None:
    """Fail early, in one line, on a directory that cannot hold a loadable checkpoint."""
    if not (directory / "config.json").is_file():
        hint = " (a qabench checkpoint: use load_saved)" if (directory / "qabench.json").is_file() else ""
        raise ModelError(f"{directory}: no config.json, so not a transformers checkpoint directory{hint}")
    files = [path.name for path in directory.iterdir() if path.is_file()]
    if not any(file in TOKENIZER_FILES for file in files):
        raise ModelError(
            f"no tokenizer files in {directory}: expected one of {', '.join(TOKENIZER_FILES)} "
            "(save the tokenizer beside the weights with tokenizer.save_pretrained); without them every word would be [UNK]"
        )
    if any(file.endswith(".safetensors") or file.endswith(".safetensors.index.json") for file in files):
        return
    pickles = sorted(file for file in files if file.endswith(_PICKLE_SUFFIXES) or file.endswith(".bin.index.json"))
    if not pickles:
        raise ModelError(f"{directory}: no weights file (model.safetensors); save the model with save_pretrained")
    if not allow_pickle:
        raise ModelError(
            f"{directory}: only pickle weights ({', '.join(pickles)}), which can run code when loaded; "
            "convert them to safetensors, or pass allow_pickle=True if you trust them"
        )


def load(name: str, source: str, *, allow_pickle: bool = False) -> TransformersBackbone:
    """Load backbone ``name`` from a checkpoint directory or hub id, with the checkpoint's own tokenizer."""
    path = Path(source).expanduser()
    if path.is_dir():
        _check_directory(name, path, allow_pickle)
        location = str(path)
    elif path.exists():
        raise ModelError(f"{source}: is a file; give the checkpoint directory that holds config.json and the weights")
    elif _HUB_ID.fullmatch(source):
        location = source  # a hub id, for online users
    else:
        raise ModelError(f"{source}: no such directory; give a checkpoint directory or a hub id such as bert-base-uncased")
    try:
        config = AutoConfig.from_pretrained(location, trust_remote_code=False)
    except (OSError, ValueError, KeyError) as err:
        where = "" if path.is_dir() else "no such local directory, and the hub could not provide it: "
        raise ModelError(f"{source}: cannot read the model config: {where}{one_line(err)}") from err
    model_type = getattr(config, "model_type", None)
    if model_type not in ACCEPTED_MODEL_TYPES[name]:
        other = _backbone_for(str(model_type))
        fix = f"load it as backbone {other!r}" if other else f"{name} loads {', '.join(ACCEPTED_MODEL_TYPES[name])}"
        raise ModelError(f"{source}: a {model_type!r} checkpoint, not {name}; {fix}")
    model_class = ARCHITECTURES[model_type].model_class
    kwargs: dict[str, Any] = {"add_pooling_layer": False} if model_type in _NO_POOLER else {}
    # qabench checks the loading info itself (below); transformers' own load report would only repeat it.
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's and transformers' load warnings; qabench reports what matters itself
            model, info = model_class.from_pretrained(
                location,
                use_safetensors=None if allow_pickle else True,
                trust_remote_code=False,
                output_loading_info=True,
                **kwargs,
            )
    except pickle.UnpicklingError:  # allow_pickle: the .bin holds more than tensors; torch refused to run it
        raise ModelError(f"{source}: the pickle weights hold objects other than tensors (code to run on loading); refused without running them") from None
    except (OSError, ValueError, RuntimeError, KeyError, SafetensorError) as err:
        hint = "; pass allow_pickle=True if you trust pickle weights" if "safetensors" in str(err) and not allow_pickle else ""
        raise ModelError(f"{source}: cannot load the {name} weights: {one_line(err)}{hint}") from err
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    missing = [key for key in info.get("missing_keys", ()) if "pooler" not in key]
    if missing:
        raise ModelError(
            f"{source}: {len(missing)} {model_class.__name__} weights are missing from the checkpoint "
            f"(e.g. {sorted(missing)[0]}); the weights do not match the {model_type} architecture"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(location, trust_remote_code=False)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ModelError(
            f"{source}: no usable tokenizer ({one_line(err)}); save it next to the weights with tokenizer.save_pretrained"
        ) from err
    if not isinstance(tokenizer, PreTrainedTokenizerFast):
        raise ModelError(f"{source}: needs a fast tokenizer (tokenizer.json) for offsets and word ids")
    if tokenizer.pad_token is None:  # GPT-2 has none; padded positions are masked anyway
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    tokenizer.padding_side = "right"  # one convention for the harness (XLNet's own is left; encode handles both)
    model.eval()
    backbone = TransformersBackbone(name, model, tokenizer)
    backbone.source = source
    return backbone
