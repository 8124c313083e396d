"""The fraction of frames and channels that fine-tuning masks, asrkit beside fairseq, at every
shipped recipe's settings.

asrkit.masks.compute_mask_indices is asrkit's port of fairseq's compute_mask_indices. This
benchmark sets it beside a second, independent port kept here line by line close to
fairseq's own code (fairseq/data/data_utils.py, compute_mask_indices, at
facebookresearch/fairseq commit 3d262bb2, 2025-09-30: the "static" mask type, spans that may
overlap, idc_select_ver 1, num_mask_ver 2, require_same_masks, no mask_dropout), and beside
transformers' _compute_mask_indices (what model.masks: transformers uses), on the same batch
shapes: LibriSpeech-like utterances (normal, mean 12.7 s, sd 3.5 s, clipped to 1.5-24.5 s)
batched as asrkit batches them (data.max_tokens, closed at multiples of 8), time masks over
each batch's real frames (20 ms each, min_masks 2, padding never masked) and channel masks
over the model's channels (768 for BASE recipes, 1024 for LARGE; min_masks 0), as fairseq's
Wav2Vec2Model.apply_mask draws them.

Prints, per recipe: the masked fraction of real frames and of channels for each of the three
(mean over batches), and asrkit's difference from the fairseq port.

    .venv/bin/python benchmarks/mask_fractions.py [--batches 200]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asrkit.config import load_recipe, recipes_dir  # noqa: E402
from asrkit.data.batching import length_bucketed_batches  # noqa: E402
from asrkit.errors import RecipeError  # noqa: E402
from asrkit.masks import compute_mask_indices  # noqa: E402

SR = 16_000


def fairseq_compute_mask_indices(shape, padding_mask, mask_prob, mask_length, min_masks=0,
                                 require_same_masks=True):
    """fairseq's compute_mask_indices (data_utils.py, commit 3d262bb2), the branches fine-tuning
    takes: mask_type "static", no_overlap False, idc_select_ver 1, num_mask_ver 2,
    mask_dropout 0, add_masks False, seed None (a fresh generator per row, as there)."""
    bsz, all_sz = shape
    mask = np.full((bsz, all_sz), False)
    mask_idcs = []
    rng = None
    for i in range(bsz):
        rng = np.random.default_rng(None)
        if padding_mask is not None:
            sz = all_sz - padding_mask[i].long().sum().item()
            assert sz >= 0, sz
        else:
            sz = all_sz
        num_mask = int(mask_prob * sz / float(mask_length) + rng.random())
        num_mask = max(min_masks, num_mask)
        lengths = np.full(num_mask, mask_length)
        if sum(lengths) == 0:
            raise ValueError("this should never happens")
        min_len = min(lengths)
        if sz - min_len <= num_mask:
            min_len = sz - num_mask - 1
        mask_idc = rng.choice(sz - min_len, num_mask, replace=False)
        mask_idc = np.asarray([mask_idc[j] + offset for j in range(len(mask_idc)) for offset in range(lengths[j])])
        mask_idc = np.unique(mask_idc[mask_idc < sz])
        if len(mask_idc) >= sz:
            raise ValueError("the entire sequence is masked")
        mask_idcs.append(mask_idc)
    target_len = min([len(m) for m in mask_idcs]) if require_same_masks else None
    for i, mask_idc in enumerate(mask_idcs):
        if target_len is not None and len(mask_idc) > target_len:
            mask_idc = rng.choice(mask_idc, target_len, replace=False)
        mask[i, mask_idc] = True
    return mask


def frames(samples: np.ndarray) -> np.ndarray:
    """wav2vec 2.0's CNN output length (kernels 10,3,3,3,3,2,2, strides 5,2,2,2,2,2,2)."""
    n = samples.copy()
    for k, s in zip((10, 3, 3, 3, 3, 2, 2), (5, 2, 2, 2, 2, 2, 2)):
        n = (n - k) // s + 1
    return n


def fractions(recipe, lengths: np.ndarray, batches: int, seed: int) -> dict[str, tuple[float, float]]:
    """{"asrkit" | "fairseq" | "transformers": (time fraction, channel fraction)}."""
    from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices

    m = recipe.model
    channels = 1024 if "large" in m.name.lower() or "lv60" in m.name.lower() else 768
    rng = np.random.default_rng(seed)
    plan = length_bucketed_batches(lengths, recipe.data.max_tokens, seed, 0, recipe.data.batch_size_multiple)[:batches]
    sums = {k: np.zeros(2) for k in ("asrkit", "fairseq", "transformers")}
    for batch in plan:
        real = frames(lengths[batch])
        t = int(real.max())
        padding = np.arange(t)[None, :] >= real[:, None]
        shape_t, shape_c = (len(batch), t), (len(batch), channels)
        def drawn(prob, shape, draw):  # as Wav2Vec2Model.apply_mask: no draw at probability 0
            return draw() if prob > 0 else np.zeros(shape, dtype=bool)

        draws = {
            "asrkit": (drawn(m.mask_time_prob, shape_t, lambda: compute_mask_indices(
                           shape_t, padding, m.mask_time_prob, m.mask_time_length, min_masks=2, rng=rng)),
                       drawn(m.mask_feature_prob, shape_c, lambda: compute_mask_indices(
                           shape_c, None, m.mask_feature_prob, m.mask_feature_length, rng=rng))),
            "fairseq": (drawn(m.mask_time_prob, shape_t, lambda: fairseq_compute_mask_indices(
                            shape_t, torch.from_numpy(padding), m.mask_time_prob, m.mask_time_length, min_masks=2)),
                        drawn(m.mask_feature_prob, shape_c, lambda: fairseq_compute_mask_indices(
                            shape_c, None, m.mask_feature_prob, m.mask_feature_length))),
            "transformers": (drawn(m.mask_time_prob, shape_t, lambda: _compute_mask_indices(
                                 shape_t, m.mask_time_prob, m.mask_time_length, torch.from_numpy(~padding).long(),
                                 min_masks=2)),
                             drawn(m.mask_feature_prob, shape_c, lambda: _compute_mask_indices(
                                 shape_c, m.mask_feature_prob, m.mask_feature_length))),
        }
        for name, (time_mask, channel_mask) in draws.items():
            sums[name] += [time_mask[~padding].mean(), channel_mask.mean()]
    return {k: tuple(v / len(plan)) for k, v in sums.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, default=200, help="batches per recipe")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    seconds = np.clip(np.random.default_rng(args.seed).normal(12.7, 3.5, 4000), 1.5, 24.5)
    lengths = (seconds * SR).astype(np.int64)
    print(f"{'recipe':22s} {'time p/len':>10s} {'chan p/len':>10s} | masked fraction of frames: asrkit / fairseq / "
          f"transformers | of channels: asrkit / fairseq / transformers | asrkit - fairseq (frames, channels)")
    for path in sorted(recipes_dir().glob("*.yaml")):
        try:
            recipe = load_recipe(path)
        except RecipeError:  # a pre-training recipe: its masks are pre-training's
            continue
        m = recipe.model
        if m.masks != "fairseq" or (m.mask_time_prob == 0 and m.mask_feature_prob == 0):
            continue
        usable = lengths[lengths <= recipe.data.max_tokens]
        f = fractions(recipe, usable, args.batches, args.seed)
        print(f"{path.stem:22s} {m.mask_time_prob:>5g}/{m.mask_time_length:<4d} {m.mask_feature_prob:>5g}/"
              f"{m.mask_feature_length:<4d} | {f['asrkit'][0]:.3f} / {f['fairseq'][0]:.3f} / {f['transformers'][0]:.3f}"
              f" | {f['asrkit'][1]:.3f} / {f['fairseq'][1]:.3f} / {f['transformers'][1]:.3f}"
              f" | {f['asrkit'][0] - f['fairseq'][0]:+.3f}, {f['asrkit'][1] - f['fairseq'][1]:+.3f}", flush=True)


if __name__ == "__main__":
    main()
