"""Sentence text for synthesised corpora: the King James Bible, public domain.

Source: Debian's `bible-kjv` package (the `bible` command and /usr/lib/bible.data),
the Authorized (King James) Version of 1611 as distributed by Project Gutenberg.
Licence: public domain (the text; the Crown's letters patent apply in the UK only).
No network is needed: scripts/setup.sh installs the package.

The `bible` command prints a chapter heading, then one verse per line when the line
width is large enough:

    Genesis 1

      1 In the beginning God created the heaven and the earth.
      2 And the earth was without form, and void; and darkness was upon the face of ...

Verses are split into sentences at . ? ! (and long ones further at : ;), and each
sentence keeps its book, so that held-out books give dev and test text that the
training side, the LM text included, never sees:

    dev:  Joshua, Acts, Ezekiel              (about 3,700 sentences)
    test: Judges, John, Job, Daniel          (about 3,800 sentences)
    pretrain: Samuel, Kings, Chronicles, Ezra, Nehemiah, Esther, Psalms,
          Proverbs, Isaiah, Jeremiah, Lamentations, Obadiah
                                             (about 15,100 sentences, 48% of the rest)
    train: the other 44 books                (about 16,600 sentences)

These dev and test books have no long parallel passages in other books (as Kings and
Chronicles, or the first three gospels, have), so held-out text is not near-copied on
the train side; a training sentence that is identical to a dev or test one after
normalisation is dropped as well.

The pretrain books are spoken only in the corpus for the starting checkpoint
(`asrkit synth --purpose pretrain`), so that its sentences are disjoint from the
fine-tuning, dev and test sentences. They are the histories and prophets that copy
each other (Kings ~ Chronicles ~ Ezra-Nehemiah, 2 Samuel 22 ~ Psalm 18, 1 Chronicles 16
~ Psalms 96/105/106, 2 Kings 18-20 ~ Isaiah 36-39, 2 Kings 24-25 ~ Jeremiah 52,
Obadiah ~ Jeremiah 49), so near-copies stay on one side. Both training sides feed the
LM text.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from dataclasses import dataclass

from asrkit.errors import DataError, InputNotFound
from asrkit.text import normalize

SOURCE = "King James Version (1611), Debian package bible-kjv"
LICENCE = "public domain"

DEV_BOOKS = ("Joshua", "Acts", "Ezekiel")
TEST_BOOKS = ("Judges", "John", "Job", "Daniel")
PRETRAIN_BOOKS = ("1 Samuel", "2 Samuel", "1 Kings", "2 Kings", "1 Chronicles", "2 Chronicles",
                  "Ezra", "Nehemiah", "Esther", "Psalms", "Proverbs", "Isaiah", "Jeremiah",
                  "Lamentations", "Obadiah")
SIDES = ("train", "pretrain", "dev", "test")
# Every verse of the Bible, first to last.
_ALL_VERSES = "gen1:1-rev22:21"

_VERSE_LINE = re.compile(r"^\s+(\d+) (.*\S)\s*$")
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")
_CLAUSE_END = re.compile(r"(?<=[:;])\s+")
# Characters the TTS engines get besides letters: they shape prosody and say no word.
_KEEP = re.compile(r"[^A-Za-z' ,.;:?!-]+")
_SPACE_BEFORE_MARK = re.compile(r"\s+([,.;:?!])")


@dataclass(frozen=True)
class Sentence:
    book: str  # the book it comes from, e.g. "Genesis"
    ref: str  # chapter:verse, e.g. "1:3"
    spoken: str  # what the TTS engine reads: lower case, with punctuation
    text: str  # the transcript, asrkit.text.normalize(spoken)

    @property
    def words(self) -> int:
        return self.text.count(" ") + 1


@functools.lru_cache(maxsize=1)
def kjv_verses() -> tuple[tuple[str, str, str], ...]:
    """(book, "chapter:verse", text) for the 31,102 verses of the KJV, in order.

    Raises FileNotFoundError when the `bible` command (Debian bible-kjv) is missing.
    """
    exe = shutil.which("bible")
    if exe is None:
        raise InputNotFound(
            "the `bible` command is missing: install Debian's bible-kjv package "
            "(scripts/setup.sh does)")
    out = subprocess.run([exe, "-l100000", _ALL_VERSES], capture_output=True, text=True,
                         check=True).stdout
    return tuple(parse_bible_output(out))


def parse_bible_output(out: str) -> list[tuple[str, str, str]]:
    """Parse `bible -l100000 ...` output (format in the module docstring)."""
    verses, book, chapter = [], None, None
    for line in out.splitlines():
        if not line.strip():
            continue
        m = _VERSE_LINE.match(line)
        if m and book is not None:
            verses.append((book, f"{chapter}:{m.group(1)}", m.group(2)))
        elif not line[0].isspace():  # a heading: "1 Samuel 3", "Song of Solomon 2"
            book, _, chapter = line.strip().rpartition(" ")
    if not verses:
        raise DataError("the `bible` command printed no verses (is bible-kjv's data intact?)")
    return verses


def split_sentences(text: str, max_words: int) -> list[str]:
    """Split a verse into sentences; one longer than max_words is split at : and ;."""
    out = []
    for sentence in _SENTENCE_END.split(text.strip()):
        if len(sentence.split()) > max_words:
            out.extend(_CLAUSE_END.split(sentence))
        else:
            out.append(sentence)
    return [s for s in out if s]


def make_sentence(book: str, ref: str, raw: str) -> Sentence | None:
    """A Sentence from raw verse text, or None when nothing speakable is left.

    The spoken form is lower case (engines spell out all-capital words such as LORD
    letter by letter) and keeps only punctuation that says no word, so that the
    engine speaks exactly the transcript's words.
    """
    spoken = re.sub(r"\s+", " ", _KEEP.sub(" ", raw)).strip().lower()
    spoken = _SPACE_BEFORE_MARK.sub(r"\1", spoken)  # "light ) :" -> "light:"
    text = normalize(spoken)
    return Sentence(book, ref, spoken, text) if text else None


@functools.lru_cache(maxsize=4)
def kjv_sentences(max_words: int = 25) -> tuple[Sentence, ...]:
    """Every sentence of the KJV (split as split_sentences does), first occurrence only.

    Deduplication is by transcript across the whole Bible, so a transcript belongs to
    exactly one book: the one where it first occurs.
    """
    seen, out = set(), []
    for book, ref, verse in kjv_verses():
        for raw in split_sentences(verse, max_words):
            s = make_sentence(book, ref, raw)
            if s is not None and s.text not in seen:
                seen.add(s.text)
                out.append(s)
    return tuple(out)


@dataclass(frozen=True)
class SentencePools:
    train: tuple[Sentence, ...]  # fine-tuning training sentences
    pretrain: tuple[Sentence, ...]  # the starting checkpoint's sentences (PRETRAIN_BOOKS)
    dev: tuple[Sentence, ...]
    test: tuple[Sentence, ...]


def sentence_pools(min_words: int = 4, max_words: int = 25) -> SentencePools:
    """Speakable sentences (min_words..max_words), partitioned by book, in Bible order."""
    pools: dict[str, list[Sentence]] = {side: [] for side in SIDES}
    for s in kjv_sentences(max_words):
        if min_words <= s.words <= max_words:
            pools[book_side(s.book)].append(s)
    return SentencePools(**{k: tuple(v) for k, v in pools.items()})


def lm_sentences(max_words: int = 25) -> list[str]:
    """Normalised training-side sentences of every length, for an LM blind to dev/test.

    The dev and test books are left out; since kjv_sentences keeps each transcript once,
    no line equals a dev or test sentence. The spoken training sentences (of both the
    fine-tuning and the pretraining books) are included, as LibriSpeech's LM text holds
    its training books. Pass the max_words used for the corpus so that sentences are
    split the same way.
    """
    return [s.text for s in kjv_sentences(max_words)
            if book_side(s.book) in ("train", "pretrain")]


def book_side(book: str) -> str:
    """"train", "pretrain", "dev" or "test": which side a book's sentences go to."""
    if book in DEV_BOOKS:
        return "dev"
    if book in TEST_BOOKS:
        return "test"
    if book in PRETRAIN_BOOKS:
        return "pretrain"
    return "train"
