"""The one text normaliser, shared by vocabulary building, LM corpus preparation and scoring.

LibriSpeech transcripts are upper case letters, apostrophes and single spaces:

    1089-134686-0000 HE HOPED THERE WOULD BE STEW FOR DINNER TURNIPS AND CARROTS

`normalize` maps any English text to that form, so that a model's output, a reference
transcript and an LM corpus line compare equal when they say the same words.
"""

from __future__ import annotations

import re
import unicodedata

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ'"
"""Characters a normalised transcript may hold, besides the space between words."""

# Typographic apostrophes and quotes that stand for "'" inside words (don't, o'er).
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"})
# Letters that NFKD does not decompose into a base letter plus accents: spell them out
# rather than drop them (CÆSAR -> CAESAR, not CSAR).
_UNDECOMPOSABLE = str.maketrans({"Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "Ø": "O", "ø": "o",
                                 "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ð": "D", "ð": "d",
                                 "Þ": "TH", "þ": "th", "ı": "i"})
# Joiners inside a word become a space: "WELL-KNOWN" -> "WELL KNOWN", as LibriSpeech does.
_SPLITTERS = re.compile(r"[-\u2010-\u2015_/]")
_OUTSIDE = re.compile(r"[^A-Z' ]+")
# An apostrophe that is not inside a word is a quotation mark: drop it.
_LONE_APOSTROPHE = re.compile(r"(?<![A-Z])'|'(?![A-Z])")
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Upper-case `text`, keep letters and word-internal apostrophes, collapse spaces.

    Accents are folded to their base letter (CAFÉ -> CAFE); digits and other symbols are
    removed, since LibriSpeech spells numbers out and an ASR letter vocabulary has none.
    """
    text = text.translate(_APOSTROPHES)
    if not text.isascii():  # ASCII has no accents to fold; skipping this is 2x faster
        text = unicodedata.normalize("NFKD", text.translate(_UNDECOMPOSABLE))
        text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.upper()
    text = _SPLITTERS.sub(" ", text)
    text = _OUTSIDE.sub(" ", _SPACES.sub(" ", text))
    text = _LONE_APOSTROPHE.sub("", text)
    return _SPACES.sub(" ", text).strip()


def out_of_vocabulary(text: str) -> set[str]:
    """Characters of `text` that a letter vocabulary cannot spell (the space is allowed)."""
    return {c for c in text if c != " " and c not in LETTERS}
