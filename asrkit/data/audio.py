"""Audio loading with soundfile: any rate, mono or multi-channel, to 16 kHz mono float32.

datasets 5 decodes Audio through torchcodec, which does not load beside a CPU torch;
reading with soundfile keeps every stage free of it.
"""

from __future__ import annotations

import os

import numpy as np
import soundfile as sf
import soxr

from asrkit.errors import AudioError

SAMPLE_RATE = 16_000
"""The rate every wav2vec 2.0 style model expects."""


def load_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read `path` as a float32 mono waveform at `sample_rate`.

    Returns shape (T,). Channels are averaged; other rates are resampled with soxr (HQ).
    Raises AudioError for a file that is missing, not audio, truncated or empty.
    """
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        raise AudioError(f"{path}: cannot read audio ({e})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: audio file holds no samples")
    wave = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if rate != sample_rate:
        wave = soxr.resample(wave, rate, sample_rate, quality="HQ").astype(np.float32)
    return np.ascontiguousarray(wave)


def audio_info(path: str | os.PathLike) -> tuple[int, int]:
    """(frames, sample_rate) from the file's header alone, without decoding the audio."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        raise AudioError(f"{path}: cannot read audio header ({e})") from None
    return info.frames, info.samplerate
