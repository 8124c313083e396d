"""The frozen CNN's feature cache (asrkit.feature_cache): training with it is training
without it, in memory and on disk, across a resume; entries are keyed by weights and input
and checked when read."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from asrkit.config import recipe_from_dict
from asrkit.feature_cache import FOLDER, FeatureCache, describe_cost
from asrkit.model import load_ctc_model
from asrkit.train import FinetuneOptions, finetune
from asrkit.vocab import build_tokenizer
from speech_fixtures import make_manifests, make_utterances

torch.set_num_threads(1)

# Masks, layerdrop and dropout on, the transformer frozen for the first update: the cache
# must not disturb the random draws that follow the CNN.
NOISY = {"name": "tiny", "mask_time_prob": 0.3, "mask_time_length": 2, "mask_feature_prob": 0.2,
         "mask_feature_length": 8, "layerdrop": 0.2, "activation_dropout": 0.1, "freeze_transformer_updates": 1}


@pytest.fixture(scope="module")
def manifests(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("speech")
    utts = make_utterances(root / "audio")
    return make_manifests(root, {"train": utts, "dev": utts[:2]})


def recipe(model: dict | None = None, **data):
    return recipe_from_dict({
        "model": {**NOISY, **(model or {})},
        "data": {"train_split": "train", "dev_split": "dev", "max_tokens": 40_000, "update_tokens": 40_000,
                 "num_workers": 0, **data},
        "train": {"max_updates": 5, "lr": 1e-3, "validate_after_updates": 0, "validate_interval_updates": 100,
                  "checkpoint_interval_updates": 100, "log_interval_updates": 1, "precision": "fp32"},
    })


def run(r, out: Path, manifests: Path, **kw) -> dict:
    return finetune(FinetuneOptions(recipe=r, out_dir=out, manifests_dir=manifests, progress=False, **kw))


def losses(out: Path) -> list[float]:
    rows = [json.loads(line) for line in (out / "train-log.jsonl").read_text().splitlines()]
    return [row["loss"] for row in rows if row["kind"] == "train"]


def test_training_with_the_cache_equals_training_without(manifests, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    cached = run(recipe(), tmp_path / "cached", manifests)
    plain = run(recipe(feature_cache=False), tmp_path / "plain", manifests)
    # 5 updates over 2 epochs: the second epoch's batches come from the cache.
    assert cached["feature_cache"]["hits"] > 0 and cached["feature_cache"]["misses"] > 0
    assert "feature_cache" not in plain
    assert losses(tmp_path / "cached") == pytest.approx(losses(tmp_path / "plain"), rel=1e-6, abs=1e-7)
    a, b = load_file(str(tmp_path / "cached" / "model.safetensors")), load_file(str(tmp_path / "plain" / "model.safetensors"))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-7)
    assert "feature cache (frozen CNN): 128 channels x 50 frames/s x 4 bytes" in caplog.text
    assert "no feature cache: data.feature_cache: false" in caplog.text
    assert not (tmp_path / "cached" / FOLDER).exists()  # removed when the run ends


def test_the_disk_tier_survives_a_resume_and_a_damaged_file(manifests, tmp_path, caplog):
    """Memory limit 0: every entry goes to disk. A run stopped after update 3 (as if killed)
    leaves its entries there; one is damaged; the resumed run reads the others, recomputes the
    damaged one, and ends where an uninterrupted run ends."""
    r = recipe(feature_cache_memory_mb=0)
    whole = run(r, tmp_path / "whole", manifests)
    assert whole["feature_cache"]["disk_mb"] > 0 and whole["feature_cache"]["hits"] > 0
    assert run(r, tmp_path / "resumed", manifests, stop_after_updates=3)["status"] == "stopped"
    files = sorted((tmp_path / "resumed" / FOLDER).glob("*/*.pt"))
    assert files
    files[0].write_bytes(files[0].read_bytes()[:100])
    caplog.set_level(logging.WARNING)
    resumed = run(r, tmp_path / "resumed", manifests)
    assert "is damaged" in caplog.text and resumed["feature_cache"]["damaged"] == 1
    a = load_file(str(tmp_path / "whole" / "model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "model.safetensors"))
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_a_cnn_that_trains_or_a_model_without_one_gets_no_cache(manifests, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    summary = run(recipe({"freeze_feature_encoder": False}, ), tmp_path / "trains", manifests)
    assert "feature_cache" not in summary
    assert "no feature cache: the CNN feature encoder trains" in caplog.text


def test_entries_are_keyed_by_the_weights_and_the_input(tmp_path):
    model_cfg = recipe().model
    model, _, _ = load_ctc_model(model_cfg, build_tokenizer())
    cnn = model.base_model.feature_extractor
    x = torch.randn(2, 16_000)
    cache = FeatureCache(cnn, tmp_path, memory_mb=100, disk_mb=0)
    first = cache.features(cnn, x)
    torch.testing.assert_close(first, cnn(x))
    assert torch.equal(cache.features(cnn, x.clone()), first) and cache.hits == 1  # same bytes: a hit
    y = x.clone()
    y[0, 5] += 1e-3
    cache.features(cnn, y)
    assert cache.misses == 2  # other audio (or other input processing): a miss
    with torch.no_grad():
        cnn.conv_layers[0].conv.weight.mul_(1.01)
    other = FeatureCache(cnn, tmp_path, memory_mb=100, disk_mb=0)
    assert other.cnn_digest != cache.cnn_digest and other.key(x) != cache.key(x)


def test_the_cost_line_uses_base_numbers():
    class Base:  # BASE: 512 channels, 320 samples (20 ms) per frame
        config = type("C", (), {"conv_dim": (512,) * 7})()

        @staticmethod
        def _get_feat_extract_output_lengths(n):
            return (n - 400) // 320 + 1

    line = describe_cost(Base, 3600, 4, memory_mb=100, disk_mb=1000, folder=Path("x"))
    assert "512 channels x 50 frames/s x 4 bytes = 100 KB per second" in line
    assert "need 351 MB: 100 MB in memory" in line and "251 MB on disk" in line
