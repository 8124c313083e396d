"""Fine-tune a wav2vec 2.0 style checkpoint with CTC, following a recipe of the paper.

`--split 10min` picks recipes/base_10min.yaml (the fairseq base_10m settings: 13,000
updates, peak LR 5e-5, transformer frozen for 10,000 updates, masks 0.65/0.25, an
effective batch of at most 1,600 s of audio, ~1,100 s of LibriSpeech utterances once batches
close at multiples of 8 as fairseq's do). The recipe's effective batch is kept on any number
of devices by gradient accumulation; `accelerate launch` runs it on several GPUs or nodes.

The output folder holds the best model by dev WER or CER (train.select_by) with its
processor (load it with transformers.pipeline("automatic-speech-recognition", model=OUT)),
recipe.yaml and train-log.jsonl. Running the same command after an interruption continues from the last
checkpoint; running it after training finished does nothing (--restart to redo).

Examples:
  asrkit finetune --split 10min --model facebook/wav2vec2-base
  asrkit finetune --recipe recipes/demo.yaml --out work/models/demo
  asrkit finetune --split 1h --set train.lr=3e-5 --set data.max_tokens=1600000
  accelerate launch --multi_gpu --num_processes 8 -m asrkit finetune --split 100h --model facebook/wav2vec2-base
  ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes 2 -m asrkit finetune ...   (DDP on CPU)
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "fine-tune a checkpoint with CTC following a wav2vec 2.0 recipe (accelerate)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--split", help="labelled split (10min, 1h, 10h, 100h): uses recipes/<size>_<split>.yaml "
                                        "and trains on that manifest")
    source.add_argument("--recipe", help="a recipe YAML file, or the name of a shipped one (base_10min, demo, ...: "
                                         "see recipes/); with neither: demo")
    parser.add_argument("--size", default="base", choices=["base", "large"],
                        help="with --split: which recipe family")
    parser.add_argument("--model", help="checkpoint: hub id, local folder, or tiny/tiny-layernorm/tiny-w2v-bert; "
                                        "None: the recipe's model.name")
    parser.add_argument("--manifests", type=Path, default=None,
                        help="folder of <split>.jsonl manifests; None: work/manifests ($ASRKIT_WORK/manifests)")
    parser.add_argument("--out", type=Path, default=None, help="output folder; None: work/models/<recipe name>, e.g. base-10min")
    parser.add_argument("--dev-split", help="validation split, 'none' for no validation; None: the recipe's "
                                            "(dev-other, as in the paper)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a recipe value, e.g. --set train.lr=3e-5 (repeatable)")
    parser.add_argument("--restart", action="store_true",
                        help="start over: after the recipe, splits and model are checked, the previous run "
                             "moves to OUT/.previous-run, removed once the new run's first checkpoint is written")
    parser.add_argument("--print-recipe", action="store_true", help="print the resolved recipe and exit")


def model_name(given: str) -> str:
    """--model as the recipe records it: a local folder as an absolute path, so that a report
    run from another folder still finds the checkpoint and how it was pre-trained; a hub id
    or built-in name as given."""
    return str(Path(given).resolve()) if Path(given).exists() else given


def resolve(args):
    """(recipe, recipe path) from --split/--recipe, --model, --dev-split and --set."""
    from asrkit.config import find_recipe, load_recipe, recipe_for_split, recipes_dir

    if args.recipe is not None:
        path = find_recipe(args.recipe)
    elif args.split is not None:
        path = recipe_for_split(args.split, args.size)
    else:
        path = recipes_dir() / "demo.yaml"
    values = {}
    if args.split is not None:
        values["data.train_split"] = args.split
    if args.model:
        values["model.name"] = model_name(args.model)
    if args.dev_split:
        values["data.dev_split"] = args.dev_split
    return load_recipe(path, args.overrides, values), Path(path)


def run(args: argparse.Namespace) -> int:
    from asrkit import workspace
    from asrkit.config import dump_recipe
    from asrkit.provenance import command_line
    from asrkit.train import FinetuneOptions, finetune

    recipe, path = resolve(args)
    if args.print_recipe:
        print(dump_recipe(recipe, f"# resolved from {path}"), end="")
        return 0
    out = output_folder(args)
    options = FinetuneOptions(
        recipe=recipe, out_dir=out, manifests_dir=args.manifests or workspace.manifests_dir(),
        command=command_line(args.argv), restart=args.restart, progress=not args.no_progress,
    )
    summary = finetune(options)
    print(f"fine-tuned model: {out} ({summary['updates']} updates{_dev_result(summary, recipe)})")
    return 0


def output_folder(args: argparse.Namespace) -> Path | None:
    """--out, else work/models/<recipe file name, _ as ->: base-10min; None with --print-recipe."""
    from asrkit import workspace

    if args.print_recipe:
        return None
    return args.out or workspace.models_dir() / resolve(args)[1].stem.replace("_", "-")


def _dev_result(summary: dict, recipe) -> str:
    """', best dev-other CER 50.22% (WER 91.45%) at update 200, from CER 153.71%' or ''."""
    if summary.get("best_wer") is None:
        return ""
    metric = recipe.train.select_by
    other = "wer" if metric == "cer" else "cer"
    text = (f", best {recipe.data.dev_split} {metric.upper()} {100 * summary[f'best_{metric}']:.2f}% "
            f"({other.upper()} {100 * summary[f'best_{other}']:.2f}%) at update {summary['best_update']}")
    if summary.get(f"start_{metric}") is not None:
        text += f", from {metric.upper()} {100 * summary[f'start_{metric}']:.2f}% at the start"
    return text
