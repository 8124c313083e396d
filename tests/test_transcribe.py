"""asrkit transcribe: a tiny random model over files of several formats, rates and lengths.

A random model's words are arbitrary, so the tests check structure (frames per file, one
line per file, errors by name) and consistency (the same log-probs as the logits cache, the
same text as decoding those log-probs, chunked equal to unchunked).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import soundfile as sf

from asrkit import logits
from asrkit.cli import main
from asrkit.transcribe import Transcriber, TranscribeOptions
from ctc_fixtures import SENTENCES, needs_kenlm, spy_on_forward_passes, tiny_model

RATE = 16_000
LETTERS_ONLY = re.compile(r"^[A-Z' ]*$")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def local_model(tmp_path_factory):
    """A tiny model whose frames depend only on their own 400 samples: attention output and
    positional convolution zeroed, no whole-utterance normalisation of the waveform. Chunked
    inference must then give the unchunked log-probs exactly (up to float rounding)."""
    import torch
    from transformers import AutoProcessor, Wav2Vec2ForCTC

    out = tiny_model(tmp_path_factory.mktemp("model") / "local")
    model = Wav2Vec2ForCTC.from_pretrained(str(out))
    with torch.no_grad():
        for name, p in model.named_parameters():
            # original0 is the weight-norm magnitude of the positional conv.
            if "attention.out_proj" in name or "pos_conv_embed.conv.bias" in name or "original0" in name:
                p.zero_()
    model.save_pretrained(str(out))
    processor = AutoProcessor.from_pretrained(str(out))
    processor.feature_extractor.do_normalize = False
    processor.save_pretrained(str(out))
    return out


def noise(seconds: float, rate: int = RATE, seed: int = 0, channels: int = 0) -> np.ndarray:
    shape = (int(seconds * rate), channels) if channels else (int(seconds * rate),)
    return (0.1 * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


def conv_frames(samples_16k: int) -> int:
    """wav2vec 2.0's conv stack: floor((N - 400) / 320) + 1 frames."""
    return (samples_16k - 400) // 320 + 1


def lines(out: str) -> list[list[str]]:
    return [line.split("\t") for line in out.splitlines()]


# --------------------------------------------------------------------------- formats


def test_rates_channels_and_formats(tmp_path, model_dir, capsys):
    left, right = noise(1.5, 44_100, seed=1), noise(1.5, 44_100, seed=9)
    # Stereo 44.1 kHz (float wav: no 16-bit rounding, so the downmix is exactly comparable),
    # two different channels (the feature extractor normalises scale: right = k * left would
    # not tell a downmix from one channel).
    sf.write(tmp_path / "stereo.wav", np.stack([left, right], axis=1), 44_100, subtype="FLOAT")
    sf.write(tmp_path / "mono.wav", (left + right) / 2, 44_100, subtype="FLOAT")  # the channels' mean
    sf.write(tmp_path / "left.wav", left, 44_100, subtype="FLOAT")
    sf.write(tmp_path / "narrow.flac", noise(1.0, 8_000, seed=2), 8_000)
    sf.write(tmp_path / "memo.ogg", noise(0.75, seed=3), RATE)
    files = [str(tmp_path / n) for n in ("stereo.wav", "narrow.flac", "memo.ogg", "mono.wav")]

    assert main(["transcribe", *files, "--model", str(model_dir), "--out", str(tmp_path / "t.jsonl")]) == 0
    out = lines(capsys.readouterr().out)
    assert [f for f, _ in out] == files  # one line per file, in the order given
    assert all(text and LETTERS_ONLY.match(text) for _, text in out)
    rows = [json.loads(r) for r in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert [r["file"] for r in rows] == files and [r["text"] for r in rows] == [t for _, t in out]
    assert [r["duration"] for r in rows] == [1.5, 1.0, 0.75, 1.5]
    assert all(r["seconds"] > 0 and "error" not in r for r in rows)

    t = Transcriber(model_dir)
    # Every file becomes 16 kHz mono before the model: frames follow the 16 kHz length.
    for f, seconds in zip(files, (1.5, 1.0, 0.75)):
        assert t.log_probs(t.read(f)).shape == (conv_frames(int(seconds * RATE)), 30)
    # Stereo is the mean of its channels.
    stereo, mono = t.log_probs(t.read(files[0])), t.log_probs(t.read(files[3]))
    assert np.abs(stereo - mono).max() < 1e-4
    assert np.abs(stereo - t.log_probs(t.read(tmp_path / "left.wav"))).max() > 0.1


# --------------------------------------------------------------------------- long files


def test_long_file_runs_in_windows_stitched_like_one_pass(tmp_path, local_model, capsys, monkeypatch):
    path = tmp_path / "long.wav"
    sf.write(path, noise(7.3, seed=4), RATE, subtype="FLOAT")
    whole = Transcriber(local_model)  # default 30 s windows: one pass over the 7.3 s
    seen = spy_on_forward_passes(monkeypatch)
    assert main(["transcribe", str(path), "--model", str(local_model),
                 "--chunk-seconds", "1", "--stride-seconds", "0.2"]) == 0
    # 116,800 samples in 16,000-sample windows stepping 9,600: starts 0, 9600, ..., 105,600.
    assert max(n for _, n in seen) <= RATE and sum(b for b, _ in seen) == 12
    [[name, text]] = lines(capsys.readouterr().out)

    chunked = Transcriber(local_model, TranscribeOptions(logits.LogitsOptions(chunk_seconds=1, stride_seconds=0.2)))
    wave = whole.read(path)
    a, b = whole.log_probs(wave), chunked.log_probs(wave)
    assert a.shape == b.shape == (conv_frames(116_800), 30) == (364, 30)
    assert np.abs(a - b).max() < 1e-4  # every stitched frame is the unchunked one ...
    assert np.abs(a[100:300] - b[101:301]).max() > 0.1  # ... and a frame off would show
    assert name == str(path) and text == whole.decoder.decode_one(a, 0.02)[0].text and len(text) > 20


def test_transcript_is_greedy_decoding_of_the_cached_logits(tmp_path, model_dir):
    """transcribe and `asrkit logits` run the same inference; greedy of it gives the text."""
    from asrkit.data.manifest import Utterance, write_manifest
    from asrkit.decode import Vocabulary
    from ctc_fixtures import decode_with

    path = tmp_path / "a.flac"
    sf.write(path, noise(2.2, seed=5), RATE)
    write_manifest(tmp_path / "one.jsonl", [Utterance("1-1-0000", str(path), 35_200, RATE, "1", "1", "X")])
    options = logits.LogitsOptions(chunk_seconds=1, stride_seconds=0.2)
    cached = logits.compute(model_dir, tmp_path / "one.jsonl", "one", options)[0]
    t = Transcriber(model_dir, TranscribeOptions(options))
    x = t.log_probs(t.read(path))
    assert x.shape == cached.shape and np.abs(x - cached).max() < 0.01  # the cache is float16
    result = t.transcribe_file(path)
    assert result.text == decode_with("greedy", [x], vocab=Vocabulary.of(t.acoustic.tokens))[0]
    # Best paths agree except where float16 rounding can flip a near-tie.
    top2 = np.sort(x, axis=1)[:, -2:]
    differ = x.argmax(1) != cached.argmax(1)
    assert (top2[differ, 1] - top2[differ, 0] < 0.01).all()
    assert (result.duration, result.error) == (2.2, None)


# --------------------------------------------------------------------------- bad files


def test_bad_files_are_named_and_the_others_transcribed(tmp_path, model_dir, capsys):
    sf.write(tmp_path / "good1.wav", noise(0.6, seed=6), RATE)
    sf.write(tmp_path / "good2.flac", noise(0.5, seed=7), RATE)
    (tmp_path / "notes.wav").write_text("this is a text file, not audio\n")
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), RATE)
    sf.write(tmp_path / "click.wav", noise(0.01, seed=8), RATE)  # 160 samples: no frame
    names = ["good1.wav", "notes.wav", "missing.ogg", "empty.wav", "click.wav", "good2.flac"]
    files = [str(tmp_path / n) for n in names]

    assert main(["transcribe", *files, "--model", str(model_dir), "--out", str(tmp_path / "t.jsonl")]) == 1
    captured = capsys.readouterr()
    assert [f for f, _ in lines(captured.out)] == [files[0], files[5]]
    errors = [line for line in captured.err.splitlines() if line.startswith("asrkit transcribe: error:")]
    assert errors == [
        f"asrkit transcribe: error: {files[1]}: cannot read audio (Error opening '{files[1]}': Format not recognised.)",
        f"asrkit transcribe: error: {files[2]}: no such file",
        f"asrkit transcribe: error: {files[3]}: audio file holds no samples",
        f"asrkit transcribe: error: {files[4]}: too short (10 ms) for the model to give one frame",
    ]
    assert "asrkit transcribe: 4 of 6 files failed; 2 transcribed" in captured.err
    rows = [json.loads(r) for r in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert [r["file"] for r in rows] == files
    assert [r["text"] is None for r in rows] == [False, True, True, True, True, False]
    assert rows[2] == {"file": files[2], "text": None, "duration": None, "seconds": rows[2]["seconds"],
                       "error": f"{files[2]}: no such file"}


def test_model_and_lm_problems_stop_before_any_file(tmp_path, model_dir, capsys, monkeypatch):
    monkeypatch.setenv("ASRKIT_WORK", str(tmp_path / "work"))
    sf.write(tmp_path / "a.wav", noise(0.5), RATE)
    assert main(["transcribe", str(tmp_path / "a.wav"), "--model", str(tmp_path / "nomodel")]) == 1
    assert "no model folder" in capsys.readouterr().err
    assert main(["transcribe", str(tmp_path / "a.wav"), "--model", str(model_dir), "--lm", "nope"]) == 1
    captured = capsys.readouterr()
    assert "unknown language model 'nope'" in captured.err and captured.out == ""
    assert main(["transcribe", str(tmp_path / "a.wav"), "--model", str(model_dir), "--out", str(tmp_path)]) == 1
    assert "is a folder" in capsys.readouterr().err


# --------------------------------------------------------------------------- with an LM


@pytest.fixture
def tiny_lm(tmp_path, monkeypatch):
    """A 3-gram built with lmplz from 20 sentences of the test grammar, named "tiny"."""
    from asrkit import lm

    monkeypatch.setenv("ASRKIT_WORK", str(tmp_path / "work"))
    text = tmp_path / "corpus.txt"
    text.write_text("\n".join(s.lower() + "." for s in SENTENCES[::4]))
    return lm.build([text], name="tiny", options=lm.BuildOptions(order=3))


@needs_kenlm
def test_lm_decoding_uses_the_lexicon_and_tuned_weights(tmp_path, model_dir, tiny_lm, capsys):
    from asrkit.decode import Vocabulary, make_decoder
    from asrkit.decode.setup import make_options
    from asrkit.lm import read_words

    files = []
    for i, seconds in enumerate((1.5, 2.0)):
        files.append(str(tmp_path / f"f{i}.wav"))
        sf.write(files[-1], noise(seconds, seed=10 + i), RATE)
    base = ["transcribe", *files, "--model", str(model_dir), "--lm", "tiny", "--beam", "20"]

    assert main(base + ["--word-score", "2"]) == 0
    captured = capsys.readouterr()
    assert "decoder flashlight with LM tiny" in captured.err and "weights: defaults" in captured.err
    out = lines(captured.out)
    vocabulary = set(read_words(tiny_lm.unigrams))
    words = [w for _, text in out for w in text.split()]
    assert words and set(words) <= vocabulary  # the lexicon decoder spells only LM words
    # The same text as flashlight over the model's log-probs with the same settings.
    t = Transcriber(model_dir)
    decoder = make_decoder("flashlight", make_options("flashlight", tiny_lm, {"beam": 20, "word_score": 2.0}),
                           Vocabulary.of(t.acoustic.tokens))
    assert [text for _, text in out] == [decoder.decode_one(t.log_probs(t.read(f)), 0.02)[0].text for f in files]

    # Weights tuned for this model and LM are picked up, as `asrkit decode` does.
    (model_dir / "lm-tuning.json").write_text(json.dumps({"results": [
        {"lm": "tiny", "decoder": "flashlight", "best": {"lm_weight": 0.5, "word_score": -1000.0}}]}))
    try:
        assert main(base) == 0
        captured = capsys.readouterr()
        assert "weights: tuned (lm-tuning.json)" in captured.err
        assert [text for _, text in lines(captured.out)] == ["", ""]  # -1000 per word: no words pay
        assert main(base + ["--no-tuned"]) == 0
        assert "weights: defaults" in capsys.readouterr().err
    finally:
        (model_dir / "lm-tuning.json").unlink()

    assert main(base + ["--decoder", "pyctcdecode"]) == 0
    out = lines(capsys.readouterr().out)
    assert [f for f, _ in out] == files and all(LETTERS_ONLY.match(text) for _, text in out)
