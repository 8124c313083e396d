"""`asrkit prepare`: one manifest per split from a LibriSpeech / Libri-light corpus.

For each split: pair audio files with transcript lines (asrkit.data.librispeech), read
every audio header in a thread pool, drop utterances that cannot train or score, and
write <out>/<split>.jsonl (asrkit.data.manifest) with, beside it,

    <split>.meta.json     fingerprint of the split's files + counts (skip when unchanged)
    <split>.skipped.tsv   path, reason, detail for every skipped utterance

Audio is checked cheaply: the header (frames, rate) and the last sample, which a
truncated FLAC cannot deliver; float files (the only ones that can hold NaN or Inf) are
decoded to check every sample is finite. `verify=True` decodes every file instead.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import soundfile as sf

from asrkit.audio import SAMPLE_RATE
from asrkit.ctc import ctc_min_frames
from asrkit.data.librispeech import (ALL_SPLITS, Corpus, Entry, Problem, find_corpus,
                                     scan_split)
from asrkit.data.manifest import Utterance, read_manifest, write_manifest
from asrkit.errors import InputNotFound, SettingError
from asrkit.io import make_dir, write_json, write_text
from asrkit.text import out_of_vocabulary
from asrkit.vocab import letters, spelled

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # bump when manifests change meaning, so old ones are redone

UNREADABLE = "unreadable audio"
EMPTY_AUDIO = "empty audio"
TRUNCATED = "truncated audio"
OUT_OF_VOCABULARY = "characters outside the vocabulary"
TOO_SHORT = "audio too short for its label"
NON_FINITE = "NaN or infinite samples"
FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")  # the only sample formats that can hold NaN or Inf

# The feature encoder of every wav2vec 2.0 / HuBERT / WavLM checkpoint:
# (kernel, stride) per conv layer, 320 samples per output frame at 16 kHz.
WAV2VEC2_CONV = ((10, 5), (3, 2), (3, 2), (3, 2), (3, 2), (2, 2), (2, 2))
SHOWN_PROBLEMS = 20  # per split on the console; all go to <split>.skipped.tsv


@dataclass(frozen=True)
class PrepareOptions:
    data_root: Path  # holds LibriSpeech/ and/or librispeech_finetuning/ (or is one of them)
    out_dir: Path  # manifests are written to <out_dir>/<split>.jsonl
    splits: tuple[str, ...] = ()  # split names to prepare; empty: every split found
    force: bool = False  # redo splits even when their files did not change
    verify: bool = False  # decode every file fully instead of header + last sample
    fairseq: bool = False  # also write fairseq manifests (<split>.tsv/.wrd/.ltr) in <out_dir>/fairseq
    workers: int = 8  # threads reading audio headers (libsndfile releases the GIL)
    progress: bool = True  # tqdm progress bar per split (on a terminal)


@dataclass
class SplitReport:
    split: str
    manifest: Path
    utterances: int = 0
    hours: float = 0.0
    speakers: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count
    reused: bool = False  # up to date from an earlier run
    problems: list[Problem] = field(default_factory=list)
    error: str | None = None  # why no manifest was written

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())


@dataclass(frozen=True)
class Probe:
    frames: int = 0
    sample_rate: int = 0
    problem: tuple[str, str] | None = None  # (reason, detail)


def wav2vec2_frames(samples: int) -> int:
    """Output frames of the wav2vec 2.0 feature encoder for `samples` at 16 kHz.

    A model-free screen: manifests serve any model, and w2v-BERT's stacked filterbank frames
    come to the same 20 ms (within a frame at the ends). The model's own count
    (asrkit.model.output_lengths) decides at training (train.filter_trainable) and inference.
    """
    for kernel, stride in WAV2VEC2_CONV:
        samples = (samples - kernel) // stride + 1 if samples >= kernel else 0
    return samples


def probe_audio(path: str, verify: bool = False) -> Probe:
    """Frames and rate of `path`, or the reason it cannot be used."""
    try:
        f = sf.SoundFile(path)
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        return Probe(problem=(UNREADABLE, str(e)))
    with f:
        frames, rate = f.frames, f.samplerate
        if frames <= 0:
            return Probe(frames, rate, (EMPTY_AUDIO, "the header says 0 samples"))
        try:
            if verify:
                got = sum(len(block) for block in f.blocks(blocksize=1 << 16))
            else:
                # A truncated FLAC keeps its header's sample count; only its end is missing.
                f.seek(frames - 1)
                got = frames - 1 + len(f.read(1))
        except (sf.LibsndfileError, RuntimeError, OSError) as e:
            return Probe(frames, rate, (TRUNCATED, f"header says {frames} samples; reading failed ({e})"))
        if got != frames:
            return Probe(frames, rate, (TRUNCATED, f"header says {frames} samples, decoded {got}"))
        if f.subtype in FLOAT_SUBTYPES:
            bad = _non_finite(f)
            if bad:
                return Probe(frames, rate, (NON_FINITE, f"{bad} of {frames * f.channels} samples"))
    return Probe(frames, rate)


def _non_finite(f: sf.SoundFile) -> int:
    """NaN or infinite samples in a float file (they would make every loss and weight NaN)."""
    import numpy as np

    f.seek(0)
    return sum(int(np.count_nonzero(~np.isfinite(block)))
               for block in f.blocks(blocksize=1 << 16, dtype="float32", always_2d=True))


def fingerprint(files: list[tuple[str, int, int]], verify: bool) -> str:
    """Hash of every file's path, size and mtime, and the options that change the result."""
    h = hashlib.sha1(f"v{FORMAT_VERSION} verify={verify}\n".encode())
    for path, size, mtime in sorted(files):
        h.update(f"{path}\t{size}\t{mtime}\n".encode())
    return h.hexdigest()


def _check_text(entry: Entry) -> Problem | None:
    oov = out_of_vocabulary(entry.text)
    if oov:
        chars = "".join(sorted(oov))
        return Problem(entry.audio, OUT_OF_VOCABULARY, f"{chars!r} in {entry.where}")
    return None


def _check_length(entry: Entry, probe: Probe) -> Problem | None:
    samples_16k = probe.frames * SAMPLE_RATE // probe.sample_rate
    frames, need = wav2vec2_frames(samples_16k), ctc_min_frames(letters(entry.text))
    if frames < need:
        return Problem(entry.audio, TOO_SHORT,
                       f"{probe.frames / probe.sample_rate:.2f} s gives {frames} frames, "
                       f"the label needs {need}")
    return None


def _probe_all(paths: list[str], options: PrepareOptions, split: str, cache: dict) -> dict[str, Probe]:
    """Probe every path not already in `cache`, in a thread pool, with a progress bar."""
    from tqdm import tqdm

    todo = [p for p in paths if p not in cache]
    chunks = [todo[i:i + 128] for i in range(0, len(todo), 128)]
    with tqdm(total=len(paths), initial=len(paths) - len(todo), desc=split, unit="file",
              disable=None if options.progress else True, leave=False) as bar, \
            cf.ThreadPoolExecutor(max(1, options.workers)) as pool:
        futures = {pool.submit(lambda c: [probe_audio(p, options.verify) for p in c], c): c
                   for c in chunks}
        for future in cf.as_completed(futures):
            chunk = futures[future]
            cache.update(zip(chunk, future.result()))
            bar.update(len(chunk))
    return cache


def _utterances(entries: list[Entry], options: PrepareOptions, split: str, cache: dict
                ) -> tuple[list[Utterance], list[Problem]]:
    problems, usable = [], []
    for entry in entries:
        problem = _check_text(entry)
        if problem:
            problems.append(problem)
        else:
            usable.append(entry)
    probes = _probe_all([e.audio for e in usable], options, split, cache)
    utts = []
    for entry in usable:
        probe = probes[entry.audio]
        problem = (Problem(entry.audio, *probe.problem) if probe.problem
                   else _check_length(entry, probe))
        if problem:
            problems.append(problem)
            continue
        utts.append(Utterance(entry.id, entry.audio, probe.frames, probe.sample_rate,
                              entry.speaker, entry.chapter, entry.text))
    return sorted(utts, key=lambda u: u.id), problems


def write_fairseq(utterances: list[Utterance], out_dir: str | os.PathLike, split: str) -> None:
    """fairseq's wav2vec 2.0 manifests: <split>.tsv (root, then path TAB samples), .wrd, .ltr.

        /data/LibriSpeech/dev-clean
        1272/128104/1272-128104-0000.flac	93680
        .ltr: M I S T E R | Q U I L T E R | ...  ("|" after every word)
    """
    out_dir = Path(out_dir)
    root = os.path.commonpath([os.path.dirname(u.audio) for u in utterances])
    write_text(out_dir / f"{split}.tsv", root + "\n" + "".join(
        f"{os.path.relpath(u.audio, root)}\t{u.samples}\n" for u in utterances))
    write_text(out_dir / f"{split}.wrd", "".join(u.text + "\n" for u in utterances))
    write_text(out_dir / f"{split}.ltr", "".join(
        spelled(u.text) + "\n" for u in utterances))


def _paths(out_dir: Path, split: str) -> tuple[Path, Path, Path]:
    return out_dir / f"{split}.jsonl", out_dir / f"{split}.meta.json", out_dir / f"{split}.skipped.tsv"


def _reuse(report: SplitReport, meta_path: Path, fp: str, options: PrepareOptions) -> bool:
    """Fill `report` from an earlier run whose fingerprint matches; False if there is none."""
    if options.force or not report.manifest.is_file() or not meta_path.is_file():
        return False
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    keys = ("utterances", "hours", "speakers", "skipped")
    if meta.get("fingerprint") != fp or not all(k in meta for k in keys):
        return False
    report.utterances, report.hours, report.speakers, report.skipped = (meta[k] for k in keys)
    report.reused = True
    fairseq_dir = options.out_dir / "fairseq"
    if options.fairseq and not (fairseq_dir / f"{report.split}.ltr").is_file():
        write_fairseq(read_manifest(report.manifest), fairseq_dir, report.split)
    return True


def _log_problems(split: str, problems: list[Problem], skipped_path: Path) -> None:
    for p in problems[:SHOWN_PROBLEMS]:
        log.warning("%s: skipped %s: %s%s", split, p.path, p.reason, f" ({p.detail})" if p.detail else "")
    if len(problems) > SHOWN_PROBLEMS:
        log.warning("%s: ... and %d more, all listed in %s", split,
                    len(problems) - SHOWN_PROBLEMS, skipped_path)


def prepare_split(split: str, folders: tuple[Path, ...], options: PrepareOptions,
                  cache: dict | None = None) -> SplitReport:
    """Write (or reuse) the manifest of one split made of `folders`."""
    out_dir = Path(options.out_dir)
    manifest, meta_path, skipped_path = _paths(out_dir, split)
    report = SplitReport(split, manifest)
    scan = scan_split(folders)
    if not scan.files:
        report.error = (f"no audio or transcripts in {', '.join(map(str, folders))}: looked for "
                        f"<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac and "
                        f"<speaker>-<chapter>.trans.txt")
        return report
    fp = fingerprint(scan.files, options.verify)
    if _reuse(report, meta_path, fp, options):
        return report

    utts, problems = _utterances(scan.entries, options, split, {} if cache is None else cache)
    report.problems = scan.problems + problems
    report.skipped = dict(Counter(p.reason for p in report.problems).most_common())
    _log_problems(split, report.problems, skipped_path)
    write_text(skipped_path, "path\treason\tdetail\n" + "".join(
        f"{p.path}\t{p.reason}\t{p.detail}\n" for p in report.problems))
    if not utts:
        report.error = f"every utterance in {', '.join(map(str, folders))} was skipped (see {skipped_path})"
        return report
    report.utterances = len(utts)
    report.hours = sum(u.duration for u in utts) / 3600
    report.speakers = len({u.speaker for u in utts})
    write_manifest(manifest, utts)
    if options.fairseq:
        write_fairseq(utts, out_dir / "fairseq", split)
    # The meta file goes last: an interrupted run leaves no fingerprint, so it is redone.
    write_json(meta_path, {
        "split": split, "fingerprint": fp, "folders": [str(f) for f in folders],
        "utterances": report.utterances, "hours": report.hours, "speakers": report.speakers,
        "skipped": report.skipped,
    })
    return report


def resolve_splits(corpus: Corpus, wanted: tuple[str, ...]) -> list[str]:
    """The split names to prepare, checked against what the corpus holds."""
    if not wanted:
        return list(corpus.splits)
    for name in wanted:
        if name not in ALL_SPLITS:
            raise SettingError(f"unknown split {name!r}: choose from {', '.join(ALL_SPLITS)}")
        if name not in corpus.splits:
            raise InputNotFound(
                f"split {name} is not in {corpus.root} (found: {', '.join(corpus.splits)}); "
                + ("it needs librispeech_finetuning/1h (and 9h for 10h)" if name in ("10min", "1h", "10h")
                   else f"it needs LibriSpeech/{'train-clean-100' if name == '100h' else name}"))
    return list(dict.fromkeys(wanted))


def prepare(options: PrepareOptions) -> tuple[Corpus, list[SplitReport]]:
    """Prepare every requested split; returns the corpus found and one report per split."""
    make_dir(options.out_dir)  # an --out that is a file fails now, not after every header is read
    corpus = find_corpus(options.data_root)
    for line in corpus.describe():
        log.info("%s", line)
    names = resolve_splits(corpus, tuple(options.splits))
    cache: dict[str, Probe] = {}  # 1h and 10h, 100h and train-clean-100 share files
    return corpus, [prepare_split(name, corpus.splits[name], options, cache) for name in names]


def summary_table(reports: list[SplitReport]) -> str:
    """The end-of-run table: split, utterances, hours, speakers, skipped (and why)."""
    rows = [("split", "utterances", "hours", "speakers", "skipped", "")]
    for r in reports:
        status = "up to date" if r.reused else ("FAILED" if r.error else "written")
        rows.append((r.split, str(r.utterances), f"{r.hours:.3f}", str(r.speakers),
                     str(r.n_skipped), status))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i in (0, 5) else c.rjust(w) for i, (c, w) in
                       enumerate(zip(row, widths))).rstrip() for row in rows]
    for r in reports:
        if r.skipped:
            reasons = ", ".join(f"{n} {reason}" for reason, n in r.skipped.items())
            lines.append(f"{r.split}: skipped {reasons}")
    return "\n".join(lines)
