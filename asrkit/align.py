"""CTC forced alignment: the most likely frame-by-frame path of a known transcript through a
CTC model's log-probs (Viterbi over the CTC graph), for analyses that need to know which
letter each 20 ms frame belongs to (asrkit.pretrain.codes).

The CTC graph of a label y_1..y_L is the state sequence blank, y_1, blank, y_2, ..., y_L,
blank (S = 2L + 1 states). A path starts in state 0 or 1, ends in state S - 1 or S - 2, and
from state s moves to s, s + 1, or s + 2 when s + 2 is a label different from s's.

Dimensions: T frames, V vocabulary, L label length, S = 2L + 1 states.
"""

from __future__ import annotations

import numpy as np

from asrkit.errors import DataError


def forced_align(log_probs: np.ndarray, label: list[int], blank: int) -> np.ndarray:
    """The Viterbi path's token per frame: int64 (T,) of vocabulary ids (blank where the path
    is on a blank). log_probs: (T, V); label: L token ids (no blanks). Raises DataError when
    T is too short for the label (L frames plus one per repeated letter)."""
    t_frames = len(log_probs)
    states = np.full(2 * len(label) + 1, blank, dtype=np.int64)
    states[1::2] = label
    n = len(states)
    needed = len(label) + sum(a == b for a, b in zip(label, label[1:]))
    if t_frames < needed:
        raise DataError(f"{t_frames} frames cannot hold a label of {len(label)} tokens ({needed} frames needed)")
    # s - 2 is allowed into s only for a label state that differs from the label before it
    skip = np.zeros(n, dtype=bool)
    skip[3::2] = states[3::2] != states[1:-2:2]
    score = np.full(n, -np.inf)
    score[0] = log_probs[0, states[0]]
    if n > 1:
        score[1] = log_probs[0, states[1]]
    back = np.zeros((t_frames, n), dtype=np.int8)  # 0 stay, 1 from s - 1, 2 from s - 2
    for t in range(1, t_frames):
        stay = score
        step = np.concatenate([[-np.inf], score[:-1]])
        jump = np.where(skip, np.concatenate([[-np.inf, -np.inf], score[:-2]]), -np.inf)
        moves = np.stack([stay, step, jump])
        back[t] = moves.argmax(axis=0)
        score = moves.max(axis=0) + log_probs[t, states]
    ends = [n - 1] + ([n - 2] if n > 1 else [])
    state = max(ends, key=lambda s: score[s])
    if not np.isfinite(score[state]):
        raise DataError("no finite path through the CTC graph (a log-prob of -inf on every path)")
    path = np.empty(t_frames, dtype=np.int64)
    for t in range(t_frames - 1, -1, -1):
        path[t] = states[state]
        state -= int(back[t, state])  # a Python int: int8 arithmetic would overflow past 127 states
    return path


def frame_letters(path: np.ndarray, blank: int, silence: int) -> np.ndarray:
    """Each frame's letter when a letter lasts from the frame the path emits it to the frame
    the next one is emitted (CTC paths emit a letter on few frames and sit on blank between):
    blank frames take the letter before them; blank frames before the first letter get
    `silence`."""
    out = np.empty_like(path)
    current = silence
    for t, token in enumerate(path):
        if token != blank:
            current = token
        out[t] = current
    return out
