"""Tiny LibriSpeech / Libri-light trees for tests: a few short FLAC files per chapter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 16_000
SENTENCES = ("HELLO WORLD", "IT'S A TEST", "GOOD MORNING")


def tone(seconds: float, rate: int = RATE, seed: int = 0, channels: int = 1) -> np.ndarray:
    """A quiet noisy tone (FLAC would shrink pure silence to nothing)."""
    n = int(round(seconds * rate))
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    wave = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.01 * rng.standard_normal(n)
    wave = wave.astype(np.float32)
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


def write_chapter(folder: Path, speaker: str, chapter: str, texts: dict[str, str],
                  seconds: float = 1.0, audio: bool | set = True) -> Path:
    """<folder>/<speaker>/<chapter>/ with one FLAC per utterance and the trans.txt.

    `texts` maps the utterance number ("0000") to its transcript. `audio` False writes no
    FLAC files, a set writes them only for those numbers.
    """
    chapter_dir = folder / speaker / chapter
    chapter_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (utt, text) in enumerate(sorted(texts.items())):
        utt_id = f"{speaker}-{chapter}-{utt}"
        lines.append(f"{utt_id} {text}\n")
        if audio is True or (isinstance(audio, set) and utt in audio):
            sf.write(chapter_dir / f"{utt_id}.flac", tone(seconds, seed=i), RATE)
    (chapter_dir / f"{speaker}-{chapter}.trans.txt").write_text("".join(lines))
    return chapter_dir


def make_librispeech(root: Path, splits=("dev-clean",), speakers=("1089", "121"),
                     utts_per_chapter: int = 2, seconds: float = 1.0) -> Path:
    """root/LibriSpeech/<split>/<speaker>/<chapter>/...: one chapter per speaker."""
    for split in splits:
        for s, speaker in enumerate(speakers):
            texts = {f"{u:04d}": SENTENCES[u % len(SENTENCES)] for u in range(utts_per_chapter)}
            write_chapter(root / "LibriSpeech" / split, speaker, str(1000 + s), texts, seconds)
    return root


def make_librilight(root: Path, folds=range(6), nine_h: bool = True, seconds: float = 1.0) -> Path:
    """root/librispeech_finetuning/1h/<fold>/{clean,other} and 9h/{clean,other}.

    Each subset folder holds one speaker with one chapter of two utterances; speaker ids
    encode where they are (fold 3 clean -> 3100, 9h other -> 9200) so tests can count.
    """
    ft = root / "librispeech_finetuning"
    for fold in folds:
        for k, subset in enumerate(("clean", "other")):
            write_chapter(ft / "1h" / str(fold) / subset, str(fold * 1000 + 100 * (k + 1) + 10),
                          "7", {"0000": "A TEST", "0001": "ANOTHER TEST"}, seconds)
    if nine_h:
        for k, subset in enumerate(("clean", "other")):
            write_chapter(ft / "9h" / subset, str(9000 + 100 * (k + 1) + 10), "7",
                          {"0000": "NINE HOURS", "0001": "MORE DATA"}, seconds)
    return root
