"""Tri-stage LR: values at chosen updates against hand computation and fairseq's formulas."""

import math

import pytest

from asrkit.config import load_recipe, recipes_dir
from asrkit.schedule import TriStage, schedule_from_recipe


def fairseq_lr(update, peak, max_update, ratios=(0.1, 0.4, 0.5), init_scale=0.01, final_scale=0.05):
    """fairseq tri_stage_lr_scheduler.step_update(num_updates), transcribed."""
    warmup, hold, decay = (int(max_update * r) for r in ratios)
    init_lr = init_scale * peak
    if update < warmup:
        return init_lr + (peak - init_lr) / warmup * update
    if update < warmup + hold:
        return peak
    if update <= warmup + hold + decay:
        return peak * math.exp(math.log(final_scale) / decay * (update - warmup - hold))
    return peak * final_scale


@pytest.mark.parametrize("update,expected", [
    (0, 5e-7),  # the first update runs at init_lr_scale x lr
    (650, 5e-7 + (5e-5 - 5e-7) * 0.5),  # half-way through the 1,300-update warm-up
    (1300, 5e-5),  # hold starts
    (6499, 5e-5),  # last update of the hold (1,300 + 5,200 = 6,500)
    (6500, 5e-5),  # decay starts at the peak
    (9750, 5e-5 / math.sqrt(20)),  # half-way through the decay: peak x 0.05^0.5
    (13000, 2.5e-6),  # end: final_lr_scale x lr
    (20000, 2.5e-6),  # after the end it stays there
])
def test_base_10min_lr_at_updates(update, expected):
    schedule = schedule_from_recipe(load_recipe(recipes_dir() / "base_10min.yaml").train)
    assert (schedule.warmup_updates, schedule.hold_updates, schedule.decay_updates) == (1300, 5200, 6500)
    assert schedule(update) == pytest.approx(expected, rel=1e-9)


def test_matches_fairseq_formulas_everywhere():
    schedule = TriStage.from_ratios(3e-5, 80_000)
    for update in range(0, 81_000, 997):
        assert schedule(update) == pytest.approx(fairseq_lr(update, 3e-5, 80_000), rel=1e-12)


def test_decay_is_exponential_not_linear():
    s = TriStage(peak_lr=1.0, warmup_updates=0, hold_updates=0, decay_updates=100, final_scale=0.01)
    # Equal steps divide the LR by equal factors: 1 -> 0.1 -> 0.01.
    assert s(50) == pytest.approx(0.1)
    assert s(100) == pytest.approx(0.01)


def test_no_warmup_starts_at_peak():
    assert TriStage(2e-3, 0, 10, 10)(0) == 2e-3
