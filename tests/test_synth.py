"""asrkit synth: sentence text, speaker grid, plan, audio, layout, report, reruns.

The corpus tests share the session fixture `synth_corpus` (tests/conftest.py): about
50 s of audio made once. Everything else plans without audio or speaks one sentence.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asrkit.cli import main
from asrkit.data import synth, texts, tts
from asrkit.data.synth import SynthOptions, plan, synthesize
from asrkit.errors import DataError, SettingError
from asrkit.text import normalize
from conftest import tiny_synth_options

UTT_ID = re.compile(r"^(\d{4})-(\d+)-(\d{4})$")


# ----------------------------------------------------------------------------- text

BIBLE_OUTPUT = """
Genesis 1

  1 In the beginning God created the heaven and the earth.
  2 And God said, Let there be light: and there was light.

1 Samuel 3

  10 And the LORD came, and stood, and called as at other times, Samuel, Samuel.

Song of Solomon 2

  1 I am the rose of Sharon, and the lily of the valleys.
"""


def test_parse_bible_output_keeps_book_names_with_numbers_and_spaces():
    verses = texts.parse_bible_output(BIBLE_OUTPUT)
    assert verses == [
        ("Genesis", "1:1", "In the beginning God created the heaven and the earth."),
        ("Genesis", "1:2", "And God said, Let there be light: and there was light."),
        ("1 Samuel", "3:10",
         "And the LORD came, and stood, and called as at other times, Samuel, Samuel."),
        ("Song of Solomon", "2:1", "I am the rose of Sharon, and the lily of the valleys."),
    ]


def test_parse_bible_output_without_verses_is_an_error():
    with pytest.raises(DataError, match="no verses"):
        texts.parse_bible_output("Genesis 1\n\n")


def test_split_sentences_at_full_stops_and_long_ones_at_colons():
    verse = "Jesus wept. Then said the Jews, Behold how he loved him! Who is he? I am he: go."
    assert texts.split_sentences(verse, max_words=25) == [
        "Jesus wept.", "Then said the Jews, Behold how he loved him!", "Who is he?",
        "I am he: go."]
    long = "One two three four five: six seven eight; nine ten."
    assert texts.split_sentences(long, max_words=5) == [
        "One two three four five:", "six seven eight;", "nine ten."]


def test_spoken_text_is_lower_case_and_normalises_to_the_transcript():
    s = texts.make_sentence("Genesis", "1:3", "And the LORD said, (Let there be light): o'er all.")
    assert s.spoken == "and the lord said, let there be light: o'er all."
    assert s.text == "AND THE LORD SAID LET THERE BE LIGHT O'ER ALL"
    assert normalize(s.spoken) == s.text and s.words == 10
    assert texts.make_sentence("Genesis", "1:1", "(!)") is None


def test_train_pretrain_dev_and_test_sentences_come_from_disjoint_books():
    pools = texts.sentence_pools(min_words=4, max_words=25)
    books = {side: {s.book for s in getattr(pools, side)} for side in texts.SIDES}
    assert books["dev"] == set(texts.DEV_BOOKS) and books["test"] == set(texts.TEST_BOOKS)
    assert books["pretrain"] == set(texts.PRETRAIN_BOOKS)
    words = {side: {s.text for s in getattr(pools, side)} for side in texts.SIDES}
    for i, a in enumerate(texts.SIDES):
        for b in texts.SIDES[i + 1:]:
            assert not books[a] & books[b], (a, b)
            assert not words[a] & words[b], (a, b)
    # 66 books: 3 dev, 4 test, 15 pretrain, 44 train
    assert len(set().union(*books.values())) == 66 and len(books["train"]) == 44
    assert len(words["dev"]) > 3000 and len(words["test"]) > 3000
    assert len(words["train"]) > 16000 and len(words["pretrain"]) > 15000
    # the pretrain books hold roughly half of the training-side sentences
    share = len(words["pretrain"]) / (len(words["pretrain"]) + len(words["train"]))
    assert 0.45 <= share <= 0.50
    assert all(4 <= s.words <= 25 and normalize(s.spoken) == s.text
               for s in pools.train + pools.pretrain)


def test_book_side_names_each_side():
    assert [texts.book_side(b) for b in ("Genesis", "Psalms", "1 Kings", "Acts", "Job")] == \
        ["train", "pretrain", "pretrain", "dev", "test"]


def test_lm_text_holds_no_dev_or_test_sentence_and_more_than_the_spoken_ones():
    lm = texts.lm_sentences(25)
    pools = texts.sentence_pools(4, 25)
    held_out = {s.text for s in pools.dev + pools.test}
    assert not held_out & set(lm)
    # both training sides, plus the short and unsplittable sentences
    assert {s.text for s in pools.train + pools.pretrain} < set(lm)
    assert all(line == normalize(line) and line for line in lm)


# ----------------------------------------------------------------------------- speakers


def test_speaker_grid_ids_are_fixed_and_unique():
    grid = synth.speaker_grid()
    clean = [s for s in grid if s.subset == "clean"]
    other = [s for s in grid if s.subset == "other"]
    # 7 clean voices x 3 rates x 5 pitches; other: 7 x 15 x 6 effects + 9 harder voices x 15 x 4
    assert (len(clean), len(other)) == (105, 630 + 540)
    assert len({s.id for s in grid}) == len(grid)
    by_id = {s.id: s.describe() for s in grid}
    assert by_id[1000] == "flite:kal16 rate=0.90 pitch=0.86"
    assert by_id[1015] == "flite:awb rate=0.90 pitch=0.86"
    assert by_id[1104] == "festival:cmu_us_slt_arctic_hts rate=1.12 pitch=1.16"
    assert by_id[3000] == "flite:kal16 rate=0.90 pitch=0.86 reverb=50"
    assert by_id[3630] == "flite:kal rate=0.90 pitch=0.86"
    assert by_id[4169] == "espeak-ng:en-gb-x-gbclan+m3 rate=1.12 pitch=1.16 speed=1.10"
    assert all(not s.voice.clean for s in grid if s.id >= 3630)


def _voice_key(s: tts.Speaker):
    return (s.voice, s.rate, s.pitch, s.speed, s.reverb, s.noise)


def test_pretrain_grid_has_its_own_ids_and_voices():
    finetune, pretrain = synth.speaker_grid("finetune"), synth.speaker_grid("pretrain")
    assert finetune == synth.speaker_grid()  # the default grid is the finetune one
    clean = [s for s in pretrain if s.subset == "clean"]
    other = [s for s in pretrain if s.subset == "other"]
    # 7 clean voices x 2 rates x 4 pitches; other: 7 x 8 x 6 effects + 9 harder voices x 8 x 4
    assert (len(clean), len(other)) == (56, 336 + 288)
    assert [s.id for s in clean] == list(range(5000, 5056))
    assert [s.id for s in other] == list(range(7000, 7624))
    by_id = {s.id: s.describe() for s in pretrain}
    assert by_id[5000] == "flite:kal16 rate=0.95 pitch=0.90"
    assert by_id[5055] == "festival:cmu_us_slt_arctic_hts rate=1.06 pitch=1.12"
    assert by_id[7000] == "flite:kal16 rate=0.95 pitch=0.90 reverb=50"
    assert by_id[7623] == "espeak-ng:en-gb-x-gbclan+m3 rate=1.06 pitch=1.12 speed=1.10"
    assert not {s.id for s in pretrain} & {s.id for s in finetune}
    # no voice at a rate and pitch (with effects) that the finetune grid has
    assert not {_voice_key(s) for s in pretrain} & {_voice_key(s) for s in finetune}
    assert not {(s.voice, s.rate, s.pitch) for s in pretrain} & \
        {(s.voice, s.rate, s.pitch) for s in finetune}
    with pytest.raises(SettingError, match="unknown purpose 'demo'"):
        synth.speaker_grid("demo")


def test_pretrain_rates_and_pitches_reach_every_engine_unclamped_and_distinct(tmp_path):
    """espeak-ng clamps its pitch to 0-99 and rounds rate and pitch to integers: a value
    clamped or rounded onto a finetune one would make the two grids' voices the same."""
    def espeak_args(speaker):
        cmd = tts._espeak(speaker, tmp_path / "t.txt", tmp_path / "o.wav")
        return int(cmd[cmd.index("-s") + 1]), int(cmd[cmd.index("-p") + 1])

    voice = next(v for v in tts.VOICES if v.engine == "espeak-ng")
    args = {purpose: {espeak_args(s) for s in synth.speaker_grid(purpose) if s.voice == voice}
            for purpose in synth.PURPOSES}
    assert {p for _, p in args["pretrain"]} == {30, 44, 58, 74}
    assert {r for r, _ in args["pretrain"]} == {184, 165}
    assert not {r for r, _ in args["pretrain"]} & {r for r, _ in args["finetune"]}
    assert not {p for _, p in args["pretrain"]} & {p for _, p in args["finetune"]}
    # flite and festival voices get F0 targets (as the engines are given them, to 0.01 Hz)
    # that differ from every finetune one
    for v in (v for v in tts.VOICES if v.f0 and v.engine != "espeak-ng"):
        f0 = {purpose: {f"{v.f0 * s.pitch:.2f}" for s in synth.speaker_grid(purpose)
                        if s.voice == v} for purpose in synth.PURPOSES}
        assert len(f0["pretrain"]) == 4 and not f0["pretrain"] & f0["finetune"], v.name


# ----------------------------------------------------------------------------- plan


def _big(tmp_path, **changes) -> SynthOptions:
    """A full-shape plan (no audio is made): six folds, 9h, train-clean-100 and -other-500."""
    return SynthOptions(root=tmp_path, folds=6, nine_hours_minutes=30,
                        train_clean_100_minutes=20, train_other_500_minutes=10, **changes)


def test_plan_is_deterministic_and_seed_dependent(tmp_path):
    a, b = plan(_big(tmp_path)), plan(_big(tmp_path))
    assert a == b
    c = plan(_big(tmp_path, seed=1))
    assert [ch.sentences for ch in c] != [ch.sentences for ch in a]


def test_plan_keeps_dev_and_test_speakers_and_sentences_apart(tmp_path):
    chapters = plan(_big(tmp_path))
    side = lambda folder: ("dev" if "/dev-" in folder  # noqa: E731
                           else "test" if "/test-" in folder else "train")
    speakers = {"train": set(), "dev": set(), "test": set()}
    sentences = {"train": [], "dev": [], "test": []}
    for ch in chapters:
        speakers[side(ch.folder)].add(ch.speaker.id)
        sentences[side(ch.folder)] += [s.text for s in ch.sentences]
    assert not speakers["train"] & speakers["dev"]
    assert not speakers["train"] & speakers["test"]
    assert not speakers["dev"] & speakers["test"]
    everything = sum(sentences.values(), [])
    assert len(everything) == len(set(everything))  # no sentence is said twice
    # clean parts are read by clean speakers (1000+), other parts by other speakers (3000+)
    for ch in chapters:
        clean_folder = ch.folder.endswith(("clean", "train-clean-100"))
        assert (ch.speaker.id < synth.OTHER_ID_BASE) == clean_folder, ch.folder
    # a finetune corpus never speaks a pretrain book or uses a pretrain voice
    pretrain_text = {s.text for s in texts.sentence_pools().pretrain}
    assert not set(everything) & pretrain_text
    assert all(ch.speaker.id < synth.PRETRAIN_CLEAN_ID_BASE for ch in chapters)
    assert any("train-other-500" in ch.folder for ch in chapters)


def test_pretrain_plan_is_disjoint_from_finetune_sentences_and_voices(tmp_path):
    o = _big(tmp_path, purpose="pretrain")
    chapters = plan(o)
    pools = texts.sentence_pools()
    said = {"held-out": [], "train": []}
    for ch in chapters:
        said["train" if synth._is_training(ch.folder) else "held-out"] += \
            [s.text for s in ch.sentences]
    everything = said["held-out"] + said["train"]
    # every sentence from the pretrain books, none twice, dev/test apart from training
    assert set(everything) <= {s.text for s in pools.pretrain}
    assert len(everything) == len(set(everything))
    assert len(said["held-out"]) > 100 and len(said["train"]) > 300
    finetune_text = {s.text for s in pools.train + pools.dev + pools.test}
    assert not set(everything) & finetune_text
    # every speaker from the pretrain grid, dev and test speakers apart from training ones
    pretrain_keys = {_voice_key(s) for s in synth.speaker_grid("pretrain")}
    assert all(_voice_key(ch.speaker) in pretrain_keys for ch in chapters)
    ids = {"held-out": set(), "train": set()}
    for ch in chapters:
        ids["train" if synth._is_training(ch.folder) else "held-out"].add(ch.speaker.id)
    assert not ids["held-out"] & ids["train"]
    for ch in chapters:
        clean_folder = ch.folder.endswith(("clean", "train-clean-100"))
        base = synth.PRETRAIN_CLEAN_ID_BASE if clean_folder else synth.PRETRAIN_OTHER_ID_BASE
        assert base <= ch.speaker.id < base + 1000, ch.folder
    # the finetune plan of the same seed is unchanged by a pretrain one existing
    assert plan(_big(tmp_path)) == plan(_big(tmp_path))


def test_pretrain_training_text_excludes_its_held_out_sentences_on_every_pass(tmp_path):
    """A pretraining corpus bigger than its books starts new passes over the training
    text; the sentences its dev and test splits said never come back."""
    o = SynthOptions(root=tmp_path, purpose="pretrain", folds=0, dev_minutes=2,
                     test_minutes=2, min_words=25, max_words=25,
                     train_clean_100_minutes=120, speaker_minutes=5)
    pool = {s.text for s in texts.sentence_pools(25, 25).pretrain}  # 455 sentences
    chapters = plan(o)
    held = {s.text for ch in chapters if not synth._is_training(ch.folder) for s in ch.sentences}
    train = [s.text for ch in chapters if synth._is_training(ch.folder) for s in ch.sentences]
    assert len(train) > len(pool)  # at least two passes
    assert not held & set(train)
    assert set(train) == pool - held


def test_plan_sizes_follow_the_options(tmp_path):
    o = _big(tmp_path)
    chapters = plan(o)
    folders = {ch.folder for ch in chapters}
    assert folders == {f"LibriSpeech/{s}-{c}" for s in ("dev", "test") for c in ("clean", "other")} \
        | {f"librispeech_finetuning/1h/{k}/{c}" for k in range(6) for c in ("clean", "other")} \
        | {f"librispeech_finetuning/9h/{c}" for c in ("clean", "other")} \
        | {"LibriSpeech/train-clean-100", "LibriSpeech/train-other-500"}
    wanted = {p.folder: p.minutes * 60 for p in synth.parts(o)}
    assert wanted["librispeech_finetuning/1h/3/other"] == 300
    assert wanted["librispeech_finetuning/9h/clean"] == 900
    assert wanted["LibriSpeech/train-other-500"] == 600
    for folder, seconds in wanted.items():
        mine = [ch for ch in chapters if ch.folder == folder]
        planned = sum(synth.estimate_seconds(s, ch.speaker) for ch in mine for s in ch.sentences)
        n_speakers = len({ch.speaker.id for ch in mine})
        assert n_speakers == max(1, round(seconds / 60 / o.speaker_minutes))
        # each speaker stops at the first sentence that reaches its share
        assert seconds <= planned < seconds + n_speakers * 15, folder
        assert all(len(ch.sentences) <= o.chapter_utterances for ch in mine)
    ids = [ch.id for ch in chapters]
    assert len(set(ids)) == len(ids)


def test_plan_without_enough_speakers_says_so(tmp_path):
    o = SynthOptions(root=tmp_path, engines=("festival",), dev_minutes=30, speaker_minutes=0.5)
    with pytest.raises(DataError, match="dev-clean needs 60 speakers but only 45 clean"):
        plan(o)


@pytest.mark.parametrize("changes, message", [
    (dict(folds=7), "`folds` must be 0 to 6"),
    (dict(fold_minutes=-1), "`fold_minutes` must be a number of minutes >= 0"),
    (dict(dev_minutes=float("nan")), "`dev_minutes`"),
    (dict(engines=("flite", "say")), "unknown or none given \\(say\\)"),
    (dict(speaker_minutes=0), "`speaker_minutes` must be > 0"),
    (dict(min_words=9, max_words=3), "`min_words` <= `max_words`"),
    (dict(snr_db=500), "`snr_db`"),
    (dict(purpose="demo"), "`purpose` must be one of finetune, pretrain, not 'demo'"),
    (dict(train_other_500_minutes=-2), "`train_other_500_minutes` must be"),
])
def test_bad_options_are_refused_with_the_setting_named(tmp_path, changes, message):
    with pytest.raises(SettingError, match=message):
        synth.verify_options(SynthOptions(root=tmp_path, **changes))


# ----------------------------------------------------------------------------- audio


@pytest.mark.parametrize("voice, effects", [
    ("slt", dict()),  # flite, F0 set by the engine
    ("rms", dict(pitch=1.16, reverb=50)),  # flite, pitch by sox
    ("kal_diphone", dict(noise="pink")),  # festival diphone
    ("cmu_us_slt_arctic_hts", dict(rate=1.12)),  # festival HTS: -r option
    ("kal", dict(speed=1.1, noise="white")),  # flite 8 kHz
    ("en-gb+f2", dict()),  # espeak-ng
])
def test_every_engine_speaks_16k_mono_16bit_flac(tmp_path, voice, effects):
    v = next(v for v in tts.VOICES if v.name == voice)
    speaker = tts.Speaker(1, v, **{"rate": 1.0, "pitch": 1.0, "subset": "other", **effects})
    out = tmp_path / "a.flac"
    [frames] = tts.render(speaker, [(str(out), "and god saw the light.", 3)], snr_db=15)
    info = sf.info(str(out))
    assert (info.samplerate, info.channels, info.subtype, info.format) == (16000, 1, "PCM_16", "FLAC")
    assert info.frames == frames
    # 0.5 s of padding plus about a second of speech
    assert 1.0 < frames / 16000 < 3.0
    wave, _ = sf.read(str(out))
    assert np.abs(wave[: int(0.05 * 16000)]).max() < 0.1 or effects.get("noise")
    assert np.abs(wave).max() > 0.3
    # No digital silence: every 25 ms filterbank window has the noise floor at least.
    windows = wave[: len(wave) // 400 * 400].reshape(-1, 400)
    assert np.sqrt(np.mean(windows**2, axis=1)).min() > 10 ** ((tts.NOISE_FLOOR_DB - 6) / 20)


def test_noise_floor_has_its_level_and_follows_the_seed():
    wave = np.zeros(16000, dtype=np.float32)
    floor = tts.add_noise_floor(wave, np.random.default_rng(5))
    assert 20 * np.log10(np.sqrt(np.mean(floor.astype(float) ** 2))) == pytest.approx(tts.NOISE_FLOOR_DB, abs=0.1)
    assert np.array_equal(floor, tts.add_noise_floor(wave, np.random.default_rng(5)))


def test_add_noise_reaches_the_asked_snr_against_speech_not_silence():
    t = np.arange(32000) / 16000
    tone = 0.3 * np.sin(2 * np.pi * 217 * t + 0.3)  # no sample near 0: all of it "speech"
    wave = np.concatenate([np.zeros(8000), tone, np.zeros(8000)]).astype(np.float32)
    for colour in ("white", "pink"):
        mixed = tts.add_noise(wave, colour, 10.0, np.random.default_rng(0))
        noise = (mixed - wave).astype(float)
        snr = 10 * np.log10(np.mean(tone**2) / np.mean(noise**2))
        assert snr == pytest.approx(10.0, abs=0.05), colour
        assert np.abs(noise[:8000]).max() > 0  # the padding is noisy too
    again = tts.add_noise(wave, "pink", 10.0, np.random.default_rng(0))
    assert np.array_equal(again, mixed)


def test_missing_engine_names_it_and_the_fix(monkeypatch):
    real = shutil.which
    monkeypatch.setattr(tts.shutil, "which", lambda exe: None if exe == "festival" else real(exe))
    with pytest.raises(FileNotFoundError, match="`festival` is not installed.*`engines`"):
        tts.check_engines(tts.VOICES)


# ----------------------------------------------------------------------------- corpus


def _corpus_files(root: Path):
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_corpus_layout_and_transcripts(synth_corpus):
    root, report = synth_corpus
    flacs = sorted(root.rglob("*.flac"))
    assert flacs
    said = {}
    for trans in root.rglob("*.trans.txt"):
        speaker, chapter = trans.parent.parent.name, trans.parent.name
        assert trans.name == f"{speaker}-{chapter}.trans.txt"
        for n, line in enumerate(trans.read_text().splitlines()):
            utt, text = line.split(" ", 1)
            assert utt == f"{speaker}-{chapter}-{n:04d}"
            assert text == normalize(text) and text == text.upper() and text.strip() == text
            said[utt] = text
    # one transcript line per FLAC, and every FLAC sits where its id says
    assert sorted(said) == sorted(f.stem for f in flacs)
    for f in flacs:
        speaker, chapter, _ = UTT_ID.match(f.stem).groups()
        assert f.parent == f.parent.parent.parent / speaker / chapter
        info = sf.info(str(f))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    folders = {str(f.parent.parent.parent.relative_to(root)) for f in flacs}
    assert folders == {"LibriSpeech/dev-clean", "LibriSpeech/dev-other", "LibriSpeech/test-clean",
                       "LibriSpeech/test-other", "librispeech_finetuning/1h/0/clean",
                       "librispeech_finetuning/1h/0/other"}


def test_report_numbers_match_the_files(synth_corpus):
    root, report = synth_corpus
    assert json.loads((root / synth.REPORT).read_text()) == report
    # with one fold, 1h is that fold (as `asrkit prepare` resolves it)
    assert set(report["splits"]) == {"dev-clean", "dev-other", "test-clean", "test-other",
                                     "10min", "1h"}
    assert report["splits"]["1h"] == report["splits"]["10min"]
    assert report["seed"] == 7 and report["settings"]["fold_minutes"] == 0.4
    for name, split in report["splits"].items():
        flacs = [f for folder in split["folders"] for f in (root / folder).rglob("*.flac")]
        frames = sum(sf.info(str(f)).frames for f in flacs)
        speakers = {f.stem.split("-")[0] for f in flacs}
        assert split["utterances"] == len(flacs), name
        assert split["samples"] == frames and split["seconds"] == round(frames / 16000, 3)
        assert split["speakers"] == len(speakers) == len(split["speaker_ids"])
        assert {str(s) for s in split["speaker_ids"]} == speakers
    ten = report["splits"]["10min"]
    assert ten["folders"] == ["librispeech_finetuning/1h/0/clean", "librispeech_finetuning/1h/0/other"]
    assert ten["speakers"] == 4  # 0.2 minutes per half at 0.1 minutes per speaker
    # 24 s planned; each speaker stops at the first sentence that reaches its 6 s
    assert 24 <= ten["seconds"] < 24 + 4 * 15


def test_corpus_dev_test_disjoint_from_train_and_lm_text(synth_corpus):
    root, report = synth_corpus
    split_text = {}
    for name, split in report["splits"].items():
        split_text[name] = {line.split(" ", 1)[1] for folder in split["folders"]
                            for t in (root / folder).rglob("*.trans.txt")
                            for line in t.read_text().splitlines()}
    ids = {name: set(s["speaker_ids"]) for name, s in report["splits"].items()}
    evals = ("dev-clean", "dev-other", "test-clean", "test-other")
    for e in evals:
        assert not split_text[e] & split_text["10min"] and not ids[e] & ids["10min"]
    assert not (split_text["dev-clean"] | split_text["dev-other"]) & \
        (split_text["test-clean"] | split_text["test-other"])
    lm = set((root / synth.LM_TEXT).read_text().splitlines())
    assert split_text["10min"] <= lm
    assert not any(split_text[e] & lm for e in evals)
    speakers_txt = (root / "LibriSpeech" / "SPEAKERS.TXT").read_text().splitlines()
    assert len(speakers_txt) == 1 + len(set().union(*ids.values()))
    # seed 7 draws a festival voice and a noisy speaker: the determinism test covers both
    assert any("festival:" in line for line in speakers_txt)
    assert any("noise=pink" in line for line in speakers_txt)


def test_rerun_changes_nothing(synth_corpus):
    root, report = synth_corpus
    before = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in _corpus_files(root)}
    again = synthesize(tiny_synth_options(root), progress=False)
    assert again == report
    assert {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in _corpus_files(root)} == before


def test_other_settings_on_the_same_root_are_refused(synth_corpus):
    root, _ = synth_corpus
    with pytest.raises(DataError, match=r"other settings \(seed: 7 there, 8 now\)"):
        synthesize(tiny_synth_options(root, seed=8), progress=False)
    with pytest.raises(DataError, match=r"purpose: 'finetune' there, 'pretrain' now"):
        synthesize(tiny_synth_options(root, purpose="pretrain"), progress=False)


def test_a_corpus_of_an_older_format_is_refused(tmp_path):
    """Format 1 spoke the pretrain books on the training side: its audio does not say
    what this version's transcripts would."""
    old = tiny_synth_options(tmp_path)
    settings = old.settings()
    del settings["purpose"], settings["train_other_500_minutes"]
    (tmp_path / synth.REPORT).write_text(json.dumps(
        {"format": "asrkit-synth 1", "complete": True, "seed": 7, "settings": settings}))
    with pytest.raises(DataError, match="older asrkit synth .'asrkit-synth 1', now "
                                         "'asrkit-synth 3'. whose audio or sentences differ"):
        synthesize(old, progress=False)


def test_same_seed_gives_the_same_corpus_and_resume_remakes_missing_files(synth_corpus, tmp_path):
    root, report = synth_corpus
    # A second corpus from scratch, in one process: same transcripts, speakers and audio.
    other = tmp_path / "again"
    assert synthesize(tiny_synth_options(other, jobs=1), progress=False) == report
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    rel = lambda files, base: {str(p.relative_to(base)): digest(p) for p in files}  # noqa: E731
    assert rel(_corpus_files(other), other) == rel(_corpus_files(root), root)
    # An interrupted run: a FLAC and its chapter's transcript missing. A rerun remakes both.
    victim = next(other.rglob("*-0001.flac"))
    trans = next(victim.parent.glob("*.trans.txt"))
    victim.unlink()
    trans.unlink()
    synthesize(tiny_synth_options(other), progress=False)
    assert rel(_corpus_files(other), other) == rel(_corpus_files(root), root)


def test_cli_synth_prints_the_splits_and_refuses_bad_options(tmp_path, capsys):
    assert main(["synth", "--root", str(tmp_path / "c"), "--folds", "7"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("asrkit synth: error: --folds must be 0 to 6") and "Traceback" not in err
    rc = main(["synth", "--root", str(tmp_path / "c"), "--fold-minutes", "0", "--dev-minutes", "0.05",
               "--test-minutes", "0", "--engines", "flite", "--no-progress", "--jobs", "1"])
    assert rc == 0
    out = capsys.readouterr().out
    assert re.search(r"^dev-clean\s+1\s+0\.\d\d\s+1$", out, re.M)
    assert re.search(r"^dev-other\s+1\s+0\.\d\d\s+1$", out, re.M)
    assert "test-clean" not in out and "10min" not in out and "1h" not in out


def test_split_names_follow_the_folds_made(tmp_path):
    names = synth.split_names(_big(tmp_path))
    assert names["10min"] == ["librispeech_finetuning/1h/0/clean", "librispeech_finetuning/1h/0/other"]
    assert len(names["1h"]) == 12 and len(names["10h"]) == 14
    assert names["10h"][-1] == "librispeech_finetuning/9h/other"
    assert names["100h"] == names["train-clean-100"] == ["LibriSpeech/train-clean-100"]
    assert names["train-other-500"] == ["LibriSpeech/train-other-500"]
    assert "1h" not in synth.split_names(SynthOptions(root=tmp_path, folds=0))


def test_prepare_counts_match_the_synth_report(synth_corpus, tmp_path):
    pytest.importorskip("asrkit.data.prepare")
    root, report = synth_corpus
    assert main(["prepare", "--data-root", str(root), "--out", str(tmp_path)]) == 0
    for name, split in report["splits"].items():
        meta = json.loads((tmp_path / f"{name}.meta.json").read_text())
        assert meta["utterances"] == split["utterances"], name
        assert meta["speakers"] == split["speakers"], name
        assert meta["hours"] * 3600 == pytest.approx(split["seconds"], abs=1e-3), name
        assert not meta["skipped"], name


def test_training_sentences_start_a_new_pass_and_eval_ones_run_out():
    pool = tuple(texts.make_sentence("Genesis", f"1:{i}", f"word number {w}")
                 for i, w in enumerate(("one", "two", "three"), 1))
    train = synth._Shuffled(pool, "0:sentences:train", "train", repeat=True)
    taken = [train.take("x").text for _ in range(7)]
    assert sorted(taken[:3]) == sorted(taken[3:6]) == sorted(s.text for s in pool)
    dev = synth._Shuffled(pool, "0:sentences:dev", "dev")
    [dev.take("LibriSpeech/dev-clean") for _ in range(3)]
    with pytest.raises(DataError, match="LibriSpeech/dev-clean: the dev side has only 3"):
        dev.take("LibriSpeech/dev-clean")


# ----------------------------------------------------------------------------- pretrain corpus


@pytest.fixture(scope="module")
def pretrain_corpus(tmp_path_factory):
    """A few-second pretraining corpus: train-clean-100, train-other-500 and dev."""
    root = tmp_path_factory.mktemp("pretrain") / "corpus"
    o = tiny_synth_options(root, purpose="pretrain", folds=0, train_clean_100_minutes=0.2,
                           train_other_500_minutes=0.2, test_minutes=0)
    return root, synthesize(o, progress=False)


def _said(root: Path, split: dict) -> set[str]:
    return {line.split(" ", 1)[1] for folder in split["folders"]
            for t in (root / folder).rglob("*.trans.txt") for line in t.read_text().splitlines()}


def test_pretrain_corpus_speaks_only_pretrain_books_in_pretrain_voices(pretrain_corpus):
    root, report = pretrain_corpus
    assert report["purpose"] == "pretrain" and report["settings"]["purpose"] == "pretrain"
    assert set(report["splits"]) == {"dev-clean", "dev-other", "train-clean-100", "100h",
                                     "train-other-500"}
    said = {name: _said(root, split) for name, split in report["splits"].items()}
    dev = said["dev-clean"] | said["dev-other"]
    train = said["train-clean-100"] | said["train-other-500"]
    assert dev and train and not dev & train
    pools = texts.sentence_pools()
    assert dev | train <= {s.text for s in pools.pretrain}
    ids = {name: set(split["speaker_ids"]) for name, split in report["splits"].items()}
    assert all(5000 <= i < 5056 for i in ids["train-clean-100"] | ids["dev-clean"])
    assert all(7000 <= i < 7624 for i in ids["train-other-500"] | ids["dev-other"])
    assert not (ids["dev-clean"] | ids["dev-other"]) & (ids["train-clean-100"] | ids["train-other-500"])
    # its LM text: every non-dev/test book, less this corpus's own dev sentences
    lm = set((root / synth.LM_TEXT).read_text().splitlines())
    assert train <= lm and not dev & lm
    assert not {s.text for s in pools.dev + pools.test} & lm
    assert {s.text for s in pools.train} <= lm


def test_prepare_reads_the_pretrain_corpus(pretrain_corpus, tmp_path):
    pytest.importorskip("asrkit.data.prepare")
    root, report = pretrain_corpus
    assert main(["prepare", "--data-root", str(root), "--out", str(tmp_path)]) == 0
    for name in ("train-clean-100", "train-other-500", "dev-clean", "dev-other"):
        meta = json.loads((tmp_path / f"{name}.meta.json").read_text())
        split = report["splits"][name]
        assert (meta["utterances"], meta["speakers"]) == (split["utterances"], split["speakers"])
        assert meta["hours"] * 3600 == pytest.approx(split["seconds"], abs=1e-3), name
        assert not meta["skipped"], name


def test_cli_synth_takes_purpose_and_out(tmp_path, capsys):
    assert main(["synth", "--purpose", "pretrain", "--out", str(tmp_path / "p"), "--folds", "0",
                 "--dev-minutes", "0.05", "--test-minutes", "0", "--engines", "flite",
                 "--no-progress", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^dev-clean\s+1\s+0\.\d\d\s+1$", out, re.M)
    assert "pretrain corpus in" in out
    report = json.loads((tmp_path / "p" / synth.REPORT).read_text())
    assert report["purpose"] == "pretrain"
    assert report["splits"]["dev-clean"]["speaker_ids"][0] >= 5000
    with pytest.raises(SystemExit):
        main(["synth", "--purpose", "demo"])
    assert "invalid choice: 'demo'" in capsys.readouterr().err
