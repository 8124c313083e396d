"""Gather decode results into WER tables and model cards.

Reads <model>/decode/<split>/<setting>/wer-summary.json (and recogs.jsonl, recipe.yaml,
lm-tuning.json, train-log.jsonl where present) and writes, into --out:

    report.md    the WER table (%, the wav2vec 2.0 paper's figures in brackets for
                 LibriSpeech recipes) and, per row, the command, commit, decoder and RTF
    report.json  the same content
    report.html  one self-contained page with plots: WER against LM weight, training
                 curves, WER by utterance length

and a README.md model card (Hugging Face model-index block) into each model folder.

    asrkit report --models work/models/base-10min work/models/base-1h
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asrkit import workspace

HELP = "WER tables (Markdown, JSON, HTML with plots) and model cards from decode results"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # Keep the layout of the description above; defaults are spelt out in each help text.
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--models", nargs="+", type=Path, metavar="DIR",
                        help="model folders (default: every folder under the workspace's models/ "
                             "that has decode results)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"report folder (default: {workspace.reports_dir()})")
    card = parser.add_mutually_exclusive_group()
    card.add_argument("--model-card", action="store_true",
                      help="write README.md model cards even over a README that asrkit did not write "
                           "(by default such a README is kept and a card is written everywhere else)")
    card.add_argument("--no-model-card", action="store_true", help="write no model cards")
    parser.epilog = "Exit status: 0 when the report is written; 1 when no decode results are found."


def run(args: argparse.Namespace) -> int:
    from asrkit.errors import ReportError
    from asrkit.report import ReportOptions, find_models, report

    models = args.models
    if not models:
        root = workspace.models_dir()
        models = find_models(root) if root.is_dir() else []
        if not models:
            raise ReportError(f"no model folders with decode results under {root}: "
                              "pass --models DIR or run `asrkit decode` first")
    options = ReportOptions(out_dir=args.out or workspace.reports_dir(),
                            model_cards=not args.no_model_card, overwrite_readme=args.model_card)
    files = report(models, options)
    print(files.table, end="")
    print(f"\nfull report: {files.html}  (Markdown {files.markdown}, JSON {files.json})")
    for path in files.cards:
        print(f"model card: {path}")
    if files.problems:
        print(f"{len(files.problems)} file(s) could not be read; listed in {files.markdown}")
    return 0


def output_folder(args: argparse.Namespace) -> Path:
    """The reports folder (model cards go into the model folders, each written atomically)."""
    return args.out or workspace.reports_dir()
