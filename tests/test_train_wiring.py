"""The fairseq-fidelity wiring of the fine-tuning loop, each test through the loop itself (setup,
train_update, finetune) rather than the helper it calls, so that it fails when the loop stops
using that piece: fairseq's masks, batches closed at multiples of 8, attention masks, Adam's
step for parameters without a gradient, validation at fairseq's epoch/update rule."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import asrkit.masks
from asrkit.config import recipe_from_dict
from asrkit.data.batching import Position
from asrkit.train import FinetuneOptions, finetune, setup, train_update, update_stream
from speech_fixtures import make_manifests, make_utterances

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def manifests(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("speech")
    utts = make_utterances(root / "audio")
    # 20 training utterances (the 4 spoken ones, 5 times under other ids), so that more than
    # 8 fit one batch.
    many = [dataclasses.replace(u, id=f"{u.id}-{k}") for k in range(5) for u in utts]
    return make_manifests(root, {"train": utts, "many": many, "dev": utts[:2]})


def recipe(model: dict | None = None, data: dict | None = None, train: dict | None = None):
    return recipe_from_dict({
        "model": {"name": "tiny", "freeze_transformer_updates": 0, "layerdrop": 0.0, **(model or {})},
        "data": {"train_split": "train", "dev_split": "dev", "max_tokens": 40_000, "update_tokens": 40_000,
                 "num_workers": 0, **(data or {})},
        "train": {"max_updates": 2, "lr": 1e-3, "validate_after_updates": 0, "validate_interval_updates": 100,
                  "checkpoint_interval_updates": 100, "log_interval_updates": 1, "precision": "fp32",
                  **(train or {})},
    })


def options(r, out: Path, manifests: Path, **kw) -> FinetuneOptions:
    return FinetuneOptions(recipe=r, out_dir=out, manifests_dir=manifests, progress=False, **kw)


def one_update(run) -> None:
    _, update, batches = next(update_stream(run, Position()))
    train_update(run, update, batches)


def test_the_loop_draws_fairseqs_masks_not_the_models(manifests, tmp_path, monkeypatch):
    import transformers.models.wav2vec2.modeling_wav2vec2 as w2v2

    calls = {"asrkit": [], "transformers": 0}
    real = asrkit.masks.compute_mask_indices

    def spy(shape, *args, **kwargs):
        calls["asrkit"].append(shape)
        return real(shape, *args, **kwargs)

    def theirs(*args, **kwargs):
        calls["transformers"] += 1
        raise AssertionError("model.masks: fairseq must not draw transformers' masks")

    monkeypatch.setattr(asrkit.masks, "compute_mask_indices", spy)
    monkeypatch.setattr(w2v2, "_compute_mask_indices", theirs)
    run = setup(options(recipe({"mask_time_prob": 0.5, "mask_time_length": 2, "mask_feature_prob": 0.3,
                                "mask_feature_length": 8}), tmp_path, manifests))
    one_update(run)
    channels = run.model.config.hidden_size
    # One time mask and one channel mask per micro-batch, over frames and over the channels.
    assert any(shape[1] == channels for shape in calls["asrkit"])
    assert any(shape[1] != channels for shape in calls["asrkit"])
    assert calls["transformers"] == 0


def test_training_batches_close_at_multiples_of_8(manifests, tmp_path):
    """20 utterances of ~1 s: 11-13 fit a 200,000-sample batch. As fairseq's, the batch that
    starts with the longest keeps 8 of them; the rest carry over (the epoch's last batch is
    kept whole)."""
    data = {"train_split": "many", "max_tokens": 200_000, "update_tokens": 200_000}

    def first_batch(run) -> int:
        longest = int(np.argmax(run.lengths))
        sizes = [len(mb.indices) for u in run.planner.epoch(0) for r in u for mb in r if not mb.dummy]
        assert sum(sizes) == 20
        return next(len(mb.indices) for u in run.planner.epoch(0) for r in u for mb in r if longest in mb.indices)

    assert first_batch(setup(options(recipe(data=data), tmp_path, manifests))) == 8
    single = setup(options(recipe(data={**data, "batch_size_multiple": 1}), tmp_path / "one", manifests))
    assert first_batch(single) > 8


def test_the_encoder_gets_attention_masks_in_training_and_validation(manifests, tmp_path):
    run = setup(options(recipe(), tmp_path, manifests))
    seen = []
    base = run.model.base_model
    handle = base.register_forward_pre_hook(lambda m, args, kwargs: seen.append(kwargs.get("attention_mask")),
                                            with_kwargs=True)
    one_update(run)
    training = list(seen)
    from asrkit.train import evaluate

    evaluate(run)
    handle.remove()
    assert training and all(m is not None for m in training)  # tiny is group-norm: fairseq masks anyway
    assert len(seen) > len(training) and all(m is not None for m in seen[len(training):])


@pytest.mark.parametrize("setting, shared_steps", [("fairseq", True), ("torch", False)])
def test_adam_steps_parameters_without_gradients_as_the_recipe_says(manifests, tmp_path, setting, shared_steps):
    """The transformer frozen for the first update: with adam_missing_grads: fairseq the loop
    steps its parameters with a zero gradient (one shared step count); with torch it skips them."""
    r = recipe({"freeze_transformer_updates": 1}, train={"adam_missing_grads": setting})
    run = setup(options(r, tmp_path, manifests))
    one_update(run)
    layer = run.model.wav2vec2.encoder.layers[0].attention.q_proj.weight
    head = run.model.lm_head.weight
    assert run.optimizer.state[head]["step"] == 1
    assert (layer in run.optimizer.state and int(run.optimizer.state[layer]["step"]) == 1) == shared_steps


def test_validation_happens_where_fairseqs_rule_puts_it_in_the_loop(manifests, tmp_path):
    """2 updates per epoch, validate every epoch and nothing else: dev scores after updates 2
    and 4 (epoch ends) and 5 (the last), not after 1 and 3."""
    r = recipe(data={"max_tokens": 40_000, "update_tokens": 40_000},
               train={"max_updates": 5, "validate_interval_updates": 0, "validate_interval_epochs": 1})
    finetune(options(r, tmp_path / "run", manifests))
    rows = [json.loads(line) for line in (tmp_path / "run" / "train-log.jsonl").read_text().splitlines()]
    per_epoch = json.loads((tmp_path / "run" / "train-summary.json").read_text())
    assert per_epoch["epochs"] == 2
    assert [row["update"] for row in rows if row["kind"] == "valid" and not row.get("start")] == [2, 4, 5]
