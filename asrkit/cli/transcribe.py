"""Transcribe your own recordings (wav, flac, ogg; any rate, mono or stereo) with a
fine-tuned model, greedily or with a KenLM.

Prints "<file>\\t<transcript>" per file on stdout; errors and the progress bar go to
stderr. Long files run in overlapping windows (--chunk-seconds, --stride-seconds). A file
that cannot be read is reported by name and skipped; the exit status is then 1.
LM weights saved by `asrkit tune-lm` for this model, LM and decoder are used unless
given here (or --no-tuned).

Examples:
  asrkit transcribe talk.flac --model work/models/demo
  asrkit transcribe recordings/*.wav --model work/models/demo --lm 4gram --out transcripts.jsonl
  asrkit transcribe memo.ogg --model M --lm my-lm/4gram.arpa --decoder pyctcdecode --beam 50
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from asrkit.cli.decode import add_decoder_arguments, decoder_choice
from asrkit.cli.logits import add_common, logits_options

HELP = "transcribe audio files with a fine-tuned model (and optionally a KenLM)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="audio files to transcribe")
    add_common(parser, manifests=False)
    add_decoder_arguments(parser, workers=False)
    parser.add_argument("--no-tuned", action="store_true",
                        help="ignore LM weights saved by `asrkit tune-lm` for this model")
    parser.add_argument("--out", type=Path, default=None, metavar="FILE.jsonl",
                        help="also write one JSON row per file: file, text, duration, seconds (error)")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from asrkit import workspace
    from asrkit.decode.setup import setup_decoder
    from asrkit.errors import SettingError
    from asrkit.io import write_jsonl
    from asrkit.transcribe import TranscribeOptions, transcribe

    if args.out is not None and args.out.is_dir():
        raise SettingError(f"`out` {args.out}: is a folder; give a file name such as transcripts.jsonl")
    model_dir = workspace.resolve_model(args.model)
    setup = setup_decoder(model_dir, decoder_choice(args, use_tuned=not args.no_tuned))
    if setup.lm is not None:
        print(f"decoder {setup.decoder} with LM {setup.lm.name} ({setup.lm.path}); weights: {setup.source}",
              file=sys.stderr)
    options = TranscribeOptions(logits_options(args), setup.decoder, setup.options)

    rows, failed = [], 0
    for t in transcribe(args.files, model_dir, options):
        # tqdm.write keeps the progress bar (stderr) from garbling the lines.
        if t.error:
            failed += 1
            tqdm.write(f"asrkit transcribe: error: {t.error}", file=sys.stderr)
        else:
            tqdm.write(f"{t.file}\t{t.text}", file=sys.stdout)
        rows.append(t.row())
    if args.out is not None:
        write_jsonl(args.out, rows)
    n = len(rows)
    if failed:
        print(f"asrkit transcribe: {failed} of {n} files failed; {n - failed} transcribed", file=sys.stderr)
    elif n > 1:
        print(f"asrkit transcribe: {n} files transcribed", file=sys.stderr)
    return 1 if failed else 0
