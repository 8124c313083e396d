#!/usr/bin/env bash
# One-time, idempotent set-up of everything asrkit needs on a fresh Debian machine:
#   1. Debian packages: TTS engines (flite, festival + English voices, espeak-ng), sox,
#      the public-domain KJV text, Boost/zlib for building KenLM, Chromium for report tests.
#   2. A virtual environment in .venv with a CPU torch (installed first, so nothing pulls
#      a multi-GB CUDA build), then asrkit and its dependencies.
#   3. KenLM's lmplz and build_binary, built from the kenlm source release (lm/build_kenlm.sh).
# Each step leaves a stamp in .cache/setup and is skipped when its inputs did not change.
set -euo pipefail
cd "$(dirname "$0")/.."
stamps=.cache/setup
mkdir -p "$stamps"

apt_packages=(sox libsox-fmt-base flite festival festvox-kallpc16k festvox-kdlpc16k
  festvox-us-slt-hts espeak-ng bible-kjv build-essential cmake libboost-program-options-dev
  libboost-system-dev libboost-thread-dev libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev
  chromium)

stamp_ok() { [ -f "$stamps/$1" ] && [ "$(cat "$stamps/$1")" = "$2" ]; }

key_apt=$(printf '%s ' "${apt_packages[@]}")
if ! stamp_ok apt "$key_apt"; then
  missing=()
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  echo "$key_apt" > "$stamps/apt"
fi

py=${PYTHON:-python3}
key_pip=$(cat pyproject.toml scripts/setup.sh | sha1sum | cut -d' ' -f1)
if ! stamp_ok pip "$key_pip" || [ ! -x .venv/bin/python ]; then
  [ -x .venv/bin/python ] || "$py" -m venv .venv
  pip=".venv/bin/python -m pip"
  $pip install -q --upgrade pip
  # CPU torch first: a bare "torch" requirement would otherwise pull a CUDA build.
  $pip install -q "torch==2.13.0"
  # pyctcdecode 0.5.0 pins numpy<2 but runs on numpy 2, which pyarrow (datasets) needs:
  # install it without its pins, then its two real dependencies.
  $pip install -q --no-deps "pyctcdecode==0.5.0"
  $pip install -q "pygtrie>=2.1,<3" "hypothesis>=6.14"
  $pip install -q -e ".[dev]"
  echo "$key_pip" > "$stamps/pip"
fi

if ! stamp_ok kenlm "$(sha1sum lm/build_kenlm.sh | cut -d' ' -f1)" || [ ! -x .cache/kenlm/bin/lmplz ]; then
  bash lm/build_kenlm.sh .cache/kenlm
  sha1sum lm/build_kenlm.sh | cut -d' ' -f1 > "$stamps/kenlm"
fi
echo "setup: ready (.venv, .cache/kenlm/bin/lmplz)"
