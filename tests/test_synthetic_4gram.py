"""benchmarks/synthetic_4gram.py: an ARPA of a given shape whose back-off weights are
consistent (every context's distribution sums to one), with a lexicon over its words."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from asrkit import lm

pytestmark = pytest.mark.slow  # reads the KJV text for the real words: several seconds on a loaded machine

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "synthetic_4gram.py"


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("synthetic_4gram", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["synthetic_4gram"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    out = tmp_path_factory.mktemp("synthetic")
    shape = module.Shape(words=300, counts=(6000, 15000, 25000))
    return module.make(out, shape, log=lambda s: None), shape


def test_counts_are_exact_and_every_prefix_and_suffix_is_an_ngram(synthetic):
    arpa, shape = synthetic
    assert lm.arpa_counts(arpa) == (303, *shape.counts)
    sections = arpa.read_text().split("-grams:\n")[1:]
    grams = [{" ".join(line.split("\t")[1].split()) for line in s.strip().split("\n\n")[0].splitlines()}
             for s in sections]
    assert [len(g) for g in grams] == [303, *shape.counts]  # no n-gram twice
    for n in range(1, 4):
        for g in grams[n]:
            words = g.split()
            assert " ".join(words[:-1]) in grams[n - 1] and " ".join(words[1:]) in grams[n - 1]


def test_every_context_sums_to_one_under_kenlm(synthetic):
    kenlm = pytest.importorskip("kenlm")
    arpa, _ = synthetic
    model = kenlm.Model(str(arpa))
    words = (arpa.parent / "unigrams.txt").read_text().split()
    rng = np.random.default_rng(0)
    contexts = [[], ["THE"], ["THE", "LORD"], ["<s>"], ["<s>", "AND"]] + [list(rng.choice(words, n)) for n in (1, 2, 3)]
    for context in contexts:
        state = kenlm.State()
        if context[:1] == ["<s>"]:
            model.BeginSentenceWrite(state)
            context = context[1:]
        else:
            model.NullContextWrite(state)
        for w in context:
            nxt = kenlm.State()
            model.BaseScore(state, str(w), nxt)
            state = nxt
        total = sum(10 ** model.BaseScore(state, w, kenlm.State()) for w in words + ["</s>"])
        assert total == pytest.approx(1.0, abs=2e-3), context  # 4-decimal log10 values


def test_vocabulary_holds_the_real_words_first_and_a_lexicon_spells_it_all(synthetic):
    arpa, _ = synthetic
    words = (arpa.parent / "unigrams.txt").read_text().split()
    assert {"THE", "AND", "OF"} <= set(words[:5])  # the KJV's most frequent words, first
    assert len(set(words)) == 300
    lexicon = lm.read_lexicon(arpa.parent / "lexicon.txt")
    assert set(lexicon) == set(words)
