"""The wav2vec 2.0 paper's claim in miniature: does self-supervised pre-training make a few
minutes of labels work? Each starting point (random init, a pre-training snapshot, the
embedded checkpoint, ...) goes through the whole demo (fine-tune, greedy and 4-gram
decoding, LM tuning on dev-other, report) on one shared synthetic corpus, and the script
prints one Markdown row per starting point and labelled split (also written to
WORK/claim.md).

    .venv/bin/python benchmarks/pretrain_claim.py --work work/exp/claim \\
        --point random=tiny \\
        --point ssl-2000=work/models/pretrain-tiny/snapshots/update-2000 \\
        --point embedded=asrkit/assets/starting-checkpoint@recipes/demo.yaml \\
        [--labelled 10min 1h] [--seeds 1 2] [--recipe recipes/demo_pretrained.yaml] [--set train.max_updates=600]

A point is LABEL=MODEL or LABEL=MODEL@RECIPE (the recipe defaults to --recipe); --set
applies to every point that uses --recipe. Work already done under --work is reused (the
demo's stages are idempotent), so an interrupted comparison resumes. Columns: the kept
model's dev-other CER (the validation that selected it), greedy and 4-gram WER/CER on
dev-other and test-clean, fine-tuning seconds, and how the starting point was pre-trained.

--seeds runs every point once per fine-tuning seed (train.seed; the recipes' own is 1) and
adds a table of the mean and range over seeds: on 10 minutes of labels two seeds of the same
run can end 6 points of CER apart, more than most of the differences being measured.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from asrkit.data.synth import SynthOptions, synthesize
from asrkit.demo import LM_NAME, DemoOptions, run_demo
from asrkit.pretrain.info import read_pretraining
from asrkit.results import read_summary, result_dir

ROOT = Path(__file__).resolve().parent.parent
# Six 1h folds make both the 10min split (fold 0, the demo's own) and the 1h split.
SYNTH = {"folds": 6}


def parse_point(text: str, default_recipe: Path) -> tuple[str, str, Path]:
    label, sep, rest = text.partition("=")
    if not sep or not label or not rest:
        raise SystemExit(f"--point {text!r}: expected LABEL=MODEL or LABEL=MODEL@RECIPE")
    model, _, recipe = rest.partition("@")
    return label, model, Path(recipe) if recipe else default_recipe


def run_point(work: Path, corpus: Path, model: str, recipe: Path, overrides: tuple[str, ...],
              labelled: str) -> dict:
    """The demo for one starting point and labelled split, on the shared corpus; its numbers."""
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "corpus").exists():
        (work / "corpus").symlink_to(corpus.resolve(), target_is_directory=True)
    run_demo(DemoOptions(work=work, model=model, recipe=recipe, synth=SYNTH, progress=False,
                         overrides=(f"data.train_split={labelled}", *overrides)))
    model_dir = work / "models" / "demo"
    summary = json.loads((model_dir / "train-summary.json").read_text())
    return {"kept_dev_other_cer": 100 * summary["best_cer"], "best_update": summary["best_update"],
            "finetune_seconds": summary["train_seconds"],  # the run's own, also when reused
            "model_dir": model_dir}


def percent(model_dir: Path, setting: str, split: str, metric: str) -> float:
    """WER or CER in percent of one decode result, read through its checked reader."""
    return 100 * getattr(read_summary(result_dir(model_dir, split, setting)), metric)


def cell(model_dir: Path, setting: str, split: str, metric: str) -> str:
    return f"{percent(model_dir, setting, split, metric):.1f}"


def markdown_row(label: str, model: str, labelled: str, numbers: dict) -> str:
    d = numbers["model_dir"]
    greedy = [" / ".join(cell(d, "greedy", split, m) for m in ("wer", "cer")) for split in ("dev-other", "test-clean")]
    return (f"| {label} | {labelled} | {numbers['kept_dev_other_cer']:.1f} (@{numbers['best_update']}) | "
            f"{greedy[0]} | {greedy[1]} | {cell(d, LM_NAME, 'test-clean', 'wer')} | "
            f"{numbers['finetune_seconds']:.0f} | {read_pretraining(model).describe()} |")


def seed_summary(rows: list[tuple[str, str, dict]]) -> str:
    """Mean and range over seeds of the kept dev-other CER and the test-clean 4-gram WER,
    per starting point and labelled split (rows: label, labelled, numbers)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for label, labelled, numbers in rows:
        groups.setdefault((label, labelled), []).append(numbers)
    lines = ["| starting point | labels | seeds | dev-other CER, kept: mean (min-max) | test-clean 4-gram WER: mean (min-max) |",
             "|---|---|---:|---:|---:|"]
    for (label, labelled), runs in groups.items():
        cer = [r["kept_dev_other_cer"] for r in runs]
        wer = [percent(r["model_dir"], LM_NAME, "test-clean", "wer") for r in runs]
        lines.append(f"| {label} | {labelled} | {len(runs)} | {_spread(cer)} | {_spread(wer)} |")
    return "\n".join(lines) + "\n"


def _spread(values: list[float]) -> str:
    return f"{sum(values) / len(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def point_dir(work: Path, label: str, labelled: str, seed: int) -> Path:
    """Seed 1 (the recipes' own) keeps the plain name, so earlier comparisons are reused."""
    return work / (f"{label}-{labelled}" if seed == 1 else f"{label}-{labelled}-seed{seed}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, required=True, help="folder for the corpus and every point's demo")
    ap.add_argument("--point", action="append", required=True, help="LABEL=MODEL or LABEL=MODEL@RECIPE")
    ap.add_argument("--recipe", type=Path, default=ROOT / "recipes" / "demo_pretrained.yaml")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="recipe override for --recipe points")
    ap.add_argument("--labelled", nargs="+", default=["10min"], choices=["10min", "1h"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1], help="fine-tuning seeds (train.seed) per point")
    args = ap.parse_args()
    points = [parse_point(p, args.recipe) for p in args.point]
    corpus = args.work / "corpus"
    synthesize(SynthOptions(root=corpus, **SYNTH), progress=False)  # once, shared by every point
    header = ("| starting point | labels | dev-other CER, kept (@update) | dev-other greedy WER / CER | "
              "test-clean greedy WER / CER | test-clean 4-gram WER | finetune s | pre-training |\n"
              "|---|---|---:|---:|---:|---:|---:|---|")
    lines, rows = [], []
    for labelled in args.labelled:
        for label, model, recipe in points:
            for seed in args.seeds:
                overrides = (tuple(args.overrides) if recipe == args.recipe else ()) + (f"train.seed={seed}",)
                numbers = run_point(point_dir(args.work, label, labelled, seed), corpus, model, recipe,
                                    overrides, labelled)
                name = label if len(args.seeds) == 1 else f"{label} (seed {seed})"
                lines.append(markdown_row(name, model, labelled, numbers))
                rows.append((label, labelled, numbers))
                print(lines[-1], file=sys.stderr, flush=True)
    table = header + "\n" + "\n".join(lines) + "\n"
    if len(args.seeds) > 1:
        table += "\n" + seed_summary(rows)
    (args.work / "claim.md").write_text(table, encoding="utf-8")
    print(f"\n=== the comparison (also in {args.work / 'claim.md'})\n{table}", end="")


if __name__ == "__main__":
    main()
