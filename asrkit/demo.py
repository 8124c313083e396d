"""The main job on the embedded default: every stage, as a library call, on a synthetic
corpus made here.

    synth -> prepare -> finetune (from the embedded starting checkpoint, demo recipe)
          -> lm build (text without the dev/test sentences) -> decode greedy on dev/test
          -> tune-lm on dev-other -> decode with the 4-gram on dev/test -> report

Each stage prints, and records where it writes provenance, the `asrkit` command that does
the same work, so that a user can rerun or change any step by hand. Each stage is
idempotent, so running the demo again redoes only what is missing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from asrkit.io import write_json
from asrkit.provenance import command_line

EMBEDDED_CHECKPOINT = Path(__file__).parent / "assets" / "starting-checkpoint"
"""The embedded starting checkpoint (see its README.md for how it was made)."""

SPLITS = ("dev-clean", "dev-other", "test-clean", "test-other")
TUNE_SPLIT = "dev-other"
LM_NAME = "4gram"


@dataclass(frozen=True)
class DemoOptions:
    work: Path  # everything the demo writes goes under this folder
    model: str  # starting checkpoint: hub id, folder, or a built-in name
    recipe: Path  # fine-tuning recipe
    synth: dict = field(default_factory=dict)  # asrkit.data.synth.SynthOptions settings, e.g. {"fold_minutes": 1}
    overrides: tuple[str, ...] = ()  # recipe overrides, e.g. ("train.max_updates=50",)
    tune_trials: int = 24  # LM weight / word score trials on dev-other (paper: 128)
    # Beam for tuning and decoding. 500, as the paper's tuning beam: on the demo corpus, 100 -> 500
    # lowers test-clean WER by ~1.5-2.2 points for ~3x the decoding time (a few seconds per
    # split); 1,500 gains nothing more for another ~2.5x (BENCHMARKS.md, "The official 4-gram").
    beam: int = 500
    progress: bool = True  # progress bars


@dataclass(frozen=True)
class Stage:
    name: str
    argv: tuple[str, ...]  # the `asrkit` command line that does the same work
    run: Callable[[], str]  # does the work; returns one line saying what came of it

    @property
    def command(self) -> str:
        return command_line(self.argv)


@dataclass(frozen=True)
class _Paths:
    corpus: Path
    manifests: Path
    lms: Path
    model: Path
    reports: Path

    @classmethod
    def of(cls, work: Path) -> "_Paths":
        return cls(work / "corpus", work / "manifests", work / "lm", work / "models" / "demo", work / "reports")


def stages(o: DemoOptions) -> list[Stage]:
    """The demo's stages in order."""
    p = _Paths.of(o.work)
    return [_synth(o, p), _prepare(o, p), _finetune(o, p), _lm_build(o, p), _decode(o, p, lm=None),
            _tune(o, p), _decode(o, p, lm=LM_NAME), _report(o, p)]


def run_demo(o: DemoOptions) -> list[dict]:
    """Run every stage; returns [{stage, command, seconds}] (also written to <work>/demo-timings.json)."""
    timings = []
    for stage in stages(o):
        print(f"\n=== {stage.name}: {stage.command}", flush=True)
        start = time.perf_counter()
        outcome = stage.run()
        seconds = time.perf_counter() - start
        print(outcome, flush=True)
        timings.append({"stage": stage.name, "command": stage.command, "seconds": round(seconds, 1)})
        write_json(o.work / "demo-timings.json", timings)
    return timings


def _flags(settings: dict) -> list[str]:
    """{"fold_minutes": 1} -> ["--fold-minutes", "1"]: a stage's settings as its command's flags."""
    return [a for k, v in settings.items() for a in (f"--{k.replace('_', '-')}", str(v))]


def _progress(o: DemoOptions) -> list[str]:
    return [] if o.progress else ["--no-progress"]


def _synth(o: DemoOptions, p: _Paths) -> Stage:
    def run() -> str:
        from asrkit.data.synth import SynthOptions, synthesize

        report = synthesize(SynthOptions(root=p.corpus, **o.synth), progress=o.progress)
        minutes = sum(s["seconds"] for s in report["splits"].values()) / 60
        return f"{len(report['splits'])} splits, {minutes:.1f} minutes of speech in {p.corpus}"

    return Stage("synth", ("synth", "--root", str(p.corpus), *_flags(o.synth), *_progress(o)), run)


def _prepare(o: DemoOptions, p: _Paths) -> Stage:
    def run() -> str:
        from asrkit.data.prepare import PrepareOptions, prepare
        from asrkit.errors import DataError

        _, reports = prepare(PrepareOptions(data_root=p.corpus, out_dir=p.manifests, progress=o.progress))
        failed = [f"{r.split}: {r.error}" for r in reports if r.error]
        if failed:
            raise DataError("; ".join(failed))
        return f"{len(reports)} manifests in {p.manifests}"

    return Stage("prepare", ("prepare", "--data-root", str(p.corpus), "--out", str(p.manifests)), run)


def _finetune(o: DemoOptions, p: _Paths) -> Stage:
    argv = ("finetune", "--recipe", str(o.recipe), "--model", o.model, "--manifests", str(p.manifests),
            "--out", str(p.model), *(a for s in o.overrides for a in ("--set", s)), *_progress(o))

    def run() -> str:
        from asrkit.config import load_recipe
        from asrkit.train import FinetuneOptions, finetune

        recipe = load_recipe(o.recipe, o.overrides, {"model.name": o.model})
        summary = finetune(FinetuneOptions(recipe=recipe, out_dir=p.model, manifests_dir=p.manifests,
                                           command=command_line(argv), progress=o.progress))
        return f"fine-tuned model: {p.model} ({summary['updates']} updates)"

    return Stage("finetune", argv, run)


def _lm_build(o: DemoOptions, p: _Paths) -> Stage:
    text = p.corpus / "lm-text.txt"

    def run() -> str:
        from asrkit import lm

        model = lm.build([text], name=LM_NAME, options=lm.BuildOptions(order=4), out_root=p.lms)
        return f"{model.name}: {model.info.get('vocabulary')} words -> {model.path.parent}"

    return Stage("lm build", ("lm", "build", "--order", "4", "--name", LM_NAME, "--text", str(text),
                              "--lm-dir", str(p.lms)), run)


def _choice(o: DemoOptions, p: _Paths, lm: str | None, use_tuned: bool = True):
    from asrkit.decode.setup import DecoderChoice

    if lm is None:
        return DecoderChoice(lm="none"), ["--lm", "none"]
    return (DecoderChoice(lm=lm, lm_dir=p.lms, settings={"beam": o.beam}, use_tuned=use_tuned),
            ["--lm", lm, "--lm-dir", str(p.lms), "--beam", str(o.beam)])


def _decode(o: DemoOptions, p: _Paths, lm: str | None) -> Stage:
    choice, flags = _choice(o, p, lm)
    argv = ("decode", "--model", str(p.model), "--manifests", str(p.manifests),
            *(a for s in SPLITS for a in ("--split", s)), *flags)

    def run() -> str:
        from asrkit.decode.run import decode_splits
        from asrkit.decode.setup import setup_decoder

        setup = setup_decoder(p.model, choice)
        summaries = decode_splits(p.model, list(SPLITS), p.manifests, setup, command=command_line(argv),
                                  progress=o.progress)
        return "\n".join(f"{s.split}\t{s.setting}\tWER {100 * s.wer:.2f}%\tCER {100 * s.cer:.2f}%"
                         for s in summaries)

    return Stage(f"decode {lm or 'greedy'}", argv, run)


def _tune(o: DemoOptions, p: _Paths) -> Stage:
    choice, flags = _choice(o, p, LM_NAME, use_tuned=False)
    argv = ("tune-lm", "--model", str(p.model), "--manifests", str(p.manifests), "--split", TUNE_SPLIT,
            *flags, "--trials", str(o.tune_trials))

    def run() -> str:
        from asrkit.decode.setup import setup_decoder
        from asrkit.decode.tune import TuneOptions, tune_split

        setup = setup_decoder(p.model, choice)
        result = tune_split(p.model, TUNE_SPLIT, p.manifests, setup, TuneOptions(trials=o.tune_trials),
                            progress=o.progress)
        return (f"{TUNE_SPLIT}: WER {100 * result.default_wer:.2f}% with the default weights, "
                f"{100 * result.best_wer:.2f}% with {result.best}")

    return Stage("tune-lm", argv, run)


def _report(o: DemoOptions, p: _Paths) -> Stage:
    def run() -> str:
        from asrkit.report import ReportOptions, report

        files = report([p.model], ReportOptions(out_dir=p.reports))
        return files.table.rstrip()

    return Stage("report", ("report", "--models", str(p.model), "--out", str(p.reports)), run)
