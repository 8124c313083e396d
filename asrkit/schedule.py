"""The tri-stage learning-rate schedule of the wav2vec 2.0 fine-tuning recipes.

fairseq's tri_stage scheduler (fairseq/optim/lr_scheduler/tri_stage_lr_scheduler.py),
with the phase lengths given as fractions of max_update:

    warm-up  updates [0, W):        lr * (init_scale + (1 - init_scale) * u / W)   linear
    hold     updates [W, W+H):      lr
    decay    updates [W+H, W+H+D]:  lr * exp(-ln(1/final_scale) * (u - W - H) / D)  exponential
    after:                          lr * final_scale

`u` counts the updates already made: the first update runs at init_scale * lr, and the
LR is set again after each update, as fairseq's step_update(num_updates) does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class TriStage:
    peak_lr: float
    warmup_updates: int
    hold_updates: int
    decay_updates: int
    init_scale: float = 0.01
    final_scale: float = 0.05

    @classmethod
    def from_ratios(cls, peak_lr: float, max_updates: int, phase_ratio=(0.1, 0.4, 0.5),
                    init_scale: float = 0.01, final_scale: float = 0.05) -> "TriStage":
        # int() truncation as fairseq: warmup_steps = int(max_update * phase_ratio[0]).
        w, h, d = (int(max_updates * r) for r in phase_ratio)
        return cls(peak_lr, w, h, d, init_scale, final_scale)

    def __call__(self, update: int) -> float:
        """The learning rate for the update that follows `update` completed updates."""
        if update < self.warmup_updates:
            init = self.init_scale * self.peak_lr
            return init + (self.peak_lr - init) * update / self.warmup_updates
        update -= self.warmup_updates
        if update < self.hold_updates:
            return self.peak_lr
        update -= self.hold_updates
        if update <= self.decay_updates and self.decay_updates > 0:
            rate = -math.log(self.final_scale) / self.decay_updates
            return self.peak_lr * math.exp(-rate * update)
        return self.peak_lr * self.final_scale


def schedule_from_recipe(train_cfg) -> TriStage:
    """The TriStage of a recipe's `train` section (asrkit.config.TrainConfig)."""
    return TriStage.from_ratios(train_cfg.lr, train_cfg.max_updates, train_cfg.phase_ratio,
                                train_cfg.init_lr_scale, train_cfg.final_lr_scale)


@dataclass(frozen=True)
class PolynomialDecay:
    """fairseq's polynomial_decay scheduler as the pre-training recipes use it (power 1,
    end_learning_rate 0): the LR for the update after `update` completed updates is
    lr * update / warmup during warm-up (the first update at lr / warmup, as fairseq sets it
    before any step), then falls linearly to 0 at max_updates."""
    peak_lr: float
    warmup_updates: int
    max_updates: int

    def __call__(self, update: int) -> float:
        if self.warmup_updates > 0 and update <= self.warmup_updates:
            return self.peak_lr * max(update, 1) / self.warmup_updates
        if update >= self.max_updates:
            return 0.0
        remaining = (self.max_updates - update) / (self.max_updates - self.warmup_updates)
        return self.peak_lr * remaining
