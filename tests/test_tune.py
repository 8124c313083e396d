"""LM-weight tuning on a dev set built so that a better setting than the default exists."""

from __future__ import annotations

import json

import numpy as np
import pytest

from asrkit.decode import flashlight as fl
from asrkit.decode import pyctcdecode as pcd
from asrkit.decode.run import references
from asrkit.decode.tune import TuneOptions, read_tuning, save_tuning, tune, tuned_params
from asrkit.errors import DataError, DecodeError, SettingError
from ctc_fixtures import ambiguous, decode_with, peaky, write_arpa, write_cache, write_lexicon

# Each dev utterance says "THE CAT" or "THE DOG"; in half of them the acoustics lean
# slightly towards the wrong vowel (COT / DIG, words of the lexicon too). The LM knows
# CAT and DOG are common and COT and DIG rare, so only a large enough LM weight decodes
# them right; with the weight at 0 (the default we give) the acoustics win.
DEV = ["THE CAT", "THE CAT", "THE DOG", "THE DOG"] * 2


def dev_log_probs():
    out = []
    for i, text in enumerate(DEV):
        if i % 2 == 0:
            out.append(peaky(text))
        elif text == "THE CAT":
            out.append(ambiguous(text, 5, {"O": 0.6, "A": 0.4}))
        else:
            out.append(ambiguous(text, 5, {"I": 0.6, "O": 0.4}))
    return out


@pytest.fixture
def setup(tmp_path):
    arpa = write_arpa(tmp_path / "lm.arpa", {"THE": -0.5, "CAT": -1.0, "DOG": -1.0, "COT": -3.5, "DIG": -3.5})
    lexicon = write_lexicon(tmp_path / "lexicon.txt", ["THE", "CAT", "DOG", "COT", "DIG"])
    (tmp_path / "unigrams.txt").write_text("THE\nCAT\nDOG\nCOT\nDIG\n")
    cache = write_cache(tmp_path / "model", "dev", DEV, dev_log_probs())
    return tmp_path, arpa, lexicon, cache


def test_dev_set_is_built_as_intended(setup):
    _, arpa, lexicon, cache = setup
    base = fl.FlashlightOptions(lm=str(arpa), lexicon=str(lexicon), beam=20, lm_weight=0.0, word_score=0.0)
    wrong = decode_with("flashlight", cache.log_probs(), base)
    assert sum(w != r for w, r in zip(wrong, DEV)) == 4  # the four ambiguous ones
    right = decode_with("flashlight", cache.log_probs(), fl.FlashlightOptions(**{**base.__dict__, "lm_weight": 2.0}))
    assert right == DEV


@pytest.mark.parametrize("method, trials", [("grid", 9), ("tpe", 12)])
def test_tuning_finds_a_better_lm_weight(setup, method, trials):
    _, arpa, lexicon, cache = setup
    base = fl.FlashlightOptions(lm=str(arpa), lexicon=str(lexicon), beam=20, lm_weight=0.0, word_score=0.0)
    result = tune("flashlight", base, cache.log_probs(), references(cache),
                  TuneOptions(method=method, trials=trials, workers=2), lm_name="tiny", split="dev", progress=False)
    assert result.default == {"lm_weight": 0.0, "word_score": 0.0}
    assert result.default_wer == pytest.approx(4 / 16)  # 4 wrong words of 16
    assert result.best_wer == 0.0 and result.best["lm_weight"] > 0.5
    assert result.trials[0] == {"lm_weight": 0.0, "word_score": 0.0, "wer": result.default_wer}
    assert len(result.trials) == trials + (1 if method == "grid" else 0)
    assert all(0 <= t["lm_weight"] <= 5 and -5 <= t["word_score"] <= 5 for t in result.trials)


def test_tuning_pyctcdecode_alpha_beta(setup):
    _, arpa, _, cache = setup
    base = pcd.PyctcdecodeOptions(lm=str(arpa), unigrams=str(setup[0] / "unigrams.txt"), beam=20,
                                  alpha=0.0, beta=0.0)
    result = tune("pyctcdecode", base, cache.log_probs(), references(cache),
                  TuneOptions(method="grid", trials=9, workers=1), lm_name="tiny", progress=False)
    assert result.params == ["alpha", "beta"]
    assert result.best_wer < result.default_wer and result.best["alpha"] > 0


def test_tuning_is_saved_and_used_by_decode(setup, capsys):
    from asrkit.cli import main
    from asrkit.results import read_summary

    tmp_path, arpa, lexicon, cache = setup
    model = tmp_path / "model"
    lm_dir = tmp_path / "lm"
    lm_dir.mkdir()
    for f in (arpa, lexicon, tmp_path / "unigrams.txt"):
        (lm_dir / f.name).write_bytes(f.read_bytes())
    common = ["--model", str(model), "--split", "dev", "--manifests", str(tmp_path), "--lm",
              str(lm_dir / "lm.arpa"), "--workers", "1", "--beam", "20"]
    # Word score 0 and LM weight 0 as the default tried first; grid over the paper's ranges.
    assert main(["tune-lm", *common, "--method", "grid", "--trials", "16", "--lm-weight", "0",
                 "--word-score", "0"]) == 0
    assert "WER 25.00% -> best" in capsys.readouterr().out
    saved = read_tuning(model)
    assert len(saved) == 1 and saved[0]["lm"] == "lm" and saved[0]["decoder"] == "flashlight"
    assert len(saved[0]["trials"]) == 17 and saved[0]["best_wer"] == 0.0
    best = tuned_params(model, "lm", "flashlight")

    assert main(["decode", *common]) == 0
    summary = read_summary(model / "decode/dev/lm")
    assert summary.decoder["lm_weight"] == best["lm_weight"] and summary.wer == 0.0
    assert main(["decode", *common, "--lm-weight", "0", "--word-score", "0"]) == 0  # flags win
    assert read_summary(model / "decode/dev/lm").wer == pytest.approx(0.25)
    assert main(["decode", *common, "--no-tuned"]) == 0  # the decoder's own defaults (2.0, -1.0)
    assert read_summary(model / "decode/dev/lm").decoder["lm_weight"] == 2.0


def test_saving_replaces_the_same_lm_and_decoder(tmp_path):
    from asrkit.decode.tune import TuningResult

    def result(lm, decoder, w):
        return TuningResult(lm=lm, decoder=decoder, split="dev", method="grid", params=["lm_weight", "word_score"],
                            best={"lm_weight": w, "word_score": 0.0}, best_wer=0.1, default={}, default_wer=0.2, beam=5)

    save_tuning(tmp_path, result("4gram", "flashlight", 1.0))
    save_tuning(tmp_path, result("4gram", "pyctcdecode", 2.0))
    save_tuning(tmp_path, result("4gram", "flashlight", 3.0))
    assert [(r["decoder"], r["best"]["lm_weight"]) for r in read_tuning(tmp_path)] == [
        ("pyctcdecode", 2.0), ("flashlight", 3.0)]
    assert tuned_params(tmp_path, "4gram", "flashlight") == {"lm_weight": 3.0, "word_score": 0.0}
    assert tuned_params(tmp_path, "3gram", "flashlight") is None


def test_tuning_errors(setup, tmp_path):
    _, arpa, lexicon, cache = setup
    base = fl.FlashlightOptions(lm=str(arpa), lexicon=str(lexicon))
    with pytest.raises(DecodeError, match="no LM weights to tune"):
        tune("greedy", base, cache.log_probs(), references(cache), progress=False)
    with pytest.raises(DataError, match="empty split"):
        tune("flashlight", base, [], [], progress=False)
    with pytest.raises(SettingError, match="`method`"):
        TuneOptions(method="bayes").check()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "lm-tuning.json").write_text(json.dumps([1, 2]))
    with pytest.raises(DecodeError, match="not an asrkit LM tuning file"):
        read_tuning(tmp_path / "bad")


def test_tune_cli_needs_an_lm(setup, capsys):
    from asrkit.cli import main

    tmp_path = setup[0]
    assert main(["tune-lm", "--model", str(tmp_path / "model"), "--split", "dev", "--manifests", str(tmp_path)]) == 1
    assert "tune-lm needs --lm" in capsys.readouterr().err


def test_grid_spans_the_ranges():
    from asrkit.decode.tune import _grid

    points = _grid(TuneOptions(method="grid", trials=9))
    assert points[0] == (0.0, -5.0) and points[-1] == (5.0, 5.0) and len(points) == 9
    assert (2.5, 0.0) in points
    assert np.allclose(sorted({w for w, _ in points}), [0, 2.5, 5])
