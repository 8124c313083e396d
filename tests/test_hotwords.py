"""Hotwords (asrkit.decode.hotwords): parsing, checking against the vocabulary, and their
effect in the flashlight lexicon decoder and pyctcdecode on hand-written log-probs."""

from __future__ import annotations

import math

import pytest

from asrkit.decode import flashlight as fl
from asrkit.decode import pyctcdecode as pcd
from asrkit.decode.hotwords import DEFAULT_WEIGHT, combine, parse_hotword, spelled
from asrkit.errors import InputNotFound, SettingError
from ctc_fixtures import VOCAB, ambiguous, decode_with, nbest_with, write_arpa, write_lexicon


@pytest.fixture
def lm(tmp_path):
    """An LM and lexicon that know THE, CAT, DOG and SAW, and no ZED or SED."""
    words = {"THE": -0.5, "CAT": -1.0, "DOG": -1.0, "SAW": -1.2}
    arpa = write_arpa(tmp_path / "lm.arpa", words)
    lexicon = write_lexicon(tmp_path / "lexicon.txt", list(words))
    unigrams = tmp_path / "unigrams.txt"
    unigrams.write_text("\n".join(words) + "\n")
    return arpa, lexicon, unigrams


def test_parse_hotword_specs():
    assert parse_hotword("ZED") == ("ZED", DEFAULT_WEIGHT)
    assert parse_hotword("zed:2.5") == ("zed", 2.5)
    for bad, why in (("ZED:nan", "finite"), ("ZED:inf", "finite"), ("ZED:abc", "not a number"),
                     ("TWO WORDS", "one word"), (":3", "one word")):
        with pytest.raises(SettingError, match=why):
            parse_hotword(bad)


def test_hotwords_file_and_command_line_merge(tmp_path):
    f = tmp_path / "names.txt"
    f.write_text("# names\nZED:3\n\nKAI  # a comment\n")
    assert combine(["ZED:7"], [f]) == (("ZED", 7.0), ("KAI", DEFAULT_WEIGHT))  # the command line wins
    assert combine(None, None) is None
    f.write_text("ZED:x\n")
    with pytest.raises(SettingError, match=r"names.txt:1:.*not a number"):
        combine(None, [f])
    with pytest.raises(InputNotFound, match="no such file"):
        combine(None, [tmp_path / "missing.txt"])


def test_hotword_outside_the_vocabulary_is_refused():
    assert spelled((("zed", 1.0),), VOCAB) == (("ZED", 1.0),)  # upper-cased into the model's letters
    with pytest.raises(SettingError, match=r"hotword 'R2D2': '2' not in the model's vocabulary"):
        spelled((("R2D2", 1.0),), VOCAB)
    with pytest.raises(SettingError, match="finite"):
        spelled((("ZED", math.nan),), VOCAB)


def test_flashlight_spells_a_missing_word_into_its_lexicon(lm):
    arpa, lexicon, _ = lm
    x = ambiguous("THE ZED", 4, {"Z": 0.4, "S": 0.6})  # acoustics lean to SED; neither is a word of the LM
    base = fl.FlashlightOptions(lm=str(arpa), lexicon=str(lexicon), beam=50, unk_score=-math.inf)
    assert "ZED" not in decode_with("flashlight", [x], base)[0]
    boosted = fl.FlashlightOptions(**{**base.__dict__, "hotwords": (("ZED", 10.0),)})
    (hyps,) = nbest_with("flashlight", [x], boosted, nbest=3)
    assert hyps[0].text == "THE ZED"
    # The boost is in `word`, not in the LM's own score: total = acoustic + w * lm + word still.
    w = 2.0 / math.log(10)
    h = hyps[0]
    assert h.scores.total == pytest.approx(h.scores.acoustic + w * h.scores.lm + h.scores.word, abs=1e-3)
    assert h.scores.word > 5.0


def test_pyctcdecode_hotword(lm):
    arpa, _, unigrams = lm
    x = ambiguous("THE ZED", 4, {"Z": 0.4, "S": 0.6})
    base = pcd.PyctcdecodeOptions(lm=str(arpa), unigrams=str(unigrams), beam=50)
    assert decode_with("pyctcdecode", [x], base) == ["THE SED"]
    boosted = pcd.PyctcdecodeOptions(**{**base.__dict__, "hotwords": (("zed", 10.0),)})
    assert decode_with("pyctcdecode", [x], boosted) == ["THE ZED"]


def test_hotword_option_errors(lm):
    arpa, lexicon, unigrams = lm
    with pytest.raises(SettingError, match="one weight for all hotwords"):
        pcd.PyctcdecodeOptions(hotwords=(("ZED", 1.0), ("KAI", 2.0))).check()
    with pytest.raises(SettingError, match="need `lm_weight` > 0"):
        fl.FlashlightOptions(lexicon="x", lm_weight=0.0, hotwords=(("ZED", 1.0),)).check()


def test_hotwords_on_the_command_line(tmp_path, capsys):
    from asrkit.cli import main
    from ctc_fixtures import peaky, write_cache

    write_cache(tmp_path / "m", "dev", ["HI"], [peaky("HI")])
    base = ["decode", "--model", str(tmp_path / "m"), "--split", "dev", "--manifests", str(tmp_path)]
    assert main(base + ["--hotword", "ZED"]) == 1
    assert "need a beam-search decoder" in capsys.readouterr().err
    assert main(base + ["--hotword", "ZED:nan"]) == 1
    assert "--hotword 'ZED:nan': the weight must be a finite number" in capsys.readouterr().err
    assert main(base + ["--decoder", "lexfree", "--hotword", "ZED"]) == 1
    assert "no setting `hotwords`" in capsys.readouterr().err


def test_tuning_with_hotwords_keeps_the_lm_weight_above_zero(lm):
    from asrkit.decode.tune import TuneOptions, tune
    from ctc_fixtures import peaky

    arpa, lexicon, _ = lm
    from asrkit.results import Recog

    options = fl.FlashlightOptions(lm=str(arpa), lexicon=str(lexicon), beam=20, hotwords=(("ZED", 10.0),))
    refs = [Recog("a", "s", 1.0, "THE ZED", "")]
    with pytest.raises(SettingError, match="`weight_range` a lower end > 0"):
        tune("flashlight", options, [peaky("THE ZED")], refs, TuneOptions(method="grid", trials=4), VOCAB,
             progress=False)
    result = tune("flashlight", options, [peaky("THE ZED")], refs,
                  TuneOptions(method="grid", trials=4, weight_range=(0.5, 3.0)), VOCAB, progress=False)
    assert result.best_wer == 0.0 and len(result.trials) == 5


def test_tuning_trials_with_hotwords_reuse_the_loaded_lm(lm):
    """A new lm_weight rescales the hotword boost (weight / lm_weight) without reloading the LM."""
    import dataclasses

    from asrkit.decode import make_decoder

    arpa, lexicon, _ = lm
    x = ambiguous("THE ZED", 4, {"Z": 0.4, "S": 0.6})
    options = fl.FlashlightOptions(lm=str(arpa), lexicon=str(lexicon), beam=50, hotwords=(("ZED", 10.0),))
    first = make_decoder("flashlight", options, VOCAB)
    second = first.with_options(dataclasses.replace(options, lm_weight=3.0))
    assert second._shared is first._shared and second._boost == {"ZED": pytest.approx(10.0 / 3.0)}
    for decoder, weight in ((first, 2.0), (second, 3.0)):
        (h,) = decoder.decode_one(x, 0.02)
        assert h.text == "THE ZED"
        assert h.scores.total == pytest.approx(h.scores.acoustic + weight / math.log(10) * h.scores.lm
                                               + h.scores.word, abs=1e-3)
