"""`asrkit synth --purpose pretrain --voices wide`: more and more varied speakers for
pre-training (continuous rates and pitches, espeak-ng's voice x variant pairs), none of
them sounding like a demo speaker, dev and test included."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from asrkit.data import synth, tts
from asrkit.data.synth import SynthOptions, plan
from asrkit.errors import SettingError

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


def _wide(tmp_path: Path, **changes) -> SynthOptions:
    options = dict(root=tmp_path / "wide", purpose="pretrain", voices="wide", folds=0, dev_minutes=5,
                   test_minutes=0, train_clean_100_minutes=300, train_other_500_minutes=300, seed=1)
    return SynthOptions(**{**options, **changes})


def _near(a, b) -> bool:
    """The same engine voice at a rate and a pitch within 0.02 of each other's."""
    return (a.voice.engine, a.voice.name) == (b.voice.engine, b.voice.name) \
        and abs(a.rate - b.rate) < 0.02 and abs(a.pitch - b.pitch) < 0.02


def test_no_wide_pretraining_speaker_sounds_like_a_demo_dev_or_test_speaker(tmp_path):
    demo = plan(SynthOptions(root=tmp_path / "demo", folds=6))
    held_out = {c.speaker for c in demo if not synth._is_training(c.folder)}
    assert len(held_out) >= 20
    wide = {c.speaker for c in plan(_wide(tmp_path))}
    assert len(wide) > 500
    close = [(p.describe(), d.describe()) for p in wide for d in held_out if _near(p, d)]
    assert not close, close[:5]
    # nor any speaker of the fine-tuning grid (the demo's training speakers)
    grid = synth.speaker_grid("finetune")
    assert not [p for p in synth.wide_speakers(1) if any(_near(p, g) for g in grid)]


def test_wide_speakers_are_many_varied_and_follow_the_seed():
    speakers = synth.wide_speakers(1)
    assert [s.id for s in speakers] == [s.id for s in synth.wide_speakers(1)]
    assert speakers != synth.wide_speakers(2)
    assert len({s.id for s in speakers}) == len(speakers) == sum(synth.WIDE_SPEAKERS.values())
    assert len({s.voice.name for s in speakers}) > 300  # voice x variant pairs
    assert len({s.rate for s in speakers}) > 200 and len({s.pitch for s in speakers}) > 200  # continuous
    grid_ids = {s.id for s in synth.speaker_grid("pretrain")} | {s.id for s in synth.speaker_grid("finetune")}
    assert not grid_ids & {s.id for s in speakers}
    clean = [s for s in speakers if s.subset == "clean"]
    assert clean and all(s.voice.clean and s.speed == 1.0 and not s.noise and not s.reverb for s in clean)
    other = [s for s in speakers if s.subset == "other"]
    engines = {e: sum(s.voice.engine == e for s in other) / len(other) for e in tts.ENGINES}
    assert 0.5 < engines["espeak-ng"] < 0.9 and engines["flite"] > 0.05 and engines["festival"] > 0.05


def test_wide_plan_holds_the_grid_and_the_wide_speakers_and_more_of_them(tmp_path):
    grid_plan = plan(_wide(tmp_path, voices="grid"))
    wide_plan = plan(_wide(tmp_path))
    grid_speakers = {c.speaker.id for c in grid_plan}
    wide_speakers = {c.speaker.id for c in wide_plan}
    assert len(wide_speakers) > len(grid_speakers) + 300
    assert any(i >= synth.WIDE_OTHER_ID_BASE for i in wide_speakers)
    assert any(synth.PRETRAIN_OTHER_ID_BASE <= i < synth.WIDE_CLEAN_ID_BASE for i in wide_speakers)


def test_grid_corpora_keep_their_settings_and_wide_is_pretrain_only(tmp_path):
    assert "voices" not in SynthOptions(root=tmp_path).settings()  # reports written before `voices`
    assert SynthOptions(root=tmp_path, purpose="pretrain", voices="wide").settings()["voices"] == "wide"
    with pytest.raises(SettingError, match="voices"):
        synth.verify_options(SynthOptions(root=tmp_path, voices="wide"))
    with pytest.raises(SettingError, match="voices"):
        synth.verify_options(SynthOptions(root=tmp_path, purpose="pretrain", voices="many"))


@needs_espeak
def test_every_espeak_variant_and_voice_is_installed_and_changes_the_sound(tmp_path):
    """espeak-ng speaks an unknown variant with its default voice without a word, so the
    names are checked against its own list, and one variant is heard to differ."""
    assert {name for name, _ in tts.ESPEAK_VARIANTS} <= set(tts.espeak_variants_installed())
    assert tts._missing_voices(tts.espeak_voices()[:5]) == []
    assert tts._missing_voices([tts.Voice("espeak-ng", "en-us+nosuchvariant", "M", 50.0, 0.07)])
    waves = []
    for name in ("en-us", "en-us+klatt3"):
        speaker = tts.Speaker(id=1, voice=tts.Voice("espeak-ng", name, "M", 50.0, 0.07), rate=1.0, pitch=1.0,
                              subset="other")
        raw = tts.speak(speaker, ["good morning to you all"], tmp_path / name)[0] \
            if (tmp_path / name).mkdir() is None else None
        waves.append(tts.apply_effects(raw, speaker))
    n = min(map(len, waves))
    assert not np.allclose(waves[0][:n], waves[1][:n], atol=1e-3)


def test_cli_passes_voices_through(tmp_path, monkeypatch):
    from asrkit.cli import main

    seen = {}

    def fake(options, progress=True):
        seen["voices"] = options.voices
        return {"splits": {}}

    monkeypatch.setattr(synth, "synthesize", fake)
    assert main(["synth", "--purpose", "pretrain", "--voices", "wide", "--out", str(tmp_path / "c"),
                 "--no-progress"]) == 0
    assert seen["voices"] == "wide"
    assert json.dumps(seen)
