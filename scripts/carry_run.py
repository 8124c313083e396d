"""Carry a long training run to another machine in git: its last checkpoint as a portable one
(weights in fp16 and the trainer state, no optimizer moments: 4x smaller), its recipe.yaml
and train-log.jsonl. On the other machine, unpack it into a run folder and run the same
`asrkit pretrain` (or `finetune`) command: it resumes at the same update, schedules and
data position, with Adam's moments started afresh.

    .venv/bin/python scripts/carry_run.py pack   work/models/pretrain-tiny checkpoints/pretrain-tiny
    .venv/bin/python scripts/carry_run.py unpack checkpoints/pretrain-tiny work/models/pretrain-tiny

A carried pre-training run also exports straight to a model folder (what `asrkit finetune
--model` and `asrkit codes --pretrained` read), without its corpus and without resuming:

    .venv/bin/python scripts/carry_run.py export checkpoints/pretrain-tiny work/models/pretrain-tiny-8000
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


from asrkit.runs import find_checkpoint, pack_portable

CARRIED = ("recipe.yaml", "train-log.jsonl")


def pack(run: Path, dest: Path) -> None:
    checkpoint = find_checkpoint(run)
    if checkpoint is None:
        sys.exit(f"{run}: no checkpoint to carry")
    pack_portable(checkpoint, dest / "checkpoint")
    for name in CARRIED:
        shutil.copyfile(run / name, dest / name)
    print(f"packed {checkpoint} -> {dest}")


def unpack(src: Path, run: Path) -> None:
    if find_checkpoint(run) is not None:
        sys.exit(f"{run} already holds a checkpoint; unpack into a new folder")
    (run / "checkpoints").mkdir(parents=True, exist_ok=True)
    shutil.copytree(src / "checkpoint", run / "checkpoints" / "last")
    for name in CARRIED:
        shutil.copyfile(src / name, run / name)
    print(f"unpacked {src} -> {run}: run the same command to resume")


def export(src: Path, out: Path) -> None:
    """The carried pre-training run's weights (fp16, back to fp32) in the model its recipe.yaml
    builds, saved with its feature extractor as a Wav2Vec2ForPreTraining folder."""
    import torch
    import yaml
    from safetensors.torch import load_file

    from asrkit.config import PretrainRecipe, recipe_from_dict
    from asrkit.io import make_dir
    from asrkit.pretrain.model import feature_extractor_for, load_pretraining_model

    if (out / "config.json").exists():
        sys.exit(f"{out} already holds a model; export into a new folder")
    recipe = recipe_from_dict(yaml.safe_load((src / "recipe.yaml").read_text()), str(src / "recipe.yaml"),
                              kind=PretrainRecipe)
    model, _ = load_pretraining_model(recipe.model)
    prefix = "model."  # the checkpoint holds PretrainObjective's state: the model under .model
    weights = {k[len(prefix):]: v.float() if v.is_floating_point() else v
               for k, v in load_file(src / "checkpoint" / "model.safetensors").items() if k.startswith(prefix)}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        sys.exit(f"{src}: the weights do not fit the recipe's model (missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.to(torch.float32).save_pretrained(make_dir(out))
    feature_extractor_for(model, recipe.model).save_pretrained(out)
    update = __import__("json").loads((src / "checkpoint" / "trainer_state.json").read_text())["update"]
    print(f"exported {src} (update {update}) -> {out}")


if __name__ == "__main__":
    actions = {"pack": pack, "unpack": unpack, "export": export}
    if len(sys.argv) != 4 or sys.argv[1] not in actions:
        sys.exit(__doc__)
    actions[sys.argv[1]](Path(sys.argv[2]), Path(sys.argv[3]))
