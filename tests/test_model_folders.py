"""`--model FOLDER` that is no finished checkpoint (fine-tuning and pre-training alike): a
one-line ModelError naming the folder and what is missing, never a transformers traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from asrkit.errors import ModelError


def _empty(folder: Path) -> None:
    folder.mkdir()


def _no_config(folder: Path) -> None:
    folder.mkdir()
    (folder / "notes.txt").write_text("my model, soon\n")


def _config_only(folder: Path) -> None:
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "wav2vec2"}))


def _run_in_progress(folder: Path) -> None:
    """What `asrkit pretrain` has written before its end: recipe, log, a checkpoint, no model."""
    (folder / "checkpoints" / "last").mkdir(parents=True)
    (folder / "checkpoints" / "last" / "trainer_state.json").write_text('{"update": 3}')
    (folder / "recipe.yaml").write_text("model:\n  name: tiny\n")
    (folder / "train-log.jsonl").write_text('{"kind": "start", "update": 0}\n')


def _truncated_weights(folder: Path) -> None:
    from transformers import Wav2Vec2Config, Wav2Vec2ForPreTraining

    from asrkit.pretrain.model import ARCHITECTURES

    Wav2Vec2ForPreTraining(Wav2Vec2Config(**ARCHITECTURES["tiny"])).save_pretrained(folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])


def _truncated_config(folder: Path) -> None:
    _truncated_weights(folder)
    config = folder / "config.json"
    config.write_text(config.read_text()[:40])


CASES = {"empty folder": (_empty, "is an empty folder"), "no config.json": (_no_config, "has no config.json"),
         "config without weights": (_config_only, "has config.json but no weights"),
         "a run in progress": (_run_in_progress, "is a run that has not finished"),
         "truncated weights": (_truncated_weights, r"model.safetensors: damaged or truncated"),
         "truncated config": (_truncated_config, r"config.json: damaged or truncated")}


@pytest.mark.parametrize("stage", ["finetune", "pretrain"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_folder_that_is_no_checkpoint_is_named(tmp_path, case, stage):
    make, message = CASES[case]
    folder = tmp_path / "model"
    make(folder)
    with pytest.raises(ModelError, match=message) as caught:
        if stage == "finetune":
            from asrkit.config import ModelConfig
            from asrkit.model import load_ctc_model
            from asrkit.vocab import build_tokenizer

            load_ctc_model(ModelConfig(name=str(folder)), build_tokenizer())
        else:
            from asrkit.config import PretrainModelConfig
            from asrkit.pretrain.model import load_pretraining_model

            load_pretraining_model(PretrainModelConfig(name=str(folder)))
    assert str(folder) in str(caught.value) and "\n" not in str(caught.value)
