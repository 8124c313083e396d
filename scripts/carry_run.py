"""Carry a long training run to another machine in git: its last checkpoint as a portable one
(weights in fp16 and the trainer state, no optimizer moments: 4x smaller), its recipe.yaml
and train-log.jsonl. On the other machine, unpack it into a run folder and run the same
`asrkit pretrain` (or `finetune`) command: it resumes at the same update, schedules and
data position, with Adam's moments started afresh.

    .venv/bin/python scripts/carry_run.py pack   work/models/pretrain-tiny checkpoints/pretrain-tiny
    .venv/bin/python scripts/carry_run.py unpack checkpoints/pretrain-tiny work/models/pretrain-tiny
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


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("pack", "unpack"):
        sys.exit(__doc__)
    (pack if sys.argv[1] == "pack" else unpack)(Path(sys.argv[2]), Path(sys.argv[3]))
