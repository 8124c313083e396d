"""The --rescore flags of `asrkit decode` and `asrkit tune-lm` (asrkit.rescore).

  asrkit decode --model M --split test-other --lm 4gram --rescore transformer [--nbest 50]
      The 4-gram beam search writes its N-best lists (decode/<split>/4gram/nbest.jsonl; lists
      already there from the same model, LM and settings are reused), then the Transformer LM
      re-ranks them by acoustic + w * transformer + word_score * words, and the result goes to
      decode/<split>/transformer/ (or --setting). Weights: given > tuned by
      `asrkit tune-lm --rescore` > the first pass's own LM weight and word score.

  asrkit tune-lm --model M --split dev-other --lm 4gram --rescore transformer
      Searches w and word_score on the cached dev N-best lists: no decoding per trial (the
      lists are made once when missing; lists of another model or LM are refused).

Why rescoring and not the paper's Transformer first pass (beam 500): see asrkit.rescore.
"""

from __future__ import annotations

import argparse

REASON = ("The paper decodes with its Transformer LM inside the beam search (beam 500, on GPUs), which costs a "
          "Transformer evaluation for every beam hypothesis at every word boundary; asrkit instead re-ranks the "
          "4-gram pass's N-best lists (one batched pass over N sentences per utterance, seconds per split on a "
          "CPU). Rescoring can only pick among those N hypotheses: wer-summary.json records the N-best oracle "
          "WER (the best any re-ranking could reach) and the first pass's WER beside the result; the WER of a "
          "Transformer first pass is not measured here.")


def add_arguments(parser: argparse.ArgumentParser, tuning: bool = False) -> None:
    g = parser.add_argument_group("rescoring with a Transformer LM", REASON)
    g.add_argument("--rescore", default=None, metavar="LM",
                   help="second-pass LM: a Transformer LM name (asrkit lm build --kind transformer), a "
                        "transformers folder or a hub id; needs --lm for the first pass, whose --nbest N lists "
                        "it re-ranks (50 when --nbest is not given)")
    if tuning:
        g.add_argument("--tune-ngram-weight", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                       help="also search the n-gram feature's weight in this range (TPE), e.g. 0 2")
    if tuning:  # decode has its own --nbest (how many hypotheses nbest.jsonl keeps)
        g.add_argument("--nbest", type=int, default=1, metavar="N",
                       help="first-pass hypotheses per utterance when the lists must be made "
                            "(default 50 with --rescore); cached lists are used as they are")
    else:
        g.add_argument("--rescore-lm-weight", type=float, default=None, metavar="W",
                       help="weight of the second LM's log-probability (natural log; default: tuned, else the "
                            "first pass's LM weight)")
        g.add_argument("--rescore-word-score", type=float, default=None, metavar="S",
                       help="score per word in the second pass (default: tuned, else the first pass's)")
    g.add_argument("--rescore-ngram-weight", type=float, default=None, metavar="X",
                   help="keep the first pass's n-gram score as a feature with this weight (default 0: the "
                        "Transformer alone, as the paper's column)")


def choice(args: argparse.Namespace, use_tuned: bool = True):
    from asrkit.rescore import DEFAULT_NBEST, RescoreChoice

    nbest = args.nbest if getattr(args, "nbest", 1) > 1 else DEFAULT_NBEST
    settings = {"lm_weight": getattr(args, "rescore_lm_weight", None),
                "word_score": getattr(args, "rescore_word_score", None),
                "ngram_weight": args.rescore_ngram_weight}
    return RescoreChoice(lm=args.rescore, lm_dir=args.lm_dir, nbest=nbest, settings=settings,
                         use_tuned=use_tuned, setting=getattr(args, "setting", None))


def run_decode(args: argparse.Namespace, model_dir, setup, manifests, logits_options, command: str) -> int:
    """`asrkit decode ... --rescore LM`: first pass, then rescoring; prints one line per split."""
    from asrkit.rescore import rescore_splits
    from asrkit.results import skipped_text

    from asrkit.cli.logits import splits_of

    summaries = rescore_splits(model_dir, splits_of(args.split), manifests, setup,
                               choice(args, use_tuned=not args.no_tuned), logits_options, command=command,
                               workers=args.workers, progress=not args.no_progress)
    for s in summaries:
        d = s.decoder
        print(f"{s.split}\t{s.setting}\tWER {100 * s.wer:.2f}%\tCER {100 * s.cer:.2f}%\t{s.utterances} utts{skipped_text(s)}\t"
              f"first pass {100 * d['first_pass_wer']:.2f}%\t{d['nbest']}-best oracle {100 * d['oracle_wer']:.2f}%\t"
              f"lm_weight {d['lm_weight']:.3g} word_score {d['word_score']:.3g}")
    return 0


def run_tune(args: argparse.Namespace, model_dir, setup, manifests, logits_options, trials: int) -> int:
    """`asrkit tune-lm ... --rescore LM`: the weight search over cached N-best lists."""
    from asrkit.rescore import Search, tune_split
    from asrkit.results import tuning_path

    search = Search(method=args.method, trials=trials, weight_range=tuple(args.weight_range),
                    score_range=tuple(args.score_range), seed=args.seed,
                    ngram_weight=args.rescore_ngram_weight or 0.0,
                    ngram_range=tuple(args.tune_ngram_weight) if args.tune_ngram_weight else None)
    r = tune_split(model_dir, args.split, manifests, setup, choice(args, use_tuned=False), search, logits_options,
                   progress=not args.no_progress)
    print(f"{args.split}: rescoring {r['nbest']}-best lists of {setup.setting} with {r['lm']}: first pass WER "
          f"{100 * r['first_pass_wer']:.2f}%, default weights {100 * r['default_wer']:.2f}% -> best "
          f"lm_weight={r['best']['lm_weight']:.3f} word_score={r['best']['word_score']:.3f} "
          f"ngram_weight={r['best']['ngram_weight']:.3f} WER "
          f"{100 * r['best_wer']:.2f}% (oracle {100 * r['oracle_wer']:.2f}%; {len(r['trials'])} trials, "
          f"{r['seconds']:.0f} s) -> {tuning_path(model_dir)}")
    return 0
