"""How fast `asrkit prepare` reads a train-clean-100-sized split (28,539 FLAC files).

Builds a fake LibriSpeech/train-clean-100 with the real counts (251 speakers, 585
chapters, 28,539 utterances) out of hard links to three FLAC files of 4, 12 and 16 s
(train-clean-100 averages 12.7 s), so the files are in the page cache: this measures
the CPU side of prepare, not a cold disk. Then times, in the same run:

  baseline   a plain loop of soundfile.info() over every file (header only)
  prepare    asrkit.data.prepare with 1 thread and with --workers threads
             (scan + header + last-sample truncation check + manifest write)
  reuse      a second prepare of the unchanged split (fingerprint only)

    .venv/bin/python benchmarks/prepare_speed.py [--workers 8] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from asrkit.data.prepare import PrepareOptions, prepare

SPEAKERS, CHAPTERS, UTTERANCES = 251, 585, 28_539
WORDS = ("THE AND OF TO A IN HE THAT WAS IT HIS HAD WITH AS YOU FOR SHE HER BUT AT NOT "
         "BE ON IS WHICH HAVE ONE ALL THIS BY SAID FROM SO WERE THEY WHEN WOULD THERE").split()


def build(root: Path) -> None:
    split = root / "LibriSpeech" / "train-clean-100"
    src = root / "src"
    src.mkdir(parents=True)
    rng = np.random.default_rng(0)
    sources = []
    for seconds in (4, 12, 16):
        path = src / f"{seconds}.flac"
        wave = (0.1 * rng.standard_normal(16000 * seconds)).astype(np.float32)
        sf.write(path, wave, 16000)
        sources.append((path, seconds))
    random.seed(0)
    per_chapter = [UTTERANCES // CHAPTERS + (i < UTTERANCES % CHAPTERS) for i in range(CHAPTERS)]
    for c, n in enumerate(per_chapter):
        speaker, chapter = str(100 + c % SPEAKERS), str(1000 + c)
        folder = split / speaker / chapter
        folder.mkdir(parents=True)
        lines = []
        for u in range(n):
            utt_id = f"{speaker}-{chapter}-{u:04d}"
            path, seconds = sources[u % 3]
            os.link(path, folder / f"{utt_id}.flac")
            lines.append(utt_id + " " + " ".join(random.choices(WORDS, k=int(seconds * 2.7))) + "\n")
        (folder / f"{speaker}-{chapter}.trans.txt").write_text("".join(lines))


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--keep", type=Path, help="build the tree here and keep it")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="asrkit-bench-"))
    try:
        if not (root / "LibriSpeech").is_dir():
            t, _ = timed(lambda: build(root))
            print(f"built {UTTERANCES} hard-linked files in {t:.1f} s")
        files = sorted(str(p) for p in (root / "LibriSpeech").rglob("*.flac"))
        for f in files:  # warm the page cache and the dentry cache for every variant alike
            os.stat(f)
        t_base, _ = timed(lambda: [sf.info(f).frames for f in files])
        print(f"baseline soundfile.info loop: {t_base:.2f} s ({len(files)} files)")

        results = {}
        for workers in (1, args.workers):
            out = root / f"manifests-{workers}"
            shutil.rmtree(out, ignore_errors=True)
            opts = PrepareOptions(data_root=root, out_dir=out, splits=("train-clean-100",),
                                  workers=workers, progress=False)
            t, (_, [report]) = timed(lambda: prepare(opts))
            assert report.utterances == UTTERANCES and report.n_skipped == 0, report
            results[workers] = t
            print(f"prepare, {workers} thread(s): {t:.2f} s = {t / t_base:.2f}x the baseline "
                  f"({report.hours:.1f} h)")
        t_reuse, (_, [report]) = timed(lambda: prepare(opts))
        assert report.reused
        print(f"prepare again (up to date): {t_reuse:.2f} s = {t_reuse / t_base:.2f}x the baseline")
        print(f"threads: {results[1] / results[args.workers]:.2f}x faster with {args.workers} "
              f"than with 1, on {os.cpu_count()} CPUs")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
