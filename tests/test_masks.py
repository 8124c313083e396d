"""fairseq's span masks: the fractions it masks, padding, equal counts per row."""

import numpy as np
import pytest

from asrkit.errors import SettingError
from asrkit.masks import compute_mask_indices


def mean_fraction(batch, positions, prob, length, min_masks, trials, seed=0, **kw):
    rng = np.random.default_rng(seed)
    return np.mean([compute_mask_indices((batch, positions), None, prob, length, min_masks=min_masks,
                                         rng=rng, **kw).mean() for _ in range(trials)])


# Fractions masked by fairseq's compute_mask_indices (fine-tuning settings: time min_masks 2,
# channels 0, require_same_masks) on 600 frames x 768 channels. The standard error of a
# mean over `trials` batches is about 0.001 (time) and 0.002 (channels); the tolerances are
# about 4 of them.
@pytest.mark.parametrize("positions, prob, length, min_masks, expected, tol", [
    (600, 0.65, 10, 2, {5: 0.461, 8: 0.453, 16: 0.443}, 0.005),
    (768, 0.25, 64, 0, {5: 0.19, 8: 0.18, 16: 0.16}, 0.012),
    (768, 0.5, 64, 0, {5: 0.34, 8: 0.32, 16: 0.30}, 0.012),
])
def test_fractions_masked_match_fairseq(positions, prob, length, min_masks, expected, tol):
    for batch, fraction in expected.items():
        got = mean_fraction(batch, positions, prob, length, min_masks, trials=200, seed=batch)
        assert got == pytest.approx(fraction, abs=tol), (batch, got)


def test_without_same_masks_it_masks_as_transformers_does():
    # Each row keeps its own spans: 1 - (1 - 0.65/10)^10 ~ 0.49 of the frames, at any batch size.
    for batch in (1, 16):
        assert mean_fraction(batch, 600, 0.65, 10, 2, trials=100, require_same_masks=False) == \
            pytest.approx(0.491, abs=0.006)


def padded_batch(rng, batch, low, high):
    lengths = rng.integers(low, high + 1, size=batch)
    padding = np.arange(lengths.max())[None, :] >= lengths[:, None]
    return lengths, padding


def test_padding_is_never_masked_and_rows_keep_the_same_count():
    rng = np.random.default_rng(3)
    for _ in range(50):
        lengths, padding = padded_batch(rng, 8, 400, 600)
        mask = compute_mask_indices(padding.shape, padding, 0.65, 10, min_masks=2, rng=rng)
        assert not (mask & padding).any()
        assert len(set(mask.sum(axis=1))) == 1


def test_padded_batches_of_400_to_600_frames_mask_about_0_40_of_real_frames():
    rng = np.random.default_rng(4)
    fractions = []
    for _ in range(150):
        lengths, padding = padded_batch(rng, 8, 400, 600)
        mask = compute_mask_indices(padding.shape, padding, 0.65, 10, min_masks=2, rng=rng)
        fractions.append(mask.sum() / lengths.sum())
    assert np.mean(fractions) == pytest.approx(0.40, abs=0.01)


def test_span_counts_follow_each_rows_own_length():
    # 0.5 * 20 / 10 = 1 span (+ rounding) for the short row; min_masks 2 lifts it to 2 spans
    # of 10 frames in 20: at most 19 masked (never the whole row).
    rng = np.random.default_rng(5)
    padding = np.zeros((2, 200), dtype=bool)
    padding[0, 20:] = True
    for _ in range(50):
        mask = compute_mask_indices((2, 200), padding, 0.5, 10, min_masks=2, require_same_masks=False, rng=rng)
        assert 10 <= mask[0].sum() < 20
        assert not mask[0, 20:].any()


def test_spans_are_whole_without_same_masks():
    rng = np.random.default_rng(6)
    mask = compute_mask_indices((1, 1000), None, 0.01, 10, min_masks=1, require_same_masks=False, rng=rng)
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, mask[0].astype(int), 0])))[::2]
    assert all(r % 10 == 0 for r in runs) and mask.sum() >= 10


def test_no_overlap_keeps_spans_apart():
    rng = np.random.default_rng(7)
    for _ in range(20):
        mask = compute_mask_indices((4, 300), None, 0.3, 10, no_overlap=True, min_space=2,
                                    require_same_masks=False, rng=rng)
        for row in mask:
            starts = np.flatnonzero(np.diff(np.r_[0, row.astype(int)]) == 1)
            ends = np.flatnonzero(np.diff(np.r_[row.astype(int), 0]) == -1)
            assert all((ends - starts + 1) % 10 == 0)  # runs of whole spans only
            assert all(starts[1:] - ends[:-1] > 2)  # at least min_space unmasked between runs


def test_mask_dropout_unmasks_that_share():
    # One row: the same generator state draws the same spans, then drops half of them.
    for seed in range(5):
        full = compute_mask_indices((1, 600), None, 0.65, 10, min_masks=2, rng=np.random.default_rng(seed))
        dropped = compute_mask_indices((1, 600), None, 0.65, 10, min_masks=2, mask_dropout=0.5,
                                       rng=np.random.default_rng(seed))
        assert dropped.sum() == full.sum() - np.rint(full.sum() * 0.5)
        assert not (dropped & ~full).any()
    rng = np.random.default_rng(8)
    assert compute_mask_indices((4, 600), None, 0.0, 10, min_masks=2, rng=rng).sum() == 0


def test_same_generator_state_gives_the_same_masks():
    a = compute_mask_indices((3, 100), None, 0.65, 10, min_masks=2, rng=np.random.default_rng(1))
    b = compute_mask_indices((3, 100), None, 0.65, 10, min_masks=2, rng=np.random.default_rng(1))
    assert np.array_equal(a, b)


def test_bad_arguments_are_named():
    rng = np.random.default_rng(0)
    with pytest.raises(SettingError, match="mask_prob"):
        compute_mask_indices((1, 10), None, 1.5, 10, rng=rng)
    with pytest.raises(SettingError, match="whole row"):
        compute_mask_indices((1, 3), None, 0.5, 10, min_masks=2, rng=rng)
    left_padded = np.array([[True, False, False]])
    with pytest.raises(ValueError, match="end of each row"):
        compute_mask_indices((1, 3), left_padded, 0.5, 1, rng=rng)
