#!/usr/bin/env bash
# What local pretraining buys: random initialisation versus local pretraining, per backbone.
#
# For each backbone (tiny preset): `qabench pretrain` with its own objective
# on the mirror's text (the training splits of the tasks in CORPUS_TASKS;
# never an evaluation split), then configs/pretrain-gain.yaml twice (random
# init, and `model.pretrained` = the pretrained directory) with the same
# mixture, budget and seed, then `qabench leaderboard compare` of the pair.
#
#   QABENCH_DATA=../shared/data bash bench/pretrain_gain.sh [BACKBONE ...]
#
# Environment: PRETRAIN_STEPS (default 2000 optimizer steps of 32 x 128
# tokens; word2vec: WORD2VEC_EPOCHS, default 5), OUT (default pretrained/).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${QABENCH_DATA:?set QABENCH_DATA to the data mirror, e.g. ../shared/data}"
OUT=${OUT:-pretrained}
STEPS=${PRETRAIN_STEPS:-2000}
EPOCHS=${WORD2VEC_EPOCHS:-5}
CORPUS_TASKS=sst2,cola,mrpc,stsb,rte,squad:validation_a,conll2003,wnut17,ud_pos  # every English training split of the mirror (SQuAD: the articles it trains on)
BACKBONES=("$@")
[ ${#BACKBONES[@]} -gt 0 ] || BACKBONES=(word2vec elmo gpt bert)

declare -A LR=([word2vec]=5e-3 [elmo]=2e-3 [ulmfit]=2e-3 [gpt]=5e-4 [bert]=5e-4 [ernie]=5e-4 [transformer]=5e-4 [xlnet]=5e-4)

run_id() {  # the run id from `qabench run`'s "record: runs/<id>/record.json" line
    sed -n 's|^record: .*/\([^/]*\)/record.json$|\1|p'
}

for model in "${BACKBONES[@]}"; do
    steps=$STEPS
    [ "$model" = word2vec ] && steps=$EPOCHS
    echo "== $model: pretrain ($steps $([ "$model" = word2vec ] && echo epochs || echo steps))"
    start=$SECONDS
    qabench pretrain --model "$model" --preset tiny --tasks "$CORPUS_TASKS" --steps "$steps" --out "$OUT/$model-tiny" 2>/dev/null
    echo "pretrain wall: $((SECONDS - start)) s"
    random=$(qabench run configs/pretrain-gain.yaml --set model.backbone="$model" --set optim.lr="${LR[$model]}" 2>/dev/null | tee /dev/stderr | run_id)
    pretrained=$(qabench run configs/pretrain-gain.yaml --set model.backbone="$model" --set optim.lr="${LR[$model]}" \
        --set model.pretrained="$OUT/$model-tiny" 2>/dev/null | tee /dev/stderr | run_id)
    echo "== $model: random init ($random) versus pretrained ($pretrained)"
    qabench leaderboard compare "$random" "$pretrained"
done
python bench/_conditions.py
