"""Pre-train a wav2vec 2.0 model on unlabelled audio with the paper's self-supervised
objective (masked latents, a Gumbel-softmax quantiser of 2 x 320 codevectors, a
contrastive loss against 100 distractors and a diversity loss), or continue pre-training
a checkpoint on your own audio.

Recipes: recipes/pretrain_base.yaml (fairseq's wav2vec2_base_librispeech: 400k updates
of 64 x 1.4M samples), pretrain_large.yaml (LV-60k), pretrain_tiny.yaml (a tiny model at CPU
scale, the route to a self-supervised embedded checkpoint). --recipe takes a file or one of those names (base, large, tiny).

Audio comes from manifests (`asrkit prepare`; transcripts are never read) or from a
folder of audio files with no transcripts (--audio-dir: Libri-light's unlab layout or
your own recordings; a hundredth of the files long enough to train on (data.min_sample_size)
is held out as the dev split, shorter files are counted in the log, and every file that
cannot be read is listed in OUT/manifests/unlabelled.skipped.tsv).

The output folder loads with Wav2Vec2ForPreTraining.from_pretrained(OUT) and fine-tunes
with `asrkit finetune --model OUT`. train-log.jsonl holds, per log interval and per
validation: contrastive loss (nats per masked frame; fairseq logs bits), diversity loss,
feature penalty, code and prob perplexity, Gumbel temperature and contrastive accuracy.
Running the same command after an interruption continues from the last checkpoint.

Examples:
  asrkit pretrain --recipe tiny --manifests work/pretrain-manifests --out work/models/pretrain-tiny
  asrkit pretrain --recipe base --model facebook/wav2vec2-base --audio-dir /data/my-recordings --out work/models/adapted
  asrkit pretrain --recipe tiny --manifests work/manifests --set data.train_split=10min --set train.max_updates=3 --set train.warmup_updates=1
  accelerate launch --multi_gpu --num_processes 8 -m asrkit pretrain --recipe base --manifests /data/manifests
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
from pathlib import Path

HELP = "pre-train (or continue pre-training) a wav2vec 2.0 model on unlabelled audio (accelerate)"

RECIPE_NAMES = ("base", "large", "tiny")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipe", default="base",
                        help=f"a recipe YAML file, or {', '.join(RECIPE_NAMES)} for recipes/pretrain_<name>.yaml")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--manifests", type=Path, default=None,
                        help="folder of <split>.jsonl manifests; None: work/manifests ($ASRKIT_WORK/manifests)")
    source.add_argument("--audio-dir", type=Path, default=None,
                        help="a folder of audio files without transcripts, used instead of manifests")
    parser.add_argument("--model", help="continue from this checkpoint (hub id or folder), or random init: "
                                        "base, large, tiny; None: the recipe's model.name")
    parser.add_argument("--out", type=Path, default=None, help="output folder; None: work/models/pretrain-<recipe>")
    parser.add_argument("--dev-split", help="held-out split, 'none' for no validation; None: the recipe's")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a recipe value, e.g. --set train.max_updates=3 (repeatable)")
    parser.add_argument("--restart", action="store_true",
                        help="start over; the previous run is kept in OUT/.previous-run until the new one checkpoints")
    parser.add_argument("--print-recipe", action="store_true", help="print the resolved recipe and exit")


def recipe_path(name: str) -> Path:
    """base/large/tiny -> the shipped pretrain_<name>.yaml; otherwise a file or a shipped recipe's name."""
    from asrkit.config import find_recipe

    return find_recipe(f"pretrain_{name}" if name in RECIPE_NAMES else name)


def output_folder(args: argparse.Namespace) -> Path | None:
    """--out, else work/models/pretrain-<recipe>; None with --print-recipe (nothing written)."""
    from asrkit import workspace

    if args.print_recipe:
        return None
    return args.out or workspace.models_dir() / f"pretrain-{recipe_path(args.recipe).stem.removeprefix('pretrain_')}"


def run(args: argparse.Namespace) -> int:
    from asrkit import workspace
    from asrkit.cli.finetune import model_name
    from asrkit.config import PretrainRecipe, dump_recipe, load_recipe
    from asrkit.pretrain import PretrainOptions, pretrain
    from asrkit.pretrain.data import FOLDER_DEV, FOLDER_TRAIN, scan_audio_folder

    path = recipe_path(args.recipe)
    out = output_folder(args)
    values = {}
    if args.model:
        values["model.name"] = model_name(args.model)
    if args.audio_dir is not None:
        values["data.train_split"], values["data.dev_split"] = FOLDER_TRAIN, FOLDER_DEV
    if args.dev_split:
        values["data.dev_split"] = args.dev_split
    recipe = load_recipe(path, args.overrides, values, kind=PretrainRecipe)
    if args.print_recipe:
        print(dump_recipe(recipe, f"# resolved from {path}"), end="")
        return 0
    manifests, record = args.manifests or workspace.manifests_dir(), None
    if args.audio_dir is not None:
        # The scan goes to a folder of this process's own; it replaces OUT/manifests (the record
        # of what the run trained on) only if the run trains on it (asrkit.pretrain.loop).
        manifests, record = out / f".manifests.scan-{os.environ.get('RANK', '0')}", out / "manifests"
        shutil.rmtree(manifests, ignore_errors=True)
        counts = scan_audio_folder(args.audio_dir, manifests, recipe.data.min_sample_size)
        print(f"{args.audio_dir}: {counts['train']} training and {counts['dev']} dev files, "
              f"{counts['skipped']} skipped (listed in {record / 'unlabelled.skipped.tsv'})")
    options = PretrainOptions(recipe=recipe, out_dir=out, manifests_dir=manifests, command="asrkit " + shlex.join(args.argv),
                              restart=args.restart, progress=not args.no_progress, record_manifests=record)
    try:
        summary = pretrain(options)
    finally:
        if record is not None:
            shutil.rmtree(manifests, ignore_errors=True)
    print(f"pre-trained model: {out} ({summary['updates']} updates)")
    return 0
