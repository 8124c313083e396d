"""`--model FOLDER` that is no finished checkpoint (fine-tuning and pre-training alike): a
one-line ModelError naming the folder and what is missing, never a transformers traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from asrkit.errors import ModelError
from ctc_fixtures import tiny_model


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


# ------------------------------------------------- a checkpoint of the other kind

def _pretrained(folder: Path) -> Path:
    from transformers import Wav2Vec2Config, Wav2Vec2ForPreTraining

    from asrkit.pretrain.model import ARCHITECTURES

    Wav2Vec2ForPreTraining(Wav2Vec2Config(**ARCHITECTURES["tiny"])).save_pretrained(folder)
    return folder


def test_a_pre_trained_checkpoint_is_refused_where_a_ctc_model_is_needed(tmp_path):
    """No tokenizer: transformers would fail with a TypeError deep in the tokenizer."""
    from asrkit.inference import load_model

    folder = _pretrained(tmp_path / "pre")
    with pytest.raises(ModelError, match="no tokenizer .*not a fine-tuned CTC model") as caught:
        load_model(folder)
    assert str(folder) in str(caught.value)


def test_weights_without_a_ctc_head_are_refused_not_decoded_with_a_random_one(tmp_path):
    """A pre-trained model with a letter vocabulary copied beside it: transformers would make a
    CTC head up at random and only log it."""
    from asrkit.inference import load_model
    from asrkit.vocab import build_processor

    folder = _pretrained(tmp_path / "pre")
    build_processor().save_pretrained(folder)
    with pytest.raises(ModelError, match=r"no CTC head \(lm_head\)"):
        load_model(folder)


def test_the_codes_need_a_pre_trained_wav2vec2_with_its_quantiser(tmp_path):
    """A fine-tuned CTC model keeps no quantiser, and another architecture has none: both are
    refused, where transformers would build a random quantiser and the codes would mean nothing."""
    from transformers import Wav2Vec2BertConfig, Wav2Vec2BertModel

    from asrkit.pretrain.codes import load_pretrained

    assert load_pretrained(_pretrained(tmp_path / "pre")).quantizer.codevectors.shape[1] > 0
    fine_tuned = tiny_model(tmp_path / "ctc")
    with pytest.raises(ModelError, match="no quantiser") as caught:
        load_pretrained(fine_tuned)
    assert str(fine_tuned) in str(caught.value)
    other = tmp_path / "bert"
    Wav2Vec2BertModel(Wav2Vec2BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                         intermediate_size=64, output_hidden_size=32)).save_pretrained(other)
    with pytest.raises(ModelError, match="is a wav2vec2-bert model"):
        load_pretrained(other)
