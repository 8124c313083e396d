"""Transcribe your own recordings (wav, flac, ogg; any rate, mono or stereo) with a
fine-tuned model, greedily or with a KenLM.

Prints "<file>\\t<transcript>" per file on stdout; errors and the progress bar go to
stderr (--no-progress: no bar). --format writes each file's transcript as
<out-dir>/<stem>.<format>: txt, jsonl (words with start/end seconds and confidence, and the
N-best), srt and vtt subtitles (at most 42 characters x 2 lines and 7 s per cue, cut at
pauses), ctm (sclite's word format).
Word times are seconds from the start of the file. Long files run in overlapping windows
(--chunk-seconds, --stride-seconds). A file that cannot be read is reported by name and
skipped; the exit status is then 1.
LM weights saved by `asrkit tune-lm` for this model, LM and decoder are used unless
given here (or --no-tuned).

Examples:
  asrkit transcribe talk.flac --model work/models/demo
  asrkit transcribe recordings/*.wav --model work/models/demo --lm 4gram --out transcripts.jsonl
  asrkit transcribe memo.ogg --model M --lm my-lm/4gram.arpa --decoder pyctcdecode --beam 50
  asrkit transcribe talk.flac --model M --lm 4gram --format srt,vtt,jsonl --out-dir subtitles --nbest 5
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
                        help="also write one JSON row per file: file, text, duration, seconds, words, "
                             "nbest (or error)")
    parser.add_argument("--format", dest="formats", action="append", default=[], metavar="FMT[,FMT]",
                        help="write <out-dir>/<file stem>.<FMT> per file; FMT of txt, jsonl, srt, vtt, ctm; "
                             "repeat the option or give a comma list (e.g. --format srt,vtt)")
    parser.add_argument("--out-dir", type=Path, default=Path("."), metavar="DIR",
                        help="folder for the --format files")
    parser.add_argument("--nbest", type=int, default=1, metavar="N",
                        help="hypotheses kept per file in the jsonl outputs; the beam decoders give up to "
                             "N distinct ones, greedy always 1")
    parser.add_argument("--max-line-chars", type=int, default=42, metavar="N",
                        help="subtitle characters per line (srt, vtt)")
    parser.add_argument("--max-cue-seconds", type=float, default=7.0, metavar="S",
                        help="longest time one subtitle stays on screen (srt, vtt)")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from asrkit import workspace
    from asrkit.decode.setup import setup_decoder
    from asrkit.io import write_jsonl
    from asrkit.transcribe import (OutputOptions, TranscribeOptions, check_nbest, check_writable, output_paths,
                                   transcribe, write_outputs)
    from asrkit.transcripts import CueOptions, parse_formats

    check_nbest(args.nbest)
    outputs = OutputOptions(parse_formats(args.formats), args.out_dir,
                            CueOptions(max_chars=args.max_line_chars, max_seconds=args.max_cue_seconds))
    paths = output_paths(args.files, outputs)
    if args.out is not None:
        check_writable(args.out, folder=False, what="out")
    if outputs.formats:
        check_writable(outputs.out_dir, folder=True, what="out_dir")
    model_dir = workspace.resolve_model(args.model)
    setup = setup_decoder(model_dir, decoder_choice(args, use_tuned=not args.no_tuned))
    if setup.lm is not None:
        print(f"decoder {setup.decoder} with LM {setup.lm.name} ({setup.lm.path}); weights: {setup.source}",
              file=sys.stderr)
    options = TranscribeOptions(logits_options(args), setup.decoder, setup.options, nbest=args.nbest)

    rows, failed = [], 0
    for t in transcribe(args.files, model_dir, options, progress=not args.no_progress):
        # tqdm.write keeps the progress bar (stderr) from garbling the lines.
        if t.error:
            failed += 1
            tqdm.write(f"asrkit transcribe: error: {t.error}", file=sys.stderr)
        else:
            tqdm.write(f"{t.file}\t{t.text}", file=sys.stdout)
            write_outputs(t, paths[t.file], outputs)
        rows.append(t.row())
    if args.out is not None:
        write_jsonl(args.out, rows)
    n = len(rows)
    if outputs.formats:
        print(f"asrkit transcribe: {', '.join(outputs.formats)} for {n - failed} file(s) in {outputs.out_dir}",
              file=sys.stderr)
    if failed:
        print(f"asrkit transcribe: {failed} of {n} files failed; {n - failed} transcribed", file=sys.stderr)
    elif n > 1:
        print(f"asrkit transcribe: {n} files transcribed", file=sys.stderr)
    return 1 if failed else 0
