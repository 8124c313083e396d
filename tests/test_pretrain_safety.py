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


# ---------------------------------------------------------------- the command on an --audio-dir

TINY = {"model": {"name": "tiny", "num_negatives": 5, "mask_time_length": 3, "layerdrop": 0.0},
        "data": {"max_tokens": 80_000, "update_tokens": 80_000, "valid_max_tokens": 80_000,
                 "max_sample_size": 40_000, "min_sample_size": 8_000, "num_workers": 0},
        "train": {"max_updates": 2, "warmup_updates": 1, "checkpoint_interval_updates": 1,
                  "validate_interval_updates": 2}}


@pytest.fixture
def recipe_file(tmp_path) -> Path:
    import yaml

    path = tmp_path / "pretrain_test.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


def audio_dir(folder: Path, n: int = 4, nan: bool = False, seed: int = 0) -> Path:
    utts = noise_utterances(folder, [1.0] * n, seed=seed)
    if nan:
        for u in utts:
            sf.write(u.audio, np.full(16_000, np.nan, dtype=np.float32), 16_000, subtype="FLOAT")
    return folder


def pretrain_cli(recipe: Path, audio: Path, out: Path, *more: str) -> int:
    from asrkit.cli import main

    return main(["pretrain", "--recipe", str(recipe), "--audio-dir", str(audio), "--out", str(out),
                 "--no-progress", *more])


def files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and "checkpoints" not in p.parts and p.name != "train-log.jsonl"}


def test_a_restart_on_audio_that_cannot_train_keeps_the_finished_run(recipe_file, tmp_path, one_torch_thread, capsys):
    out = tmp_path / "run"
    assert pretrain_cli(recipe_file, audio_dir(tmp_path / "good"), out) == 0
    before = files(out)
    assert "manifests/unlabelled-train.jsonl" in before and "model.safetensors" in before
    assert pretrain_cli(recipe_file, audio_dir(tmp_path / "nan", nan=True), out, "--restart") == 1
    assert "can be read" in capsys.readouterr().err
    assert files(out) == before and not (out / ".previous-run").exists()


def test_another_audio_dir_on_a_finished_run_keeps_its_manifests(recipe_file, tmp_path, one_torch_thread, caplog):
    out = tmp_path / "run"
    assert pretrain_cli(recipe_file, audio_dir(tmp_path / "good"), out) == 0
    before = files(out)
    other = audio_dir(tmp_path / "other", seed=1)
    assert pretrain_cli(recipe_file, other, out) == 0  # already pre-trained: nothing to do
    assert files(out) == before
    assert "pre-trained on other files" in caplog.text
    assert pretrain_cli(recipe_file, other, out, "--set", "train.lr=1e-4") == 1  # another recipe: refused
    assert files(out) == before
    assert not [p for p in out.iterdir() if p.name.startswith(".manifests")]


def test_a_run_resumed_on_another_audio_dir_warns(recipe_file, tmp_path, one_torch_thread, monkeypatch, caplog):
    import functools

    import asrkit.pretrain

    out = tmp_path / "run"
    stopping = functools.partial(asrkit.pretrain.PretrainOptions, stop_after_updates=1)
    with monkeypatch.context() as m:
        m.setattr(asrkit.pretrain, "PretrainOptions", stopping)
        assert pretrain_cli(recipe_file, audio_dir(tmp_path / "good"), out) == 0
    assert not (out / "train-summary.json").exists()
    caplog.clear()
    assert pretrain_cli(recipe_file, audio_dir(tmp_path / "other", seed=1), out) == 0
    assert "changed since the checkpoint at update 1" in caplog.text
    assert str(tmp_path / "other") in (out / "manifests" / "unlabelled-train.jsonl").read_text()


@pytest.mark.parametrize("cache_hours", [2.0, 0.0])
@pytest.mark.parametrize("split", ["train", "dev"])
def test_a_split_whose_audio_is_all_unreadable_is_an_error(tmp_path, one_torch_thread, split, cache_hours):
    from asrkit.config import PretrainRecipe, recipe_from_dict
    from asrkit.errors import DataError
    from asrkit.pretrain import PretrainOptions, pretrain
    from speech_fixtures import make_manifests

    good = noise_utterances(tmp_path / "good", [1.0] * 3)
    nan = noise_utterances(tmp_path / "nan", [1.0] * 2)
    for u in nan:
        sf.write(u.audio, np.full(16_000, np.nan, dtype=np.float32), 16_000, subtype="FLOAT")
    manifests = make_manifests(tmp_path, {"train": nan if split == "train" else good,
                                          "dev": nan if split == "dev" else good})
    raw = {**TINY, "data": {**TINY["data"], "train_split": "train", "dev_split": "dev", "cache_hours": cache_hours}}
    recipe = recipe_from_dict(raw, kind=PretrainRecipe)
    with pytest.raises(DataError, match=f"{split}: n"):
        pretrain(PretrainOptions(recipe, tmp_path / "run", manifests, progress=False))
    assert not (tmp_path / "run" / "model.safetensors").exists()
    if split == "train":  # no checkpoint of updates that saw no audio (a restart's would drop the old run)
        assert not (tmp_path / "run" / "checkpoints" / "last").exists()


def test_files_skipped_in_dataloader_workers_are_counted(tmp_path, one_torch_thread):
    from asrkit.config import PretrainRecipe, recipe_from_dict
    from asrkit.pretrain import PretrainOptions, pretrain
    from speech_fixtures import make_manifests

    utts = noise_utterances(tmp_path / "a", [1.0] * 4)
    sf.write(utts[0].audio, np.full(16_000, np.nan, dtype=np.float32), 16_000, subtype="FLOAT")
    manifests = make_manifests(tmp_path, {"train": utts})
    raw = {**TINY, "data": {**TINY["data"], "train_split": "train", "dev_split": "none", "cache_hours": 0.0,
                            "num_workers": 1}}
    summary = pretrain(PretrainOptions(recipe_from_dict(raw, kind=PretrainRecipe), tmp_path / "run", manifests,
                                       progress=False))
    assert summary["bad_audio_files"] == 1


def test_a_truncated_rng_state_is_found_at_resume(tmp_path, one_torch_thread):
    """accelerate reads random_states_0.pkl in a try that logs at INFO: the resumed run would
    draw other masks and crops than an uninterrupted one, unnoticed."""
    from asrkit.config import PretrainRecipe, recipe_from_dict
    from asrkit.errors import TrainError
    from asrkit.pretrain import PretrainOptions, pretrain
    from speech_fixtures import make_manifests

    manifests = make_manifests(tmp_path, {"train": noise_utterances(tmp_path / "a", [1.0] * 3)})
    raw = {**TINY, "data": {**TINY["data"], "train_split": "train", "dev_split": "none"}}
    options = PretrainOptions(recipe_from_dict(raw, kind=PretrainRecipe), tmp_path / "run", manifests, progress=False)
    pretrain(PretrainOptions(**{**options.__dict__, "stop_after_updates": 1}))
    rng = tmp_path / "run" / "checkpoints" / "last" / "random_states_0.pkl"
    rng.write_bytes(rng.read_bytes()[:-100])
    with pytest.raises(TrainError, match=r"random_states_0.pkl: damaged or truncated"):
        pretrain(options)


def test_a_full_disk_at_a_checkpoint_is_one_line_and_the_run_resumes(recipe_file, tmp_path, monkeypatch, capsys,
                                                                     one_torch_thread):
    """torch.save's C++ writer reports a full disk as a RuntimeError; the command says so in one line."""
    import shutil
    from collections import namedtuple

    import torch

    real_save = torch.save
    calls = {"n": 0}

    def full_disk_on_the_second_checkpoint(obj, f, *args, **kwargs):
        if "checkpoints" in str(f) and ".last.tmp" in str(f):
            calls["n"] += 1
            if calls["n"] > 3:  # the first checkpoint's files went through
                raise RuntimeError("[enforce fail at inline_container.cc:603] . PytorchStreamWriter failed "
                                   "writing file data/0: file write failed")
        return real_save(obj, f, *args, **kwargs)

    usage = namedtuple("usage", "total used free")
    out = tmp_path / "run"
    good = audio_dir(tmp_path / "good")
    with monkeypatch.context() as m:
        m.setattr(torch, "save", full_disk_on_the_second_checkpoint)
        m.setattr(shutil, "disk_usage", lambda path: usage(1 << 30, 1 << 30, 0))
        assert pretrain_cli(recipe_file, good, out) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("asrkit pretrain: error: ") and "no space left on the disk" in err[-1], err[-1]
    assert "Traceback" not in "\n".join(err)
    assert (out / "checkpoints" / "last" / "trainer_state.json").is_file()  # the first checkpoint is kept
    assert pretrain_cli(recipe_file, good, out) == 0  # space freed: the same command finishes the run
    assert (out / "train-summary.json").is_file()
