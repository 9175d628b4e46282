"""Pretraining objectives by name, and which ones each backbone may use (the first is its own, the default).

>>> default_objective("bert")
'mlm-nsp'
>>> allowed_objectives("ernie")
('knowledge-mask', 'ernie2-multitask', 'mlm', 'mlm-nsp')
>>> # objective = build_objective("mlm-nsp", backbone, max_length=128)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from catalog import Registry, did_you_mean
from models.base import Backbone
from models.errors import ModelError
from models.pretrain.base import Objective
from models.pretrain.denoise import Denoising
from models.pretrain.ernie_continual import ContinualMultiTask
from models.pretrain.ernie_masking import KnowledgeMasking
from models.pretrain.lm import AwdLstmLM, BidirectionalLM, CausalLM
from models.pretrain.masking import MaskedLM
from models.pretrain.xlnet_plm import PermutationLM

ENGINE_TORCH = "torch"  # trained step by step by harness/pretrain.py
ENGINE_GENSIM = "gensim"  # trained by gensim's Word2Vec (models/pretrain/word2vec.py), epoch by epoch


@dataclass(frozen=True)
class ObjectiveSpec:
    """A pretraining objective: what it is, its options with their defaults, and how to build it."""

    name: str
    summary: str
    paper: str
    engine: str
    options: Mapping[str, Any] = field(default_factory=dict)  # option -> default (its type is the option's type)
    build: Callable[..., Objective] | None = None  # (backbone, max_length, **options); None for gensim
    perplexity: bool = True  # exp(final loss) is a perplexity


OBJECTIVES: Registry[ObjectiveSpec] = Registry("objective", error=ModelError, item_type=ObjectiveSpec, list_known=True)
"""Every pretraining objective qabench knows."""
for _objective in (
    ObjectiveSpec(
        "skipgram", "skip-gram with negative sampling: a word predicts its neighbours", "Mikolov et al. 2013",
        ENGINE_GENSIM, {"window": 5, "negative": 5}, perplexity=False,
    ),
    ObjectiveSpec(
        "cbow", "CBOW with negative sampling: the neighbours predict the word", "Mikolov et al. 2013",
        ENGINE_GENSIM, {"window": 5, "negative": 5}, perplexity=False,
    ),
    ObjectiveSpec(
        "bilm", "forward and backward LMs trained jointly, shared token encoder and softmax", "Peters et al. 2018",
        ENGINE_TORCH, {}, lambda backbone, max_length: BidirectionalLM(backbone, max_length),
    ),
    ObjectiveSpec(
        "awd-lm", "AWD-LSTM next-token LM with a tied decoder (ULMFiT stage 1; stage 2 with --init on task text)",
        "Merity et al. 2017; Howard & Ruder 2018", ENGINE_TORCH, {},
        lambda backbone, max_length: AwdLstmLM(backbone, max_length),
    ),
    ObjectiveSpec(
        "span-denoise", "masked spans (15%, mean length 3) reconstructed by the 2017 decoder", "Vaswani et al. 2017; Raffel et al. 2020",
        ENGINE_TORCH, {"density": 0.15, "mean_span": 3.0},
        lambda backbone, max_length, density, mean_span: Denoising(backbone, max_length, "span", density=density, mean_span=mean_span),
    ),
    ObjectiveSpec(
        "shuffle-denoise", "locally shuffled tokens put back in order by the 2017 decoder", "Vaswani et al. 2017; Lample et al. 2018",
        ENGINE_TORCH, {"shuffle_distance": 3},
        lambda backbone, max_length, shuffle_distance: Denoising(backbone, max_length, "shuffle", shuffle_distance=shuffle_distance),
    ),
    ObjectiveSpec(
        "causal-lm", "next-token prediction, no position sees a later one", "Radford et al. 2018",
        ENGINE_TORCH, {}, lambda backbone, max_length: CausalLM(backbone, max_length),
    ),
    ObjectiveSpec(
        "mlm-nsp", "masked LM (15%: 80% [MASK], 10% random, 10% kept) plus next-sentence prediction", "Devlin et al. 2019",
        ENGINE_TORCH, {"mask_probability": 0.15},
        lambda backbone, max_length, mask_probability: MaskedLM(backbone, max_length, True, mask_probability),
    ),
    ObjectiveSpec(
        "mlm", "masked LM alone (15%: 80% [MASK], 10% random, 10% kept)", "Devlin et al. 2019; Liu et al. 2019",
        ENGINE_TORCH, {"mask_probability": 0.15},
        lambda backbone, max_length, mask_probability: MaskedLM(backbone, max_length, False, mask_probability),
    ),
    ObjectiveSpec(
        "knowledge-mask", "ERNIE 1.0: basic, phrase-level and entity-level masking of whole units", "Sun et al. 2019",
        ENGINE_TORCH,
        {"mask_probability": 0.15, "curriculum": False, "phrase_min_count": 5, "phrase_threshold": 10.0, "next_sentence": False},
        lambda backbone, max_length, **options: KnowledgeMasking(backbone, max_length, **options),
    ),
    ObjectiveSpec(
        "ernie2-multitask", "ERNIE 2.0: knowledge masking, capitalisation, sentence distance, added in stages, task ids",
        "Sun et al. 2020", ENGINE_TORCH,
        {"staged": True, "mask_probability": 0.15, "phrase_min_count": 5, "phrase_threshold": 10.0},
        lambda backbone, max_length, **options: ContinualMultiTask(backbone, max_length, **options),
    ),
    ObjectiveSpec(
        "plm", "permutation LM, two-stream attention, predicting the last 1/K of each order", "Yang et al. 2019",
        ENGINE_TORCH, {"predict_one_in": 6},
        lambda backbone, max_length, predict_one_in: PermutationLM(backbone, max_length, predict_one_in),
    ),
):
    OBJECTIVES.register(_objective)
del _objective

BACKBONE_OBJECTIVES: Registry[tuple[str, ...]] = Registry("backbone", error=ModelError, item_type=tuple, list_known=True)
"""Backbone -> the objectives it can be pretrained with; the first is its own (the default)."""
for _backbone, _objectives in {
    "word2vec": ("skipgram", "cbow"),
    "elmo": ("bilm",),
    "ulmfit": ("awd-lm",),
    "transformer": ("span-denoise", "shuffle-denoise"),
    "gpt": ("causal-lm",),
    "bert": ("mlm-nsp", "mlm", "knowledge-mask"),
    "ernie": ("knowledge-mask", "ernie2-multitask", "mlm", "mlm-nsp"),
    "xlnet": ("plm",),
}.items():
    BACKBONE_OBJECTIVES.register(_objectives, name=_backbone)
del _backbone, _objectives


def allowed_objectives(backbone: str) -> tuple[str, ...]:
    """The objectives ``backbone`` can be pretrained with, its own first."""
    return BACKBONE_OBJECTIVES.lookup(backbone)


def default_objective(backbone: str) -> str:
    """The backbone's own objective (word2vec: skip-gram, bert: MLM + NSP, ...)."""
    return allowed_objectives(backbone)[0]


def objective_spec(backbone: str, objective: str | None = None) -> ObjectiveSpec:
    """The spec of ``objective`` (default: the backbone's own) after checking the backbone may use it."""
    allowed = allowed_objectives(backbone)
    name = objective or allowed[0]
    spec = OBJECTIVES.lookup(name)
    if name not in allowed:
        raise ModelError(f"objective {name!r} does not fit backbone {backbone!r}; it takes: {', '.join(allowed)}")
    return spec


def resolve_options(spec: ObjectiveSpec, given: Mapping[str, Any]) -> dict[str, Any]:
    """The spec's defaults overridden by ``given`` (strings are converted to the default's type)."""
    options = dict(spec.options)
    for key, value in given.items():
        if key not in options:
            known = ", ".join(sorted(options)) or "none"
            hint = " ".join(filter(None, [did_you_mean(key, options), f"its options: {known}"]))
            raise ModelError(f"objective {spec.name!r} has no option {key!r}; {hint}")
        options[key] = _convert(spec.name, key, value, options[key])
    return options


def _convert(objective: str, key: str, value: Any, default: Any) -> Any:
    if not isinstance(value, str) or isinstance(default, str):
        return value
    try:
        if isinstance(default, bool):
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("true", "1", "yes")
        return type(default)(value)
    except ValueError:
        raise ModelError(f"objective {objective!r}: option {key}={value!r} is not a {type(default).__name__}") from None


def build_objective(name: str, backbone: Backbone, max_length: int = 128, **options: Any) -> Objective:
    """Wrap ``backbone`` in objective ``name`` (a torch objective) with ``options`` over the defaults."""
    spec = objective_spec(backbone.name, name)
    if spec.build is None:
        raise ModelError(f"objective {name!r} is trained by gensim (models.pretrain.word2vec.train_word2vec), not step by step")
    return spec.build(backbone, max_length, **resolve_options(spec, options))
