r"""Synthesise a LibriSpeech / Libri-light layout corpus with offline TTS (flite, festival,
espeak-ng; sox effects), from public-domain King James Bible sentences.

Makes <root>/LibriSpeech/{dev,test}-{clean,other}, <root>/librispeech_finetuning/1h/<fold>/
{clean,other} (the 10min split is fold 0), optionally 9h/{clean,other},
LibriSpeech/train-clean-100 and LibriSpeech/train-other-500, plus synth-report.json
(utterances, seconds and speakers per split) and lm-text.txt (LM training text without
any dev or test sentence).

Dev, test and training splits have disjoint speakers and sentences. The same --seed and
options give the same corpus; a rerun keeps the files already made, so an interrupted
run resumes. The defaults (a 10-minute fold and 3 minutes per dev/test split) take
about a minute on two cores. Libri-light's full sizes: --folds 6 --nine-hours-minutes 540.
The training side has about 16,600 sentences (some 27 hours of speech); past that, training
sentences are reused by other speakers (dev and test sentences never are).

--purpose pretrain makes the corpus for a starting checkpoint instead: other voices
(rates and pitches off the fine-tuning grid, speaker ids 5000+ and 7000+) and other
sentences (books kept for pretraining: about 15,000 sentences), so nothing in it is in
a fine-tuning corpus; its dev and test splits are held out of the same books. Make it in
its own folder, as LibriSpeech-style training data with both clean and other speakers:

  asrkit synth --purpose pretrain --out work/pretrain-corpus --folds 0 \
      --train-clean-100-minutes 150 --train-other-500-minutes 90 \
      --dev-minutes 5 --test-minutes 0
  asrkit prepare --data-root work/pretrain-corpus --out work/pretrain-manifests

--voices wide (with --purpose pretrain) widens the speaker pool for pre-training: 400 more
clean and 1,200 more other speakers drawn from the seed, at continuous rates and pitches
kept 0.025 away from every fine-tuning grid value (so no demo speaker, dev and test
included, is among them), the other ones also from espeak-ng's 8 English voices x ~100
variants (ids 20000+ and 40000+). About 24 hours of it, for the pre-training screens:

  asrkit synth --purpose pretrain --voices wide --out work/wide-corpus --folds 0 \
      --train-clean-100-minutes 900 --train-other-500-minutes 540 \
      --dev-minutes 5 --test-minutes 0 --seed 1
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from asrkit import workspace
from asrkit.data import tts

HELP = "synthesise a LibriSpeech/Libri-light layout corpus with offline TTS"


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Defaults after each option's help, and the description's line breaks kept."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    from asrkit.data.synth import PURPOSES, VOICE_POOLS, SynthOptions

    d = SynthOptions(root=Path("."))
    p.formatter_class = _Formatter  # keep the description's example commands as written
    p.add_argument("--root", "--out", dest="root", type=Path, default=workspace.corpus_dir(),
                   help="corpus folder (ASRKIT_WORK sets the default's parent)")
    p.add_argument("--purpose", choices=PURPOSES, default=d.purpose,
                   help="finetune: the demo's corpus; pretrain: a corpus for the starting "
                        "checkpoint whose voices and sentences no finetune corpus has")
    p.add_argument("--voices", choices=VOICE_POOLS, default=d.voices,
                   help="grid: the purpose's speaker grid; wide (pretrain only): that grid plus "
                        "1,600 speakers at continuous rates and pitches, with espeak-ng's "
                        "voice x variant pairs")
    p.add_argument("--seed", type=int, default=d.seed,
                   help="seed for sentences, speakers and noise")
    p.add_argument("--fold-minutes", type=float, default=d.fold_minutes,
                   help="audio per Libri-light 1h fold, half clean and half other")
    p.add_argument("--folds", type=int, default=d.folds,
                   help="how many of the six 1h folds to make (fold 0 = 10min)")
    p.add_argument("--nine-hours-minutes", type=float, default=d.nine_hours_minutes,
                   help="audio in librispeech_finetuning/9h/{clean,other} together")
    p.add_argument("--train-clean-100-minutes", type=float, default=d.train_clean_100_minutes,
                   help="audio in LibriSpeech/train-clean-100 (0 = not made)")
    p.add_argument("--train-other-500-minutes", type=float, default=d.train_other_500_minutes,
                   help="audio in LibriSpeech/train-other-500, 'other' speakers (0 = not made)")
    p.add_argument("--dev-minutes", type=float, default=d.dev_minutes,
                   help="audio in each of dev-clean and dev-other")
    p.add_argument("--test-minutes", type=float, default=d.test_minutes,
                   help="audio in each of test-clean and test-other")
    p.add_argument("--speaker-minutes", type=float, default=d.speaker_minutes,
                   help="audio per speaker in a split (sets the number of speakers)")
    p.add_argument("--chapter-utterances", type=int, default=d.chapter_utterances,
                   help="utterances per chapter at most")
    p.add_argument("--snr-db", type=float, default=d.snr_db,
                   help="SNR of the additive noise some 'other' speakers get")
    p.add_argument("--engines", default=",".join(d.engines),
                   help=f"comma-separated TTS engines to draw speakers from "
                        f"({', '.join(tts.ENGINES)})")
    p.add_argument("--min-words", type=int, default=d.min_words, help="shortest sentence, in words")
    p.add_argument("--max-words", type=int, default=d.max_words, help="longest sentence, in words")
    p.add_argument("--jobs", type=int, default=0, help="worker processes (0 = one per CPU core)")


def run(args: argparse.Namespace) -> int:
    from asrkit.data.synth import REPORT, SynthOptions, synthesize

    options = SynthOptions(
        root=args.root, seed=args.seed,
        fold_minutes=args.fold_minutes, folds=args.folds,
        nine_hours_minutes=args.nine_hours_minutes,
        train_clean_100_minutes=args.train_clean_100_minutes,
        train_other_500_minutes=args.train_other_500_minutes,
        dev_minutes=args.dev_minutes, test_minutes=args.test_minutes,
        speaker_minutes=args.speaker_minutes, chapter_utterances=args.chapter_utterances,
        snr_db=args.snr_db, engines=tuple(e.strip() for e in args.engines.split(",") if e.strip()),
        min_words=args.min_words, max_words=args.max_words, purpose=args.purpose,
        voices=args.voices, jobs=args.jobs)
    start = time.monotonic()
    report = synthesize(options, progress=not args.no_progress)
    print(f"{'split':<16} {'utts':>6} {'minutes':>8} {'speakers':>8}")
    for name, s in report["splits"].items():
        print(f"{name:<16} {s['utterances']:>6} {s['seconds'] / 60:>8.2f} {s['speakers']:>8}")
    print(f"{options.purpose} corpus in {options.root} ({REPORT}) "
          f"in {time.monotonic() - start:.1f} s")
    return 0


def output_folder(args: argparse.Namespace) -> Path:
    """The corpus folder."""
    return args.root
