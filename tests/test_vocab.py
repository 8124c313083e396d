"""The letter vocabulary, the CTC tokenizer and the processor saved with save_pretrained."""

from __future__ import annotations

import numpy as np
import pytest

from asrkit.ctc import ctc_min_frames
from asrkit.text import normalize
from asrkit.vocab import (BLANK, UNK, WORD_DELIMITER, build_feature_extractor, build_processor,
                          build_tokenizer, letter_vocab, letters, save_processor, spelled)

HELLO_WORLD = [11, 8, 15, 15, 18, 2, 26, 18, 21, 15, 7]  # H E L L O | W O R L D


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


def test_letter_vocab_layout():
    vocab = letter_vocab()
    assert sorted(vocab.values()) == list(range(30))
    assert (vocab[BLANK], vocab[UNK], vocab[WORD_DELIMITER], vocab["'"]) == (0, 1, 2, 3)
    assert (vocab["A"], vocab["Z"]) == (4, 29)


def test_tokenizer_size_and_special_ids(tok):
    assert len(tok) == 30 and tok.vocab_size == 30  # the CTC head is sized with len(tok)
    assert tok.pad_token_id == 0 == letter_vocab()[BLANK]  # pad is the CTC blank
    assert tok.unk_token_id == 1 and tok.word_delimiter_token_id == 2
    assert tok.bos_token is None and tok.eos_token is None


def test_encode_uses_bar_between_words_and_round_trips(tok):
    ids = tok("HELLO WORLD").input_ids
    assert ids == HELLO_WORLD
    assert tok.convert_ids_to_tokens(ids)[5] == "|"
    # labels decode without CTC grouping; the default decode merges repeats like CTC does
    assert tok.decode(ids, group_tokens=False) == "HELLO WORLD"
    assert tok.decode(ids) == "HELO WORLD"


@pytest.mark.parametrize("text", ["IT'S A TEST", "O'ER THE HILLS", "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
                                  "Caf\u00e9 na\u00efve, don\u2019t!"])
def test_normalised_text_round_trips_without_unknowns(tok, text):
    text = normalize(text)
    ids = tok(text).input_ids
    assert tok.unk_token_id not in ids and 0 not in ids
    assert len(ids) == len(text)  # one token per character, "|" for each space
    assert tok.decode(ids, group_tokens=False) == text


def test_unnormalised_text_gives_unknowns(tok):
    # why every stage normalises first: lower case is not in the vocabulary
    assert tok("hi").input_ids == [1, 1]


def test_ctc_decoding_of_frame_ids(tok):
    # frames: blank H H blank H E | | W  ->  H, H (a blank separates the repeat), E, space, W
    assert tok.batch_decode([[0, 11, 11, 0, 11, 8, 2, 2, 26]]) == ["HHE W"]


def test_padding_uses_the_blank(tok):
    batch = tok(["AB", "ABCD"], padding=True, return_tensors="np")
    np.testing.assert_array_equal(batch["input_ids"], [[4, 5, 0, 0], [4, 5, 6, 7]])
    np.testing.assert_array_equal(batch["attention_mask"], [[1, 1, 0, 0], [1, 1, 1, 1]])


def test_feature_extractor_normalises_and_masks():
    fe = build_feature_extractor()
    out = fe([np.array([1.0, 2.0, 3.0], np.float32), np.array([5.0] * 5, np.float32)],
             sampling_rate=16000, padding=True, return_tensors="np")
    x = out["input_values"]
    assert x.shape == (2, 5)
    np.testing.assert_allclose(x[0, :3], [-1.2247, 0.0, 1.2247], atol=1e-3)  # zero mean, unit variance
    np.testing.assert_array_equal(out["attention_mask"], [[1, 1, 1, 0, 0], [1] * 5])
    assert build_feature_extractor(return_attention_mask=False).return_attention_mask is False


@pytest.mark.parametrize("mask", [True, False])
def test_save_pretrained_and_from_pretrained(tmp_path, tok, mask):
    from transformers import AutoProcessor, Wav2Vec2Processor

    save_processor(tmp_path, return_attention_mask=mask)
    assert (tmp_path / "vocab.json").is_file()
    loaded = Wav2Vec2Processor.from_pretrained(str(tmp_path))
    assert loaded.tokenizer.get_vocab() == letter_vocab()
    assert len(loaded.tokenizer) == 30 and loaded.tokenizer.pad_token_id == 0
    assert loaded.tokenizer("HELLO WORLD").input_ids == HELLO_WORLD
    assert loaded.feature_extractor.sampling_rate == 16000
    assert loaded.feature_extractor.return_attention_mask is mask
    assert type(AutoProcessor.from_pretrained(str(tmp_path))).__name__ == "Wav2Vec2Processor"


def test_build_processor_passes_do_normalize():
    assert build_processor(do_normalize=False).feature_extractor.do_normalize is False


@pytest.mark.parametrize("text, label, spelling, frames", [
    ("HI YOU", "HI|YOU", "H I | Y O U |", 6),
    ("HELLO WORLD", "HELLO|WORLD", "H E L L O | W O R L D |", 12),  # the LL needs a blank between
    ("A", "A", "A |", 1),
    ("", "", "", 0),
])
def test_one_spelling_of_words_into_letters(text, label, spelling, frames):
    # The CTC label, fairseq's .ltr / KenLM lexicon spelling and the frames CTC needs,
    # each defined once in asrkit.vocab and used by prepare, collate, lm and train.
    assert "".join(letters(text)) == label
    assert spelled(text) == spelling
    assert ctc_min_frames(letters(text)) == frames
