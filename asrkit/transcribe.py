"""Transcribe a user's own recordings with a fine-tuned model, optionally with a KenLM.

    asrkit transcribe FILE... --model DIR [--lm 4gram|PATH|none] [--decoder ...] [--out FILE.jsonl]

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

Output: one "<file>\\t<transcript>" line per file on stdout (the path as given);
--out also writes JSON Lines, one row per file in order:

    {"file": "talk.flac", "text": "HELLO WORLD", "duration": 3.52, "seconds": 0.41}
    {"file": "notes.wav", "text": null, "duration": null, "seconds": 0.0,
     "error": "notes.wav: cannot read audio (Format not recognised.)"}

duration is the audio's length in seconds; seconds the wall time spent on the file
(read + model + decode). A file that is missing, not a regular file (a named pipe is
never opened), not audio, truncated, empty, holding NaN or infinite samples, with a header
claiming more samples than the file can hold, too short for one model frame, or one the
model fails on gets a one-line error naming it on stderr, and the others are still
transcribed; the command then ends with a count of failures and exit status 1. Memory per
file is bounded by the audio it really holds (asrkit.audio.load_audio), whatever its
header says.

Transcripts are upper-case letters, apostrophes and spaces (the model's letter vocabulary).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from asrkit.audio import load_audio
from asrkit.decode import Vocabulary, make_decoder
from asrkit.decode.greedy import GreedyOptions
from asrkit.errors import AsrkitError, AudioError
from asrkit.inference import AcousticModel, LogitsOptions

log = logging.getLogger(__name__)

LONG_FILE_SECONDS = 300.0
"""Files longer than this get their own progress bar over audio seconds."""


@dataclass(frozen=True)
class TranscribeOptions:
    logits: LogitsOptions = LogitsOptions()  # device, window length and stride for long files
    decoder: str = "greedy"  # one of asrkit.decode.DECODERS
    # That decoder's options dataclass, e.g. from asrkit.decode.setup (LM paths, weights).
    decoder_options: object = field(default_factory=GreedyOptions)


@dataclass(frozen=True)
class Transcript:
    """The result for one file; `error` is set (and `text` None) when it failed."""

    file: str  # the path as given
    text: str | None  # normalised transcript
    duration: float | None  # seconds of audio
    seconds: float  # wall time spent on this file: read, model, decode
    error: str | None = None  # one line naming the file and the problem

    def row(self) -> dict:
        """The --out JSON Lines row: file, text, duration, seconds (and error when failed)."""
        row = {"file": self.file, "text": self.text, "duration": self.duration, "seconds": self.seconds}
        return {**row, "error": self.error} if self.error else row


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

    def transcribe_file(self, path: str | os.PathLike) -> Transcript:
        started = time.time()
        try:
            wave = self.read(path)
        except AudioError as e:
            return Transcript(str(path), None, None, round(time.time() - started, 3), str(e))
        duration = len(wave) / self.sample_rate
        long_file = duration > LONG_FILE_SECONDS
        try:
            x = self.log_probs(wave, progress=Path(path).name if long_file else None)
            text = self.decoder.decode_one(x)
        except (AsrkitError, ValueError, RuntimeError) as e:
            # A file the model cannot take (a few samples for a filterbank front end) must not
            # cost the other files; -v keeps the traceback.
            log.debug("%s", path, exc_info=True)
            return Transcript(str(path), None, round(duration, 3), round(time.time() - started, 3),
                              f"{path}: the model could not run on it ({type(e).__name__}: {e})")
        return Transcript(str(path), text, round(duration, 3), round(time.time() - started, 3))


def transcribe(paths: Iterable[str | os.PathLike], model_dir: str | os.PathLike,
               options: TranscribeOptions = TranscribeOptions(), progress: bool = True) -> Iterator[Transcript]:
    """Transcripts of `paths`, in order, as each file is done (see module doc).

    Model and decoder problems (no model folder, a bad LM) raise before any file is read;
    a bad file yields a Transcript with `error` set and the others go on.
    """
    from tqdm import tqdm

    paths = list(paths)
    transcriber = Transcriber(model_dir, options)
    for path in tqdm(paths, desc="transcribe", unit=" file", disable=not progress or len(paths) < 2):
        yield transcriber.transcribe_file(path)
