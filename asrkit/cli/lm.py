"""KenLM language models for beam-search decoding.

  asrkit lm build --order 4 --text corpus.txt [more.txt.gz ...] [--name 4gram] [--prune 0 0 1 1]
      Normalises each line with asrkit's text normaliser, runs KenLM's lmplz and
      build_binary, and writes <lm-dir>/<name>/{<name>.arpa,<name>.bin,unigrams.txt,
      lexicon.txt,info.json}. Nothing is redone when the text and options are unchanged.
      --unit letter builds an n-gram over letters, for `asrkit decode --decoder lexfree`.

  asrkit lm download 4gram [--corpus] [--base-url URL]
      Fetches the official LibriSpeech 4-gram (OpenSLR resource 11, 1.35 GB gzipped,
      md5-checked, resumable) and finishes it the same way. --corpus also fetches the
      LM training text (librispeech-lm-norm.txt.gz) for `asrkit lm build`.

  asrkit lm list
      Names usable as `asrkit decode --lm NAME`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from asrkit import workspace

HELP = "build, download or list KenLM n-gram language models"
KENLM_BIN_HELP = ("folder holding KenLM's lmplz and build_binary (default: $ASRKIT_KENLM_BIN, then $PATH, "
                  "then where scripts/setup.sh builds them)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="lm_command", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="build an n-gram from text files with KenLM",
                       description="Normalise the text, run KenLM's lmplz and build_binary, and write "
                                   "<lm-dir>/<name>/ (ARPA, binary, unigrams.txt, lexicon.txt, info.json).")
    b.add_argument("--text", nargs="+", required=True, type=Path, metavar="FILE",
                   help="text corpus files, one sentence per line (.gz read as gzip)")
    b.add_argument("--order", type=int, default=4, help="n of the n-gram (default 4)")
    b.add_argument("--name", default=None, help="model name (folder under --lm-dir); default: <order>gram")
    b.add_argument("--unit", choices=["word", "letter"], default="word",
                   help="n-gram over words (lexicon decoder, pyctcdecode; the default) or letters "
                        "(lexfree decoder)")
    b.add_argument("--prune", type=int, nargs="+", default=[], metavar="N",
                   help="lmplz --prune: drop n-grams seen at most N times, per order from unigrams "
                        "(the first must be 0), e.g. --prune 0 0 1 1; default: no pruning")
    b.add_argument("--discount-fallback", action="store_true",
                   help="always pass --discount_fallback to lmplz (by default it is added only when "
                        "the corpus is too small to estimate discounts)")
    b.add_argument("--memory", default=None, help="lmplz -S sort memory, e.g. 2G or 40%% "
                                                  "(default 100M, or 20%% for corpora over 1 GB)")
    b.add_argument("--binary-type", choices=["probing", "trie"], default="probing",
                   help="KenLM binary structure: probing (default) is fastest, trie smallest")
    b.add_argument("--force", action="store_true", help="rebuild even when up to date")
    b.add_argument("--lm-dir", type=Path, default=None, help=f"default: {workspace.lm_dir()}")
    b.add_argument("--kenlm-bin", type=Path, default=None, help=KENLM_BIN_HELP)

    d = sub.add_parser("download", help="fetch a LibriSpeech n-gram from OpenSLR resource 11",
                       description="Download (resumable, md5-checked) and finish a LibriSpeech LM: "
                                   "unpack, binarise, write unigrams.txt, lexicon.txt, info.json.")
    from asrkit.download import OPENSLR_MIRRORS, openslr
    from asrkit.lm import DOWNLOADABLE, LM_RESOURCE, LM_URL

    d.add_argument("name", nargs="?", default="4gram", choices=sorted(DOWNLOADABLE), help="which LM (default 4gram)")
    d.add_argument("--corpus", action="store_true",
                   help="also fetch the LM training text librispeech-lm-norm.txt.gz (1.5 GB)")
    d.add_argument("--base-url", default=LM_URL,
                   help=f"where the files are (default {LM_URL}); mirrors: "
                        f"{', '.join(openslr(LM_RESOURCE, site) for site in OPENSLR_MIRRORS)}")
    d.add_argument("--binary-type", choices=["probing", "trie"], default="probing",
                   help="KenLM binary structure: probing (default) is fastest, trie smallest")
    d.add_argument("--lm-dir", type=Path, default=None, help=f"default: {workspace.lm_dir()}")
    d.add_argument("--kenlm-bin", type=Path, default=None, help=KENLM_BIN_HELP)

    ls = sub.add_parser("list", help="list the language models available by name")
    ls.add_argument("--lm-dir", type=Path, default=None, help=f"default: {workspace.lm_dir()}")


def run(args: argparse.Namespace) -> int:
    from asrkit import lm

    if args.lm_command == "build":
        options = lm.BuildOptions(
            order=args.order, unit=args.unit, prune=tuple(args.prune),
            discount_fallback=True if args.discount_fallback else None,
            memory=args.memory, binary_type=args.binary_type,
        )
        name = args.name or (f"{args.order}gram" if args.unit == "word" else f"{args.order}gram-letters")
        model = lm.build(args.text, name=name, options=options, out_root=args.lm_dir, force=args.force,
                         kenlm_bin=args.kenlm_bin)
        info = model.info
        print(f"{model.name}: {info.get('order')}-gram over {info.get('vocabulary')} {args.unit}s from "
              f"{info.get('corpus_lines')} lines -> {model.path.parent}")
        print(f"use it with: asrkit decode --lm {model.name}" + (" --decoder lexfree" if args.unit == "letter" else ""))
    elif args.lm_command == "download":
        from asrkit.lm.openslr import requirements

        print("\n".join(requirements(args.name, args.binary_type)[0]), flush=True)
        model = lm.download(args.name, base_url=args.base_url, corpus=args.corpus,
                            out_root=args.lm_dir, binary_type=args.binary_type, kenlm_bin=args.kenlm_bin)
        print(f"{model.name}: {model.info.get('order')}-gram, {model.info.get('vocabulary')} words -> "
              f"{model.path.parent}")
    else:
        root = args.lm_dir or workspace.lm_dir()
        rows = []
        for info_path in sorted(Path(root).glob("*/info.json")):
            info = json.loads(info_path.read_text(encoding="utf-8"))
            rows.append(f"{info_path.parent.name}\t{info.get('order')}-gram\t{info.get('unit', 'word')}\t"
                        f"{info.get('vocabulary')} words\t{info.get('source', '')}")
        print("\n".join(rows) if rows else f"no language models under {root}")
    return 0
