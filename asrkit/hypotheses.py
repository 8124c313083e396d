"""What a decoder returns: an N-best list of typed hypotheses, best first.

Every decoder (greedy, flashlight lexicon and lexicon-free, pyctcdecode) gives the same
shape, and every consumer reads it: decode's recogs.jsonl and nbest.jsonl, transcribe's
txt/jsonl/srt/vtt/ctm, rescoring with a second LM, confidence benchmarks. Text is one view
of a hypothesis; the words carry times (seconds from the start of the recording, the frame
arithmetic's one home being asrkit.ctc) and a confidence in [0, 1].

One JSON row per hypothesis (nbest.jsonl, transcribe --format jsonl):

    {"text": "HELLO WORLD",
     "words": [{"word": "HELLO", "start": 0.42, "end": 0.78, "confidence": 0.93}, ...],
     "scores": {"acoustic": -12.3, "lm": -8.1, "word": 2.0, "total": -18.4}}

Scores are natural-log scale. `total` is what the decoder ranked by, and
total = acoustic + w * lm + word holds exactly: `lm` is the LM's own log-probability of the
words (KenLM's log10 converted to natural log, sentence end included), unweighted, so a
rescorer can swap in another LM's score for it; w is the weight on `lm` in `total`, recorded
in the N-best metadata as "lm_weight_ln" (asrkit.results.read_nbest): flashlight's lm_weight
multiplies KenLM's log10, so w = lm_weight / ln 10 there, while pyctcdecode's alpha already
applies to natural log; `word` is everything else the decoder added: word_score (beta) per
word, flashlight's sil_score per delimiter, hotword boosts, pyctcdecode's out-of-vocabulary
offsets. A decoder without an LM has lm = 0 and word = 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from asrkit.errors import DataError


@dataclass(frozen=True)
class Word:
    """One recognised word and where it was heard."""

    word: str
    start: float  # seconds from the start of the recording (first frame of the word)
    end: float  # seconds; end of the word's last frame, >= start
    confidence: float  # in [0, 1]; how asrkit.ctc defines it is documented there

    def row(self) -> dict[str, Any]:
        return {"word": self.word, "start": round(self.start, 3), "end": round(self.end, 3),
                "confidence": round(self.confidence, 4)}


@dataclass(frozen=True)
class Scores:
    """The terms a decoder ranked a hypothesis by (natural log)."""

    acoustic: float = 0.0  # log-probability of the hypothesis' CTC path(s) under the model
    lm: float = 0.0  # the LM's log-probability of the words, unweighted (0 without an LM)
    word: float = 0.0  # word-count term: word_score * number of words (0 without an LM)
    total: float = 0.0  # what the decoder ranked by

    def row(self) -> dict[str, float]:
        return {k: round(getattr(self, k), 4) for k in ("acoustic", "lm", "word", "total")}


@dataclass(frozen=True)
class Hypothesis:
    """One transcript candidate: text, timed words, scores."""

    text: str
    words: tuple[Word, ...] = ()
    scores: Scores = field(default_factory=Scores)

    def row(self) -> dict[str, Any]:
        return {"text": self.text, "words": [w.row() for w in self.words], "scores": self.scores.row()}

    def shifted(self, seconds: float) -> "Hypothesis":
        """The same hypothesis with every word time moved by `seconds` (a window's offset)."""
        words = tuple(replace(w, start=w.start + seconds, end=w.end + seconds) for w in self.words)
        return replace(self, words=words)


LN10 = math.log(10.0)
"""KenLM scores are log10; multiply by this to carry them in a hypothesis' natural-log scores."""

NBest = tuple[Hypothesis, ...]
"""A decoder's answer for one utterance: at least one hypothesis, best first."""


def hypothesis_from_row(row: dict, where: str = "") -> Hypothesis:
    """Read back Hypothesis.row(); DataError naming `where` when a field is missing or bad."""
    try:
        words = tuple(Word(str(w["word"]), _number(w["start"]), _number(w["end"]),
                           _number(w["confidence"])) for w in row.get("words", ()))
        s = row.get("scores", {})
        scores = Scores(*(_number(s.get(k, 0.0)) for k in ("acoustic", "lm", "word", "total")))
        return Hypothesis(str(row["text"]), words, scores)
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"{where or 'a hypothesis row'}: not a hypothesis ({type(e).__name__}: {e})") from None


def best(nbest: Sequence[Hypothesis]) -> Hypothesis:
    """The first hypothesis; an empty list is an empty transcript."""
    return nbest[0] if nbest else Hypothesis("")


def _number(x) -> float:
    x = float(x)
    if math.isnan(x):
        raise ValueError("NaN")
    return x


def ranked(hyps: Sequence[Hypothesis], n: int) -> NBest:
    """At most `n` hypotheses with distinct texts, highest total first (a decoder's beams can
    spell the same words along different alignments; the best of them stands for all)."""
    out: list[Hypothesis] = []
    seen: set[str] = set()
    for h in sorted(hyps, key=lambda h: -h.scores.total):
        if h.text not in seen:
            seen.add(h.text)
            out.append(h)
            if len(out) == n:
                break
    return tuple(out)
