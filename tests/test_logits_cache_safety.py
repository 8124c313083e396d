"""The logits cache never decodes damaged bytes, never recomputes for files the log-probs do
not depend on, and never lets a second manifest of the same split name overwrite the first."""

from __future__ import annotations

import json

import numpy as np
import pytest

from asrkit import inference, logits
from asrkit.errors import CacheError, SettingError
from ctc_fixtures import tiny_model
from test_logits import make_manifest

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def model_dir(tmp_path):
    """A model of each test's own: caches are keyed by split name, one manifest per name."""
    return tiny_model(tmp_path / "tiny")


@pytest.fixture
def cached(tmp_path, model_dir):
    manifest = make_manifest(tmp_path)
    cache = logits.compute(model_dir, manifest, "safety")
    return manifest, cache.folder


def never_runs(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("the model ran again")

    monkeypatch.setattr(inference, "load_model", boom)


def _random_bytes_inside(path):
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = np.random.default_rng(0).bytes(64)
    path.write_bytes(bytes(data))


def _shorter(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) - 200])


def _rewritten_shorter(path):
    """A valid .npy of fewer frames: only the shape check (or the checksum) sees it."""
    array = np.load(path)
    np.save(path, array[:-3])


@pytest.mark.parametrize("damage, why", [(_random_bytes_inside, "checksum"), (_shorter, "checksum"),
                                         (_rewritten_shorter, "checksum")])
def test_a_damaged_array_is_refused_with_the_path_and_the_fix(cached, damage, why):
    _, folder = cached
    damage(folder / logits.ARRAY)
    with pytest.raises(CacheError, match=rf"{folder / logits.ARRAY}: .*{why}.*delete that folder"):
        logits.LogitsCache(folder)


def test_a_wrong_shape_is_refused_even_without_a_checksum(cached):
    _, folder = cached
    index = json.loads((folder / logits.INDEX).read_text())
    del index["sha256"]  # as a cache copied from elsewhere might be
    (folder / logits.INDEX).write_text(json.dumps(index))
    _rewritten_shorter(folder / logits.ARRAY)
    with pytest.raises(CacheError, match=r"shape \(\d+, \d+\), but the index says \d+ frames"):
        logits.LogitsCache(folder)


def test_a_truncated_index_is_named(cached):
    _, folder = cached
    text = (folder / logits.INDEX).read_text()
    (folder / logits.INDEX).write_text(text[:len(text) // 2])
    with pytest.raises(CacheError, match=rf"{folder / logits.INDEX}: not a cache index"):
        logits.LogitsCache(folder)


def test_a_damaged_cache_is_computed_again(cached, model_dir, caplog):
    manifest, folder = cached
    clean = logits.LogitsCache(folder)[1].copy()
    _random_bytes_inside(folder / logits.ARRAY)
    cache = logits.compute(model_dir, manifest, "safety")
    assert "computing it again" in caplog.text
    np.testing.assert_array_equal(cache[1], clean)


def test_tune_lm_then_decode_computes_nothing(cached, model_dir, monkeypatch):
    """Files written beside the model after fine-tuning (tune-lm's lm-tuning.json, the card,
    a summary) do not change the log-probs, so they keep the cache."""
    manifest, _ = cached
    for name in ("lm-tuning.json", "README.md", "train-summary.json", "notes.txt"):
        (model_dir / name).write_text("{}\n")
    never_runs(monkeypatch)
    assert len(logits.compute(model_dir, manifest, "safety")) == 3


def test_a_second_manifest_of_the_same_name_is_refused(cached, model_dir, tmp_path):
    manifest, folder = cached
    (tmp_path / "mine").mkdir()
    other = make_manifest(tmp_path / "mine", seconds=(0.7,), name="safety.jsonl")
    before = (folder / logits.ARRAY).read_bytes()
    with pytest.raises(CacheError, match=rf"holds the log-probs of {manifest}, another manifest named 'safety'"):
        logits.compute(model_dir, other, "safety")
    assert (folder / logits.ARRAY).read_bytes() == before
    make_manifest(tmp_path, seconds=(0.5, 0.6))  # the same manifest rewritten is an update
    assert len(logits.compute(model_dir, manifest, "safety")) == 2


def test_cuda_without_a_gpu_is_a_message(model_dir, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SettingError, match="`device` is cuda, but torch sees no GPU"):
        logits.AcousticModel(model_dir, logits.LogitsOptions(device="cuda"))


def test_another_manifest_after_the_cache_was_removed_does_not_mix_results(cached, model_dir, tmp_path):
    """With the cache gone, the decode results still say which utterances the split held."""
    import shutil

    from asrkit.results import Recog, result_dir, write_recogs

    manifest, folder = cached
    for setting in ("greedy", "4gram"):
        write_recogs(result_dir(model_dir, "safety", setting),
                     [Recog(f"1-2-{i:04d}", "1", 1.0, "WORD", "WORD") for i in range(3)])
    shutil.rmtree(folder)
    (tmp_path / "mine").mkdir()
    other = make_manifest(tmp_path / "mine", seconds=(0.7,), name="safety.jsonl")
    with pytest.raises(CacheError, match=r"holds results of utterances .*safety.jsonl lacks \(1-2-0001, 1-2-0002\)"):
        logits.compute(model_dir, other, "safety")
    assert not folder.exists()
    assert len(logits.compute(model_dir, manifest, "safety")) == 3  # the manifest the results came from
