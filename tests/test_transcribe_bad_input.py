"""asrkit transcribe on hostile files: each is named and skipped, the good ones are
transcribed, nothing blocks and nothing allocates what the file does not hold."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import soundfile as sf

from asrkit.cli import main
from asrkit.demo import EMBEDDED_CHECKPOINT
from test_audio import _forged_flac

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_every_bad_file_is_named_and_the_good_ones_transcribed(tmp_path, capsys):
    """The embedded w2v-BERT (a filterbank front end) on a 1-sample WAV, a FLAC claiming 2^36
    samples, a named pipe and NaN audio, between two good files."""
    good = (0.1 * np.random.default_rng(0).standard_normal(16_000)).astype(np.float32)
    sf.write(tmp_path / "good1.wav", good, 16_000)
    sf.write(tmp_path / "one.wav", good[:1], 16_000)
    _forged_flac(tmp_path, (1 << 36) - 1)
    os.mkfifo(tmp_path / "pipe.wav")
    nan = good.copy()
    nan[100] = np.nan
    sf.write(tmp_path / "nan.wav", nan, 16_000, subtype="FLOAT")
    sf.write(tmp_path / "good2.flac", good[:8000], 16_000)
    names = ["good1.wav", "one.wav", "forged.flac", "pipe.wav", "nan.wav", "good2.flac"]
    files = [str(tmp_path / n) for n in names]

    code = main(["transcribe", *files, "--model", str(EMBEDDED_CHECKPOINT), "--out", str(tmp_path / "t.jsonl")])
    captured = capsys.readouterr()
    assert code == 1
    assert [line.split("\t")[0] for line in captured.out.splitlines()] == [files[0], files[5]]
    rows = [json.loads(r) for r in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert [r["file"] for r in rows] == files
    errors = {os.path.basename(r["file"]): r["error"] for r in rows if r["text"] is None}
    assert sorted(errors) == sorted(names[1:5])
    assert all(e.startswith(str(tmp_path / n) + ":") for n, e in errors.items())
    assert "header claims 68719476735 samples" in errors["forged.flac"]
    assert "not a regular file" in errors["pipe.wav"]
    assert "NaN or infinite" in errors["nan.wav"]
    assert "asrkit transcribe: 4 of 6 files failed; 2 transcribed" in captured.err


@pytest.mark.parametrize("command", ["transcribe", "finetune"])
def test_a_truncated_model_file_is_named(tmp_path, capsys, command):
    """A model folder whose weights were cut short (a full disk, an interrupted copy): one
    line naming the file, from inference and from fine-tuning alike."""
    import shutil

    model = tmp_path / "model"
    shutil.copytree(EMBEDDED_CHECKPOINT, model)
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 3])
    sf.write(tmp_path / "a.wav", np.zeros(16_000, np.float32), 16_000)
    argv = (["transcribe", str(tmp_path / "a.wav"), "--model", str(model)] if command == "transcribe" else
            ["finetune", "--model", str(model), "--manifests", str(tmp_path / "none"), "--out", str(tmp_path / "o"),
             "--dev-split", "none", "--set", "data.train_split=x"])
    if command == "finetune":
        from speech_fixtures import make_manifests, noise_utterances

        make_manifests(tmp_path, {"x": noise_utterances(tmp_path / "audio", [1.0])})
        argv[argv.index(str(tmp_path / "none"))] = str(tmp_path / "manifests")
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"error: {weights}: damaged or truncated" in err and "Traceback" not in err
