"""The datasets.Dataset view of a manifest: paths by default, lazily decoded audio on request."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from asrkit.data.hf import to_hf_dataset
from asrkit.data.manifest import Utterance, write_manifest
from fake_librispeech import tone


@pytest.fixture
def manifest(tmp_path):
    sf.write(tmp_path / "a.flac", tone(0.5), 16000)
    sf.write(tmp_path / "b.flac", tone(0.25, rate=8000, channels=2), 8000)  # resampled on load
    utts = [Utterance("1-2-0000", str(tmp_path / "a.flac"), 8000, 16000, "1", "2", "HELLO"),
            Utterance("3-4-0000", str(tmp_path / "b.flac"), 2000, 8000, "3", "4", "WORLD")]
    path = tmp_path / "dev.jsonl"
    write_manifest(path, utts)
    return path, utts


def test_columns_and_paths(manifest):
    path, utts = manifest
    ds = to_hf_dataset(path)
    assert ds.column_names == ["id", "audio", "text", "speaker", "duration"]
    assert len(ds) == 2
    assert ds[1] == {"id": "3-4-0000", "audio": utts[1].audio, "text": "WORLD", "speaker": "3",
                     "duration": 0.25}
    assert ds["duration"] == [0.5, 0.25]


def test_from_utterances_and_decoded_audio(manifest):
    _, utts = manifest
    ds = to_hf_dataset(utts, decode_audio=True)
    row = ds[0]
    assert row["id"] == "1-2-0000" and row["text"] == "HELLO"
    assert row["audio"]["sampling_rate"] == 16000
    assert row["audio"]["array"].dtype == np.float32 and row["audio"]["array"].shape == (8000,)
    np.testing.assert_allclose(row["audio"]["array"], tone(0.5), atol=1e-4)
    # 0.25 s of 8 kHz stereo comes back as 16 kHz mono
    assert ds[1]["audio"]["array"].shape == (4000,)
    batch = ds[0:2]
    assert [a["array"].shape for a in batch["audio"]] == [(8000,), (4000,)]


def test_missing_manifest(tmp_path):
    with pytest.raises(FileNotFoundError, match="asrkit prepare"):
        to_hf_dataset(tmp_path / "nope.jsonl")
