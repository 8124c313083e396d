"""Tune the LM weight and word score of a beam-search decoder on a dev split.

As in the wav2vec 2.0 paper: LM weight in [0, 5], word score in [-5, 5], searched on
dev-other (the paper used 128 trials at beam 500) with optuna's TPE sampler, or a grid
(--method grid). The first trial is the decoder's default setting. Results, every trial
included, go to <model>/lm-tuning.json; `asrkit decode` then uses the best values for
this LM and decoder unless given others. For pyctcdecode the pair tuned is alpha/beta.

--rescore LM tunes a Transformer LM's weight and word score instead, over the first pass's
cached N-best lists (decode/<split>/<lm>/nbest.jsonl, made once when missing; lists of another
model or LM are refused): no decoding per trial, so 128 trials take seconds (asrkit.rescore).

--paper runs the paper's search: 128 trials at beam 500 (a flag given as well wins); the
defaults (64 trials, the decoder's own beam) are cheaper.

Examples:
  asrkit tune-lm --model work/models/base-10min --split dev-other --lm 4gram
  asrkit tune-lm --model work/models/base-10min --split dev-other --lm 4gram --paper
  asrkit tune-lm --model work/models/base-10min --split dev-other --lm 4gram --rescore transformer
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asrkit.cli.decode import add_decoder_arguments, apply_paper_beam, decoder_choice
from asrkit.cli.logits import add_common, logits_options

HELP = "search LM weight and word score on a dev split (optuna TPE or grid)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common(parser)
    parser.add_argument("--split", default="dev-other", help="dev split to tune on")
    add_decoder_arguments(parser)
    t = parser.add_argument_group("search")
    t.add_argument("--method", choices=["tpe", "grid"], default="tpe", help="optuna TPE or a regular grid")
    t.add_argument("--trials", type=int, default=None, help="decodes of the dev split (default 64; paper: 128)")
    t.add_argument("--weight-range", type=float, nargs=2, default=[0.0, 5.0], metavar=("LO", "HI"),
                   help="LM weight range (alpha for pyctcdecode)")
    t.add_argument("--score-range", type=float, nargs=2, default=[-5.0, 5.0], metavar=("LO", "HI"),
                   help="word score range (beta for pyctcdecode, sil score for lexfree)")
    t.add_argument("--seed", type=int, default=0, help="sampler seed")
    t.add_argument("--paper", action="store_true",
                   help="the paper's search: 128 trials at beam 500 over lm weight [0, 5] and word score [-5, 5]")
    from asrkit.cli import rescore

    rescore.add_arguments(parser, tuning=True)


def trials_of(args: argparse.Namespace) -> int:
    """--trials, else the paper's 128 with --paper, else 64."""
    from asrkit import paper

    if args.trials is not None:
        return args.trials
    return paper.TUNE_TRIALS if args.paper else 64


def run(args: argparse.Namespace) -> int:
    from asrkit import paper, workspace
    from asrkit.decode.setup import setup_decoder
    from asrkit.decode.tune import TuneOptions, tune_split, tuning_path

    model_dir = workspace.resolve_model(args.model)
    apply_paper_beam(args, paper.TUNE_BEAM)
    if args.rescore:  # the first pass as decode runs it (its tuned weights), re-ranked per trial
        from asrkit.cli import rescore

        setup = setup_decoder(model_dir, decoder_choice(args, use_tuned=True))
        return rescore.run_tune(args, model_dir, setup, args.manifests or workspace.manifests_dir(),
                                logits_options(args), trials_of(args))
    setup = setup_decoder(model_dir, decoder_choice(args, use_tuned=False))
    options = TuneOptions(method=args.method, trials=trials_of(args), weight_range=tuple(args.weight_range),
                          score_range=tuple(args.score_range), seed=args.seed, workers=args.workers)
    result = tune_split(model_dir, args.split, args.manifests or workspace.manifests_dir(), setup, options,
                        logits_options(args), progress=not args.no_progress)
    w, s = result.params
    print(f"{args.split}: default {w}={result.default[w]:g} {s}={result.default[s]:g} WER "
          f"{100 * result.default_wer:.2f}% -> best {w}={result.best[w]:.3f} {s}={result.best[s]:.3f} "
          f"WER {100 * result.best_wer:.2f}% ({len(result.trials)} trials, {result.seconds:.0f} s) "
          f"-> {tuning_path(model_dir)}")
    return 0


def output_folder(args: argparse.Namespace) -> Path:
    """The model folder: its logits cache and lm-tuning.json."""
    from asrkit import workspace

    return workspace.resolve_model(args.model)
