"""Greedy (best path) CTC decoding: the most likely token per frame, repeats merged,
blanks removed. A blank between two equal tokens keeps both ("L <pad> L" -> "LL")."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from asrkit.decode import Vocabulary


@dataclass(frozen=True)
class GreedyOptions:
    pass  # best path has no settings; the class keeps the decoders' common shape


class Decoder:
    def __init__(self, options: GreedyOptions, vocab: Vocabulary):
        self.options, self.vocab = options, vocab
        self._blank = vocab.blank_id

    def decode_one(self, log_probs: np.ndarray) -> str:
        """(T, V) log-probs -> transcript."""
        return best_path(log_probs.argmax(axis=-1), self.vocab)


def best_path(ids: np.ndarray, vocab: Vocabulary) -> str:
    """The transcript of (T,) frame-wise best token ids: runs merged, blanks dropped."""
    return vocab.text(collapse(ids, vocab.blank_id))


def collapse(best: np.ndarray, blank: int) -> list[int]:
    """CTC collapse of a frame-wise id sequence: merge runs, then drop blanks."""
    if len(best) == 0:
        return []
    keep = np.ones(len(best), dtype=bool)
    keep[1:] = best[1:] != best[:-1]
    return [int(i) for i in best[keep] if i != blank]

