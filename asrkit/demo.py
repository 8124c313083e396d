"""The main job on the embedded default: every stage, run through the same command line
a user types, on a synthetic corpus made here.

    synth -> prepare -> finetune (from the embedded starting checkpoint, demo recipe)
          -> lm build (text without the dev/test sentences) -> tune-lm on dev
          -> decode greedy and 4-gram on dev/test -> report

Each stage is idempotent, so running the demo again redoes only what is missing.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from pathlib import Path

from asrkit.io import write_json

EMBEDDED_CHECKPOINT = Path(__file__).parent / "assets" / "starting-checkpoint"
"""The embedded starting checkpoint (see its README.md for how it was made)."""

SPLITS = ("dev-clean", "dev-other", "test-clean", "test-other")


@dataclass(frozen=True)
class DemoOptions:
    work: Path  # everything the demo writes goes under this folder
    model: str  # starting checkpoint: hub id, folder, or a built-in name
    recipe: Path  # fine-tuning recipe
    split: str = "10min"  # labelled training split
    synth_args: tuple[str, ...] = ()  # extra `asrkit synth` flags (the CI test makes a smaller corpus)
    finetune_args: tuple[str, ...] = ()  # extra `asrkit finetune` flags, e.g. --set train.max_updates=50
    tune_trials: int = 24  # LM weight / word score trials on dev-other (paper: 128)
    beam: int = 100  # beam for tuning and decoding


def stages(o: DemoOptions) -> list[tuple[str, list[str]]]:
    """(stage name, asrkit argv) in order."""
    corpus, manifests, lms = o.work / "corpus", o.work / "manifests", o.work / "lm"
    model_dir = o.work / "models" / "demo"
    splits = [a for s in SPLITS for a in ("--split", s)]
    beam = ["--beam", str(o.beam)]
    return [
        ("synth", ["synth", "--root", str(corpus), *o.synth_args]),
        ("prepare", ["prepare", "--data-root", str(corpus), "--out", str(manifests)]),
        ("finetune", ["finetune", "--recipe", str(o.recipe), "--model", o.model, "--manifests", str(manifests),
                      "--out", str(model_dir), *o.finetune_args]),
        ("lm build", ["lm", "build", "--order", "4", "--name", "4gram", "--text", str(corpus / "lm-text.txt"),
                      "--lm-dir", str(lms)]),
        ("decode greedy", ["decode", "--model", str(model_dir), "--manifests", str(manifests), *splits,
                           "--lm", "none"]),
        ("tune-lm", ["tune-lm", "--model", str(model_dir), "--manifests", str(manifests), "--split", "dev-other",
                     "--lm", "4gram", "--lm-dir", str(lms), "--trials", str(o.tune_trials), *beam]),
        ("decode 4gram", ["decode", "--model", str(model_dir), "--manifests", str(manifests), *splits,
                          "--lm", "4gram", "--lm-dir", str(lms), *beam]),
        ("report", ["report", "--models", str(model_dir), "--out", str(o.work / "reports")]),
    ]


def run_demo(o: DemoOptions) -> list[dict]:
    """Run every stage; returns [{stage, command, seconds}] (also written to work/demo-timings.json)."""
    from asrkit.cli import main
    from asrkit.errors import AsrkitError

    timings = []
    for name, argv in stages(o):
        command = "asrkit " + shlex.join(argv)
        print(f"\n=== {name}: {command}", flush=True)
        start = time.perf_counter()
        code = main(argv)
        seconds = time.perf_counter() - start
        if code:
            raise AsrkitError(f"stage '{name}' failed (exit {code}); its message is above. Command: {command}")
        timings.append({"stage": name, "command": command, "seconds": round(seconds, 1)})
        write_json(o.work / "demo-timings.json", timings)
    return timings
