"""Hotwords: words the beam decoders are pushed towards, for names the LM has never seen.

    --hotword ANTHROPIC            the default boost (DEFAULT_WEIGHT)
    --hotword ANTHROPIC:4.5        a boost of 4.5
    --hotwords names.txt           one WORD or WORD:WEIGHT per line; # starts a comment

A hotword's weight is added to a hypothesis' total score (natural log, the scale of
asrkit.hypotheses.Scores) each time it holds the word, so it is worth the same in every
decoder: pyctcdecode adds it itself (hotwords / hotword_weight, one weight for all); the
flashlight lexicon decoder spells a word missing from its lexicon into its trie and adds the
weight through its LM (weight / lm_weight, since flashlight multiplies the LM's log10 score
by lm_weight). The lexicon-free decoder and greedy take none.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from asrkit.ctc import Vocabulary
from asrkit.errors import InputNotFound, SettingError

DEFAULT_WEIGHT = 10.0  # pyctcdecode's own default hotword_weight

Hotwords = tuple[tuple[str, float], ...]
"""((word, weight), ...) in the order given; a word given twice keeps its last weight."""


def parse_hotword(spec: str, where: str = "--hotword") -> tuple[str, float]:
    """"WORD" or "WORD:WEIGHT" -> (word, weight); SettingError naming `where` when malformed."""
    word, sep, weight = spec.strip().rpartition(":") if ":" in spec else (spec.strip(), "", "")
    word = word.strip()
    if not word or any(c.isspace() for c in word):
        raise SettingError(f"{where} {spec!r}: expected one word, optionally with :WEIGHT (e.g. ANTHROPIC:5)")
    if not sep:
        return word, DEFAULT_WEIGHT
    try:
        value = float(weight)
    except ValueError:
        raise SettingError(f"{where} {spec!r}: the weight {weight!r} is not a number") from None
    if not math.isfinite(value):
        raise SettingError(f"{where} {spec!r}: the weight must be a finite number, not {weight}")
    return word, value


def read_hotwords(path: str | os.PathLike) -> Hotwords:
    """The hotwords of a file: one WORD or WORD:WEIGHT per line, blank lines and # comments skipped."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFound(f"--hotwords {path}: no such file")
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(parse_hotword(line, f"{path}:{n}:"))
    return tuple(out)


def combine(specs: list[str] | None, files: list[str | os.PathLike] | None) -> Hotwords | None:
    """The hotwords of the command line (--hotword specs, then --hotwords files); None when none."""
    merged: dict[str, float] = {}
    for path in files or ():
        merged.update(read_hotwords(path))
    for spec in specs or ():
        word, weight = parse_hotword(spec)
        merged[word] = weight
    return tuple(merged.items()) or None


def spelled(hotwords: Hotwords, vocab: Vocabulary) -> Hotwords:
    """Each hotword in the model's letters (upper-cased when the model's letters are); a
    SettingError names a hotword holding a character the model cannot emit."""
    letters = vocab.letters_set
    out = []
    for word, weight in hotwords:
        if not math.isfinite(weight):
            raise SettingError(f"hotword {word!r}: the weight must be a finite number, not {weight}")
        for candidate in (word, word.upper()):
            if all(c in letters for c in candidate):
                out.append((candidate, float(weight)))
                break
        else:
            bad = sorted({c for c in word.upper() if c not in letters})
            raise SettingError(f"hotword {word!r}: {' '.join(repr(c) for c in bad)} not in the model's "
                               f"vocabulary ({''.join(sorted(letters))})")
    return tuple(out)
