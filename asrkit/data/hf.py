"""A `datasets.Dataset` view of a manifest, for users who prefer the datasets API.

Columns: id, audio, text, speaker, duration (seconds). `audio` is the file path; with
decode_audio=True it is {"array": float32 (T,), "sampling_rate": 16000}, loaded on access
with asrkit.audio (soundfile + soxr) through `with_transform`. datasets' own Audio
feature is not used: datasets 5 decodes it with torchcodec, which fails beside a CPU torch.
"""

from __future__ import annotations

import os
from typing import Iterable

from asrkit.audio import SAMPLE_RATE, load_audio
from asrkit.data.manifest import Utterance, read_manifest


def _decode(batch: dict) -> dict:
    batch["audio"] = [{"array": load_audio(path, SAMPLE_RATE), "sampling_rate": SAMPLE_RATE}
                      for path in batch["audio"]]
    return batch


def to_hf_dataset(source: str | os.PathLike | Iterable[Utterance], decode_audio: bool = False):
    """A datasets.Dataset of a manifest file or of utterances.

    Decoding is lazy: each row's audio is read when the row is accessed (not stored in
    Arrow), so a large split costs no memory up front.
    """
    import datasets

    utts = read_manifest(source) if isinstance(source, (str, os.PathLike)) else list(source)
    features = datasets.Features({
        "id": datasets.Value("string"), "audio": datasets.Value("string"),
        "text": datasets.Value("string"), "speaker": datasets.Value("string"),
        "duration": datasets.Value("float64"),
    })
    ds = datasets.Dataset.from_dict({
        "id": [u.id for u in utts], "audio": [u.audio for u in utts],
        "text": [u.text for u in utts], "speaker": [u.speaker for u in utts],
        "duration": [u.duration for u in utts],
    }, features=features)
    return ds.with_transform(_decode) if decode_audio else ds
