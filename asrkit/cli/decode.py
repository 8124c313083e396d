"""Decode splits with greedy search or beam search with a KenLM, and score them.

Reads the cached log-probs (running the acoustic model first when the cache is missing or
out of date), decodes, and writes per split and setting:

    <model>/decode/<split>/<setting>/recogs.jsonl   id, speaker, duration, ref, hyp
    <model>/decode/<split>/<setting>/errs.txt       per-utterance alignments, confusions
    <model>/decode/<split>/<setting>/wer-summary.json   WER, CER, S/D/I, decoder settings, RTF

Settings: "greedy" (--lm none), "<lm>" (flashlight lexicon decoder, the paper's), and
"<lm>-pyctcdecode" / "<lm>-lexfree". LM weights saved by `asrkit tune-lm` for this model,
LM and decoder are used unless given here (or --no-tuned).

Examples:
  asrkit decode --model work/models/base-10min --split dev-other,test-other --lm none
  asrkit decode --model work/models/base-10min --split test-other --lm 4gram --beam 1500
  asrkit decode --model M --split dev-other --lm 4gram --decoder pyctcdecode --alpha 0.8 --beta 1.0
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from asrkit.cli.logits import add_common, logits_options, splits_of

HELP = "decode splits (greedy or beam search + KenLM) and write WER results"


def add_decoder_arguments(parser: argparse.ArgumentParser, workers: bool = True) -> None:
    """--lm, --decoder and the beam-search settings, shared with tune-lm and transcribe
    (which decodes one file at a time: workers=False leaves out --workers)."""
    parser.add_argument("--lm", default="none",
                        help="language model: a name under the LM folder (see `asrkit lm list`), "
                             "a folder or an .arpa/.bin file, or 'none' for greedy decoding")
    parser.add_argument("--lm-dir", type=Path, default=None,
                        help="folder of named language models (default: the workspace's lm/)")
    parser.add_argument("--decoder", choices=["flashlight", "pyctcdecode", "lexfree", "greedy"], default=None,
                        help="default: flashlight (lexicon + word LM) with an LM, greedy without")
    g = parser.add_argument_group("beam search (defaults: each decoder's own; see asrkit.decode)")
    g.add_argument("--beam", type=int, default=None, help="beam size (flashlight 500, pyctcdecode/lexfree 100)")
    g.add_argument("--beam-threshold", type=float, default=None, help="flashlight: prune hypotheses this far below the best (25)")
    g.add_argument("--beam-size-token", type=int, default=None, help="flashlight: tokens tried per frame (all)")
    g.add_argument("--lm-weight", type=float, default=None, help="flashlight: LM weight (2.0, or the tuned value)")
    g.add_argument("--word-score", type=float, default=None, help="flashlight lexicon: score per word (-1.0, or tuned)")
    g.add_argument("--sil-score", type=float, default=None, help="flashlight: score per word delimiter (0)")
    g.add_argument("--alpha", type=float, default=None, help="pyctcdecode: LM weight (0.5, or tuned)")
    g.add_argument("--beta", type=float, default=None, help="pyctcdecode: word bonus (1.5, or tuned)")
    g.add_argument("--beam-prune-logp", type=float, default=None, help="pyctcdecode: beam pruning (-10)")
    g.add_argument("--token-min-logp", type=float, default=None, help="pyctcdecode: token pruning (-5)")
    if workers:
        g.add_argument("--workers", type=int, default=None, help="decoding processes (default: every core)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common(parser)
    parser.add_argument("--split", action="append", required=True, metavar="NAME",
                        help="split(s), comma-separated or repeated, e.g. dev-other,test-other")
    add_decoder_arguments(parser)
    parser.add_argument("--no-tuned", action="store_true",
                        help="ignore LM weights saved by `asrkit tune-lm` for this model")
    parser.add_argument("--setting", default=None, help="result name (default: greedy, <lm>, <lm>-<decoder>)")


FLAG = {"beam": "--beam", "beam_threshold": "--beam-threshold", "beam_size_token": "--beam-size-token",
        "lm_weight": "--lm-weight", "word_score": "--word-score", "sil_score": "--sil-score",
        "alpha": "--alpha", "beta": "--beta", "beam_prune_logp": "--beam-prune-logp",
        "token_min_logp": "--token-min-logp"}


def decoder_setup(args, model_dir, use_tuned: bool = True):
    """(decoder name, LanguageModel or None, options, where the weights came from)."""
    from asrkit.decode.run import make_options
    from asrkit.errors import AsrkitError, SettingError
    from asrkit.decode.tune import tuned_params
    from asrkit.lm import resolve

    lm = resolve(args.lm, args.lm_dir)
    decoder = args.decoder or ("flashlight" if lm is not None else "greedy")
    if decoder == "greedy" and lm is not None:
        raise SettingError("--decoder greedy takes no LM: use --lm none")
    if decoder == "flashlight" and lm is None:
        raise SettingError("--decoder flashlight needs --lm (its words and lexicon)")
    given = {k: getattr(args, k) for k in FLAG if getattr(args, k, None) is not None}
    if decoder == "greedy" and given:
        raise SettingError(f"{', '.join(FLAG[k] for k in given)} need a beam-search decoder (--lm NAME)")
    tuned = tuned_params(model_dir, lm.name, decoder) if (lm is not None and use_tuned) else None
    source = "tuned (lm-tuning.json)" if tuned else "defaults"
    try:
        options = make_options(decoder, lm, {**(tuned or {}), **given})
    except AsrkitError as e:
        message = str(e)
        for k, flag in FLAG.items():  # name the command-line flag, not the dataclass field
            message = message.replace(f"setting {k}", f"option {flag}")
        raise type(e)(message) from None
    return decoder, lm, options, source


def run(args: argparse.Namespace) -> int:
    from asrkit import logits, workspace
    from asrkit.decode import Vocabulary, make_decoder
    from asrkit.decode.run import decode_split, setting_name

    model_dir = logits.resolve_model(args.model)
    decoder, lm, options, source = decoder_setup(args, model_dir, use_tuned=not args.no_tuned)
    setting = args.setting or setting_name(decoder, lm)
    command = "asrkit " + " ".join(shlex.quote(a) for a in getattr(args, "argv", sys.argv[1:]))
    manifests = args.manifests or workspace.manifests_dir()
    if lm is not None:
        print(f"decoder {decoder} with LM {lm.name} ({lm.path}); weights: {source}")
    built = None  # one decoder (one LM load) for every split with the same vocabulary
    for split in splits_of(args.split):
        cache = logits.ensure(model_dir, split, manifests, logits_options(args))
        if built is None or list(built.vocab.tokens) != cache.tokens:
            built = make_decoder(decoder, options, Vocabulary.of(cache.tokens))
        s = decode_split(model_dir, split, cache, decoder, options, setting, command, args.workers, built=built)
        print(f"{split}\t{setting}\tWER {100 * s.wer:.2f}%\tCER {100 * s.cer:.2f}%\t"
              f"{s.utterances} utts\tdecode RTF {s.rtf:.4f}")
    return 0
