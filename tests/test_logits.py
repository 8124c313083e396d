"""The logits cache: a tiny random model run over a tiny manifest."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from asrkit import inference, logits
from asrkit.data.manifest import Utterance, write_manifest
from asrkit.errors import DataError, ModelError, SettingError
from ctc_fixtures import spy_on_forward_passes, tiny_model

RATE = 16_000


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_manifest(folder, seconds=(0.5, 1.2, 0.8), name="dev.jsonl", bad: int | None = None):
    rng = np.random.default_rng(0)
    utts = []
    for i, s in enumerate(seconds):
        path = folder / f"u{i}.flac"
        if i == bad:
            path.write_bytes(b"not audio")
        else:
            sf.write(path, (0.1 * rng.standard_normal(int(s * RATE))).astype(np.float32), RATE)
        utts.append(Utterance(id=f"1-2-{i:04d}", audio=str(path), samples=int(s * RATE), sample_rate=RATE,
                              speaker="1", chapter="2", text=f"WORD NUMBER {i}"))
    manifest = folder / name
    write_manifest(manifest, utts)
    return manifest


def model_frames(model_dir, wave):
    """Frames and log-probs of the model run on the whole waveform at once."""
    import torch

    model, processor = inference.load_model(model_dir)
    inputs = processor.feature_extractor([wave], sampling_rate=RATE, return_tensors="pt")
    with torch.inference_mode():
        return torch.log_softmax(model(**inputs).logits, -1)[0].numpy()


# --------------------------------------------------------------------------- windows


@pytest.mark.parametrize("n", [1, 999, 1000, 1001, 2500, 7777])
def test_windows_tile_the_audio(n):
    chunk, stride = 1000, 200
    ws = inference.windows(n, chunk, stride)
    kept = [(w.start + w.keep_from, w.start + w.keep_to) for w in ws]
    assert kept[0][0] == 0 and kept[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(kept, kept[1:]))  # no gap, no overlap
    assert all(w.end - w.start <= chunk for w in ws)
    # Each inner edge keeps `stride` samples of context.
    assert all(w.keep_from == (0 if w.start == 0 else stride) for w in ws)


def test_windows_short_audio_is_one_window():
    assert inference.windows(500, 1000, 200) == [inference.Window(0, 0, 500, 0, 500)]


# --------------------------------------------------------------------------- compute


def test_cache_holds_log_probs_per_utterance(tmp_path, model_dir):
    manifest = make_manifest(tmp_path)
    cache = logits.compute(model_dir, manifest, "dev")
    assert cache.folder == model_dir / "logits" / "dev"
    assert cache.ids == ["1-2-0000", "1-2-0001", "1-2-0002"]
    assert cache.tokens[:4] == ["<pad>", "<unk>", "|", "'"] and len(cache.tokens) == 30
    assert cache.seconds_per_frame == pytest.approx(0.02)
    assert np.load(cache.folder / "log_probs.npy", mmap_mode="r").dtype == np.float16
    for i, seconds in enumerate((0.5, 1.2, 0.8)):
        x = cache[i]
        # wav2vec 2.0's conv stack: floor((N - 400) / 320) + 1 frames.
        assert x.shape == ((int(seconds * RATE) - 400) // 320 + 1, 30)
        assert np.allclose(np.exp(x).sum(axis=1), 1.0, atol=0.02)
    assert cache.utterances[1]["text"] == "WORD NUMBER 1" and cache.audio_seconds == pytest.approx(2.5)
    # Batched with padding, the values match a lone forward pass (attention masks).
    wave = sf.read(tmp_path / "u2.flac", dtype="float32")[0]
    assert np.allclose(cache[2], model_frames(model_dir, wave), atol=0.02)


def test_long_audio_runs_in_bounded_windows(tmp_path, model_dir, monkeypatch):
    manifest = make_manifest(tmp_path, seconds=(3.0,))
    seen = spy_on_forward_passes(monkeypatch)
    options = logits.LogitsOptions(chunk_seconds=1.0, stride_seconds=0.2)
    cache = logits.compute(model_dir, manifest, "long", options)
    assert max(n for _, n in seen) <= RATE  # no forward pass saw more than one chunk
    assert sum(b for b, _ in seen) == 5  # 3 s in 1 s windows stepping 0.6 s
    whole = model_frames(model_dir, sf.read(tmp_path / "u0.flac", dtype="float32")[0])
    assert cache[0].shape == whole.shape  # stitched frames line up with the unchunked run
    # A random model's attention barely mixes frames, so each stitched frame nearly equals
    # the unchunked one; a frame taken from the wrong offset would be far off.
    assert np.abs(cache[0] - whole).max() < 0.05
    assert np.abs(cache[0][5:140] - whole[6:141]).max() > 0.2


def test_cache_is_reused_until_the_manifest_changes(tmp_path, model_dir, monkeypatch):
    manifest = make_manifest(tmp_path)
    logits.compute(model_dir, manifest, "dev2")

    def boom(*a, **k):
        raise AssertionError("the model ran again")

    monkeypatch.setattr(inference, "load_model", boom)
    assert len(logits.compute(model_dir, manifest, "dev2")) == 3
    make_manifest(tmp_path, seconds=(0.5, 0.6))  # a changed manifest
    with pytest.raises(AssertionError, match="ran again"):
        logits.compute(model_dir, manifest, "dev2")


def test_unreadable_audio_is_skipped_and_counted(tmp_path, model_dir, caplog):
    manifest = make_manifest(tmp_path, bad=1)
    cache = logits.compute(model_dir, manifest, "bad")
    assert cache.ids == ["1-2-0000", "1-2-0002"] and cache.index["skipped"] == 1
    assert "1 of 3 utterances skipped" in caplog.text


def test_a_skipped_utterance_follows_the_wer_into_the_summary_and_the_report(tmp_path, capsys):
    """A WER over part of a split says so: the decode line, wer-summary.json, the report's cell
    (marked, with a note) and report.json; the cache's index names the file and the reason."""
    from asrkit.cli import main

    model = tiny_model(tmp_path / "model")
    manifest = make_manifest(tmp_path, bad=1, name="mine.jsonl")
    assert main(["decode", "--model", str(model), "--manifests", str(tmp_path), "--split", "mine",
                 "--decoder", "greedy", "--no-progress"]) == 0
    assert "2 utts (+1 skipped: unreadable audio)" in capsys.readouterr().out
    index = json.loads((model / "logits" / "mine" / "index.json").read_text())
    assert index["skipped"] == 1 and index["skipped_audio"][0].startswith(str(tmp_path / "u1.flac"))
    summary = json.loads((model / "decode" / "mine" / "greedy" / "wer-summary.json").read_text())
    assert (summary["utterances"], summary["skipped"]) == (2, 1)
    assert main(["report", "--models", str(model), "--out", str(tmp_path / "report"), "--no-model-card"]) == 0
    table = (tmp_path / "report" / "report.md").read_text()
    assert " ‡ |" in table and "‡ over part of the split" in table and "(1 more left out" in table
    row = json.loads((tmp_path / "report" / "report.json").read_text())["rows"][0]
    assert row["results"]["mine"]["skipped"] == 1
    assert manifest.is_file()


def test_empty_split_is_a_clear_error(tmp_path, model_dir):
    manifest = make_manifest(tmp_path, seconds=())
    with pytest.raises(DataError, match="dev.jsonl: the split is empty"):
        logits.compute(model_dir, manifest, "empty")


def test_head_not_matching_the_tokenizer_is_a_clear_error(tmp_path):
    bad = tiny_model(tmp_path / "bad", vocab_size=32)
    manifest = make_manifest(tmp_path)
    with pytest.raises(ModelError, match="outputs 32 classes but its tokenizer has 30 tokens"):
        logits.compute(bad, manifest, "dev")


def test_missing_model_and_manifest(tmp_path, model_dir):
    with pytest.raises(FileNotFoundError, match="no model at"):
        logits.compute(tmp_path, make_manifest(tmp_path), "dev")
    with pytest.raises(FileNotFoundError, match="run `asrkit prepare` first"):
        logits.ensure(model_dir, "nosuchsplit", tmp_path)


def test_options_are_checked():
    with pytest.raises(SettingError, match="must exceed twice"):
        logits.LogitsOptions(chunk_seconds=10, stride_seconds=5).check()


def test_cli_logits(tmp_path, capsys):
    from asrkit.cli import main

    # A model of its own: the module's shared one caches another manifest named "dev" already.
    model_dir = tiny_model(tmp_path / "tiny")
    make_manifest(tmp_path)
    assert main(["logits", "--model", str(model_dir), "--split", "dev", "--manifests", str(tmp_path)]) == 0
    assert "dev: 3 utterances" in capsys.readouterr().out
    index = json.loads((model_dir / "logits" / "dev" / "index.json").read_text())
    assert [u["frames"] for u in index["utterances"]] == [24, 59, 39]
