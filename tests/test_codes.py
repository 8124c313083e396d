"""asrkit.align (CTC forced alignment) and asrkit.pretrain.codes (Appendix D: codes against
letters) on cases whose answers are known, and `asrkit codes` end to end on tiny models."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from asrkit.ctc import align as forced_align, frame_letters
from asrkit.errors import DataError
from asrkit.pretrain.codes import count, entropy, mutual_information, purity, summary
from ctc_fixtures import BLANK, VOCAB, frames, noisy, peaky, tiny_model
from speech_fixtures import make_manifests, noise_utterances


def _ids(text: str) -> list[int]:
    return [VOCAB.delimiter_id if c == " " else VOCAB.index(c) for c in text]


# ---------------------------------------------------------------- forced alignment


def test_forced_alignment_of_a_peaky_matrix_is_its_spelled_path():
    for text in ("HELLO WORLD", "AA BB", "A", "THE OLD MAN SAW A RED HOUSE AND THE CAT CHASED A MOUSE TO HER BOOK AGAIN"):
        assert forced_align(peaky(text), _ids(text), BLANK).tolist() == frames(text)


def test_forced_alignment_follows_the_transcript_not_the_best_letters():
    """Noisy log-probs of one sentence, aligned to it: every letter appears in order, with a
    blank between repeats, even where greedy decoding would read another letter."""
    rng = np.random.default_rng(0)
    text = "THE CAT SAW A MOUSE"
    path = forced_align(noisy(text, rng, sigma=3.0, peak=2.0), _ids(text), BLANK)
    collapsed = [t for i, t in enumerate(path) if t != BLANK and (i == 0 or t != path[i - 1])]
    assert collapsed == _ids(text)


def test_forced_alignment_picks_the_most_likely_of_two_paths_by_hand():
    # label "A", 3 frames: the paths A A _ / _ A _ / A _ _ / _ _ A / _ A A / A A A; frame scores
    # favour blank, A, blank
    a = VOCAB.index("A")
    lp = np.full((3, len(VOCAB.tokens)), -20.0)
    lp[:, BLANK] = [-0.1, -3.0, -0.2]
    lp[:, a] = [-2.5, -0.1, -1.9]
    assert forced_align(lp, [a], BLANK).tolist() == [BLANK, a, BLANK]
    lp[2, a] = -0.05  # now the last frame prefers A as well
    assert forced_align(lp, [a], BLANK).tolist() == [BLANK, a, a]


def test_a_label_longer_than_the_frames_has_no_alignment():
    assert forced_align(peaky("AB")[:2], _ids("AAB"), BLANK) is None  # A, blank, A, B needs 4 frames


def test_blank_frames_take_the_letter_before_them():
    b = BLANK
    path = np.array([b, b, 5, b, b, 6, 6, b])
    assert frame_letters(path, b, 99).tolist() == [99, 99, 5, 5, 5, 6, 6, 6]


# ---------------------------------------------------------------- statistics


def test_codes_that_determine_the_letter_give_purity_one_and_mi_equal_to_the_letter_entropy():
    rng = np.random.default_rng(1)
    letters = rng.integers(0, 5, size=2000)
    # two codes per letter (group 0 entry = letter * 2 + noise bit, group 1 = a random entry)
    codes = np.stack([letters * 2 + rng.integers(0, 2, size=2000), rng.integers(0, 8, size=2000)], axis=1)
    table = count([(codes, letters)], list("ABCDE"), groups=2, entries=10, skipped={})
    result = summary(table)
    h = entropy(np.bincount(letters))
    assert result["letter_entropy_bits"] == pytest.approx(h)
    assert result["joint"]["purity"] == 1.0
    assert result["joint"]["mutual_information_bits"] == pytest.approx(h)
    group0, group1 = result["per_group"]
    assert group0["purity"] == 1.0 and group0["mutual_information_bits"] == pytest.approx(h)
    assert group0["codes_used"] == 10 and group1["codes_used"] == 8
    assert group1["mutual_information_bits"] < 0.05 * h  # a random code says (almost) nothing
    assert result["frames"] == 2000


def test_independent_codes_and_letters_have_zero_mi_and_the_majority_letters_purity():
    counts = np.outer([10, 30, 60], [1, 2, 7])  # p(code, letter) = p(code) p(letter)
    assert mutual_information(counts) == pytest.approx(0.0, abs=1e-12)
    assert purity(counts) == pytest.approx(0.7)
    assert entropy(np.array([1, 1, 1, 1])) == pytest.approx(2.0)


def test_no_frames_is_an_error():
    with pytest.raises(DataError, match="no frame"):
        count([], ["A"], 2, 4, {"too short for their transcripts": 3})


# ---------------------------------------------------------------- end to end


def test_asrkit_codes_writes_the_figure_and_the_numbers(tmp_path, one_torch_thread):
    from asrkit.cli import main
    from asrkit.config import PretrainModelConfig
    from asrkit.pretrain.model import feature_extractor_for, load_pretraining_model

    model_cfg = PretrainModelConfig(name="tiny", codevectors_per_group=16)
    pretrained, _ = load_pretraining_model(model_cfg)
    pretrained.save_pretrained(tmp_path / "pre")
    feature_extractor_for(pretrained, model_cfg).save_pretrained(tmp_path / "pre")
    aligner = tiny_model(tmp_path / "ctc")
    utts = noise_utterances(tmp_path / "audio", [1.5, 2.0, 1.2], text="AB CD")
    manifests = make_manifests(tmp_path, {"dev": utts})
    out = tmp_path / "codes"
    assert main(["codes", "--pretrained", str(tmp_path / "pre"), "--aligner", str(aligner), "--manifests",
                 str(manifests), "--split", "dev", "--out", str(out), "--no-progress", "--top-codes", "20"]) == 0
    result = json.loads((out / "codes.json").read_text())
    assert (out / "codes.png").read_bytes()[:4] == b"\x89PNG"
    assert "purity" in (out / "codes.md").read_text()
    assert result["settings"]["utterances"] == 3
    assert result["frames"] == sum(math.floor((u.samples - 400) / 320) + 1 for u in utts)
    assert 0 < result["joint"]["purity"] <= 1
    assert 0 <= result["joint"]["mutual_information_bits"] <= result["letter_entropy_bits"] + 1e-9
    assert all(g["possible"] == 16 and 1 <= g["codes_used"] <= 16 for g in result["per_group"])
    assert len(result["figure_codes"]) <= 20
