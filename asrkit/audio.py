"""Audio loading with soundfile: any rate, mono or multi-channel, to 16 kHz mono float32.

datasets 5 decodes Audio through torchcodec, which does not load beside a CPU torch;
reading with soundfile keeps every stage free of it.
"""

from __future__ import annotations

import os
import stat

import numpy as np
import soundfile as sf
import soxr

from asrkit.errors import AudioError

SAMPLE_RATE = 16_000
"""The rate every wav2vec 2.0 style model expects."""


CHUNK_FRAMES = 1 << 18
"""Frames decoded per read (16 s at 16 kHz): each chunk is mixed to mono at once, so a
multi-channel file never costs more than one chunk beyond its mono waveform."""

MAX_SAMPLES_PER_BYTE = 1 << 16
"""No codec libsndfile reads packs more samples than this into one byte (FLAC's best case,
a constant 65,535-sample block, is about 4,400): a header claiming more than file size x
this is lying, and is refused before anything is allocated."""

STRICT_FORMATS = ("WAV", "WAVEX", "FLAC", "AIFF", "W64", "RF64", "CAF")
"""Formats whose header frame count is exact: reading fewer frames means a truncated file."""


def load_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read `path` as a float32 mono waveform at `sample_rate`.

    Returns shape (T,). Channels are averaged; other rates are resampled with soxr (HQ).
    Memory is bounded by the audio the file really holds, not by what its header claims:
    8 bytes per frame at the file's own rate at the peak (the mono chunks and their
    concatenation; the 16 kHz copy is made after the chunks are freed), plus one chunk.
    Raises AudioError, naming the file, for one that is missing, not a regular file (a named
    pipe would block the reader), not audio, truncated, empty, or holding NaN or infinite
    samples (which would make every loss and weight NaN).
    """
    _check_regular_file(path)
    try:
        with sf.SoundFile(str(path)) as f:
            rate = f.samplerate
            _check_header(path, f)
            wave = _read_mono(path, f)
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        raise AudioError(f"{path}: cannot read audio ({e})") from None
    if wave.size == 0:
        raise AudioError(f"{path}: audio file holds no samples")
    finite = np.isfinite(wave)
    if not finite.all():
        raise AudioError(f"{path}: {wave.size - int(finite.sum())} of {wave.size} samples are NaN or "
                         f"infinite")
    if rate != sample_rate:
        wave = soxr.resample(wave, rate, sample_rate, quality="HQ").astype(np.float32)
    return np.ascontiguousarray(wave)


def _check_regular_file(path: str | os.PathLike) -> None:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise AudioError(f"{path}: no such file") from None
    except OSError as e:
        raise AudioError(f"{path}: cannot read audio ({e.strerror or e})") from None
    if stat.S_ISDIR(mode):
        raise AudioError(f"{path}: is a folder, not an audio file")
    if not stat.S_ISREG(mode):
        raise AudioError(f"{path}: not a regular file (a named pipe, socket or device); "
                         f"save the audio to a file first")


def _check_header(path, f: sf.SoundFile) -> None:
    size = os.path.getsize(path)
    if f.frames * f.channels > max(size, 1) * MAX_SAMPLES_PER_BYTE:
        raise AudioError(f"{path}: the header claims {f.frames} samples x {f.channels} channel(s), "
                         f"more than a {size}-byte file can hold (a corrupt or forged header)")


def _read_mono(path, f: sf.SoundFile) -> np.ndarray:
    """The whole file, decoded chunk by chunk and mixed to mono as it goes. shape (T,)."""
    chunks = []
    while True:
        block = f.read(CHUNK_FRAMES, dtype="float32", always_2d=True)
        if len(block) == 0:
            break
        chunks.append(block.mean(axis=1) if block.shape[1] > 1 else block[:, 0].copy())
    got = sum(len(c) for c in chunks)
    if got < f.frames and f.format in STRICT_FORMATS:
        raise AudioError(f"{path}: truncated: the header says {f.frames} samples, the file holds {got}")
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)


def audio_info(path: str | os.PathLike) -> tuple[int, int]:
    """(frames, sample_rate) from the file's header alone, without decoding the audio. A named
    pipe is refused as load_audio refuses it: opening one would wait for a writer forever."""
    _check_regular_file(path)
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        raise AudioError(f"{path}: cannot read audio header ({e})") from None
    return info.frames, info.samplerate
