"""Batches by total audio, their share-out among processes and accumulation steps, and the
collator's tensors."""

import numpy as np
import pytest

from asrkit.ctc import ctc_min_frames
from asrkit.data.batching import (MicroBatch, UpdatePlanner, fixed_size_batches,
                                  length_bucketed_batches, padding_fraction, plan_updates, sentences_in,
                                  sorted_batches, update_freq)
from asrkit.data.collate import Collator, Example, encode_text, input_length
from asrkit.errors import DataError
from asrkit.vocab import letter_vocab


def lengths_like_librispeech(n=300, seed=0):
    """Utterance lengths in samples, 2-17 s like LibriSpeech's training splits."""
    return (np.random.default_rng(seed).uniform(2, 17, n) * 16_000).astype(int)


def test_bucketed_batches_cover_everything_once_within_max_tokens():
    lengths = lengths_like_librispeech()
    batches = length_bucketed_batches(lengths, 3_200_000, seed=1, epoch=0)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) * max(lengths[i] for i in b) <= 3_200_000


def test_bucketed_batches_pad_little_and_random_ones_a_lot():
    lengths = lengths_like_librispeech()
    bucketed = length_bucketed_batches(lengths, 3_200_000, seed=1, epoch=0)
    random = fixed_size_batches(len(lengths), round(len(lengths) / len(bucketed)), seed=1, epoch=0)
    # ~15 batches over a 15 s spread of lengths: each spans ~1 s, mean length ~9.5 s -> ~5%.
    assert padding_fraction(bucketed, lengths) < 0.06
    assert padding_fraction(random, lengths) > 0.25


def test_padding_fraction_by_hand():
    # [3, 1] pads to 2 x 3 = 6 (2 padding); [2] pads nothing: 2 / 8.
    assert padding_fraction([[0, 1], [2]], [3, 1, 2]) == pytest.approx(0.25)


def test_greedy_packing_by_hand():
    # Longest first: 5 -> [5, 4] costs 2 x 5 = 10 <= 10; adding 3 would cost 15.
    assert sorted_batches([3, 5, 1, 4], max_tokens=10) == [[1, 3], [0, 2]]


def test_epochs_differ_but_repeat_for_the_same_seed():
    lengths = lengths_like_librispeech()
    a = length_bucketed_batches(lengths, 800_000, seed=1, epoch=0)
    assert a == length_bucketed_batches(lengths, 800_000, seed=1, epoch=0)
    assert a != length_bucketed_batches(lengths, 800_000, seed=1, epoch=1)


def test_an_utterance_over_max_tokens_is_an_error():
    with pytest.raises(DataError, match="exceeds max_tokens"):
        length_bucketed_batches([100, 20_000], 16_000, 0, 0)


def batches_by_rule(lengths, max_tokens, multiple):
    """fairseq's required_batch_size_multiple rule written independently, by brute force:
    from each start in the longest-first order, count the utterances whose padded cost fits,
    keep a multiple of `multiple` when more than `multiple` fit, start again after them."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches, start = [], 0
    while start < len(order):
        fit = 0
        while start + fit < len(order) and (fit + 1) * max(lengths[i] for i in order[start:start + fit + 1]) <= max_tokens:
            fit += 1
        ends_the_list = start + fit == len(order)
        if fit > multiple and not ends_the_list:
            fit -= fit % multiple
        batches.append(order[start:start + fit])
        start += fit
    return batches


@pytest.mark.parametrize("multiple", [1, 8, 3])
def test_batches_match_an_independent_implementation_of_fairseqs_rule(multiple):
    lengths = [int(x) for x in lengths_like_librispeech(n=600, seed=5)]
    ours = length_bucketed_batches(lengths, 3_200_000, seed=1, epoch=0, multiple=multiple)
    assert sorted(map(sorted, ours)) == sorted(map(sorted, batches_by_rule(lengths, 3_200_000, multiple)))


def test_multiple_of_8_makes_librispeech_batches_of_8_or_16_utterances():
    # fairseq's required_batch_size_multiple 8 at max_tokens 3.2M on LibriSpeech-like lengths
    # (12.7 +- 3.5 s): ~10.8 utterances and ~137 s per batch, ~1,100 s per update of 8
    # batches; filling every batch gives ~15 utterances and ~193 s.
    secs = np.clip(np.random.default_rng(0).normal(12.7, 3.5, 5_000), 1.0, 24.5)
    lengths = (secs * 16_000).astype(int)
    for multiple, utterances, seconds in ((8, 10.8, 137), (1, 15.2, 193)):
        batches = length_bucketed_batches(lengths, 3_200_000, seed=1, epoch=0, multiple=multiple)
        assert np.mean([len(b) for b in batches]) == pytest.approx(utterances, abs=0.3)
        assert lengths.sum() / 16_000 / len(batches) == pytest.approx(seconds, abs=5)
    sizes = [len(b) for b in length_bucketed_batches(lengths, 3_200_000, seed=1, epoch=0, multiple=8)]
    assert sum(n % 8 != 0 for n in sizes) <= 1  # only the last batch (shortest utterances) is kept whole
    assert sizes.count(8) + sizes.count(16) > 0.95 * len(sizes)


def test_batches_are_formed_once_and_shuffled_each_epoch():
    lengths = lengths_like_librispeech()
    a = length_bucketed_batches(lengths, 800_000, seed=1, epoch=0, multiple=8)
    b = length_bucketed_batches(lengths, 800_000, seed=1, epoch=1, multiple=8)
    assert a != b and sorted(a) == sorted(b)


@pytest.mark.parametrize("tokens,max_tokens,world,expected", [
    (25_600_000, 3_200_000, 1, 8), (25_600_000, 3_200_000, 2, 4), (25_600_000, 1_600_000, 2, 8),
    (25_600_000, 3_200_000, 3, 3),  # 2.67 rounds to 3 (9 batches, 1,800 s)
    (640_000, 640_000, 4, 1),
])
def test_update_freq(tokens, max_tokens, world, expected):
    assert update_freq(tokens, max_tokens, world) == expected


def test_plan_updates_shares_batches_round_robin_and_pads_the_last_update():
    lengths = [10, 20, 30, 40, 50, 60, 70]
    batches = [[0], [1, 2], [3], [4], [5], [6]]
    updates = plan_updates(batches, world_size=2, freq=2, lengths=lengths)
    assert len(updates) == 2
    # Update 0: batches 0-3, rank 0 gets 0 and 2, rank 1 gets 1 and 3.
    assert [[mb.indices for mb in rank] for rank in updates[0]] == [[(0,), (3,)], [(1, 2), (4,)]]
    # Update 1: batches 4 and 5 only: one micro-step each, no dummies.
    assert [[mb.indices for mb in rank] for rank in updates[1]] == [[(5,)], [(6,)]]
    assert sentences_in(updates[0]) == 5 and sentences_in(updates[1]) == 2


def test_a_rank_short_of_batches_gets_a_weightless_dummy():
    updates = plan_updates([[0, 1], [2], [3]], world_size=2, freq=2, lengths=[5, 9, 7, 3])
    assert len(updates) == 1
    rank0, rank1 = updates[0]
    assert [mb.indices for mb in rank0] == [(0, 1), (3,)]
    assert rank1[0] == MicroBatch((2,)) and rank1[1] == MicroBatch((3,), 0.0)  # shortest utterance
    assert rank1[1].dummy and sentences_in(updates[0]) == 4


def test_planner_resumes_at_a_position():
    # The training loop resumes at Position(epoch, update) with planner.epoch(epoch)[update:]:
    # a planner made afresh (a restarted process) must plan every epoch the same way.
    lengths = lengths_like_librispeech()
    planner = UpdatePlanner(lengths, 800_000, world_size=1, freq=2, seed=3)
    first = [planner.epoch(e) for e in (0, 1)]
    again = UpdatePlanner(lengths, 800_000, world_size=1, freq=2, seed=3)
    assert again.epoch(1)[1:] == first[1][1:] and again.epoch(0) == first[0]
    assert first[0] != first[1]  # each epoch is shuffled anew


def test_encode_text_and_ctc_frame_needs():
    vocab = letter_vocab()
    ids = encode_text("IT'S A BOOK", vocab)
    assert ids.tolist() == [vocab[c] for c in "IT'S|A|BOOK"]
    assert encode_text("É", vocab).tolist() == [vocab["<unk>"]]
    assert ctc_min_frames(encode_text("BOOK", vocab)) == 5  # O O needs a blank between them
    assert ctc_min_frames(encode_text("AB", vocab)) == 2


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # 400 samples = 1 frame: its variance is NaN
def test_filterbank_length_matches_the_feature_extractor():
    from transformers import SeamlessM4TFeatureExtractor

    fe = SeamlessM4TFeatureExtractor()
    for samples in (400, 1_000, 16_000, 16_160, 16_321, 47_999):
        out = fe(np.zeros(samples, np.float32) + 0.01, sampling_rate=16_000, return_tensors="np")
        assert input_length(samples, waveform_input=False) == int(out["attention_mask"].sum())
    assert input_length(12_345, waveform_input=True) == 12_345


def test_collator_pads_and_masks():
    examples = [Example("a", np.ones(5, np.float32), np.array([4, 5, 6]), 5),
                Example("b", np.full(3, 2, np.float32), np.array([7]), 3)]
    batch = Collator(attention_mask=True)(examples)
    assert batch.inputs.tolist() == [[1, 1, 1, 1, 1], [2, 2, 2, 0, 0]]
    assert batch.attention_mask.tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    assert batch.input_lengths.tolist() == [5, 3] and batch.label_lengths.tolist() == [3, 1]
    assert batch.labels.tolist() == [[4, 5, 6], [7, -100, -100]]
    assert batch.ids == ["a", "b"] and batch.weight == 1.0
    assert Collator(attention_mask=False)(examples).attention_mask is None


def test_collator_pads_filterbanks_in_time():
    examples = [Example("a", np.ones((4, 160), np.float32), np.array([4]), 1280),
                Example("b", np.ones((2, 160), np.float32), np.array([5]), 640)]
    batch = Collator(attention_mask=True)(examples, weight=0.0)
    assert tuple(batch.inputs.shape) == (2, 4, 160)
    assert float(batch.inputs[1, 2:].abs().sum()) == 0.0 and batch.weight == 0.0
