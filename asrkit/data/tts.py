"""Offline text-to-speech voices and effects that `asrkit synth` builds speakers from.

A speaker is one voice of one engine (flite, festival, espeak-ng) spoken at a rate and a
pitch, optionally through effects: sox `speed` (tempo and pitch together), sox `reverb`,
and additive white or pink noise at the corpus SNR. Every utterance goes through

    engine -> raw WAV (8-48 kHz) -> sox [pitch] [speed] pad [reverb] norm -> 16 kHz float
           -> + noise (seeded per utterance) -> 16-bit mono FLAC

All steps are deterministic: the engines and sox have no randomness (sox dithers only
when it reduces bit depth, which it is never asked to do here), and the noise generator
is seeded from the utterance id.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf

from asrkit.audio import SAMPLE_RATE
from asrkit.errors import InputNotFound, SettingError, SynthError
from asrkit.io import atomic_path

ENGINES = ("flite", "festival", "espeak-ng")
_EXECUTABLES = {"flite": "flite", "festival": "festival", "espeak-ng": "espeak-ng"}
# Silence around each utterance (seconds), as a reader pauses between sentences.
PAD_BEFORE, PAD_AFTER = 0.2, 0.3
# Peak level after sox `norm` (dBFS), leaving headroom for the noise.
PEAK_DB = -3.0
# White noise under every utterance (RMS, dBFS), as a microphone and room always add. Without
# it the padding is digital silence, whose log-mel energies (log of ~0) sit tens of nats
# below speech and dominate per-utterance feature normalisation: a BiLSTM trained from
# scratch on such audio stayed in the CTC blank phase, and left it with the floor (BENCHMARKS.md).
NOISE_FLOOR_DB = -70.0


@dataclass(frozen=True)
class Voice:
    engine: str  # "flite", "festival" or "espeak-ng"
    name: str  # the engine's name for it (flite -voice, festival voice_<name>, espeak-ng -v)
    sex: str  # "M" or "F", as LibriSpeech's SPEAKERS.TXT
    f0: float  # F0 (Hz) asked at pitch 1.0 (espeak-ng: its 0-99 pitch); 0: sox shifts pitch
    pace: float  # seconds of speech per letter at rate 1.0 (measured; plans split sizes)
    stretch: float = 1.0  # the engine's own duration stretch at rate 1.0
    clean: bool = True  # natural enough for the clean splits; False = "other" only


# Flite's kal (8 kHz diphone) and espeak-ng's formant voices sound least natural: they
# only speak in the "other" splits. Flite's rms and festival's HTS voice ignore F0
# targets, so sox shifts their pitch. Base F0 values are flite's and festival's own
# voice defaults (kal 95 Hz with stretch 1.1 is flite's cmu_us_kal setting). Paces were
# measured on ten KJV sentences per voice.
VOICES = (
    Voice("flite", "kal16", "M", 95.0, 0.0732),
    Voice("flite", "awb", "M", 130.0, 0.0769),
    Voice("flite", "rms", "M", 0.0, 0.0891),
    Voice("flite", "slt", "F", 170.0, 0.0764),
    Voice("festival", "kal_diphone", "M", 105.0, 0.084),
    Voice("festival", "ked_diphone", "M", 105.0, 0.0838),
    Voice("festival", "cmu_us_slt_arctic_hts", "F", 0.0, 0.0799),
    Voice("flite", "kal", "M", 95.0, 0.0822, stretch=1.1, clean=False),
    Voice("espeak-ng", "en-us", "M", 50.0, 0.0746, clean=False),
    Voice("espeak-ng", "en-us+f3", "F", 50.0, 0.0742, clean=False),
    Voice("espeak-ng", "en-gb", "M", 50.0, 0.073, clean=False),
    Voice("espeak-ng", "en-gb+f2", "F", 50.0, 0.073, clean=False),
    Voice("espeak-ng", "en-gb-scotland", "M", 50.0, 0.0715, clean=False),
    Voice("espeak-ng", "en-gb-x-rp+f4", "F", 50.0, 0.0745, clean=False),
    Voice("espeak-ng", "en-029", "M", 50.0, 0.0738, clean=False),
    Voice("espeak-ng", "en-gb-x-gbclan+m3", "M", 50.0, 0.0729, clean=False),
)


# espeak-ng's English voices (its own formant voices: the mbrola ones need mbrola data that
# scripts/setup.sh does not install) and its voice variants, `espeak-ng --voices=variant`:
# (the file name after "+", the sex). `asrkit synth --voices wide` speaks with voice+variant
# pairs of these (asrkit.data.synth.wide_speakers); VOICES above uses 8 such pairs. Left
# out: "Mr serious" (a space in its name).
ESPEAK_ENGLISH = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd",
                  "en-029", "en-us-nyc")
ESPEAK_VARIANTS = (
    ("adam", "M"), ("Alex", "M"), ("Alicia", "F"), ("Andrea", "F"), ("Andy", "M"), ("Annie", "F"),
    ("antonio", "M"), ("aunty", "F"), ("belinda", "F"), ("benjamin", "M"), ("boris", "M"), ("caleb", "M"),
    ("david", "M"), ("Demonic", "M"), ("Denis", "M"), ("Diogo", "M"), ("ed", "M"), ("edward", "M"),
    ("edward2", "M"), ("Gene", "M"), ("Gene2", "M"), ("gustave", "M"), ("announcer", "M"), ("Henrique", "M"),
    ("Hugo", "M"), ("iven", "M"), ("iven2", "M"), ("iven3", "M"), ("iven4", "M"), ("Jacky", "M"), ("john", "M"),
    ("kaukovalta", "M"), ("Lee", "M"), ("linda", "F"), ("marcelo", "M"), ("Marco", "M"), ("Mario", "M"),
    ("max", "M"), ("Michael", "M"), ("michel", "M"), ("miguel", "M"), ("Mike", "M"), ("Nguyen", "M"),
    ("pablo", "M"), ("paul", "M"), ("pedro", "M"), ("quincy", "M"), ("RicishayMax", "M"), ("RicishayMax2", "M"),
    ("RicishayMax3", "M"), ("rob", "M"), ("robert", "M"), ("robosoft", "M"), ("robosoft2", "M"),
    ("robosoft3", "M"), ("robosoft4", "M"), ("robosoft5", "M"), ("robosoft6", "M"), ("robosoft7", "M"),
    ("robosoft8", "M"), ("steph", "F"), ("steph2", "F"), ("steph3", "F"), ("Storm", "M"), ("Tweaky", "M"),
    ("UniRobot", "M"), ("zac", "M"), ("anika", "F"), ("anikaRobot", "F"), ("AnxiousAndy", "M"), ("fast", "M"),
    ("f2", "F"), ("f3", "F"), ("f4", "F"), ("f5", "F"), ("whisperf", "F"), ("grandpa", "M"), ("klatt", "M"),
    ("klatt2", "M"), ("klatt3", "M"), ("klatt4", "M"), ("klatt5", "M"), ("klatt6", "M"), ("m2", "M"), ("m3", "M"),
    ("m4", "M"), ("m5", "M"), ("m6", "M"), ("m7", "M"), ("norbert", "M"), ("sandro", "M"), ("shelby", "M"),
    ("travis", "M"), ("victor", "M"), ("whisper", "M"), ("m8", "M"), ("f1", "F"), ("croak", "M"), ("m1", "M"),
    ("grandma", "F"),
)
# Seconds per letter of an espeak-ng voice at rate 1.0: the mean of VOICES' espeak-ng paces
# (0.0715-0.0746); variants change timbre and pitch, not pace, much.
ESPEAK_PACE = 0.0734


def espeak_voices() -> list[Voice]:
    """Every espeak-ng English voice x variant pair, formant voices, "other" only as VOICES'
    espeak-ng ones, in a fixed order."""
    return [Voice("espeak-ng", f"{base}+{variant}", sex, 50.0, ESPEAK_PACE, clean=False)
            for base in ESPEAK_ENGLISH for variant, sex in ESPEAK_VARIANTS]


@dataclass(frozen=True)
class Speaker:
    id: int  # LibriSpeech-style speaker id, stable for a given voice and settings
    voice: Voice
    rate: float  # duration stretch: 1.12 speaks 12% slower
    pitch: float  # F0 factor: 1.08 speaks 8% higher
    subset: str  # "clean" or "other"
    speed: float = 1.0  # sox speed (tempo and pitch together); 1.0 = off
    reverb: int = 0  # sox reverberance in percent; 0 = dry
    noise: str = ""  # additive noise colour at the corpus SNR: "", "white" or "pink"

    def describe(self) -> str:
        """One line for SPEAKERS.TXT and logs, e.g. 'flite:slt rate=1.12 pitch=0.93 reverb=50'."""
        parts = [f"{self.voice.engine}:{self.voice.name}", f"rate={self.rate:.2f}",
                 f"pitch={self.pitch:.2f}"]
        if self.speed != 1.0:
            parts.append(f"speed={self.speed:.2f}")
        if self.reverb:
            parts.append(f"reverb={self.reverb}")
        if self.noise:
            parts.append(f"noise={self.noise}")
        return " ".join(parts)


def check_engines(voices: Sequence[Voice]) -> None:
    """Raise FileNotFoundError naming each missing engine, voice or sox, and the fix."""
    problems = []
    for exe in sorted({_EXECUTABLES[v.engine] for v in voices} | {"sox"}):
        if shutil.which(exe) is None:
            problems.append(f"`{exe}` is not installed")
    if not problems:
        problems += _missing_voices(voices)
    if problems:
        raise InputNotFound(
            "cannot synthesise: " + "; ".join(problems)
            + " (run scripts/setup.sh, or leave the engine out of `engines`)")


def _missing_voices(voices: Sequence[Voice]) -> list[str]:
    missing = []
    flite = [v.name for v in voices if v.engine == "flite"]
    if flite:
        listed = _run(["flite", "-lv"]).decode().split(":", 1)[-1].split()
        missing += [f"flite voice {n}" for n in flite if n not in listed]
    festival = [v.name for v in voices if v.engine == "festival"]
    if festival:
        listed = _run(["festival", "-b", "(print (voice.list))"]).decode()
        missing += [f"festival voice {n}" for n in festival if n not in listed]
    variants = {v.name.partition("+")[2] for v in voices if v.engine == "espeak-ng"} - {""}
    if variants:  # espeak-ng speaks an unknown variant with its default voice, silently
        listed = set(espeak_variants_installed())
        missing += [f"espeak-ng variant {n}" for n in sorted(variants - listed)]
    return [f"{m} is not installed" for m in missing]


def espeak_variants_installed() -> list[str]:
    """The variant names espeak-ng lists (`--voices=variant`; a line reads
    ' 5  variant          --/M      Adam               !v/adam'): the file names after !v/."""
    words = _run(["espeak-ng", "--voices=variant"]).decode().split()
    return [w[len("!v/"):] for w in words if w.startswith("!v/")]


def render(speaker: Speaker, items: Sequence[tuple[str, str, int]], snr_db: float) -> list[int]:
    """Speak each (output path, text, noise seed) as `speaker`; return the frame counts.

    Each FLAC is written atomically, so an interrupted run leaves no partial file.
    """
    with tempfile.TemporaryDirectory(prefix="asrkit-tts-") as tmp:
        raws = speak(speaker, [text for _, text, _ in items], Path(tmp))
        frames = []
        for raw, (out, text, seed) in zip(raws, items):
            wave = apply_effects(raw, speaker, text)
            rng = np.random.default_rng(seed)
            if speaker.noise:
                wave = add_noise(wave, speaker.noise, snr_db, rng)
            wave = add_noise_floor(wave, rng)
            frames.append(write_flac(out, wave))
        return frames


def speak(speaker: Speaker, texts: Sequence[str], tmp: Path) -> list[Path]:
    """Raw engine WAVs for `texts`, in order, under tmp."""
    outs = [tmp / f"raw{i:04d}.wav" for i in range(len(texts))]
    engine = speaker.voice.engine
    if engine == "festival":
        _festival(speaker, texts, outs, tmp)
    else:
        for i, (text, out) in enumerate(zip(texts, outs)):
            txt = tmp / f"text{i:04d}.txt"
            txt.write_text(text + "\n", encoding="utf-8")
            cmd = _flite(speaker, txt, out) if engine == "flite" else _espeak(speaker, txt, out)
            _run(cmd, speaker, text)
    for out, text in zip(outs, texts):
        if not out.exists() or out.stat().st_size <= 44:
            raise SynthError(f"{speaker.voice.engine} voice {speaker.voice.name} made no audio "
                             f"for {text!r}")
    return outs


def _flite(speaker: Speaker, txt: Path, out: Path) -> list[str]:
    v = speaker.voice
    cmd = ["flite", "-voice", v.name, "-f", str(txt), "-o", str(out),
           "--setf", f"duration_stretch={v.stretch * speaker.rate:.4f}"]
    if v.f0:
        cmd += ["--setf", f"int_f0_target_mean={v.f0 * speaker.pitch:.2f}"]
    return cmd


def _espeak(speaker: Speaker, txt: Path, out: Path) -> list[str]:
    # espeak-ng speaks 175 words a minute by default; its pitch is 0-99 around 50.
    words_per_minute = round(175 / speaker.rate)
    pitch = min(99, max(0, round(speaker.voice.f0 + 200 * (speaker.pitch - 1))))
    return ["espeak-ng", "-v", speaker.voice.name, "-s", str(words_per_minute),
            "-p", str(pitch), "-f", str(txt), "-w", str(out)]


def _festival(speaker: Speaker, texts: Sequence[str], outs: Sequence[Path], tmp: Path) -> None:
    """One festival process for all texts: its start-up (0.3 s) costs more than a sentence."""
    v = speaker.voice
    lines = [f"(voice_{v.name})"]
    if v.name.endswith("_hts"):
        # The HTS engine ignores Duration_Stretch; its -r option is a speed (1/stretch).
        lines.append(f"(set! hts_engine_params (append hts_engine_params "
                     f"(list '(\"-r\" {1 / speaker.rate:.4f}))))")
    else:
        lines.append(f"(Parameter.set 'Duration_Stretch {v.stretch * speaker.rate:.4f})")
    if v.f0:
        # Diphone voices' linear-regression intonation targets (from their voice files).
        lines.append(f"(set! int_lr_params '((target_f0_mean {v.f0 * speaker.pitch:.2f}) "
                     f"(target_f0_std {14 * speaker.pitch:.2f}) (model_f0_mean 170) "
                     "(model_f0_std 34)))")
    for text, out in zip(texts, outs):
        quoted = text.replace("\\", " ").replace('"', " ")
        lines.append(f'(utt.save.wave (utt.synth (Utterance Text "{quoted}")) "{out}" \'riff)')
    script = tmp / "speak.scm"
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _run(["festival", "-b", str(script)], speaker, texts[0] if texts else "")


def apply_effects(raw: Path, speaker: Speaker, text: str = "") -> np.ndarray:
    """sox: pitch shift (voices without F0 control), speed, padding, reverb, peak level.

    Returns float32 mono samples at 16 kHz, shape (T,).
    """
    effects = []
    if not speaker.voice.f0 and speaker.pitch != 1.0:
        effects += ["pitch", f"{1200 * math.log2(speaker.pitch):.1f}"]
    if speaker.speed != 1.0:
        effects += ["speed", f"{speaker.speed:.4f}"]
    effects += ["pad", str(PAD_BEFORE), str(PAD_AFTER)]
    if speaker.reverb:
        effects += ["reverb", str(speaker.reverb)]
    effects += ["norm", str(PEAK_DB), "rate", "-h", str(SAMPLE_RATE)]
    cmd = ["sox", str(raw), "-t", "f32", "-c", "1", "-r", str(SAMPLE_RATE), "-", *effects]
    return np.frombuffer(_run(cmd, speaker, text), dtype="<f4").copy()


def add_noise(wave: np.ndarray, colour: str, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add white or pink noise so that speech power / noise power = snr_db.

    Speech power is measured over samples above -40 dB of the peak, so that the
    padding's silence does not lower it.
    """
    noise = rng.standard_normal(len(wave))
    if colour == "pink":  # shape the spectrum as 1/f in power: amplitude / sqrt(f)
        spectrum = np.fft.rfft(noise)
        f = np.arange(len(spectrum), dtype=np.float64)
        f[0] = 1.0
        noise = np.fft.irfft(spectrum / np.sqrt(f), n=len(wave))
    elif colour != "white":
        raise SettingError(f"unknown noise colour {colour!r} (white, pink)")
    active = wave[np.abs(wave) > np.abs(wave).max() * 0.01]
    speech_power = float(np.mean(active.astype(np.float64) ** 2)) if active.size else 0.0
    noise_power = float(np.mean(noise**2)) or 1.0
    noise *= math.sqrt(speech_power / noise_power / 10 ** (snr_db / 10))
    mixed = wave + noise.astype(np.float32)
    peak = float(np.abs(mixed).max())
    return mixed / peak * 0.95 if peak > 0.95 else mixed  # no clipping


def add_noise_floor(wave: np.ndarray, rng: np.random.Generator, level_db: float = NOISE_FLOOR_DB) -> np.ndarray:
    """`wave` plus white noise of RMS `level_db` dBFS (about 10 steps of 16-bit PCM at -70)."""
    return wave + (10 ** (level_db / 20) * rng.standard_normal(len(wave))).astype(np.float32)


def write_flac(path: str | Path, wave: np.ndarray) -> int:
    """Write 16-bit mono 16 kHz FLAC atomically; return the number of frames."""
    with atomic_path(path) as tmp:
        sf.write(str(tmp), np.clip(wave, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16", format="FLAC")
    return len(wave)


def _run(cmd: list[str], speaker: Speaker | None = None, text: str = "") -> bytes:
    try:
        done = subprocess.run(cmd, capture_output=True, check=False)
    except OSError as e:
        raise SynthError(f"cannot run {cmd[0]}: {e}") from None
    if done.returncode != 0:
        who = f" (speaker {speaker.id}, {speaker.describe()}, text {text!r})" if speaker else ""
        err = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise SynthError(f"`{' '.join(cmd[:3])} ...` failed with exit code {done.returncode}"
                         f"{who}: {' | '.join(err)}")
    return done.stdout
