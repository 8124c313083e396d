"""The one text normaliser: a table of cases (as whisper's tests/test_normalizer.py)."""

from __future__ import annotations

import pytest

from asrkit.text import LETTERS, normalize, out_of_vocabulary

CASES = [
    # already LibriSpeech style: unchanged
    ("HE HOPED THERE WOULD BE STEW FOR DINNER", "HE HOPED THERE WOULD BE STEW FOR DINNER"),
    ("O'ER THE HILLS", "O'ER THE HILLS"),
    # case and punctuation
    ("Hello, world!", "HELLO WORLD"),
    ('"He said," she said.', "HE SAID SHE SAID"),
    ("Mr. Smith; Mrs. Jones?", "MR SMITH MRS JONES"),
    # apostrophes: kept inside words, typographic ones mapped to ', quotation marks dropped
    ("don't", "DON'T"),
    ("Don\u2019t stop", "DON'T STOP"),
    ("it`s", "IT'S"),
    ("'quoted'", "QUOTED"),
    ("\u2018single quotes\u2019", "SINGLE QUOTES"),
    ("x ' y", "X Y"),
    ("'''", ""),
    # joiners become spaces, as in LibriSpeech
    ("well-known", "WELL KNOWN"),
    ("em\u2014dash", "EM DASH"),
    ("and/or snake_case", "AND OR SNAKE CASE"),
    # accents folded, letters without a decomposition spelled out
    ("caf\u00e9 na\u00efve Zo\u00eb", "CAFE NAIVE ZOE"),
    ("l'\u00e9t\u00e9", "L'ETE"),
    ("\u00c6sop and C\u00e6sar", "AESOP AND CAESAR"),
    ("man\u0153uvre", "MANOEUVRE"),
    ("\u0141\u00f3d\u017a", "LODZ"),
    ("stra\u00dfe", "STRASSE"),
    ("\ufb01ne", "FINE"),  # the fi ligature
    # digits and symbols removed (LibriSpeech spells numbers out)
    ("It costs $5.00", "IT COSTS"),
    ("100%", ""),
    # whitespace
    ("  many   spaces\there\n", "MANY SPACES HERE"),
    ("", ""),
]


@pytest.mark.parametrize("text, expected", CASES)
def test_normalize(text, expected):
    assert normalize(text) == expected


@pytest.mark.parametrize("text, expected", CASES)
def test_normalize_is_idempotent_and_in_vocabulary(text, expected):
    assert normalize(expected) == expected
    assert out_of_vocabulary(normalize(text)) == set()


def test_out_of_vocabulary():
    assert out_of_vocabulary("HELLO WORLD") == set()
    assert out_of_vocabulary("IT'S") == set()
    assert out_of_vocabulary("Hello, W0RLD") == {"e", "l", "o", ",", "0"}
    assert out_of_vocabulary("A\tB") == {"\t"}


def test_letters():
    assert LETTERS == "ABCDEFGHIJKLMNOPQRSTUVWXYZ'"
