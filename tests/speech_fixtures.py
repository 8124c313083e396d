"""A few spoken utterances made with espeak-ng, and manifests over them, for the fine-tuning
tests (asrkit.data.synth makes full corpora; this is the 1-second version of it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

from asrkit.data.manifest import Utterance, write_manifest

SENTENCES = ["GOOD MORNING", "THE CAT SAT", "OPEN THE DOOR", "HELLO WORLD"]


def speak(text: str, path: Path, voice: str = "en-us", speed: int = 200) -> Path:
    """espeak-ng -> WAV at 22.05 kHz (the loader resamples to 16 kHz)."""
    if shutil.which("espeak-ng") is None:
        import pytest

        pytest.skip("espeak-ng is not installed")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text.lower()],
                   check=True, capture_output=True)
    return path


def make_utterances(folder: Path, sentences=SENTENCES, speaker: str = "100", voice: str = "en-us",
                    speed: int = 200) -> list[Utterance]:
    folder.mkdir(parents=True, exist_ok=True)
    utts = []
    for n, text in enumerate(sentences):
        uid = f"{speaker}-1-{n:04d}"
        path = speak(text, folder / f"{uid}.wav", voice, speed)
        info = sf.info(str(path))
        utts.append(Utterance(id=uid, audio=str(path.resolve()), samples=info.frames,
                              sample_rate=info.samplerate, speaker=speaker, chapter="1", text=text))
    return utts


def make_manifests(root: Path, splits: dict[str, list[Utterance]]) -> Path:
    """manifests/<split>.jsonl for each split; returns the manifests folder."""
    out = root / "manifests"
    for split, utts in splits.items():
        write_manifest(out / f"{split}.jsonl", utts)
    return out


def noise_utterances(folder: Path, durations_s, text: str = "A B", seed: int = 0) -> list[Utterance]:
    """Random-noise utterances of given lengths at 16 kHz (batching and throughput tests)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    utts = []
    for n, d in enumerate(durations_s):
        uid = f"200-1-{n:04d}"
        path = folder / f"{uid}.wav"
        sf.write(str(path), (0.1 * rng.standard_normal(int(d * 16000))).astype(np.float32), 16000)
        utts.append(Utterance(uid, str(path.resolve()), int(d * 16000), 16000, "200", "1", text))
    return utts
