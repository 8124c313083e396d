"""KenLM language models for beam-search decoding.

  asrkit lm build --order 4 --text corpus.txt [more.txt.gz ...] [--name 4gram] [--prune 0 0 1 1]
      Normalises each line with asrkit's text normaliser, runs KenLM's lmplz and
      build_binary, and writes <lm-dir>/<name>/{<name>.arpa,<name>.bin,unigrams.txt,
      lexicon.txt,info.json}. Nothing is redone when the text and options are unchanged.
      --unit letter builds an n-gram over letters, for `asrkit decode --decoder lexfree`.

  asrkit lm build --kind transformer --text corpus.txt [--dev dev-other.jsonl] [--ngram 4gram]
      Trains a small causal word-level Transformer LM (transformers' GPT-2, a few layers) on
      the same normalised text, with a progress bar; an interrupted build resumes. --dev
      reports its perplexity on dev transcripts beside the n-gram's (same vocabulary, same
      OOV rule). It rescores N-best lists: decode --lm 4gram --rescore transformer.

  asrkit lm download 4gram [--corpus] [--base-url URL]
      Fetches the official LibriSpeech 4-gram (OpenSLR resource 11, 1.35 GB gzipped,
      md5-checked, resumable) and finishes it the same way. --corpus also fetches the
      LM training text (librispeech-lm-norm.txt.gz) for `asrkit lm build`.

  asrkit lm list
      Names usable as `asrkit decode --lm NAME`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asrkit import workspace

HELP = "build, download or list language models (KenLM n-grams, Transformer LMs)"
KENLM_BIN_HELP = ("folder holding KenLM's lmplz and build_binary (default: $ASRKIT_KENLM_BIN, then $PATH, "
                  "then where scripts/setup.sh builds them)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="lm_command", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="build an n-gram from text files with KenLM",
                       description="Normalise the text, run KenLM's lmplz and build_binary, and write "
                                   "<lm-dir>/<name>/ (ARPA, binary, unigrams.txt, lexicon.txt, info.json).")
    b.add_argument("--text", nargs="+", default=[], type=Path, metavar="FILE",
                   help="text corpus files, one sentence per line (.gz read as gzip)")
    b.add_argument("--kind", choices=["ngram", "transformer"], default="ngram",
                   help="a KenLM n-gram (default; for the beam-search decoders) or a causal word-level "
                        "Transformer LM (for rescoring their N-best lists: decode --rescore)")
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
    t = b.add_argument_group("--kind transformer (defaults: about a minute on the demo's text on 2 cores)")
    t.add_argument("--layers", type=int, default=None, help="Transformer blocks (2)")
    t.add_argument("--width", type=int, default=None, help="hidden size (128)")
    t.add_argument("--heads", type=int, default=None, help="attention heads (4)")
    t.add_argument("--context", type=int, default=None, help="most tokens per training sequence (64)")
    t.add_argument("--steps", type=int, default=None, help="training updates (200)")
    t.add_argument("--batch", type=int, default=None, help="sentences per update (32)")
    t.add_argument("--lr", type=float, default=None, help="peak learning rate (3e-3)")
    t.add_argument("--seed", type=int, default=None, help="initialisation and batch order (0)")
    t.add_argument("--lm-model", default=None, metavar="FOLDER_OR_HUB_ID",
                   help="use this causal LM (any transformers folder with its tokenizer, or a hub id; "
                        "subword tokenizers welcome) instead of training one: it is registered under --name")
    t.add_argument("--lm-case", choices=["keep", "lower"], default=None,
                   help="how hypotheses (upper case) are given to the LM: lower (default with --lm-model: "
                        "models trained on ordinary text) or keep (default for models built here)")
    t.add_argument("--dev", nargs="+", type=Path, default=[], metavar="FILE",
                   help="dev transcripts for perplexity: manifests (.jsonl, their text) or text files")
    t.add_argument("--ngram", default=None, metavar="NAME",
                   help="n-gram to report perplexity beside (default: 4gram when it exists under --lm-dir)")
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
    from asrkit.errors import SettingError

    if args.lm_command == "build" and args.kind != "transformer" and not args.text:
        raise SettingError("--text is required")

    if args.lm_command == "build" and args.kind == "transformer":
        return _build_transformer(args)
    if args.lm_command == "build":
        options = lm.BuildOptions(
            order=args.order, unit=args.unit, prune=tuple(args.prune),
            discount_fallback=True if args.discount_fallback else None,
            memory=args.memory, binary_type=args.binary_type,
        )
        name = args.name or (f"{args.order}gram" if args.unit == "word" else f"{args.order}gram-letters")
        model = lm.build(args.text, name=name, options=options, out_root=args.lm_dir, force=args.force,
                         kenlm_bin=args.kenlm_bin, progress=not args.no_progress)
        info = model.info
        print(f"{model.name}: {info.get('order')}-gram over {info.get('vocabulary')} {args.unit}s from "
              f"{info.get('corpus_lines')} lines -> {model.path.parent}")
        print(f"use it with: asrkit decode --lm {model.name}" + (" --decoder lexfree" if args.unit == "letter" else ""))
    elif args.lm_command == "download":
        from asrkit.lm.openslr import requirements

        print("\n".join(requirements(args.name, args.binary_type)[0]), flush=True)
        model = lm.download(args.name, base_url=args.base_url, corpus=args.corpus,
                            out_root=args.lm_dir, binary_type=args.binary_type, kenlm_bin=args.kenlm_bin,
                            progress=not args.no_progress)
        print(f"{model.name}: {model.info.get('order')}-gram, {model.info.get('vocabulary')} words -> "
              f"{model.path.parent}")
    else:
        from asrkit.errors import LMError
        from asrkit.lm.integrity import read_info

        root = args.lm_dir or workspace.lm_dir()
        rows = []
        for name in lm.available(root):
            try:
                info = read_info(Path(root) / name)
            except LMError as e:  # one damaged folder does not hide the others
                rows.append(f"{name}\tunusable: {e}")
                continue
            what = (f"transformer ({info.get('options', {}).get('layers', '?')} layers)"
                    if info.get("kind") == "transformer" else f"{info.get('order')}-gram")
            rows.append(f"{name}\t{what}\t{info.get('unit', 'word')}\t"
                        f"{info.get('vocabulary')} words\t{info.get('source', '')}")
        print("\n".join(rows) if rows else f"no language models under {root}")
    return 0


def output_folder(args: argparse.Namespace) -> Path | None:
    """The LM folder build and download write under; list writes nothing."""
    return None if args.lm_command == "list" else (args.lm_dir or workspace.lm_dir())


TRANSFORMER_FLAGS = ("layers", "width", "heads", "context", "steps", "batch", "lr", "seed")


def _build_transformer(args: argparse.Namespace) -> int:
    from asrkit.errors import SettingError
    from asrkit.lm.transformer import TransformerOptions, build_transformer, dev_perplexity, register_transformer

    if args.lm_model:
        model = register_transformer(args.lm_model, args.name or "transformer", args.lm_case or "lower", args.lm_dir)
        print(f"{model.name}: {model.info['architecture']} from {model.info['model']} ({model.info['parameters']:,} "
              f"parameters, {model.info['vocabulary']} tokens), hypotheses given {model.info['case']}-case -> {model.path}")
        print(f"rescore with it: asrkit decode --lm 4gram --rescore {model.name}")
        return 0
    if not args.text:
        raise SettingError("--text is required (or --lm-model for a ready causal LM)")
    options = TransformerOptions(**{k: getattr(args, k) for k in TRANSFORMER_FLAGS if getattr(args, k) is not None})
    model = build_transformer(args.text, name=args.name or "transformer", options=options, out_root=args.lm_dir,
                              force=args.force, progress=not args.no_progress)
    info = model.info
    print(f"{model.name}: {info['options']['layers']}-layer Transformer LM, {info['parameters']:,} parameters, "
          f"over {info['vocabulary']} words from {info['corpus_lines']} lines -> {model.path}")
    if args.dev:
        ppl = dev_perplexity(model, args.dev, args.ngram, args.lm_dir)
        line = f"dev perplexity ({ppl['predictions']} predictions, {ppl['oov']} OOV words skipped): " \
               f"transformer {ppl['transformer']:.1f}"
        print(line + (f", {ppl['ngram_name']} {ppl['ngram']:.1f}" if "ngram" in ppl else ""))
    print(f"rescore with it: asrkit decode --lm 4gram --rescore {model.name}")
    return 0
