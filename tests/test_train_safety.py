"""Fine-tuning never loses a run and never reports success on poisoned numbers: --restart
checks everything before it touches the old run and keeps it aside until the new run's first
checkpoint; NaN/Inf settings, losses and weights stop the run with a clear message; unreadable audio
(NaN samples included) is left out and reported, with a count;
a damaged checkpoint is named (and an older one used when there is one)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from asrkit import runs, train
from asrkit.config import recipe_from_dict
from asrkit.data.manifest import write_manifest
from asrkit.errors import DataError, InputNotFound, RecipeError, TrainError
from asrkit.train import FinetuneOptions, finetune
from speech_fixtures import make_manifests, make_utterances

torch.set_num_threads(1)

QUIET = {"mask_time_prob": 0.0, "mask_feature_prob": 0.0, "layerdrop": 0.0, "activation_dropout": 0.0}
RUN_FILES = ("train-summary.json", "recipe.yaml", "train-log.jsonl", "model.safetensors",
             "checkpoints/last/trainer_state.json")


@pytest.fixture(scope="module")
def manifests(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("speech")
    utts = make_utterances(root / "audio")
    return make_manifests(root, {"train": utts, "dev": utts[:2]})


def recipe(model=None, data=None, train_=None):
    return recipe_from_dict({
        "model": {"name": "tiny", "freeze_transformer_updates": 0, **QUIET, **(model or {})},
        "data": {"train_split": "train", "dev_split": "dev", "max_tokens": 40_000, "update_tokens": 40_000,
                 "num_workers": 0, **(data or {})},
        "train": {"max_updates": 2, "lr": 1e-3, "validate_after_updates": 0, "validate_interval_updates": 100,
                  "checkpoint_interval_updates": 100, "log_interval_updates": 1, **(train_ or {})},
    })


def options(r, out: Path, manifests: Path, **kw) -> FinetuneOptions:
    return FinetuneOptions(recipe=r, out_dir=out, manifests_dir=manifests, progress=False, **kw)


def snapshot(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in RUN_FILES}


@pytest.fixture(scope="module")
def finished(manifests, tmp_path_factory) -> Path:
    """A finished run, copied by each test that changes it."""
    out = tmp_path_factory.mktemp("finished") / "run"
    finetune(options(recipe(), out, manifests))
    return out


def copy_run(finished: Path, tmp_path: Path) -> Path:
    import shutil

    out = tmp_path / "run"
    shutil.copytree(finished, out, symlinks=True)
    return out


# ---------------------------------------------------------------- --restart


@pytest.mark.parametrize("bad, error", [
    ({"data": {"train_split": "trian"}}, InputNotFound),  # a typo in a split name
    ({"data": {"dev_split": "dev-typo"}}, InputNotFound),
    ({"model": {"name": "/no/such/model"}}, Exception),  # found only when the model loads
])
def test_a_failed_restart_leaves_the_finished_run_as_it_was(finished, manifests, tmp_path, bad, error):
    out = copy_run(finished, tmp_path)
    before = snapshot(out)
    with pytest.raises(error):
        finetune(options(recipe(**{k if k != "train" else "train_": v for k, v in bad.items()}), out, manifests,
                         restart=True))
    assert snapshot(out) == before
    assert not (out / runs.PREVIOUS).exists()


def test_the_old_run_stays_aside_until_the_new_one_checkpoints(finished, manifests, tmp_path, monkeypatch):
    out = copy_run(finished, tmp_path)
    before = snapshot(out)

    def killed(run):
        raise KeyboardInterrupt  # as if stopped before the first checkpoint

    monkeypatch.setattr(train, "train_loop", killed)
    with pytest.raises(KeyboardInterrupt):
        finetune(options(recipe(), out, manifests, restart=True))
    aside = out / runs.PREVIOUS
    assert (aside / "train-summary.json").read_bytes() == before["train-summary.json"]
    assert (aside / "checkpoints/last/trainer_state.json").is_file()
    # The old model waits aside with its run: beside the new run's recipe and log it would pass for the new model.
    assert (aside / "model.safetensors").read_bytes() == before["model.safetensors"]
    assert not (out / "model.safetensors").exists()
    # A second restart keeps the run that was set aside, not the first restart's leftovers.
    with pytest.raises(KeyboardInterrupt):
        finetune(options(recipe(), out, manifests, restart=True))
    assert (aside / "train-summary.json").read_bytes() == before["train-summary.json"]

    monkeypatch.undo()
    # The same command without --restart: the interrupted restart never got going, so the
    # set-aside run is the run again (finished: nothing to do).
    assert finetune(options(recipe(), out, manifests)) == json.loads(before["train-summary.json"])
    assert snapshot(out) == before and not aside.exists()
    summary = finetune(options(recipe(train_={"max_updates": 3}), out, manifests, restart=True))
    assert summary["updates"] == 3 and not aside.exists()
    assert json.loads((out / "train-summary.json").read_text())["updates"] == 3


# ---------------------------------------------------------------- non-finite numbers


@pytest.mark.parametrize("train_cfg, message", [
    ({"lr": ".inf"}, "train.lr: expected a finite number"),
    ({"lr": "nan"}, "train.lr: expected a finite number"),
    ({"adam_eps": -1e-8}, r"train.adam_eps must be in"),
    ({"weight_decay": -0.1}, r"train.weight_decay must be in"),
    ({"clip_norm": -1.0}, r"train.clip_norm must be in"),
    ({"transformer_lr_scale": -1.0}, r"train.transformer_lr_scale must be in"),
])
def test_settings_out_of_range_are_refused(train_cfg, message):
    import yaml

    raw = {"train": {k: yaml.safe_load(str(v)) for k, v in train_cfg.items()}}
    with pytest.raises(RecipeError, match=message):
        recipe_from_dict(raw)


@pytest.mark.parametrize("text, message", [("", "the recipe is empty"), ("- a\n- b\n", "not a YAML list"),
                                           ("just words\n", "not a YAML str")])
def test_a_recipe_that_is_not_a_mapping_is_a_message(tmp_path, text, message):
    from asrkit.config import load_recipe

    (tmp_path / "r.yaml").write_text(text)
    with pytest.raises(RecipeError, match=message) as e:
        load_recipe(tmp_path / "r.yaml", ["train.lr=1e-3"])
    assert str(tmp_path / "r.yaml") in str(e.value)


@pytest.mark.parametrize("cache_hours", [2.0, 0.0], ids=["loaded once", "read at every pass"])
def test_bad_audio_in_the_training_set_is_left_out_and_reported(manifests, tmp_path, caplog, cache_hours):
    """NaN samples, a file that is no audio, a missing file: each utterance is left out with a
    warning that counts them and names one, as decoding does; the run trains on the rest.
    A split read at every pass (over data.cache_hours) is checked by its headers, so the NaN
    file, whose header is sound, is found only when the split is loaded once."""
    from asrkit.data.manifest import read_manifest

    utts = read_manifest(manifests / "train.jsonl")
    wave, rate = sf.read(utts[0].audio, dtype="float32")
    wave[100] = np.nan
    sf.write(tmp_path / "nan.wav", wave, rate, subtype="FLOAT")
    (tmp_path / "junk.wav").write_bytes(b"not audio at all" * 100)
    bad = [dataclasses.replace(utts[0], id="9-9-0001", audio=str(tmp_path / "junk.wav")),
           dataclasses.replace(utts[1], id="9-9-0002", audio=str(tmp_path / "missing.wav"))]
    if cache_hours:
        bad.append(dataclasses.replace(utts[0], id="9-9-0000", audio=str(tmp_path / "nan.wav")))
    write_manifest(tmp_path / "m" / "train.jsonl", bad + utts)
    write_manifest(tmp_path / "m" / "dev.jsonl", utts[:2])
    summary = finetune(options(recipe(data={"cache_hours": cache_hours}), tmp_path / "out", tmp_path / "m"))
    assert summary["status"] == "done" and (tmp_path / "out" / "model.safetensors").is_file()
    assert f"left out {len(bad)} utterance(s) of train: unreadable audio, e.g. {tmp_path / 'junk.wav'}" in caplog.text


def test_a_split_with_no_readable_audio_is_an_error_naming_a_file(manifests, tmp_path):
    from asrkit.data.manifest import read_manifest

    utts = read_manifest(manifests / "train.jsonl")
    write_manifest(tmp_path / "m" / "train.jsonl", [dataclasses.replace(u, audio=str(tmp_path / f"{u.id}.wav"))
                                                    for u in utts])
    write_manifest(tmp_path / "m" / "dev.jsonl", utts[:2])
    with pytest.raises(DataError, match=r"no utterance of train could be read .*\.wav"):
        finetune(options(recipe(), tmp_path / "out", tmp_path / "m"))
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_a_nan_loss_stops_the_run_naming_the_utterances(manifests, tmp_path, monkeypatch):
    real = train.microbatch_loss

    def poisoned(run, batch, frozen):
        loss = real(run, batch, frozen)
        return loss * float("nan") if run.state.update == 1 else loss

    monkeypatch.setattr(train, "microbatch_loss", poisoned)
    with pytest.raises(TrainError, match=r"CTC loss is not finite at update 2, on utterance\(s\) 100-1-"):
        finetune(options(recipe(train_={"max_updates": 3}), tmp_path, manifests))
    assert not (tmp_path / "model.safetensors").exists() and not (tmp_path / "train-summary.json").exists()


@pytest.fixture
def second_gradient_infinite(monkeypatch):
    """The gradient norm of update 2 becomes infinite (the clipping call reports it)."""
    from accelerate import Accelerator

    real = Accelerator.clip_grad_norm_
    calls = []

    def exploding(self, parameters, max_norm, norm_type=2):
        calls.append(1)
        norm = real(self, parameters, max_norm, norm_type)
        return norm * float("inf") if len(calls) == 2 else norm

    monkeypatch.setattr(Accelerator, "clip_grad_norm_", exploding)


def test_an_infinite_gradient_stops_the_run_before_its_step(manifests, tmp_path, second_gradient_infinite):
    with pytest.raises(TrainError, match=r"gradient norm is inf at update 2, on utterance\(s\) 100-1-"):
        finetune(options(recipe(train_={"max_updates": 3}), tmp_path, manifests))
    assert not (tmp_path / "model.safetensors").exists()


def test_nonfinite_grads_skip_leaves_the_update_out_and_counts_it(manifests, tmp_path, second_gradient_infinite,
                                                                  caplog):
    summary = finetune(options(recipe(train_={"max_updates": 3, "nonfinite_grads": "skip"}), tmp_path, manifests))
    assert summary["updates"] == 3 and summary["skipped_updates"] == 1
    assert "update 2: gradient norm is inf" in caplog.text and "update skipped (1 so far" in caplog.text


def test_a_model_with_nan_weights_is_never_saved(manifests, tmp_path):
    run = train.setup(options(recipe(), tmp_path, manifests))
    with torch.no_grad():
        next(run.model.parameters())[0] = float("inf")
    with pytest.raises(TrainError, match="hold NaN or infinite values"):
        train.save_model(run, tmp_path / "checkpoints" / "best")
    assert not (tmp_path / "checkpoints" / "best").exists()


# ---------------------------------------------------------------- damaged checkpoints


@pytest.fixture
def stopped(manifests, tmp_path) -> Path:
    """A run stopped after its first checkpoint (update 1 of 3)."""
    finetune(options(recipe(train_={"max_updates": 3}), tmp_path, manifests, stop_after_updates=1))
    return tmp_path / "checkpoints" / "last"


@pytest.mark.parametrize("name", ["model.safetensors", "optimizer.bin", "trainer_state.json"])
def test_a_truncated_checkpoint_file_is_named(stopped, manifests, tmp_path, name):
    path = stopped / name
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(TrainError, match=rf"{path}: damaged or truncated.*`restart`"):
        finetune(options(recipe(train_={"max_updates": 3}), tmp_path, manifests))


def test_a_damaged_last_checkpoint_falls_back_to_the_previous_one(stopped, manifests, tmp_path, caplog):
    import shutil

    shutil.copytree(stopped, stopped.with_name(".last.old"))
    weights = stopped / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    summary = finetune(options(recipe(train_={"max_updates": 3}), tmp_path, manifests))
    assert summary["updates"] == 3
    assert "model.safetensors: damaged or truncated" in caplog.text and "resuming from the previous" in caplog.text


# ---------------------------------------------------------------- the data under a resumed run


def test_a_resumed_run_whose_training_manifest_changed_says_so(manifests, tmp_path, caplog):
    from asrkit.data.manifest import read_manifest

    mine = tmp_path / "m"
    mine.mkdir()
    for name in ("train.jsonl", "dev.jsonl"):
        (mine / name).write_bytes((manifests / name).read_bytes())
    r = recipe(train_={"max_updates": 3})
    out = tmp_path / "run2"
    finetune(options(r, out, mine, stop_after_updates=1))
    write_manifest(mine / "train.jsonl", read_manifest(mine / "train.jsonl")[:-1])  # re-prepared, one fewer
    caplog.clear()
    finetune(options(r, out, mine, stop_after_updates=2))
    assert "the training manifest(s) " in caplog.text and "changed since the checkpoint at update 1" in caplog.text
    caplog.clear()
    finetune(options(r, out, mine))  # unchanged since the last checkpoint: nothing to say
    assert "changed since the checkpoint" not in caplog.text
