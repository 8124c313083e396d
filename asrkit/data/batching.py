"""Batches by total audio per device, and how they are shared out among devices and
gradient-accumulation steps. Pure index arithmetic over utterance lengths (in samples);
asrkit.data.collate turns a batch of indices into tensors.

The wav2vec 2.0 recipes (fairseq) bound each forward pass by max_tokens audio samples,
padding included: n utterances padded to the longest one, of L samples, cost n * L. The
utterances are sorted by length (random order among equal lengths) and packed greedily, so
a batch holds utterances of similar length and little padding. As fairseq's batch_by_size
with required_batch_size_multiple m (8 in every wav2vec 2.0 recipe), a batch that fits more
than m utterances keeps only a multiple of m of them and the rest open the next batch:
3.2M samples of 13 s utterances hold 15, of which 8 stay. Batches are formed once (seed
only) and shuffled each epoch, as fairseq reuses its batches across epochs. One update
gathers world_size x update_freq batches:

    epoch batches (shuffled) -> chunks of world_size * update_freq -> one update each
    chunk -> batch j goes to rank j % world_size, as micro-step j // world_size

The last chunk of an epoch may be short. A rank with fewer batches than the others gets
dummy micro-batches of weight 0 (its shortest utterance), so that every rank makes the
same number of forward/backward passes (DDP needs that) and no utterance counts twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from asrkit.errors import DataError


def length_bucketed_batches(lengths: Sequence[int], max_tokens: int, seed: int, epoch: int,
                            multiple: int = 1) -> list[list[int]]:
    """fairseq-style batches: sorted by length (longest first, ties in an order that depends
    on the seed only), packed while len(batch) * longest <= max_tokens with batches of more
    than `multiple` utterances cut to a multiple of it, then shuffled for the epoch. Every
    index must fit max_tokens."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if len(lengths) and lengths.max() > max_tokens:
        raise DataError(f"an utterance of {lengths.max()} samples exceeds max_tokens={max_tokens}")
    ties = np.random.default_rng(seed).permutation(len(lengths))
    order = np.lexsort((ties, lengths))[::-1]
    batches = _pack(order, lengths, max_tokens, multiple)
    return [batches[j] for j in np.random.default_rng([seed, epoch]).permutation(len(batches))]


def fixed_size_batches(n: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Random batches of a fixed number of utterances (the baseline the benchmark compares against)."""
    order = np.random.default_rng([seed, epoch]).permutation(n).tolist()
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def sorted_batches(lengths: Sequence[int], max_tokens: int) -> list[list[int]]:
    """Deterministic length-sorted batches for validation and inference (no shuffling)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    return _pack(np.argsort(-lengths, kind="stable"), lengths, max_tokens)


def _pack(order: np.ndarray, lengths: np.ndarray, max_tokens: int, multiple: int = 1) -> list[list[int]]:
    """Greedy packing of indices sorted longest first: the first index of a batch is its
    longest, so a batch of n costs n * lengths[batch[0]] samples. A full batch of more than
    `multiple` indices keeps the largest multiple of it; the rest carry over (they still fit:
    fewer of them, none longer). The last batch is kept whole, as fairseq did when the paper
    was trained (fairseq drops it since December 2022 when its size is not a multiple)."""
    batches, current = [], []
    for i in order.tolist():
        if current and (len(current) + 1) * int(lengths[current[0]]) > max_tokens:
            keep = len(current) if len(current) <= multiple else len(current) - len(current) % multiple
            batches.append(current[:keep])
            current = current[keep:]
        current.append(i)
    if current:
        batches.append(current)
    return batches


def padding_fraction(batches: Sequence[Sequence[int]], lengths: Sequence[int]) -> float:
    """Share of the padded input tensors that is padding: 1 - sum(lengths) / sum(n * longest)."""
    real = padded = 0
    for batch in batches:
        ls = [int(lengths[i]) for i in batch]
        real += sum(ls)
        padded += len(ls) * max(ls)
    return 1.0 - real / padded if padded else 0.0


def update_freq(update_tokens: int, max_tokens: int, world_size: int) -> int:
    """Accumulation steps per update so that world_size * update_freq * max_tokens is about
    update_tokens: the recipe's effective batch on however many devices there are."""
    return max(1, round(update_tokens / (max_tokens * world_size)))


@dataclass(frozen=True)
class MicroBatch:
    indices: tuple[int, ...]  # utterance indices into the training set
    weight: float = 1.0  # 0.0: a dummy that only keeps the ranks in step

    @property
    def dummy(self) -> bool:
        return self.weight == 0.0


# One update: for each rank, its micro-batches (all ranks have the same count).
Update = list[list[MicroBatch]]


def plan_updates(batches: list[list[int]], world_size: int, freq: int, lengths: Sequence[int]) -> list[Update]:
    """Group an epoch's batches into updates of world_size * freq batches (see module docstring)."""
    per_update = world_size * freq
    updates = []
    for start in range(0, len(batches), per_update):
        chunk = batches[start:start + per_update]
        steps = math.ceil(len(chunk) / world_size)
        shortest = min((i for b in chunk for i in b), key=lambda i: lengths[i])
        update = []
        for rank in range(world_size):
            mine = [MicroBatch(tuple(b)) for b in chunk[rank::world_size]]
            mine += [MicroBatch((shortest,), 0.0)] * (steps - len(mine))
            update.append(mine)
        updates.append(update)
    return updates


def sentences_in(update: Update) -> int:
    """Real utterances in an update, over all ranks: the divisor of the per-sentence loss."""
    return sum(len(mb.indices) for rank in update for mb in rank if not mb.dummy)


@dataclass(frozen=True)
class Position:
    epoch: int = 0  # 0-based epoch
    update: int = 0  # updates already taken from this epoch


class UpdatePlanner:
    """Deterministic stream of updates: epoch e's order depends only on (seed, e), so a
    resumed run that knows its Position continues with exactly the same batches."""

    def __init__(self, lengths: Sequence[int], max_tokens: int, world_size: int, freq: int, seed: int,
                 multiple: int = 1):
        if len(lengths) == 0:
            raise DataError("no training utterances to batch")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.max_tokens, self.world_size, self.freq, self.seed = max_tokens, world_size, freq, seed
        self.multiple = multiple
        self._cache: tuple[int, list[Update]] | None = None

    def epoch(self, epoch: int) -> list[Update]:
        if self._cache is None or self._cache[0] != epoch:
            batches = length_bucketed_batches(self.lengths, self.max_tokens, self.seed, epoch, self.multiple)
            self._cache = (epoch, plan_updates(batches, self.world_size, self.freq, self.lengths))
        return self._cache[1]

    def updates_per_epoch(self) -> int:
        return len(self.epoch(0))
