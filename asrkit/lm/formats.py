"""The files of a KenLM model folder: ARPA and binary n-grams, unigrams.txt, lexicon.txt.

    lexicon.txt     HELLO\tH E L L O |     (word TAB its letters, then the word delimiter)
    unigrams.txt    one word per line
    ARPA            \\data\\, ngram counts, then \\1-grams: lines "logprob<TAB>word[<TAB>backoff]"
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

from asrkit.errors import InputNotFound, LMError
from asrkit.io import atomic_path
from asrkit.text import LETTERS
from asrkit.vocab import spelled

SPECIAL_WORDS = {"<s>", "</s>", "<unk>"}
KENLM_BINARY_MAGIC = b"mmap lm "  # first bytes of every KenLM binary file


def open_text(path: str | os.PathLike):
    """Open a text corpus for reading; .gz files are decompressed on the fly."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFound(f"no text corpus at {path}")
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def arpa_words(arpa: str | os.PathLike) -> list[str]:
    """The vocabulary of an ARPA file (its 1-grams, less <s>, </s>, <unk>), in file order.

    ARPA layout (the part we read):
        \\data\\
        ngram 1=3
        \\1-grams:
        -1.2  HELLO  -0.3
    """
    words: list[str] = []
    in_unigrams = False
    with open_text(arpa) as f:
        for line in f:
            line = line.strip()
            if line.startswith("\\"):
                if in_unigrams:
                    break
                in_unigrams = line == "\\1-grams:"
                continue
            if in_unigrams and line:
                parts = line.split("\t") if "\t" in line else line.split()
                if len(parts) < 2:
                    raise LMError(f"{arpa}: malformed 1-gram line {line[:60]!r}")
                word = parts[1].strip()
                if word not in SPECIAL_WORDS:
                    words.append(word)
    if not words:
        raise LMError(f"{arpa}: no 1-grams found: not an ARPA language model")
    return words


def arpa_order(arpa: str | os.PathLike) -> int:
    """The highest n of an ARPA file, from its \\data\\ header."""
    order = 0
    with open_text(arpa) as f:
        for line in f:
            line = line.strip()
            if line.startswith("ngram "):
                order = max(order, int(line.split()[1].split("=")[0]))
            elif line.startswith("\\") and line != "\\data\\":
                break
    return order


def check_lm_file(path: str | os.PathLike) -> str:
    """Say what kind of LM file `path` is ("arpa" or "binary"); LMError if it is neither."""
    path = Path(path)
    if not path.is_file():
        raise LMError(f"no language model file at {path}")
    with open(path, "rb") as f:
        head = f.read(4096)
    if head.startswith(KENLM_BINARY_MAGIC):
        return "binary"
    if head.startswith(b"\x1f\x8b"):
        with gzip.open(path, "rb") as g:
            head = g.read(4096)
    if head.lstrip().startswith(b"\\data\\"):
        return "arpa"
    raise LMError(f"{path}: not a KenLM language model (neither ARPA text nor a KenLM binary)")


def write_unigrams(words: list[str], path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text("".join(w + "\n" for w in words), encoding="utf-8")


def write_lexicon(words: list[str], path: Path) -> int:
    """Write "WORD\\tW O R D |" for each word a letter vocabulary can spell; returns the count.

    Words with other characters (digits, lower case, <unk>) are left out: the lexicon
    decoder could never emit them.
    """
    allowed = set(LETTERS)
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for w in words:
            if w and set(w) <= allowed:
                f.write(f"{w}\t{spelled(w)}\n")
                n += 1
    return n


def read_lexicon(path: str | os.PathLike) -> dict[str, list[list[str]]]:
    """word -> spellings (lists of tokens) from a lexicon file; LMError on a malformed line."""
    lexicon: dict[str, list[list[str]]] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\n").split("\t") if "\t" in line else line.split(None, 1)
            if len(parts) != 2 or not parts[1].strip():
                raise LMError(f"{path}:{n}: expected 'WORD<TAB>L E T T E R S |', got {line.strip()[:60]!r}")
            lexicon.setdefault(parts[0].strip(), []).append(parts[1].split())
    if not lexicon:
        raise LMError(f"{path}: empty lexicon")
    return lexicon


def read_words(path: str | os.PathLike) -> list[str]:
    """A word list: unigrams.txt (one word per line), or the 1-grams of an ARPA file."""
    with open(path, "rb") as f:
        head = f.read(64)
    if head.lstrip().startswith(b"\\data\\") or head.startswith(b"\x1f\x8b"):
        return arpa_words(path)
    return [w for w in Path(path).read_text(encoding="utf-8").split("\n") if w.strip()]
