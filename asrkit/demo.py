"""The main job on the embedded default: every stage, as a library call, on a synthetic
corpus made here.

    synth -> prepare -> finetune (from the embedded starting checkpoint, demo recipe)
          -> lm build (text without the dev/test sentences) -> decode greedy on dev/test
          -> tune-lm on dev-other -> decode with the 4-gram on dev/test (keeping N-best lists)
          -> lm build --kind transformer (same text) -> tune-lm --rescore on dev-other's lists
          -> decode --rescore (the Transformer LM re-ranks the 4-gram's lists) -> report
          -> transcribe a test recording (test-clean utterances of one chapter joined into
             one file) with the 4-gram: word times, confidence, SRT/WebVTT subtitles

Each stage prints, and records where it writes provenance, the `asrkit` command that does
the same work, so that a user can rerun or change any step by hand. Each stage is
idempotent, so running the demo again redoes only what is missing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from asrkit.errors import DataError
from asrkit.io import write_json
from asrkit.provenance import command_line

EMBEDDED_CHECKPOINT = Path(__file__).parent / "assets" / "starting-checkpoint"
"""The embedded starting checkpoint (see its README.md for how it was made)."""

SPLITS = ("dev-clean", "dev-other", "test-clean", "test-other")
TUNE_SPLIT = "dev-other"
LM_NAME = "4gram"
TRANSFORMER_NAME = "transformer"
RECORDING_SECONDS = 40.0  # the demo's test recording: test-clean utterances up to about this long
TRANSCRIPT_FORMATS = ("srt", "vtt", "jsonl")
TRANSCRIPT_NBEST = 3  # hypotheses per file in the recording's JSON


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
    nbest: int = 50  # 4-gram hypotheses kept per utterance for the Transformer LM to re-rank
    transformer: dict = field(default_factory=dict)  # asrkit.lm.transformer.TransformerOptions settings, e.g. {"steps": 20}
    rescore_trials: int = 128  # Transformer weight / word score trials (cheap: no decoding; paper's count)
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
    recording: Path
    transcripts: Path

    @classmethod
    def of(cls, work: Path) -> "_Paths":
        return cls(work / "corpus", work / "manifests", work / "lm", work / "models" / "demo", work / "reports",
                   work / "recording.flac", work / "transcripts")


def stages(o: DemoOptions) -> list[Stage]:
    """The demo's stages in order."""
    p = _Paths.of(o.work)
    return [_synth(o, p), _prepare(o, p), _finetune(o, p), _lm_build(o, p), _decode(o, p, lm=None),
            _tune(o, p), _decode(o, p, lm=LM_NAME), _transformer_build(o, p), _tune_rescore(o, p), _rescore(o, p),
            _report(o, p), _transcribe(o, p)]


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
    """The flag every stage's command gets when the demo runs without progress bars."""
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

        _, reports = prepare(PrepareOptions(data_root=p.corpus, out_dir=p.manifests, progress=o.progress))
        failed = [f"{r.split}: {r.error}" for r in reports if r.error]
        if failed:
            raise DataError("; ".join(failed))
        return f"{len(reports)} manifests in {p.manifests}"

    return Stage("prepare", ("prepare", "--data-root", str(p.corpus), "--out", str(p.manifests), *_progress(o)), run)


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

        model = lm.build([text], name=LM_NAME, options=lm.BuildOptions(order=4), out_root=p.lms, progress=o.progress)
        return f"{model.name}: {model.info.get('vocabulary')} words -> {model.path.parent}"

    return Stage("lm build", ("lm", "build", "--order", "4", "--name", LM_NAME, "--text", str(text),
                              "--lm-dir", str(p.lms), *_progress(o)), run)


def _choice(o: DemoOptions, p: _Paths, lm: str | None, use_tuned: bool = True):
    from asrkit.decode.setup import DecoderChoice

    if lm is None:
        return DecoderChoice(lm="none"), ["--lm", "none"]
    return (DecoderChoice(lm=lm, lm_dir=p.lms, settings={"beam": o.beam}, use_tuned=use_tuned),
            ["--lm", lm, "--lm-dir", str(p.lms), "--beam", str(o.beam)])


def _decode(o: DemoOptions, p: _Paths, lm: str | None) -> Stage:
    choice, flags = _choice(o, p, lm)
    nbest = o.nbest if lm else 1  # the 4-gram's lists are what the Transformer LM re-ranks
    argv = ("decode", "--model", str(p.model), "--manifests", str(p.manifests),
            *(a for s in SPLITS for a in ("--split", s)), *flags, *(("--nbest", str(nbest)) if lm else ()),
            *_progress(o))

    def run() -> str:
        from asrkit.decode.run import decode_splits
        from asrkit.decode.setup import setup_decoder

        setup = setup_decoder(p.model, choice)
        summaries = decode_splits(p.model, list(SPLITS), p.manifests, setup, command=command_line(argv),
                                  progress=o.progress, nbest=nbest)
        return "\n".join(f"{s.split}\t{s.setting}\tWER {100 * s.wer:.2f}%\tCER {100 * s.cer:.2f}%"
                         for s in summaries)

    return Stage(f"decode {lm or 'greedy'}", argv, run)


def _tune(o: DemoOptions, p: _Paths) -> Stage:
    choice, flags = _choice(o, p, LM_NAME, use_tuned=False)
    argv = ("tune-lm", "--model", str(p.model), "--manifests", str(p.manifests), "--split", TUNE_SPLIT,
            *flags, "--trials", str(o.tune_trials), *_progress(o))

    def run() -> str:
        from asrkit.decode.setup import setup_decoder
        from asrkit.decode.tune import TuneOptions, tune_split

        setup = setup_decoder(p.model, choice)
        result = tune_split(p.model, TUNE_SPLIT, p.manifests, setup, TuneOptions(trials=o.tune_trials),
                            progress=o.progress)
        return (f"{TUNE_SPLIT}: WER {100 * result.default_wer:.2f}% with the default weights, "
                f"{100 * result.best_wer:.2f}% with {result.best}")

    return Stage("tune-lm", argv, run)


def _transformer_build(o: DemoOptions, p: _Paths) -> Stage:
    text = p.corpus / "lm-text.txt"
    dev = [p.manifests / f"{s}.jsonl" for s in SPLITS if s.startswith("dev")]

    def run() -> str:
        from asrkit.lm.transformer import build_transformer, dev_perplexity

        from asrkit.lm.transformer import TransformerOptions

        model = build_transformer([text], name=TRANSFORMER_NAME, options=TransformerOptions(**o.transformer),
                                  out_root=p.lms, progress=o.progress)
        ppl = dev_perplexity(model, dev, LM_NAME, p.lms)
        return (f"{model.name}: {model.info['parameters']:,} parameters, {model.info['seconds']:.0f} s; dev "
                f"perplexity {ppl['transformer']:.1f} (the {LM_NAME}: {ppl['ngram']:.1f}; {ppl['oov']} OOV words)")

    return Stage("lm build transformer", ("lm", "build", "--kind", "transformer", "--name", TRANSFORMER_NAME,
                                          "--text", str(text), "--lm-dir", str(p.lms), "--dev", *map(str, dev),
                                          "--ngram", LM_NAME, *_flags(o.transformer), *_progress(o)), run)


def _tune_rescore(o: DemoOptions, p: _Paths) -> Stage:
    choice, flags = _choice(o, p, LM_NAME)
    argv = ("tune-lm", "--model", str(p.model), "--manifests", str(p.manifests), "--split", TUNE_SPLIT, *flags,
            "--rescore", TRANSFORMER_NAME, "--nbest", str(o.nbest), "--trials", str(o.rescore_trials), *_progress(o))

    def run() -> str:
        from asrkit.decode.setup import setup_decoder
        from asrkit.rescore import RescoreChoice, Search, tune_split

        r = tune_split(p.model, TUNE_SPLIT, p.manifests, setup_decoder(p.model, choice),
                       RescoreChoice(TRANSFORMER_NAME, p.lms, nbest=o.nbest), Search(trials=o.rescore_trials),
                       progress=o.progress)
        return (f"{TUNE_SPLIT}: 4-gram pass WER {100 * r['first_pass_wer']:.2f}% -> rescored "
                f"{100 * r['best_wer']:.2f}% with {r['best']} (oracle {100 * r['oracle_wer']:.2f}%)")

    return Stage("tune-lm rescore", argv, run)


def _rescore(o: DemoOptions, p: _Paths) -> Stage:
    choice, flags = _choice(o, p, LM_NAME)
    argv = ("decode", "--model", str(p.model), "--manifests", str(p.manifests),
            *(a for s in SPLITS for a in ("--split", s)), *flags, "--nbest", str(o.nbest),
            "--rescore", TRANSFORMER_NAME, *_progress(o))

    def run() -> str:
        from asrkit.decode.setup import setup_decoder
        from asrkit.rescore import RescoreChoice, rescore_splits

        summaries = rescore_splits(p.model, list(SPLITS), p.manifests, setup_decoder(p.model, choice),
                                   RescoreChoice(TRANSFORMER_NAME, p.lms, nbest=o.nbest),
                                   command=command_line(argv), progress=o.progress)
        return "\n".join(f"{s.split}\t{s.setting}\tWER {100 * s.wer:.2f}%\t(4-gram pass "
                         f"{100 * s.decoder['first_pass_wer']:.2f}%)" for s in summaries)

    return Stage("decode transformer", argv, run)


def _report(o: DemoOptions, p: _Paths) -> Stage:
    def run() -> str:
        from asrkit.report import ReportOptions, report

        files = report([p.model], ReportOptions(out_dir=p.reports))
        return files.table.rstrip()

    return Stage("report", ("report", "--models", str(p.model), "--out", str(p.reports), *_progress(o)), run)


def _transcribe(o: DemoOptions, p: _Paths) -> Stage:
    choice, flags = _choice(o, p, LM_NAME)
    argv = ("transcribe", str(p.recording), "--model", str(p.model), *flags, "--nbest", str(TRANSCRIPT_NBEST),
            "--format", ",".join(TRANSCRIPT_FORMATS), "--out-dir", str(p.transcripts), *_progress(o))

    def run() -> str:
        from asrkit.decode.setup import setup_decoder
        from asrkit.transcribe import OutputOptions, TranscribeOptions, output_paths, transcribe, write_outputs

        seconds = _join_recording(p, "test-clean")
        setup = setup_decoder(p.model, choice)
        outputs = OutputOptions(TRANSCRIPT_FORMATS, p.transcripts)
        (t,) = transcribe([p.recording], p.model, TranscribeOptions(decoder=setup.decoder,
                                                                    decoder_options=setup.options,
                                                                    nbest=TRANSCRIPT_NBEST),
                          progress=o.progress)
        if t.error:
            raise DataError(t.error)
        write_outputs(t, output_paths([p.recording], outputs)[str(p.recording)], outputs)
        words = "\n".join(f"  {w.start:7.2f} {w.end:7.2f}  {w.confidence:.2f}  {w.word}" for w in t.best.words[:8])
        more = f"\n  ... {len(t.best.words) - 8} more words" if len(t.best.words) > 8 else ""
        if not t.best.words:
            words = "  (no words recognised)"
        files = ", ".join(str(p.transcripts / f"{p.recording.stem}.{f}") for f in TRANSCRIPT_FORMATS)
        return (f"{p.recording} ({seconds:.0f} s of test-clean speech): {t.text}\n"
                f"  start     end  conf  word\n{words}{more}\nsubtitles and word times: {files}")

    return Stage("transcribe", argv, run)


def _join_recording(p: _Paths, split: str) -> float:
    """Write the demo's test recording (once): the utterances of the split's first chapter, in
    order, up to RECORDING_SECONDS, as one FLAC; returns its length in seconds. Each
    utterance keeps its own silence around the speech, so the file has pauses to cut
    subtitles at."""
    import numpy as np
    import soundfile as sf

    from asrkit.audio import SAMPLE_RATE, load_audio
    from asrkit.data.manifest import read_split
    from asrkit.io import atomic_path

    if p.recording.is_file():
        return sf.info(str(p.recording)).duration
    utts = read_split(p.manifests, split)
    chapter = [u for u in utts if (u.speaker, u.chapter) == (utts[0].speaker, utts[0].chapter)]
    waves, total = [], 0.0
    for u in chapter:
        waves.append(load_audio(u.audio))
        total += len(waves[-1]) / SAMPLE_RATE
        if total >= RECORDING_SECONDS:
            break
    with atomic_path(p.recording) as tmp:
        sf.write(str(tmp), np.concatenate(waves), SAMPLE_RATE, subtype="PCM_16", format="FLAC")
    return total
