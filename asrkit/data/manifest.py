"""Manifests: one JSON Lines file per split, one utterance per line.

    {"id": "1089-134686-0000", "audio": "/data/LibriSpeech/test-clean/1089/134686/1089-134686-0000.flac",
     "samples": 166960, "sample_rate": 16000, "speaker": "1089", "chapter": "134686",
     "text": "HE HOPED THERE WOULD BE STEW FOR DINNER TURNIPS AND CARROTS"}

`audio` is an absolute path; `samples` counts frames at the file's own `sample_rate`
(audio is resampled to 16 kHz when loaded, see asrkit.audio). `text` is normalised
(asrkit.text.normalize). Every later stage reads splits through `read_manifest`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from asrkit.errors import DataError, InputNotFound
from asrkit.io import read_jsonl, write_jsonl


@dataclass(frozen=True)
class Utterance:
    id: str  # LibriSpeech style <speaker>-<chapter>-<utt>
    audio: str  # absolute path to the audio file
    samples: int  # number of frames in the file, at sample_rate
    sample_rate: int  # the file's own rate in Hz
    speaker: str
    chapter: str
    text: str  # normalised transcript

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.samples / self.sample_rate


_FIELDS = [f.name for f in dataclasses.fields(Utterance)]


def write_manifest(path: str | os.PathLike, utterances: list[Utterance]) -> None:
    """Write utterances to `path` atomically, one JSON object per line."""
    write_jsonl(path, (dataclasses.asdict(u) for u in utterances))


def read_manifest(path: str | os.PathLike) -> list[Utterance]:
    """Read a manifest; a missing field is an error naming the file and the line."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFound(f"no manifest at {path}: run `asrkit prepare` first")
    out = []
    for n, row in enumerate(read_jsonl(path), 1):
        missing = [f for f in _FIELDS if f not in row]
        if missing:
            raise DataError(f"{path}: utterance {n} lacks field(s) {', '.join(missing)}")
        out.append(Utterance(**{f: row[f] for f in _FIELDS}))
    return out


def split_manifests(manifests_dir: str | os.PathLike, split: str) -> list[Path]:
    """The manifests of `split`: "a+b" joins several (e.g. train-clean-100+train-other-500)."""
    return [Path(manifests_dir) / f"{name}.jsonl" for name in split.split("+")]


def read_split(manifests_dir: str | os.PathLike, split: str) -> list[Utterance]:
    """The utterances of `split` (see split_manifests); an empty manifest is an error."""
    utts = []
    for path in split_manifests(manifests_dir, split):
        part = read_manifest(path)
        if not part:
            raise DataError(f"{path}: the manifest holds no utterances")
        utts.extend(part)
    return utts


def total_hours(utterances: list[Utterance]) -> float:
    """Total audio in hours."""
    return sum(u.duration for u in utterances) / 3600
