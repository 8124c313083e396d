"""asrkit.rescore: re-ranking hand-made N-best lists with a known second-LM score, the
weight search over cached lists, and the bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from asrkit.errors import LMError, SettingError
from asrkit.hypotheses import Hypothesis, Scores
from asrkit.rescore import (RescoreOptions, Search, best_indices, check_spelling, chosen_wer, features,
                            hypothesis_errors, oracle_wer, rerank, tune_weights)


class KnownLM:
    """A second LM whose sentence scores are given by hand."""

    def __init__(self, scores: dict[str, float]):
        self.scores, self.source, self.calls = scores, "known", []

    def score(self, texts):
        self.calls.append(list(texts))
        return [self.scores[t] for t in texts]

    def unspellable(self, words):
        return [w for w in words if w.islower()]


def hyp(text: str, acoustic: float, lm: float = 0.0) -> Hypothesis:
    return Hypothesis(text, scores=Scores(acoustic=acoustic, lm=lm, total=acoustic + lm))


# The first pass prefers "THE CAT SAD" (acoustic -4.5 vs -5.0); the second LM knows better.
NBEST = (hyp("THE CAT SAD", -4.5, -9.0), hyp("THE CAT SAT", -5.0, -9.5))
KNOWN = KnownLM({"THE CAT SAD": -12.0, "THE CAT SAT": -3.0, "A DOG": -2.0, "A DOG RAN": -2.5})


def test_the_second_lm_flips_the_order():
    f = features([NBEST], KNOWN)[0]
    flipped = rerank(NBEST, f, RescoreOptions(lm_weight=1.0))
    assert [h.text for h in flipped] == ["THE CAT SAT", "THE CAT SAD"]
    # the new scores: lm is the second LM's, total = acoustic + w * lm + word_score * words
    assert flipped[0].scores.lm == -3.0 and flipped[0].scores.total == pytest.approx(-5.0 - 3.0)
    assert flipped[0].scores.acoustic == -5.0
    # without the LM the acoustic order stands; a word score alone cannot flip equal lengths
    assert [h.text for h in rerank(NBEST, f, RescoreOptions(lm_weight=0.0, word_score=3.0))][0] == "THE CAT SAD"
    # the threshold is exact: 0.5 acoustic against 9 of LM -> flips above w = 0.5/9
    assert best_indices([f], RescoreOptions(lm_weight=0.05)) == [0]
    assert best_indices([f], RescoreOptions(lm_weight=0.06)) == [1]


def test_word_score_and_ngram_weight_enter_the_total():
    nb = (hyp("A DOG", -1.0, -1.0), hyp("A DOG RAN", -1.4, -9.0))
    f = features([nb], KNOWN)[0]
    assert rerank(nb, f, RescoreOptions(lm_weight=1.0))[0].text == "A DOG"  # -3.0 vs -3.9
    assert rerank(nb, f, RescoreOptions(lm_weight=1.0, word_score=1.0))[0].text == "A DOG RAN"  # -1 vs -0.9
    # keeping the first pass's n-gram score (-1 vs -9) pulls back to the short one
    assert rerank(nb, f, RescoreOptions(lm_weight=1.0, word_score=1.0, ngram_weight=0.1))[0].text == "A DOG"


def test_each_distinct_text_is_scored_once():
    lm = KnownLM(KNOWN.scores)
    features([NBEST, NBEST[::-1]], lm)
    assert len(lm.calls) == 1 and sorted(lm.calls[0]) == ["THE CAT SAD", "THE CAT SAT"]


def test_tuning_finds_the_flip_from_cached_lists():
    refs = ["THE CAT SAT"]
    f = features([NBEST], KNOWN)
    errors = hypothesis_errors(refs, [NBEST])
    assert [list(e) for e in errors] == [[1, 0]]
    assert oracle_wer(errors, 3) == 0.0 and chosen_wer(errors, [0], 3) == pytest.approx(1 / 3)
    default = RescoreOptions(lm_weight=0.0)
    best, trials = tune_weights(f, errors, 3, default, Search(method="grid", trials=9))
    assert trials[0]["lm_weight"] == 0.0 and trials[0]["wer"] == pytest.approx(1 / 3)  # trial 0: the default
    assert best.lm_weight > 0.5 / 9 and min(t["wer"] for t in trials) == 0.0
    best_tpe, trials_tpe = tune_weights(f, errors, 3, default, Search(trials=12, seed=1))
    assert len(trials_tpe) == 13 and chosen_wer(errors, best_indices(f, best_tpe), 3) == 0.0


def test_non_finite_weights_are_refused():
    for bad in (float("nan"), float("inf")):
        with pytest.raises(SettingError, match="finite"):
            RescoreOptions(lm_weight=bad).check()
        with pytest.raises(SettingError, match="word_score"):
            RescoreOptions(word_score=bad).check()


def test_a_vocabulary_that_cannot_spell_the_lexicon_is_refused():
    with pytest.raises(LMError, match="cannot spell 2 of the 3 words") as e:
        check_spelling(KNOWN, ["cat", "dog", "THE"], "the 4gram lexicon")
    assert "\n" not in str(e.value)
    check_spelling(KNOWN, ["CAT", "DOG", "the"], "the 4gram lexicon")  # one of three: a warning only


def test_totals_are_a_plain_linear_mix():
    f = features([NBEST], KNOWN)[0]
    o = RescoreOptions(lm_weight=0.7, word_score=-0.3, ngram_weight=0.2)
    expected = np.array([-4.5 + 0.7 * -12 + 0.2 * -9.0 - 0.9, -5.0 + 0.7 * -3 + 0.2 * -9.5 - 0.9])
    assert np.allclose(f.totals(o), expected)


def test_the_ngram_feature_can_be_searched_too():
    """Two utterances of equal-length hypotheses: one needs the second LM (it alone prefers SAT),
    the other the first pass's n-gram (it alone prefers CAT); only a mix gets both right, and
    the 3-D search finds one."""
    lm = KnownLM({**KNOWN.scores, "A DOG RAN": -2.0, "A CAT RAN": -6.0})
    nb2 = (hyp("A DOG RAN", -1.0, -9.0), hyp("A CAT RAN", -1.2, -1.0))
    f = features([NBEST, nb2], lm)
    errors = hypothesis_errors(["THE CAT SAT", "A CAT RAN"], [NBEST, nb2])
    best2, _ = tune_weights(f, errors, 6, RescoreOptions(), Search(trials=30))
    best3, trials = tune_weights(f, errors, 6, RescoreOptions(), Search(trials=80, ngram_range=(0.0, 5.0)))
    assert chosen_wer(errors, best_indices(f, best2), 6) > 0
    assert chosen_wer(errors, best_indices(f, best3), 6) == 0 and best3.ngram_weight > 0
    assert {"lm_weight", "word_score", "ngram_weight", "wer"} <= set(trials[-1])
    with pytest.raises(SettingError, match="tpe"):
        tune_weights(f, errors, 6, RescoreOptions(), Search(method="grid", ngram_range=(0.0, 1.0)))
