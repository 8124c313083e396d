"""Write one manifest (JSON Lines) per split of a LibriSpeech / Libri-light corpus.

Splits: every LibriSpeech split found (train-clean-100 ... test-other), plus 10min (1h/0),
1h (1h/*), 10h (1h/* + 9h) from librispeech_finetuning/ and 100h (= train-clean-100).
Only audio headers are read. A split whose files did not change since the last run is not
redone. Bad utterances (unreadable or truncated audio, a missing transcript line or audio
file, empty text, characters outside A-Z ' and space, audio too short for its label) are
listed with their path and reason, skipped, and counted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from asrkit import workspace

HELP = "make manifests from a LibriSpeech / Libri-light corpus"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", type=Path, default=workspace.corpus_dir(),
                        help="folder holding LibriSpeech/ and/or librispeech_finetuning/ "
                             "(or one of those folders itself)")
    parser.add_argument("--out", type=Path, default=workspace.manifests_dir(),
                        help="where <split>.jsonl, <split>.meta.json and <split>.skipped.tsv go")
    parser.add_argument("--split", action="append", default=[], metavar="NAME",
                        help="split to prepare (repeat, or comma-separate); default: every split found")
    parser.add_argument("--force", action="store_true", help="redo splits that are up to date")
    parser.add_argument("--verify", action="store_true",
                        help="decode every audio file fully (slow) instead of header + last sample")
    parser.add_argument("--fairseq", action="store_true",
                        help="also write fairseq manifests <split>.tsv/.wrd/.ltr under OUT/fairseq")
    parser.add_argument("--workers", type=int, default=8, help="threads reading audio headers")


def run(args: argparse.Namespace) -> int:
    from asrkit.errors import SettingError
    from asrkit.data.prepare import PrepareOptions, prepare, summary_table

    splits = tuple(s.strip() for arg in args.split for s in arg.split(",") if s.strip())
    if args.workers < 1:
        raise SettingError("--workers must be at least 1")
    options = PrepareOptions(data_root=args.data_root, out_dir=args.out, splits=splits,
                             force=args.force, verify=args.verify, fairseq=args.fairseq,
                             workers=args.workers, progress=not args.no_progress)
    corpus, reports = prepare(options)
    print(summary_table(reports))
    print(f"manifests in {args.out}")
    failed = [r for r in reports if r.error]
    for r in failed:
        print(f"asrkit prepare: error: {r.split}: {r.error}", file=sys.stderr)
    return 1 if failed else 0


def output_folder(args: argparse.Namespace) -> Path:
    """The manifests folder."""
    return args.out
