"""Transcribe a user's own recordings with a fine-tuned model, optionally with a KenLM.

    asrkit transcribe FILE... --model DIR [--lm 4gram|PATH|none] [--decoder ...] [--nbest N]
                      [--format txt,jsonl,srt,vtt,ctm --out-dir DIR] [--out FILE.jsonl]

The model folder is one written by `asrkit finetune` (a Hugging Face CTC model and its
processor: config.json, weights, tokenizer and feature-extractor files); a name under
work/models/ works too. Each file is processed on its own, in the order given:

    read     any rate, mono or multi-channel, any format libsndfile reads (wav, flac,
             ogg, ...): channels averaged, resampled to 16 kHz (asrkit.audio)
    model    log-probs (T frames, V tokens) from asrkit.inference.AcousticModel, the same
             inference that fills the logits cache: audio longer than --chunk-seconds runs
             in overlapping windows (--stride-seconds of context per inner side, only the
             centre frames kept), so memory is bounded by the window, not the file
    decode   one of asrkit.decode's decoders, built once for the run: greedy without an
             LM; with --lm the flashlight lexicon decoder (or --decoder pyctcdecode /
             lexfree). LM weights tuned by `asrkit tune-lm` for this model and LM
             (<model>/lm-tuning.json) are used unless given on the command line, exactly
             as `asrkit decode` picks them (asrkit.decode.setup)
    words    each hypothesis' words with start and end times (seconds from the start of the
             file, windows included: asrkit.ctc) and a confidence in [0, 1]; with --nbest N
             the beam decoders give up to N hypotheses, best first (greedy gives 1)

Output: one "<file>\\t<transcript>" line per file on stdout (the path as given).
--format writes, for each file, <out-dir>/<file stem>.<format> (asrkit.transcripts):
txt (the text), jsonl (one row: text, words, N-best), srt and vtt (subtitles cut at pauses),
ctm (one line per word, as sclite reads it). --out also writes JSON Lines, one row per file
in order:

    {"file": "talk.flac", "text": "HELLO WORLD", "duration": 3.52, "seconds": 0.41,
     "words": [{"word": "HELLO", "start": 0.42, "end": 0.78, "confidence": 0.93}, ...],
     "nbest": [{"text": "HELLO WORLD", "words": [...], "scores": {...}}, ...]}
    {"file": "notes.wav", "text": null, "duration": null, "seconds": 0.0,
     "error": "notes.wav: cannot read audio (Format not recognised.)"}

duration is the audio's length in seconds; seconds the wall time spent on the file
(read + model + decode). A file that is missing, not a regular file (a named pipe is
never opened), not audio, truncated, empty, holding NaN or infinite samples, with a header
claiming more samples than the file can hold, too short for one model frame, or one the
model fails on gets a one-line error naming it on stderr, and the others are still
transcribed; the command then ends with a count of failures and exit status 1. Memory per
file is bounded by the audio it really holds (asrkit.audio.load_audio), whatever its
header says. Output folders and files are checked for writing before the model loads.

Transcripts are upper-case letters, apostrophes and spaces (the model's letter vocabulary).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from asrkit import transcripts
from asrkit.audio import load_audio
from asrkit.decode import Vocabulary, make_decoder
from asrkit.decode.greedy import GreedyOptions
from asrkit.errors import AsrkitError, AudioError, SettingError
from asrkit.hypotheses import Hypothesis, NBest, best
from asrkit.inference import AcousticModel, LogitsOptions
from asrkit.io import make_dir, write_text

log = logging.getLogger(__name__)

LONG_FILE_SECONDS = 300.0
"""Files longer than this get their own progress bar over audio seconds."""


@dataclass(frozen=True)
class TranscribeOptions:
    logits: LogitsOptions = LogitsOptions()  # device, window length and stride for long files
    decoder: str = "greedy"  # one of asrkit.decode.DECODERS
    # That decoder's options dataclass, e.g. from asrkit.decode.setup (LM paths, weights).
    decoder_options: object = field(default_factory=GreedyOptions)
    nbest: int = 1  # hypotheses kept per file (the beam decoders give up to this many; greedy 1)

    def __post_init__(self):
        check_nbest(self.nbest)


def check_nbest(n) -> None:
    """SettingError unless `n` (hypotheses per file) is a whole number >= 1."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise SettingError(f"`nbest` must be a whole number >= 1 (hypotheses per file), got {n!r}")


@dataclass(frozen=True)
class Transcript:
    """The result for one file; `error` is set (and `nbest` empty) when it failed."""

    file: str  # the path as given
    nbest: NBest  # the decoder's hypotheses, best first; () when the file failed
    duration: float | None  # seconds of audio
    seconds: float  # wall time spent on this file: read, model, decode
    error: str | None = None  # one line naming the file and the problem

    @property
    def best(self) -> Hypothesis:
        return best(self.nbest)

    @property
    def text(self) -> str | None:
        """The best hypothesis' text; None when the file failed."""
        return None if self.error else self.best.text

    def row(self) -> dict:
        """The --out JSON Lines row (module doc): file, text, duration, seconds, words, nbest;
        file, text null, duration, seconds and error when the file failed."""
        if self.error:
            return {"file": self.file, "text": None, "duration": self.duration, "seconds": self.seconds,
                    "error": self.error}
        return transcripts.json_row(self.file, self.nbest, self.duration, seconds=self.seconds)


class Transcriber:
    """A loaded model and decoder that transcribe one file at a time."""

    def __init__(self, model_dir: str | os.PathLike, options: TranscribeOptions = TranscribeOptions()):
        self.options = options
        self.acoustic = AcousticModel(model_dir, options.logits)
        # Built once: for beam search this loads the LM and lexicon a single time per run.
        self.decoder = make_decoder(options.decoder, options.decoder_options, Vocabulary.of(self.acoustic.tokens))

    @property
    def sample_rate(self) -> int:
        return self.options.logits.sample_rate

    def read(self, path: str | os.PathLike) -> np.ndarray:
        """(T,) float32 mono waveform at the model's rate; AudioError naming the file otherwise."""
        p = Path(path)
        if p.is_dir():
            raise AudioError(f"{path}: is a folder, not an audio file")
        if not p.exists():
            raise AudioError(f"{path}: no such file")
        wave = load_audio(p, self.sample_rate)
        if self.acoustic.frames(len(wave)) < 1:
            raise AudioError(f"{path}: too short ({1000 * len(wave) / self.sample_rate:.0f} ms) "
                             "for the model to give one frame")
        return wave

    def log_probs(self, wave: np.ndarray, progress: str | None = None) -> np.ndarray:
        """(T, V) float32 log-probs of one waveform, long ones in overlapping windows."""
        return self.acoustic.run({0: wave}, progress=progress)[0]

    def decode(self, log_probs: np.ndarray) -> NBest:
        """The decoder's N-best list for one file's (T, V) log-probs, word times in seconds."""
        return self.decoder.decode_one(log_probs, self.acoustic.seconds_per_frame, self.options.nbest)

    def transcribe_file(self, path: str | os.PathLike, progress: bool = True) -> Transcript:
        """The Transcript of one file; `progress`: a bar over a long file's audio seconds."""
        started = time.time()
        try:
            wave = self.read(path)
        except AudioError as e:
            return Transcript(str(path), (), None, round(time.time() - started, 3), str(e))
        duration = len(wave) / self.sample_rate
        bar = progress and duration > LONG_FILE_SECONDS  # its own bar over audio seconds
        try:
            nbest = self.decode(self.log_probs(wave, progress=Path(path).name if bar else None))
        except (AsrkitError, ValueError, RuntimeError) as e:
            # A file the model cannot take (a few samples for a filterbank front end) must not
            # cost the other files; -v keeps the traceback.
            log.debug("%s", path, exc_info=True)
            return Transcript(str(path), (), round(duration, 3), round(time.time() - started, 3),
                              f"{path}: the model could not run on it ({type(e).__name__}: {e})")
        return Transcript(str(path), nbest, round(duration, 3), round(time.time() - started, 3))


def transcribe(paths: Iterable[str | os.PathLike], model_dir: str | os.PathLike,
               options: TranscribeOptions = TranscribeOptions(), progress: bool = True) -> Iterator[Transcript]:
    """Transcripts of `paths`, in order, as each file is done (see module doc).

    Model and decoder problems (no model folder, a bad LM) raise before any file is read;
    a bad file yields a Transcript with `error` set and the others go on. `progress`: a bar
    over the files (when there are several) and one per long file (stderr).
    """
    from tqdm import tqdm

    paths = list(paths)
    transcriber = Transcriber(model_dir, options)
    for path in tqdm(paths, desc="transcribe", unit=" file", disable=not progress or len(paths) < 2):
        yield transcriber.transcribe_file(path, progress)


# --------------------------------------------------------------------------- output files


@dataclass(frozen=True)
class OutputOptions:
    formats: tuple[str, ...] = ()  # of asrkit.transcripts.FORMATS; each file gets <out_dir>/<stem>.<format>
    out_dir: Path = Path(".")  # where those files go
    cues: transcripts.CueOptions = transcripts.CueOptions()  # subtitle line length, lines, seconds


def output_paths(files: Sequence[str | os.PathLike], o: OutputOptions) -> dict[str, dict[str, Path]]:
    """{file as given: {format: path}}; SettingError when two inputs would write one path
    (a/talk.wav and b/talk.flac both make talk.srt), before anything is transcribed."""
    out: dict[str, dict[str, Path]] = {}
    taken: dict[Path, str] = {}
    for f in files:
        stem = Path(f).stem or Path(f).name
        out[str(f)] = {fmt: o.out_dir / f"{stem}.{fmt}" for fmt in o.formats}
        for path in out[str(f)].values():
            if taken.get(path, str(f)) != str(f):
                raise SettingError(f"{taken[path]} and {f} would both write {path}; transcribe them in "
                                   f"separate runs with different `out_dir`")
            taken[path] = str(f)
    return out


def check_writable(path: Path, folder: bool, what: str) -> None:
    """SettingError naming `what` unless `path` (a folder, or a file's folder) can be written:
    made if missing, then probed with a temporary file, before any model is loaded."""
    target = path if folder else path.parent
    if not folder and path.is_dir():
        raise SettingError(f"`{what}` {path}: is a folder; give a file name such as transcripts.jsonl")
    try:
        make_dir(target)
        fd, probe = tempfile.mkstemp(prefix=".asrkit-probe-", dir=target)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise SettingError(f"`{what}` {path}: cannot write there ({e.strerror or e})") from None


def write_outputs(t: Transcript, paths: dict[str, Path], o: OutputOptions) -> None:
    """Write one transcribed file's formats, each atomically (a failed file writes nothing)."""
    if t.error:
        return
    recording = Path(t.file).stem.replace(" ", "_") or "recording"
    for fmt, path in paths.items():
        write_text(path, transcripts.render(fmt, t.file, t.nbest, t.duration, recording, o.cues))
