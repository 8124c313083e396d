"""asrkit pretrain on hostile input: folders of audio that cannot train, named pipes,
another --audio-dir on a finished or resumed run. Each case keeps the user's data and
refuses (or warns) in one line instead of training on nothing."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asrkit.pretrain.data import scan_audio_folder
from speech_fixtures import noise_utterances


def test_a_named_pipe_in_an_audio_folder_is_skipped_and_reported(tmp_path):
    root = tmp_path / "unlab"
    noise_utterances(root, [1.0, 1.0, 1.0])
    os.mkfifo(root / "pipe.flac")  # reading its header would wait for a writer forever
    result = {}
    scan = threading.Thread(target=lambda: result.update(scan_audio_folder(root, tmp_path / "m")), daemon=True)
    scan.start()
    scan.join(timeout=60)
    if scan.is_alive():  # free the blocked reader before failing
        os.close(os.open(root / "pipe.flac", os.O_WRONLY | os.O_NONBLOCK))
    assert not scan.is_alive(), "the scan blocked on a named pipe"
    assert result["skipped"] == 1 and result["train"] + result["dev"] == 3
    assert "pipe.flac\tnot a regular file" in (tmp_path / "m" / "unlabelled.skipped.tsv").read_text()
