"""Decoding never writes a result from poisoned settings or from an LM spelt with other
letters than the model's: both are refused before anything is written."""

from __future__ import annotations

import math

import pytest

from asrkit.decode import Vocabulary, make_decoder
from asrkit.decode.flashlight import FlashlightOptions, LexiconFreeOptions
from asrkit.decode.pyctcdecode import PyctcdecodeOptions, arpa_unigrams, check_spelling
from asrkit.errors import LMError, SettingError
from ctc_fixtures import peaky, write_cache


@pytest.mark.parametrize("decoder, options", [
    ("flashlight", FlashlightOptions(lexicon="x", lm_weight=math.nan)),
    ("flashlight", FlashlightOptions(lexicon="x", word_score=math.inf)),
    ("flashlight", FlashlightOptions(lexicon="x", beam_threshold=math.nan)),
    ("lexfree", LexiconFreeOptions(lm_weight=-math.inf)),
    ("pyctcdecode", PyctcdecodeOptions(alpha=math.nan)),
    ("pyctcdecode", PyctcdecodeOptions(beta=math.inf)),
], ids=["lm_weight nan", "word_score inf", "beam_threshold nan", "lexfree lm_weight -inf", "alpha nan", "beta inf"])
def test_nan_or_infinite_weights_are_refused_by_name(decoder, options):
    with pytest.raises(SettingError, match=r"`(lm_weight|word_score|beam_threshold|alpha|beta)` is -?(nan|inf)"):
        make_decoder(decoder, options, Vocabulary.letters())


def test_infinities_that_mean_something_are_kept():
    """unk_score -inf is "never emit an unknown word", flashlight's own default."""
    from asrkit.decode import check_numbers

    check_numbers(FlashlightOptions(lexicon="x", unk_score=-math.inf, beam_threshold=math.inf))


def test_a_nan_weight_leaves_the_earlier_result_as_it_was(tmp_path):
    from asrkit.decode.run import decode_splits
    from asrkit.decode.setup import DecoderSetup
    from asrkit.decode.greedy import GreedyOptions
    from asrkit.results import result_dir

    write_cache(tmp_path / "m", "dev", ["HI THERE"], [peaky("HI THERE")])
    decode_splits(tmp_path / "m", ["dev"], tmp_path, DecoderSetup("greedy", None, GreedyOptions(), "defaults"),
                  setting="mine", progress=False)
    summary = result_dir(tmp_path / "m", "dev", "mine") / "wer-summary.json"
    before = summary.read_bytes()
    poisoned = DecoderSetup("pyctcdecode", None, PyctcdecodeOptions(alpha=math.nan), "command line")
    with pytest.raises(SettingError, match="`alpha` is nan"):
        decode_splits(tmp_path / "m", ["dev"], tmp_path, poisoned, setting="mine", progress=False)
    assert summary.read_bytes() == before


ARPA = """\\data\\
ngram 1=5

\\1-grams:
-1.0\t<unk>\t0
-1.0\t<s>\t0
-1.0\t</s>\t0
-0.5\t{a}\t0
-0.5\t{b}\t0

\\end\\
"""


def test_arpa_unigrams_reads_the_1_gram_section(tmp_path):
    (tmp_path / "lm.arpa").write_text(ARPA.format(a="HELLO", b="WORLD"))
    assert arpa_unigrams(tmp_path / "lm.arpa") == ["<unk>", "<s>", "</s>", "HELLO", "WORLD"]


def test_an_lm_in_the_other_case_is_refused_before_decoding(tmp_path):
    """pyctcdecode with a lower-case LM under upper-case letters decodes at WER ~98% and only
    logs it; asrkit refuses, naming the LM file and the two cases."""
    (tmp_path / "lm.arpa").write_text(ARPA.format(a="hello", b="world"))
    with pytest.raises(LMError, match=r"lm.arpa: only 0 of 2 words are spelt with the model's letters.*"
                                      r"the LM is in lower case, the model's letters in upper"):
        make_decoder("pyctcdecode", PyctcdecodeOptions(lm=str(tmp_path / "lm.arpa")), Vocabulary.letters())
    (tmp_path / "unigrams.txt").write_text("hello\nworld\n")
    with pytest.raises(LMError, match="unigrams.txt: only 0 of 2 words"):
        check_spelling(["hello", "world"], Vocabulary.letters(), tmp_path / "unigrams.txt")
    check_spelling(["HELLO", "IT'S", "<unk>"], Vocabulary.letters(), "ok")  # the model's own letters
