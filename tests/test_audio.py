"""Audio loading: resampling to 16 kHz, stereo to mono, and bad files."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from asrkit.audio import audio_info, load_audio
from asrkit.errors import AsrkitError, AudioError


def sine(freq: float, seconds: float, rate: int, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def peak_hz(wave: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    return float(np.fft.rfftfreq(len(wave), 1 / rate)[spectrum.argmax()])


def rms(wave: np.ndarray) -> float:
    return float(np.sqrt(np.mean(wave.astype(np.float64) ** 2)))


def test_16k_mono_flac_is_read_as_is(tmp_path):
    wave = sine(440, 1.0, 16000)
    sf.write(tmp_path / "a.flac", wave, 16000)
    out = load_audio(tmp_path / "a.flac")
    assert out.dtype == np.float32 and out.shape == (16000,)
    np.testing.assert_allclose(out, wave, atol=1 / 2**15)  # 16-bit quantisation
    assert out.flags["C_CONTIGUOUS"]


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_other_rates_are_resampled_to_16k(tmp_path, rate):
    sf.write(tmp_path / "a.wav", sine(440, 1.0, rate), rate)
    out = load_audio(tmp_path / "a.wav")
    assert out.dtype == np.float32
    assert out.shape == (16000,)  # 1 s at 16 kHz
    assert peak_hz(out, 16000) == pytest.approx(440, abs=2)
    assert rms(out) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)  # the level survives


def test_resampling_removes_what_16k_cannot_hold(tmp_path):
    # a 10 kHz tone is above the 8 kHz Nyquist limit of 16 kHz audio: it must be filtered
    # out, not folded back to 6 kHz
    sf.write(tmp_path / "hi.wav", sine(10_000, 1.0, 44100), 44100)
    out = load_audio(tmp_path / "hi.wav")
    assert rms(out) < 0.01


def test_load_at_another_rate(tmp_path):
    sf.write(tmp_path / "a.wav", sine(440, 0.5, 16000), 16000)
    assert load_audio(tmp_path / "a.wav", sample_rate=8000).shape == (4000,)


def test_stereo_is_averaged_to_mono(tmp_path):
    left = sine(440, 0.5, 16000)
    sf.write(tmp_path / "opposite.wav", np.stack([left, -left], axis=1), 16000, subtype="FLOAT")
    sf.write(tmp_path / "one_side.wav", np.stack([left, np.zeros_like(left)], axis=1), 16000,
             subtype="FLOAT")
    assert np.abs(load_audio(tmp_path / "opposite.wav")).max() == 0
    np.testing.assert_allclose(load_audio(tmp_path / "one_side.wav"), left / 2, atol=1e-7)


def test_stereo_44k_becomes_16k_mono(tmp_path):
    wave = sine(300, 1.0, 44100)
    sf.write(tmp_path / "s.flac", np.stack([wave, wave], axis=1), 44100)
    out = load_audio(tmp_path / "s.flac")
    assert out.shape == (16000,) and peak_hz(out, 16000) == pytest.approx(300, abs=2)


def test_audio_info_reads_the_header(tmp_path):
    sf.write(tmp_path / "a.flac", np.zeros((22050, 2), np.float32), 44100)
    assert audio_info(tmp_path / "a.flac") == (22050, 44100)


def _bad_files(tmp_path):
    good = tmp_path / "good.flac"
    sf.write(good, sine(440, 2.0, 16000) + 0.01 * np.random.default_rng(0).standard_normal(32000).astype(np.float32),
             16000)
    data = good.read_bytes()
    (tmp_path / "truncated.flac").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.flac").write_bytes(b"this is not audio" * 20)
    (tmp_path / "empty.flac").write_bytes(b"")
    sf.write(tmp_path / "no_samples.wav", np.zeros(0, np.float32), 16000)
    return tmp_path


@pytest.mark.parametrize("name, message", [
    ("missing.flac", "no such file"),
    ("garbage.flac", "cannot read audio"),
    ("empty.flac", "cannot read audio"),
    ("truncated.flac", "cannot read audio"),
    ("no_samples.wav", "holds no samples"),
])
def test_bad_files_raise_audio_error_naming_the_file(tmp_path, name, message):
    _bad_files(tmp_path)
    with pytest.raises(AudioError) as e:
        load_audio(tmp_path / name)
    assert str(tmp_path / name) in str(e.value) and message in str(e.value)
    assert isinstance(e.value, AsrkitError)  # the CLI prints it as one line


@pytest.mark.parametrize("name, message", [("missing.flac", "no such file"), ("garbage.flac", "cannot read audio header"),
                                           ("empty.flac", "cannot read audio header")])
def test_audio_info_on_bad_files(tmp_path, name, message):
    _bad_files(tmp_path)
    with pytest.raises(AudioError, match=message):
        audio_info(tmp_path / name)


# ---- hostile files: memory bounded by what is really read, nothing blocks, NaN refused


def _forged_flac(tmp_path, frames: int):
    """A real 0.1 s FLAC whose STREAMINFO claims `frames` samples (36 bits, as the format allows)."""
    path = tmp_path / "forged.flac"
    sf.write(path, (0.1 * np.random.default_rng(0).standard_normal(1600)).astype(np.float32), 16000)
    data = bytearray(path.read_bytes())
    info = 8 + 10  # "fLaC", block header, then min/max block and frame sizes
    packed = int.from_bytes(data[info:info + 8], "big")
    packed = (packed & ~((1 << 36) - 1)) | frames  # the low 36 bits are the total samples
    data[info:info + 8] = packed.to_bytes(8, "big")
    path.write_bytes(bytes(data))
    return path


def test_a_header_claiming_2_36_samples_is_refused_before_allocating(tmp_path):
    """Reading it whole would allocate 256 GiB; the file is 3 kB."""
    path = _forged_flac(tmp_path, (1 << 36) - 1)
    assert sf.info(str(path)).frames == (1 << 36) - 1
    with pytest.raises(AudioError, match=r"forged.flac: the header claims 68719476735 samples"):
        load_audio(path)


def test_a_header_claiming_more_than_the_file_holds_reads_what_is_there(tmp_path):
    """A plausible but wrong count: only the real samples are decoded, and the file is named
    (libsndfile reports the failed seek past the end; a reader that stops quietly is caught
    by the count)."""
    path = _forged_flac(tmp_path, 50_000)
    with pytest.raises(AudioError, match=r"forged.flac: (truncated|cannot read audio)"):
        load_audio(path)


def test_a_named_pipe_is_refused_without_blocking(tmp_path):
    import os

    os.mkfifo(tmp_path / "pipe.wav")  # opening it for reading would wait for a writer forever
    with pytest.raises(AudioError, match="pipe.wav: not a regular file"):
        load_audio(tmp_path / "pipe.wav")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_infinite_samples_are_refused(tmp_path, bad):
    wave = np.full(1600, 0.1, np.float32)
    wave[[10, 20]] = bad
    sf.write(tmp_path / "bad.wav", wave, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="bad.wav: 2 of 1600 samples are NaN or infinite"):
        load_audio(tmp_path / "bad.wav")


def test_long_multichannel_file_is_read_in_chunks_and_equals_a_whole_read(tmp_path, monkeypatch):
    from asrkit import audio

    wave = (0.1 * np.random.default_rng(1).standard_normal((5000, 3))).astype(np.float32)
    sf.write(tmp_path / "x.wav", wave, 16000, subtype="FLOAT")
    monkeypatch.setattr(audio, "CHUNK_FRAMES", 1024)
    np.testing.assert_allclose(load_audio(tmp_path / "x.wav"), wave.mean(axis=1), rtol=1e-6)
