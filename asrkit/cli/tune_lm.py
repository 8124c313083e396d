"""Tune the LM weight and word score of a beam-search decoder on a dev split.

As in the wav2vec 2.0 paper: LM weight in [0, 5], word score in [-5, 5], searched on
dev-other (the paper used 128 trials at beam 500) with optuna's TPE sampler, or a grid
(--method grid). The first trial is the decoder's default setting. Results, every trial
included, go to <model>/lm-tuning.json; `asrkit decode` then uses the best values for
this LM and decoder unless given others. For pyctcdecode the pair tuned is alpha/beta.

Example:
  asrkit tune-lm --model work/models/base-10min --split dev-other --lm 4gram --trials 128
"""

from __future__ import annotations

import argparse

from asrkit.cli.decode import add_decoder_arguments, decoder_setup
from asrkit.cli.logits import add_common, logits_options

HELP = "search LM weight and word score on a dev split (optuna TPE or grid)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common(parser)
    parser.add_argument("--split", default="dev-other", help="dev split to tune on")
    add_decoder_arguments(parser)
    t = parser.add_argument_group("search")
    t.add_argument("--method", choices=["tpe", "grid"], default="tpe", help="optuna TPE or a regular grid")
    t.add_argument("--trials", type=int, default=64, help="decodes of the dev split (paper: 128)")
    t.add_argument("--weight-range", type=float, nargs=2, default=[0.0, 5.0], metavar=("LO", "HI"),
                   help="LM weight range (alpha for pyctcdecode)")
    t.add_argument("--score-range", type=float, nargs=2, default=[-5.0, 5.0], metavar=("LO", "HI"),
                   help="word score range (beta for pyctcdecode, sil score for lexfree)")
    t.add_argument("--seed", type=int, default=0, help="sampler seed")


def run(args: argparse.Namespace) -> int:
    from asrkit import logits, workspace
    from asrkit.errors import DataError, SettingError
    from asrkit.decode import Vocabulary
    from asrkit.decode.run import references
    from asrkit.decode.tune import TuneOptions, save_tuning, tune

    model_dir = logits.resolve_model(args.model)
    decoder, lm, options, _ = decoder_setup(args, model_dir, use_tuned=False)
    if lm is None:
        raise SettingError("tune-lm needs --lm: there is no LM weight to tune without one")
    cache = logits.ensure(model_dir, args.split, args.manifests or workspace.manifests_dir(), logits_options(args))
    if len(cache) == 0:
        raise DataError(f"{cache.folder}: the split {args.split!r} has no utterances to tune on")
    topts = TuneOptions(method=args.method, trials=args.trials, weight_range=tuple(args.weight_range),
                        score_range=tuple(args.score_range), seed=args.seed, workers=args.workers)
    result = tune(decoder, options, cache.log_probs(), references(cache), topts,
                  vocab=Vocabulary.of(cache.tokens), lm_name=lm.name, split=args.split)
    path = save_tuning(model_dir, result)
    w, s = result.params
    print(f"{args.split}: default {w}={result.default[w]:g} {s}={result.default[s]:g} WER "
          f"{100 * result.default_wer:.2f}% -> best {w}={result.best[w]:.3f} {s}={result.best[s]:.3f} "
          f"WER {100 * result.best_wer:.2f}% ({len(result.trials)} trials, {result.seconds:.0f} s) -> {path}")
    return 0
