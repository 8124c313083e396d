"""Decode splits with greedy search or beam search with a KenLM, and score them.

Reads the cached log-probs (running the acoustic model first when the cache is missing or
out of date), decodes, and writes per split and setting:

    <model>/decode/<split>/<setting>/recogs.jsonl   id, speaker, duration, ref, hyp, words
                                                    (each word's start, end in seconds, confidence)
    <model>/decode/<split>/<setting>/nbest.jsonl    up to --nbest hypotheses per utterance, best
                                                    first, with words and scores (nbest-info.json
                                                    says which model, decoder and LM made them)
    <model>/decode/<split>/<setting>/errs.txt       per-utterance alignments, confusions
    <model>/decode/<split>/<setting>/wer-summary.json   WER, CER, S/D/I, decoder settings, RTF

Settings: "greedy" (--lm none), "<lm>" (flashlight lexicon decoder, the paper's), and
"<lm>-pyctcdecode" / "<lm>-lexfree". LM weights saved by `asrkit tune-lm` for this model,
LM and decoder are used unless given here (or --no-tuned).

Beam and cost (the lexicon decoder; BENCHMARKS.md, "The official 4-gram at its real scale"):
the default beam, 500, is the paper's tuning beam; --paper decodes at its test beam, 1,500,
about 4x slower. With an LM of the official LibriSpeech 4-gram's size on 2 loaded CPU cores,
beam 500 added about 11% to the CPU inference time of a wav2vec 2.0 BASE model and beam
1,500 about 47%, over the 20% asrkit aims at; at beam 1,500, --beam-threshold 15 brought it
to 20%, --beam-size-token 8 to 14% and both to 9%, with the same WER there.
Decoding holds the LM in memory (for the official 4-gram: probing binary 5.3 GiB, trie 2.4
GiB, trie -q 8 -b 8 1.3 GiB, plus about 0.5 GiB for the 200k-word lexicon and the beams):
an LM larger than the memory available is refused before loading.

Examples:
  asrkit decode --model work/models/base-10min --split dev-other,test-other --lm none
  asrkit decode --model work/models/base-10min --split test-other --lm 4gram --beam 1500
  asrkit decode --model work/models/base-10min --split test-clean,test-other --lm 4gram --paper
  asrkit decode --model M --split dev-other --lm 4gram --decoder pyctcdecode --alpha 0.8 --beta 1.0
  asrkit decode --model M --split dev-other --lm 4gram --nbest 10     # N-best lists for rescoring
  asrkit decode --model M --split test-other --lm 4gram --rescore transformer  # + Transformer LM (asrkit.rescore)
  asrkit decode --model M --split test --lm 4gram --hotword ANTHROPIC:8 --hotwords names.txt
"""

from __future__ import annotations

import argparse
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
    g.add_argument("--hotword", action="append", dest="hotword_specs", metavar="WORD[:WEIGHT]",
                   help="boost a word (repeatable), e.g. a name the LM never saw: flashlight spells it into its "
                        "lexicon, pyctcdecode uses its own hotwords. WEIGHT is added to a hypothesis' score "
                        "(natural log) per occurrence (default 10, pyctcdecode's)")
    g.add_argument("--hotwords", action="append", dest="hotword_files", metavar="FILE",
                   help="a file of hotwords, one WORD or WORD:WEIGHT per line (# comments)")
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
    parser.add_argument("--nbest", type=int, default=1, metavar="N",
                        help="hypotheses kept per utterance in nbest.jsonl (default 1); the beam decoders "
                             "give up to N distinct ones, greedy always 1")
    parser.add_argument("--paper", action="store_true",
                        help="the paper's test decoding: beam 1500 (unless --beam is given; needs --lm), about 4x "
                             "the time of the default beam 500 (see above). Without it the decoder's own, cheaper beam")
    from asrkit.cli import rescore

    rescore.add_arguments(parser)


def decoder_choice(args: argparse.Namespace, use_tuned: bool = True):
    """The decoder the flags of add_decoder_arguments ask for (asrkit.decode.setup applies it)."""
    from asrkit.decode.hotwords import combine
    from asrkit.decode.setup import BEAM_SETTINGS, DecoderChoice

    settings = {k: getattr(args, k, None) for k in BEAM_SETTINGS}
    settings["hotwords"] = combine(getattr(args, "hotword_specs", None), getattr(args, "hotword_files", None))
    return DecoderChoice(lm=args.lm, lm_dir=args.lm_dir, decoder=args.decoder, use_tuned=use_tuned,
                         settings=settings)


def apply_paper_beam(args: argparse.Namespace, beam: int) -> None:
    """--paper: the paper's beam unless --beam is given; it only means something with an LM."""
    from asrkit.errors import SettingError

    if not getattr(args, "paper", False):
        return
    if args.lm == "none" or args.decoder == "greedy":
        raise SettingError("--paper sets the paper's beam-search settings: give --lm (e.g. --lm 4gram)")
    if args.beam is None:
        args.beam = beam


def run(args: argparse.Namespace) -> int:
    from asrkit import paper, workspace
    from asrkit.decode.run import decode_splits
    from asrkit.decode.setup import setup_decoder
    from asrkit.provenance import command_line
    from asrkit.results import skipped_text

    model_dir = workspace.resolve_model(args.model)
    apply_paper_beam(args, paper.TEST_BEAM)
    setup = setup_decoder(model_dir, decoder_choice(args, use_tuned=not args.no_tuned))
    if setup.lm is not None:
        print(f"decoder {setup.decoder} with LM {setup.lm.name} ({setup.lm.path}); weights: {setup.source}")
    if args.rescore:
        from asrkit.cli import rescore

        return rescore.run_decode(args, model_dir, setup, args.manifests or workspace.manifests_dir(),
                                  logits_options(args), command_line(args.argv))
    summaries = decode_splits(model_dir, splits_of(args.split), args.manifests or workspace.manifests_dir(), setup,
                              logits_options(args), setting=args.setting, command=command_line(args.argv),
                              workers=args.workers, progress=not args.no_progress, nbest=args.nbest)
    for s in summaries:
        print(f"{s.split}\t{s.setting}\tWER {100 * s.wer:.2f}%\tCER {100 * s.cer:.2f}%\t"
              f"{s.utterances} utts{skipped_text(s)}\tdecode RTF {s.rtf:.4f}")
    return 0


def output_folder(args: argparse.Namespace) -> Path:
    """The model folder: decode writes its logits cache and results there."""
    from asrkit import workspace

    return workspace.resolve_model(args.model)
