"""Copy a fine-tuned model folder into a small, committable checkpoint: weights as fp16
safetensors (half the size; asrkit.model loads them back as fp32), config, processor files.

    .venv/bin/python scripts/export_checkpoint.py work/models/pretrain-w2vbert asrkit/assets/starting-checkpoint

--weights takes a training state's model.safetensors instead of the folder's own weights
(e.g. checkpoints/last/model.safetensors for the last update rather than the best one).
The model card (README.md) in the destination is kept: it is written by hand.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

KEEP = ("config.json", "processor_config.json", "preprocessor_config.json", "tokenizer_config.json",
        "vocab.json", "special_tokens_map.json")


def export(src: Path, dst: Path, weights: Path | None) -> int:
    state = load_file(weights or src / "model.safetensors")
    # A training state holds the CTCTrainer wrapper's parameters: "model.<HF name>".
    if all(k.startswith("model.") for k in state):
        state = {k[len("model."):]: v for k, v in state.items()}
    expected = set(safe_open(src / "model.safetensors", "pt").keys())
    if set(state) != expected:
        raise SystemExit(f"{weights}: its tensors do not match {src / 'model.safetensors'} "
                         f"(e.g. {sorted(set(state) ^ expected)[:3]})")
    half = {k: v.half().contiguous() if v.is_floating_point() else v for k, v in state.items()}
    dst.mkdir(parents=True, exist_ok=True)
    tmp = dst / "model.safetensors.tmp"
    save_file(half, str(tmp), metadata={"format": "pt"})
    tmp.replace(dst / "model.safetensors")  # atomic: a reader never sees half a file
    for name in KEEP:
        if (src / name).is_file():
            shutil.copyfile(src / name, dst / name)
    return sum(v.numel() for v in half.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", type=Path, help="fine-tuned model folder (asrkit finetune --out)")
    parser.add_argument("dst", type=Path, help="destination folder")
    parser.add_argument("--weights", type=Path, help="model.safetensors to use instead of SRC's")
    args = parser.parse_args()
    n = export(args.src, args.dst, args.weights)
    size = (args.dst / "model.safetensors").stat().st_size
    print(f"{args.dst}: {n / 1e6:.1f}M parameters, {size / 2**20:.1f} MiB (fp16)")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
