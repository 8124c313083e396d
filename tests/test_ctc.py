"""CTC facts (asrkit.ctc): frame arithmetic, word spans, confidence, alignment; and the
word times, scores and N-best lists every decoder builds from them, on hand-written
log-prob matrices whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from asrkit import ctc
from asrkit.decode import flashlight as fl
from asrkit.decode import pyctcdecode as pcd
from asrkit.inference import kept_frames, windows
from ctc_fixtures import BLANK, FLOOR, V, VOCAB, ambiguous, nbest_with, normalise, peaky, write_arpa, write_lexicon


def matrix(tokens: str) -> np.ndarray:
    """One frame per token; "-" is the blank."""
    ids = [BLANK if t == "-" else VOCAB.index(t) for t in tokens.split()]
    x = np.full((len(ids), V), FLOOR, dtype=np.float32)
    x[np.arange(len(ids)), ids] = 0.0
    return normalise(x)


# frames:  0 1 2 3 4 5 6 7 8 9 10
HI_YOU = "- H H I - | - Y O U -"
HI_YOU_TIMES = [("HI", 0.02, 0.08), ("YOU", 0.14, 0.20)]  # HI: frames 1-3, YOU: frames 7-9, 20 ms each


@pytest.fixture
def lm(tmp_path):
    arpa = write_arpa(tmp_path / "lm.arpa", {"HI": -1.0, "YOU": -1.2, "THE": -0.5, "CAT": -1.0, "COT": -1.5})
    lexicon = write_lexicon(tmp_path / "lexicon.txt", ["HI", "YOU", "THE", "CAT", "COT"])
    unigrams = tmp_path / "unigrams.txt"
    unigrams.write_text("HI\nYOU\nTHE\nCAT\nCOT\n")
    return arpa, lexicon, unigrams


def decoders(lm):
    arpa, lexicon, unigrams = lm
    return {"greedy": None,
            "flashlight": fl.FlashlightOptions(lm=str(arpa), lexicon=str(lexicon), beam=20),
            "lexfree": fl.LexiconFreeOptions(beam=20),
            "pyctcdecode": pcd.PyctcdecodeOptions(lm=str(arpa), unigrams=str(unigrams), beam=20)}


# --------------------------------------------------------------------------- frame arithmetic


def test_frame_times_are_exact_frames():
    assert ctc.frame_start(7, 0.02) == pytest.approx(0.14)
    assert ctc.frame_end(9, 0.02) == pytest.approx(0.20)
    assert ctc.frame_at(0.14, 0.02) == 7 and ctc.frame_at(0.1399, 0.02) == 6
    # 40 minutes in: 120,000 frames of 20 ms
    assert ctc.frame_start(120_000, 0.02) == pytest.approx(2400.0)


def test_samples_per_frame_of_the_model_families():
    from transformers import AutoConfig, SeamlessM4TFeatureExtractor, Wav2Vec2Config

    from asrkit.demo import EMBEDDED_CHECKPOINT as STARTING_CHECKPOINT

    assert ctc.samples_per_frame(Wav2Vec2Config()) == 320  # 5*2*2*2*2*2*2
    adapter = Wav2Vec2Config(add_adapter=True, adapter_stride=2, num_adapter_layers=3)
    assert ctc.samples_per_frame(adapter) == 320 * 8
    # The embedded starting checkpoint is w2v-BERT 2.0: 10 ms filterbank hop x 2 stacked = 20 ms.
    bert = AutoConfig.from_pretrained(str(STARTING_CHECKPOINT))
    assert bert.model_type == "wav2vec2-bert"
    assert ctc.seconds_per_frame(bert, SeamlessM4TFeatureExtractor(stride=2)) == pytest.approx(0.02)
    assert ctc.samples_per_frame(bert, SeamlessM4TFeatureExtractor(stride=3)) == 480


def test_windows_of_a_long_file_keep_every_frame_at_its_true_index():
    """A 45-minute file in 30 s windows (5 s stride): the kept frames, joined in order, put
    frame j of each window at the recording's frame window.start / ratio + j, so the joined
    index times 20 ms is the true time (a word in the 40th minute included)."""
    ratio, rate = 320, 16_000
    n = 45 * 60 * rate + 12_345
    chunk, stride = 30 * rate, 5 * rate
    joined = 0
    for w in windows(n, chunk, stride):
        frames = 1 + (w.end - w.start - 400) // ratio  # wav2vec 2.0's conv framing of the window
        first, last = kept_frames(w, frames, ratio)
        assert w.start % ratio == 0 and w.start // ratio + first == joined
        joined += last - first
    assert joined == 1 + (n - 400) // ratio  # the whole file's frames, none twice, none lost
    t = ctc.frame_start(ctc.frame_at(40 * 60 + 0.5, 0.02), 0.02)
    assert t == pytest.approx(2400.5)


# --------------------------------------------------------------------------- spans, confidence


def test_word_spans_of_a_path():
    path = [BLANK if t == "-" else VOCAB.index(t) for t in "- H H I - | - Y O U - | L - L |".split()]
    spans = ctc.word_spans(path, VOCAB)
    assert [(s.word, s.first, s.last) for s in spans] == [("HI", 1, 3), ("YOU", 7, 9), ("LL", 12, 14)]
    assert spans[2].frames == (12, 14)  # the blank between the Ls is no letter's frame


def test_frame_confidence_bounds():
    one_hot = normalise(np.where(np.eye(V)[:1] > 0, 0.0, -50.0).astype(np.float32))
    uniform = np.full((1, V), -math.log(V), dtype=np.float32)
    half = np.log(np.full((1, V), 1e-9) + np.isin(np.arange(V), [4, 5]) * 0.5)
    c = ctc.frame_confidence(np.concatenate([one_hot, uniform, half]))
    assert c[0] == pytest.approx(1.0, abs=1e-6) and c[1] == pytest.approx(0.0, abs=1e-6)
    assert 0.2 < c[2] < 0.9


def test_a_doubtful_letter_lowers_only_its_word():
    x = ambiguous("THE CAT", 5, {"A": 0.5, "O": 0.5})
    (hyp,) = nbest_with("greedy", [x])[0]
    the, cat = hyp.words
    assert the.confidence > 0.95 and cat.confidence < 0.6
    assert all(0.0 <= w.confidence <= 1.0 for w in hyp.words)


def test_align_spells_the_label_over_the_frames():
    x = matrix("- C C - A T T -")
    label = [VOCAB.index(c) for c in "CAT"]
    path = ctc.align(x, label, BLANK)
    assert ctc.collapse(path, BLANK) == label
    assert list(path) == list(x.argmax(axis=1))
    assert ctc.align(x[:2], label, BLANK) is None  # two frames cannot spell three letters


# --------------------------------------------------------------------------- every decoder


@pytest.mark.parametrize("name", ["greedy", "flashlight", "lexfree", "pyctcdecode"])
def test_word_times_are_the_frames_of_their_letters(name, lm):
    (best, *_), = nbest_with(name, [matrix(HI_YOU)], decoders(lm)[name])
    assert best.text == "HI YOU"
    got = [(w.word, w.start, w.end) for w in best.words]
    # Off by one frame (20 ms) fails: the tolerance is far below a frame.
    assert [g[0] for g in got] == [e[0] for e in HI_YOU_TIMES]
    for (_, s, e), (_, s0, e0) in zip(got, HI_YOU_TIMES):
        assert s == pytest.approx(s0, abs=1e-6) and e == pytest.approx(e0, abs=1e-6)
    assert all(w.confidence > 0.95 for w in best.words)


def test_word_times_scale_with_the_frame_duration(lm):
    (best,), = nbest_with("greedy", [matrix(HI_YOU)], frame_seconds=0.04)
    assert [(w.start, w.end) for w in best.words] == [pytest.approx((0.04, 0.16)), pytest.approx((0.28, 0.40))]


@pytest.mark.parametrize("name", ["flashlight", "pyctcdecode"])
def test_nbest_is_sorted_distinct_and_scored(name, lm):
    x = ambiguous("THE CAT", 5, {"A": 0.5, "O": 0.5})
    (hyps,) = nbest_with(name, [x], decoders(lm)[name], nbest=5)
    texts = [h.text for h in hyps]
    assert len(texts) == len(set(texts)) >= 2 and len(hyps) <= 5
    assert {"THE CAT", "THE COT"} <= set(texts)
    assert texts[0] == "THE CAT"  # the LM prefers CAT
    totals = [h.scores.total for h in hyps]
    assert totals == sorted(totals, reverse=True)
    (one,) = nbest_with(name, [x], decoders(lm)[name], nbest=1)
    assert one == hyps[:1]


@pytest.mark.parametrize("name", ["flashlight", "pyctcdecode"])
def test_lm_score_is_the_lms_natural_log_probability(name, lm):
    """Both decoders report the same `lm` for the same words: KenLM's log10 times ln 10."""
    import kenlm

    arpa = lm[0]
    x = ambiguous("THE CAT", 5, {"A": 0.5, "O": 0.5})
    decoder_options = decoders(lm)[name]
    (hyps,) = nbest_with(name, [x], decoder_options, nbest=3)
    model = kenlm.Model(str(arpa))
    from asrkit.decode import make_decoder

    w = make_decoder(name, decoder_options, VOCAB).lm_weight_ln
    for h in hyps:
        assert h.scores.lm == pytest.approx(model.score(h.text, bos=True, eos=True) * math.log(10), abs=1e-3)
        assert h.scores.total == pytest.approx(h.scores.acoustic + w * h.scores.lm + h.scores.word, abs=1e-3)


def test_greedy_gives_one_hypothesis_whatever_nbest(lm):
    (hyps,) = nbest_with("greedy", [matrix(HI_YOU)], nbest=5)
    assert len(hyps) == 1 and hyps[0].scores.lm == 0.0
    assert hyps[0].scores.acoustic == pytest.approx(float(matrix(HI_YOU).max(axis=1).sum()))


def test_nbest_of_zero_is_a_setting_error(lm):
    from asrkit.decode import check_nbest
    from asrkit.errors import SettingError

    with pytest.raises(SettingError, match="`nbest` is 0"):
        check_nbest(0)
