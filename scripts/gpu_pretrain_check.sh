#!/usr/bin/env bash
# The GPU checks of pre-training, in one device call (a lent GPU's time is short, and every
# start costs some of it):
#   1. bf16 throughput, peak memory and MFU of the BASE config at 1.4M samples per step
#      (benchmarks/pretrain_throughput.py), against transformers' example step;
#   2. the tiny model pre-trained with recipes/pretrain_tiny.yaml on the pretrain corpus for
#      as many updates as fit, its model and log coming back under $OUT.
#
# Here, once (needs work/pretrain-corpus from `asrkit synth --purpose pretrain`, see the recipe):
#   scripts/gpu_pretrain_check.sh prepare
# then the device call (the `device` tool's run), carrying what prepare made:
#   run(command="bash scripts/gpu_pretrain_check.sh run", carry=[".whl", ".gpu-data"], timeout_s=560)
# and here, after it: the model is in the files it returns (pretrain-tiny/), resumable on CPU
# with the same recipe (copy it to work/models/pretrain-tiny-gpu).
#
# The device image has torch, transformers and accelerate but not soundfile or soxr: they
# travel as wheels. The corpus travels as Ogg/Opus (scripts/opus_pack.py) and is decoded
# back to FLAC there, because 64 MiB is all that travels.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
updates=${UPDATES:-6000}

if [ "$mode" = prepare ]; then
  grep -qs '^/.whl/$' .git/info/exclude || { mkdir -p .git/info; echo /.whl/ >> .git/info/exclude; }
  grep -qs '^/.gpu-data/$' .git/info/exclude || echo /.gpu-data/ >> .git/info/exclude
  rm -rf .whl && mkdir -p .whl
  for pkg in soundfile==0.13.1 soxr==1.0.0 cffi==2.0.0 pycparser==2.23; do
    .venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 \
      --platform py3-none-any -d .whl "$pkg" || .venv/bin/python -m pip download -q --no-deps -d .whl "$pkg"
  done
  rm -rf .gpu-data && mkdir -p .gpu-data/corpus/LibriSpeech
  # train-clean-100 and dev-other only: Opus at ~15 kbps keeps 4.9 h in about 40 MB.
  for split in train-clean-100 dev-other; do
    .venv/bin/python scripts/opus_pack.py pack "work/pretrain-corpus/LibriSpeech/$split" \
      ".gpu-data/corpus/LibriSpeech/$split" 2
  done
  du -sh .whl .gpu-data
  exit 0
fi

[ "$mode" = run ] || { sed -n '2,16p' "$0"; exit 2; }
out=${OUT:-/tmp/out}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$out/gpu.txt"

echo "== 1. BASE pre-training step: bf16 throughput, peak memory, MFU"
timeout 150 python3 benchmarks/pretrain_throughput.py --device cuda --config base --max-tokens 1400000 \
  --utterances 600 --steps 20 --warmup 3 2>&1 | grep -v Warning | tee "$out/base-throughput.txt" || true

echo "== 2. tiny pre-training run"
python3 scripts/opus_pack.py unpack .gpu-data/corpus /tmp/corpus 16 >/dev/null
python3 -m asrkit prepare --data-root /tmp/corpus --out /tmp/manifests | tail -4
timeout 330 python3 -m asrkit pretrain --recipe tiny --manifests /tmp/manifests --out /tmp/pretrain-tiny \
  --set data.train_split=train-clean-100 --set data.num_workers=0 --set "train.max_updates=$updates" \
  --no-progress 2>&1 | grep -v "Saving current state\|saved in" | tail -30 || true
# What comes back: at most 8 files of 16 MiB (the fp32 tiny model is ~16 MB): the final
# model, or the newest snapshot (every 1,000 updates) when the time ran out first.
model=/tmp/pretrain-tiny
[ -f "$model/train-summary.json" ] || model=$(ls -d /tmp/pretrain-tiny/snapshots/update-* 2>/dev/null | sort -t- -k2 -n | tail -1)
mkdir -p "$out/pretrain-tiny"
for f in config.json model.safetensors preprocessor_config.json; do cp "$model/$f" "$out/pretrain-tiny/" || true; done
for f in train-log.jsonl recipe.yaml train-summary.json; do cp "/tmp/pretrain-tiny/$f" "$out/pretrain-tiny/" 2>/dev/null || true; done
ls -la "$out" "$out/pretrain-tiny"
