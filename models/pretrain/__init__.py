"""Pretraining objectives: each of the lecture's backbones learns with its own.

One module per objective family:

- ``masking``: BERT's masked LM (15%; 80/10/10) and next-sentence prediction;
- ``ernie_masking``: ERNIE 1.0's knowledge masking (tokens, phrases, entities);
- ``ernie_continual``: ERNIE 2.0's continual multi-task pretraining (masking, capitalisation, sentence distance);
- ``xlnet_plm``: XLNet's permutation LM with two-stream attention;
- ``lm``: GPT's causal LM, ELMo's forward + backward LMs, ULMFiT's AWD-LSTM LM;
- ``denoise``: the 2017 encoder-decoder reconstructing masked spans or shuffled tokens;
- ``word2vec``: skip-gram / CBOW with negative sampling through gensim;
- ``registry``: objectives by name, and which ones each backbone may use.

harness/corpus.py reads the corpus and harness/pretrain.py runs the loop; ``qabench pretrain`` is their command.
"""

from models.pretrain.base import Objective, ObjectiveOutput, TokenSequence
from models.pretrain.registry import (
    BACKBONE_OBJECTIVES,
    OBJECTIVES,
    ObjectiveSpec,
    allowed_objectives,
    build_objective,
    default_objective,
    objective_spec,
)

__all__ = [
    "BACKBONE_OBJECTIVES",
    "OBJECTIVES",
    "Objective",
    "ObjectiveOutput",
    "ObjectiveSpec",
    "TokenSequence",
    "allowed_objectives",
    "build_objective",
    "default_objective",
    "objective_spec",
]
