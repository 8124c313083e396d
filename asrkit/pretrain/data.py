"""Unlabelled audio for pre-training: which utterances, their waveforms, and batches of
cropped or padded audio with their masks and distractors.

Sources:
    a manifest (asrkit.data.manifest; its text is never read), or
    a folder of audio files with no transcripts (Libri-light's unlab layout
    <subset>/<speaker>/<book>/<name>.flac, or a user's own recordings): scan_audio_folder
    writes its manifests, a held-out part of the files as the dev split.

Batch (from Cropper):
    inputs          float32 (B, T) waveforms; T = the batch's shortest utterance (crop: true)
                    or its longest, zero-padded (crop: false); never over max_sample_size
    attention_mask  int64 (B, T), 1 = real, None when nothing is padded
    mask            bool (B, T') frames to mask and predict (asrkit.masks), never padding
    negatives       int64 (N, K) distractors per masked frame (asrkit.pretrain.objective)
    samples         int, real audio samples in the batch (throughput)
    weight          float, 0.0 for a dummy batch that only keeps DDP ranks in step
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from asrkit.audio import SAMPLE_RATE, audio_info, load_audio
from asrkit.data.collate import samples_at_16k
from asrkit.data.manifest import Utterance, write_manifest
from asrkit.errors import AudioError, DataError, InputNotFound
from asrkit.io import write_text
from asrkit.masks import MaskSettings
from asrkit.pretrain.objective import sample_negatives

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".flac", ".wav", ".ogg", ".opus", ".mp3")
FOLDER_TRAIN, FOLDER_DEV = "unlabelled-train", "unlabelled-dev"
DEV_SHARE = 100  # one file in this many is held out for dev


# ---------------------------------------------------------------- a folder of audio


def _audio_files(root: Path, skipped: list[tuple[str, str]]) -> list[Path]:
    """Audio files under root, each real folder walked once (symlink loops end there);
    unreadable folders are reported in `skipped`."""
    seen, found = set(), []
    for folder, dirs, files in os.walk(root, followlinks=True, onerror=lambda e: skipped.append(
            (str(e.filename), f"unreadable folder ({e.strerror})"))):
        real = os.path.realpath(folder)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        found += [Path(folder) / f for f in sorted(files) if f.lower().endswith(AUDIO_SUFFIXES)]
    return found


def _utterance(path: Path, root: Path) -> Utterance:
    frames, rate = audio_info(path)
    if frames <= 0:
        raise AudioError(f"{path}: audio file holds no samples")
    rel = path.relative_to(root).with_suffix("")
    parts = rel.parts
    speaker = parts[-3] if len(parts) >= 3 else (parts[0] if len(parts) > 1 else "unknown")
    chapter = parts[-2] if len(parts) >= 3 else ""
    return Utterance(id="-".join(parts), audio=str(path.resolve()), samples=frames, sample_rate=rate,
                     speaker=speaker, chapter=chapter, text="")


def scan_audio_folder(root: Path, out_dir: Path, min_samples: int = 0) -> dict:
    """Write <out_dir>/unlabelled-train.jsonl and unlabelled-dev.jsonl (one file in 100 of
    those with at least min_samples 16 kHz samples, chosen by a hash of its path) from the
    audio files under `root`, and unlabelled.skipped.tsv naming each file not taken and why.
    Returns counts."""
    root = Path(root)
    if not root.is_dir():
        raise InputNotFound(f"no audio folder at {root}")
    skipped: list[tuple[str, str]] = []
    utts = []
    for path in _audio_files(root, skipped):
        try:
            utts.append(_utterance(path, root))
        except AudioError as e:
            skipped.append((str(path), str(e).removeprefix(f"{path}: ")))
    # The dev files: the 1% (at least one, when there are two or more) with the smallest
    # hash of their id, so the choice does not depend on the order the files were found;
    # only files long enough to be used, or a folder of short clips could lose its dev split.
    long_enough, _ = usable(utts, min_samples)
    held_out = max(1, round(len(long_enough) / DEV_SHARE)) if len(long_enough) > 1 else 0
    by_hash = sorted(long_enough, key=lambda u: hashlib.sha1(u.id.encode()).hexdigest())
    dev_ids = {u.id for u in by_hash[:held_out]}
    train = [u for u in utts if u.id not in dev_ids]
    dev = [u for u in utts if u.id in dev_ids]
    if not train:
        raise DataError(f"{root}: no readable audio files ({', '.join(AUDIO_SUFFIXES)}) found"
                        + (f"; {len(skipped)} skipped, see {out_dir / 'unlabelled.skipped.tsv'}" if skipped else ""))
    write_manifest(out_dir / f"{FOLDER_TRAIN}.jsonl", train)
    write_manifest(out_dir / f"{FOLDER_DEV}.jsonl", dev)
    write_text(out_dir / "unlabelled.skipped.tsv",
               "path\treason\n" + "".join(f"{p}\t{r}\n" for p, r in skipped))
    for path, reason in skipped[:20]:
        log.warning("skipped %s: %s", path, reason)
    return {"train": len(train), "dev": len(dev), "skipped": len(skipped)}


# ---------------------------------------------------------------- waveforms


def usable(utts: list[Utterance], min_samples: int) -> tuple[list[Utterance], int]:
    """Utterances of at least min_samples 16 kHz samples (fairseq min_sample_size), and how many were shorter."""
    kept = [u for u in utts if samples_at_16k(u) >= min_samples]
    return kept, len(utts) - len(kept)


class Waveforms:
    """Waveforms by utterance index, normalised per utterance when asked (fairseq
    task.normalize). With cache=True each file is read once (preload); a file that cannot
    be read, or holds NaN or infinite samples, is reported, counted and returns None."""

    def __init__(self, utts: list[Utterance], normalize: bool, cache: bool):
        self.utts, self.normalize = utts, normalize
        self.cache: dict[int, np.ndarray | None] | None = {} if cache else None
        self.bad: Counter = Counter()  # reason (it names the file) -> times met
        self.why: dict[int, str] = {}  # utterance index -> why it could not be used

    def __len__(self) -> int:
        return len(self.utts)

    def load(self, i: int) -> np.ndarray | None:
        utt = self.utts[i]
        try:
            wave = load_audio(utt.audio)
            if not np.isfinite(wave).all():
                raise AudioError(f"{utt.audio}: holds NaN or infinite samples")
        except AudioError as e:
            self.bad[str(e)] += 1
            self.why[i] = str(e)
            log.warning("skipped utterance %s: %s", utt.id, e)
            return None
        if self.normalize:
            wave = (wave - wave.mean()) / np.sqrt(wave.var() + 1e-5)  # F.layer_norm over the utterance
        return wave.astype(np.float32)

    def __getitem__(self, i: int) -> np.ndarray | None:
        if self.cache is None:
            return self.load(i)
        if i not in self.cache:
            self.cache[i] = self.load(i)
        return self.cache[i]

    def preload(self, desc: str, show: bool) -> None:
        from tqdm import tqdm

        if self.cache is not None:
            for i in tqdm(range(len(self)), desc=desc, unit="utt", disable=not show, leave=False):
                self[i]


# ---------------------------------------------------------------- batches


@dataclass
class PretrainBatch:
    inputs: torch.Tensor
    attention_mask: torch.Tensor | None
    mask: torch.Tensor
    negatives: torch.Tensor
    samples: int
    weight: float = 1.0
    # Why each file of the batch left out was unreadable: a DataLoader worker's Waveforms.bad
    # never reaches the parent, so the batch carries its count there.
    bad: tuple[str, ...] = ()

    @property
    def masked(self) -> int:
        return int(self.negatives.shape[0]) if self.weight else 0

    def to(self, device) -> "PretrainBatch":
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return PretrainBatch(move(self.inputs), move(self.attention_mask), move(self.mask), move(self.negatives),
                             self.samples, self.weight, self.bad)


class Cropper:
    """Indices -> PretrainBatch. Every draw (crop offsets, masks, distractors) comes from a
    generator seeded by `key`, so a batch is the same whenever it is made again (resume,
    DataLoader workers, validation passes)."""

    def __init__(self, waves: Waveforms, frames_of, masks: MaskSettings, num_negatives: int, max_sample_size: int,
                 crop: bool):
        self.waves, self.frames_of, self.masks, self.num_negatives = waves, frames_of, masks, num_negatives
        self.max_sample_size, self.crop = max_sample_size, crop

    def __call__(self, indices, key: tuple[int, ...], weight: float = 1.0) -> PretrainBatch:
        rng = np.random.default_rng(list(key))
        loaded = [self.waves[i] for i in indices]
        bad = tuple(self.waves.why.get(i, "unreadable") for i, w in zip(indices, loaded) if w is None)
        waves = [w for w in loaded if w is not None]
        if not waves:
            # Every file of the batch was unreadable (counted in waves.bad): a silent batch of
            # weight 0 keeps the update, and the processes of a DDP run, in step.
            waves, weight = [np.zeros(SAMPLE_RATE, dtype=np.float32)], 0.0
        lengths = [min(len(w), self.max_sample_size) for w in waves]
        size = min(lengths) if self.crop else max(lengths)
        inputs = np.zeros((len(waves), size), dtype=np.float32)
        real = []
        for b, wave in enumerate(waves):
            keep = min(len(wave), size)
            start = int(rng.integers(0, len(wave) - keep + 1))
            inputs[b, :keep] = wave[start:start + keep]
            real.append(keep)
        padded = any(n < size for n in real)
        attention = None
        if padded:
            attention = (np.arange(size)[None, :] < np.array(real)[:, None]).astype(np.int64)
        frames = self.frames_of(np.array(real))
        t = int(self.frames_of(np.array([size]))[0])
        padding = np.arange(t)[None, :] >= frames[:, None]
        mask = self.masks.time((len(waves), t), padding if padded else None, rng)
        negatives = sample_negatives(mask, self.num_negatives, rng)
        return PretrainBatch(torch.from_numpy(inputs), None if attention is None else torch.from_numpy(attention),
                             torch.from_numpy(mask), torch.from_numpy(negatives), int(sum(real)), weight, bad)
