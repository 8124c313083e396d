"""How long `asrkit synth` takes to make its default corpus, and what each engine costs.

Makes the default corpus (the 10-minute 1h/0 fold, 3 minutes in each of dev-clean,
dev-other, test-clean and test-other) in fresh temporary folders and times, in one run:

  baseline   the corpus made with one worker process (--jobs 1)
  parallel   the same corpus with --jobs N (default: one per CPU core)
  rerun      synth again on the finished corpus (every file is kept; plan + header reads)

and checks that the two corpora are byte-identical. With --engines it also speaks ten
sentences with each voice and prints audio seconds per CPU second.

    .venv/bin/python benchmarks/synth_speed.py [--jobs 2] [--engines] [--skip-baseline]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import tempfile
import time
from pathlib import Path

from asrkit.data import texts, tts
from asrkit.data.synth import SynthOptions, synthesize


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the engines, sox, workers)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn):
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = fn()
    return result, time.perf_counter() - wall, cpu_seconds() - cpu


def digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def engine_table() -> None:
    sentences = texts.sentence_pools().train[100:110]
    print("\n| engine:voice | audio s | CPU s | audio s per CPU s |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for voice in tts.VOICES:
            speaker = tts.Speaker(1, voice, 1.0, 1.0, "clean")
            items = [(f"{tmp}/{i}.flac", s.spoken, i) for i, s in enumerate(sentences)]
            frames, _, cpu = timed(lambda: tts.render(speaker, items, 15.0))
            audio = sum(frames) / tts.SAMPLE_RATE
            print(f"| {voice.engine}:{voice.name} | {audio:.1f} | {cpu:.2f} | {audio / cpu:.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--skip-baseline", action="store_true", help="no --jobs 1 run")
    ap.add_argument("--engines", action="store_true", help="also time each voice")
    args = ap.parse_args()
    texts.kjv_sentences(25)  # the text source is read once per process: keep it out of the runs
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = [("parallel", args.jobs)] if args.skip_baseline else [("baseline", 1), ("parallel", args.jobs)]
        roots = {}
        for name, jobs in runs:
            roots[name] = Path(tmp) / name
            report, wall, cpu = timed(lambda: synthesize(
                SynthOptions(root=roots[name], jobs=jobs), progress=False))
            rows.append((f"{name}: --jobs {jobs}", wall, cpu))
        audio = sum(s["seconds"] for s in report["folders"].values())
        _, wall, cpu = timed(lambda: synthesize(SynthOptions(root=roots["parallel"]), progress=False))
        rows.append(("rerun on the finished corpus", wall, cpu))
        if len(roots) == 2:
            same = digest(roots["baseline"]) == digest(roots["parallel"])
            print(f"baseline and parallel corpora byte-identical: {same}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    utterances = sum(s["utterances"] for s in report["folders"].values())
    print(f"\ncorpus: {audio / 60:.1f} minutes of audio, {utterances} utterances\n")
    base = rows[0][1]
    print("| run | wall s | CPU s | audio s per wall s | vs first row |\n|---|---|---|---|---|")
    for name, wall, cpu in rows:
        print(f"| {name} | {wall:.1f} | {cpu:.1f} | {audio / wall:.0f} | {wall / base:.2f}x |")
    if args.engines:
        engine_table()


if __name__ == "__main__":
    main()
