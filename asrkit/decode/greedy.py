"""Greedy (best path) CTC decoding: the most likely token per frame, repeats merged,
blanks removed. A blank between two equal tokens keeps both ("L <pad> L" -> "LL").

Its N-best list has one hypothesis: the best path, whose words take their times from the
frames of their letters (asrkit.ctc) and whose acoustic score is the path's log-probability.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from asrkit.ctc import Vocabulary, collapse, timed_words
from asrkit.hypotheses import Hypothesis, NBest, Scores


@dataclass(frozen=True)
class GreedyOptions:
    pass  # best path has no settings; the class keeps the decoders' common shape


class Decoder:
    lm_weight_ln = 0.0  # no LM: hypotheses have lm = 0

    def __init__(self, options: GreedyOptions, vocab: Vocabulary):
        self.options, self.vocab = options, vocab
        self._blank = vocab.blank_id

    def decode_one(self, log_probs: np.ndarray, frame_seconds: float, nbest: int = 1) -> NBest:
        """(T, V) log-probs -> a one-hypothesis N-best list (greedy has no second best)."""
        return (best_path_hypothesis(log_probs, self.vocab, frame_seconds),)


def best_path_hypothesis(log_probs: np.ndarray, vocab: Vocabulary, frame_seconds: float) -> Hypothesis:
    """The best path of (T, V) log-probs as a Hypothesis: text, timed words, acoustic score."""
    ids = log_probs.argmax(axis=-1)
    acoustic = float(log_probs[np.arange(len(ids)), ids].sum()) if len(ids) else 0.0
    words = timed_words(log_probs, ids, vocab, frame_seconds)
    return Hypothesis(best_path(ids, vocab), words, Scores(acoustic=acoustic, total=acoustic))


def best_path(ids: np.ndarray, vocab: Vocabulary) -> str:
    """The transcript of (T,) frame-wise best token ids: runs merged, blanks dropped."""
    return vocab.text(collapse(ids, vocab.blank_id))
