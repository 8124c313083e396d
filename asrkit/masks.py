"""Span masks as fairseq draws them (fairseq/data/data_utils.py compute_mask_indices).

wav2vec 2.0 masks spans of `mask_length` frames over time (replaced by a learned mask
embedding) and spans of channels (set to zero), both in pre-training and in fine-tuning.
transformers' `_compute_mask_indices` draws spans with the same formula but lets every row
keep its own count; fairseq's default `require_same_masks=True` then cuts each row down,
at random, to the smallest number of masked positions in the batch. At the same
probabilities fairseq therefore masks less, and less the larger the batch:

    600 frames, p 0.65, span 10, batch 5 / 8 / 16:  0.461 / 0.453 / 0.443 of frames
    (transformers: 0.491 at any batch size)

    shape (B, T): B rows (utterances, or utterances for channel masks), T positions
    (feature frames, or channels); the result is bool (B, T), True = masked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from asrkit.errors import SettingError


@dataclass(frozen=True)
class MaskSettings:
    """One run's span-mask settings, fine-tuning's (fairseq's wav2vec2_asr.py ->
    Wav2Vec2Model.apply_mask: time and channel spans) and pre-training's (time spans only)."""
    time_prob: float  # mask_prob
    time_length: int  # mask_length
    time_min_masks: int = 2  # apply_mask passes min_masks=2 for time, nothing (0) for channels
    channel_prob: float = 0.0  # mask_channel_prob
    channel_length: int = 1  # mask_channel_length
    require_same_masks: bool = True  # fairseq's default, for time and channels alike

    @classmethod
    def for_finetuning(cls, model_cfg) -> "MaskSettings | None":
        """The fine-tuning recipe's masks when drawn the fairseq way; None for model.masks:
        transformers (the model draws its own)."""
        if model_cfg.masks != "fairseq":
            return None
        return cls(model_cfg.mask_time_prob, model_cfg.mask_time_length, channel_prob=model_cfg.mask_feature_prob,
                   channel_length=model_cfg.mask_feature_length)

    @classmethod
    def for_pretraining(cls, model_cfg) -> "MaskSettings":
        return cls(model_cfg.mask_time_prob, model_cfg.mask_time_length, model_cfg.mask_min_masks,
                   require_same_masks=model_cfg.require_same_masks)

    @property
    def any(self) -> bool:
        return self.time_prob > 0 or self.channel_prob > 0

    def time(self, shape: tuple[int, int], padding_mask: np.ndarray | None,
             rng: np.random.Generator) -> np.ndarray:
        """Time spans over (B, T) frames (padding_mask: True on padded frames), True = masked."""
        return compute_mask_indices(shape, padding_mask, self.time_prob, self.time_length,
                                    min_masks=self.time_min_masks, require_same_masks=self.require_same_masks,
                                    rng=rng)

    def draw(self, frames: np.ndarray, t: int, channels: int,
             rng: np.random.Generator) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Fine-tuning's (time mask (B, T) or None, channel mask (B, C) or None), True =
        masked, for a batch whose utterances have `frames` (B,) real frames of `t`: time
        first, then channels, from the one generator, as apply_mask draws them."""
        time = channel = None
        if self.time_prob > 0:
            time = self.time((len(frames), t), np.arange(t)[None, :] >= np.asarray(frames)[:, None], rng)
        if self.channel_prob > 0:
            channel = compute_mask_indices((len(frames), channels), None, self.channel_prob, self.channel_length,
                                           require_same_masks=self.require_same_masks, rng=rng)
        return time, channel


def compute_mask_indices(shape: tuple[int, int], padding_mask: np.ndarray | None, mask_prob: float,
                         mask_length: int, *, min_masks: int = 0, require_same_masks: bool = True,
                         no_overlap: bool = False, min_space: int = 0, mask_dropout: float = 0.0,
                         rng: np.random.Generator) -> np.ndarray:
    """Static-length mask spans for a (B, T) batch, as fairseq computes them.

    padding_mask: bool (B, T), True = padding, or None. Padding must sit at the end of each
        row (right-padded batches); padded positions are never masked, and each row's span
        count follows its own length.
    mask_prob: each of a row's real positions starts a span with this probability, i.e. a
        row of `sz` positions gets int(mask_prob * sz / mask_length + U[0, 1)) spans, at
        least `min_masks` (fairseq fine-tuning uses min_masks=2 for time, 0 for channels).
        Spans may overlap, so fewer than mask_prob * sz positions end up masked.
    require_same_masks: every row keeps a random subset of its masked positions, as many as
        the row with fewest has (fairseq's default).
    no_overlap / min_space: fairseq's alternative placement, spans that never overlap and
        keep `min_space` unmasked positions between them.
    mask_dropout: then unmask this fraction of each row's masked positions.

    Returns bool (B, T). Differs from fairseq only where fairseq fails: a row drawn with no
    span is left unmasked (fairseq raises), and the draws come from `rng` (one generator for
    the whole batch) instead of numpy's global state.
    """
    bsz, all_sz = shape
    _check_arguments(bsz, all_sz, padding_mask, mask_prob, mask_length, mask_dropout)
    mask = np.zeros((bsz, all_sz), dtype=bool)
    if mask_prob == 0 or bsz == 0:
        return mask
    sizes = _row_sizes(bsz, all_sz, padding_mask)
    rows = []
    for sz in sizes:
        num_mask = max(min_masks, int(mask_prob * sz / float(mask_length) + rng.random()))
        lengths = np.full(num_mask, mask_length)
        if num_mask == 0:
            rows.append(np.zeros(0, dtype=np.int64))
            continue
        if no_overlap:
            idc = _place_without_overlap(sz, lengths, min_space, rng)
        else:
            idc = _place_spans(sz, num_mask, lengths, rng)
        idc = np.unique(idc[idc < sz])
        if len(idc) >= sz:
            raise SettingError(f"masks cover a whole row of {sz} positions (mask_prob {mask_prob}, "
                               f"mask_length {mask_length}, {num_mask} spans): use shorter spans "
                               f"or drop utterances this short")
        rows.append(idc)
    target_len = min(len(r) for r in rows) if require_same_masks else None
    for i, idc in enumerate(rows):
        if target_len is not None and len(idc) > target_len:
            idc = rng.choice(idc, target_len, replace=False)
        mask[i, idc] = True
        if mask_dropout > 0:
            masked = np.flatnonzero(mask[i])
            holes = int(np.rint(len(masked) * mask_dropout))
            mask[i, rng.choice(masked, holes, replace=False)] = False
    return mask


def _check_arguments(bsz: int, all_sz: int, padding_mask, mask_prob: float, mask_length: int,
                     mask_dropout: float) -> None:
    if not 0.0 <= mask_prob <= 1.0:
        raise SettingError(f"mask_prob must be in [0, 1], got {mask_prob}")
    if not 0.0 <= mask_dropout < 1.0:
        raise SettingError(f"mask_dropout must be in [0, 1), got {mask_dropout}")
    if mask_length < 1:
        raise SettingError(f"mask_length must be >= 1, got {mask_length}")
    if padding_mask is not None and tuple(padding_mask.shape) != (bsz, all_sz):
        raise ValueError(f"padding_mask has shape {tuple(padding_mask.shape)}, expected {(bsz, all_sz)}")


def _row_sizes(bsz: int, all_sz: int, padding_mask) -> list[int]:
    """Real (unpadded) positions per row; padding must follow the real positions."""
    if padding_mask is None:
        return [all_sz] * bsz
    pad = np.asarray(padding_mask, dtype=bool)
    sizes = (~pad).sum(axis=1)
    right_padded = np.arange(all_sz)[None, :] >= sizes[:, None]
    if not np.array_equal(pad, right_padded):
        raise ValueError("padding_mask must mark padding at the end of each row (right-padded batch)")
    return [int(s) for s in sizes]


def _place_spans(sz: int, num_mask: int, lengths: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Span starts drawn without replacement from the positions where a span fits
    (fairseq's idc_select_ver 1); spans may overlap."""
    min_len = int(min(lengths))
    if sz - min_len <= num_mask:
        min_len = sz - num_mask - 1
    starts = rng.choice(sz - min_len, num_mask, replace=False)
    return (starts[:, None] + np.arange(int(lengths[0]))[None, :]).reshape(-1)


def _place_without_overlap(sz: int, lengths: np.ndarray, min_space: int,
                           rng: np.random.Generator) -> np.ndarray:
    """fairseq's no_overlap placement: longest span first, each into a free part chosen with
    probability proportional to its length; spans that no longer fit are dropped."""
    idc: list[int] = []
    parts = [(0, sz)]
    keep_length = int(min(lengths))
    for length in sorted(lengths, reverse=True):
        lens = np.array([e - s if e - s >= length + min_space else 0 for s, e in parts], dtype=np.int64)
        if lens.sum() == 0:
            break
        s, e = parts.pop(int(rng.choice(len(parts), p=lens / lens.sum())))
        start = int(rng.integers(s, e - length))
        idc.extend(range(start, start + int(length)))
        if start - s - min_space >= keep_length:
            parts.append((s, start - min_space + 1))
        if e - start - length - min_space > keep_length:
            parts.append((start + int(length) + min_space, e))
    return np.asarray(idc, dtype=np.int64)
