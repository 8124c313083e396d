"""Decoding a batch: the arrays checked against the vocabulary, then one decoder over every
core (fork), each worker decoding whole utterances.

Dimension legend: B utterances, T frames, V vocabulary.
"""

from __future__ import annotations

import multiprocessing

import numpy as np

from asrkit.ctc import Vocabulary
from asrkit.errors import DecodeError
from asrkit.hypotheses import NBest
from asrkit.workspace import cpu_cores


def check_log_probs(log_probs, vocab: Vocabulary) -> list[np.ndarray]:
    """The batch as a list of (T_b, V) float32 arrays; ValueError when V does not match."""
    if isinstance(log_probs, np.ndarray) and log_probs.ndim == 2:
        raise ValueError("log_probs must be a batch: a list of (T, V) arrays or a (B, T, V) array")
    out = []
    for b, x in enumerate(log_probs):
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 2:
            raise ValueError(f"utterance {b}: log-probs must be (T, V), got shape {x.shape}")
        if x.shape[1] != len(vocab.tokens):
            raise DecodeError(f"utterance {b}: log-probs have V={x.shape[1]} columns but the vocabulary "
                              f"has {len(vocab.tokens)} tokens; the logits do not come from a model "
                              "with this tokenizer")
        out.append(x)
    return out


# The decoder, batch and output settings a forked worker reads: set in the parent just
# before the pool is made, so workers inherit them (LM, trie, arrays) by fork instead of
# pickling them.
_WORK: tuple | None = None


def _decode_index(i: int) -> NBest:
    decoder, batch, frame_seconds, nbest = _WORK
    return decoder.decode_one(batch[i], frame_seconds, nbest)


def parallel_decode(decoder, batch: list[np.ndarray], workers: int | None = None, progress: bool = False, *,
                    frame_seconds: float, nbest: int = 1) -> list[NBest]:
    """decoder.decode_one over the batch on `workers` processes (default: every core): one
    N-best list (up to `nbest` hypotheses) per utterance, in batch order. `frame_seconds` is
    the duration of one frame (the logits cache's seconds_per_frame), for word times.

    Uses fork, so the decoder built in the parent (its LM loaded once) is shared with the
    workers copy-on-write; each worker decodes whole utterances, longest first.
    """
    global _WORK
    workers = min(workers or cpu_cores(), len(batch))
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [decoder.decode_one(x, frame_seconds, nbest) for x in _progress(batch, progress)]
    order = sorted(range(len(batch)), key=lambda i: -len(batch[i]))  # long ones first: less idle tail
    _WORK = (decoder, batch, frame_seconds, nbest)
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            lists = list(_progress(pool.imap(_decode_index, order, chunksize=1), progress, len(order)))
    finally:
        _WORK = None
    out: list[NBest] = [()] * len(batch)
    for i, hyps in zip(order, lists):
        out[i] = hyps
    return out


def _progress(it, enabled: bool, total: int | None = None):
    if not enabled:
        return it
    from tqdm import tqdm

    return tqdm(it, total=total, unit=" utt", desc="decode")
