"""Published WERs that asrkit runs are compared against, kept as data.

wav2vec 2.0 (Baevski et al., 2020, arXiv 2006.11477v3), Appendix C, Table 9: models
pre-trained without labels, fine-tuned on Libri-light's labelled subsets, decoded with no
LM, the official LibriSpeech 4-gram, or a Transformer LM. WER in percent on LibriSpeech
dev-clean / dev-other / test-clean / test-other. BASE is pre-trained on LibriSpeech 960 h,
LARGE on Libri-light 60k h.
"""

from __future__ import annotations

import re

SPLITS = ("dev-clean", "dev-other", "test-clean", "test-other")
"""LibriSpeech evaluation sets, in the paper's column order."""

LABELLED = ("10min", "1h", "10h", "100h")
"""Libri-light labelled subsets (fine-tuning data), as asrkit recipes name them."""

LMS = ("none", "4gram", "transformer")

# Decoding as the paper ran it (section 4.4): the lexicon beam-search decoder with the official
# 4-gram at beam 1,500 on the test sets; the LM weight and word insertion score tuned on
# dev-other by Bayesian optimisation, 128 trials at beam 500, weight in [0, 5], score in [-5, 5].
# `asrkit decode --paper` and `asrkit tune-lm --paper` use these; their defaults are cheaper.
TEST_BEAM = 1500
TUNE_BEAM = 500
TUNE_TRIALS = 128
TUNE_WEIGHT_RANGE = (0.0, 5.0)
TUNE_SCORE_RANGE = (-5.0, 5.0)

CITATION = "wav2vec 2.0 (Baevski et al., 2020), Table 9"

# (labelled split, model size, LM) -> WER % on SPLITS
_TABLE9 = {
    ("10min", "base"): ("46.1/51.5/46.9/50.9", "8.9/15.7/9.1/15.6", "6.6/13.2/6.9/12.9"),
    ("10min", "large"): ("38.3/41.0/40.2/38.7", "6.3/9.8/6.6/10.3", "4.6/7.9/4.8/8.2"),
    ("1h", "base"): ("24.1/29.6/24.5/29.7", "5.0/10.8/5.5/11.3", "3.8/9.0/4.0/9.3"),
    ("1h", "large"): ("17.3/20.6/17.2/20.3", "3.6/6.5/3.8/7.1", "2.9/5.4/2.9/5.8"),
    ("10h", "base"): ("10.9/17.4/11.1/17.6", "3.8/9.1/4.3/9.5", "2.9/7.4/3.2/7.8"),
    ("10h", "large"): ("6.3/9.8/6.3/10.0", "2.6/5.5/3.0/5.8", "2.4/4.8/2.6/4.9"),
    ("100h", "base"): ("6.1/13.5/6.1/13.3", "2.7/7.9/3.4/8.0", "2.2/6.3/2.6/6.3"),
    ("100h", "large"): ("3.3/6.5/3.1/6.3", "1.8/4.5/2.3/4.6", "1.9/4.0/2.0/4.0"),
}

TABLE9: dict[tuple[str, str, str], dict[str, float]] = {
    (labelled, size, lm): dict(zip(SPLITS, map(float, cell.split("/"))))
    for (labelled, size), cells in _TABLE9.items()
    for lm, cell in zip(LMS, cells)
}
"""(labelled split, "base" | "large", "none" | "4gram" | "transformer") -> {eval split: WER %}."""

TUNED_4GRAM_BASE = {"10min": (3.23, -0.26), "1h": (2.90, None), "10h": (2.46, None),
                    "100h": (2.15, None), "960h": (1.74, 0.52)}
"""Tuned flashlight (lm_weight, word_score) for BASE with the 4-gram (paper section 4.4);
None where the paper gives no word score."""


def labelled_split(name: str | None) -> str | None:
    """The canonical name of a Libri-light labelled subset, or None if `name` is not one.

    Accepts the spellings recipes use: "10min", "10m", "10-min", "1h", "1hr", "10 h", "100h".
    """
    if not name:
        return None
    m = re.fullmatch(r"(\d+)\s*[-_ ]?\s*(min|mins|minutes|m|h|hr|hrs|hours?)", str(name).strip().lower())
    if not m:
        return None
    number, unit = m.groups()
    canon = f"{number}min" if unit.startswith("m") else f"{number}h"
    return canon if canon in LABELLED else None


def model_size(name: str | None) -> str | None:
    """"base" or "large" from a size field or a checkpoint name (facebook/wav2vec2-large-lv60)."""
    if not name:
        return None
    words = re.split(r"[^a-z]+", str(name).lower())
    if "large" in words:
        return "large"
    if "base" in words:
        return "base"
    return None


def paper_wer(labelled: str | None, size: str | None, lm: str | None) -> dict[str, float] | None:
    """Table 9's WERs (%) for a run, or None when the run has no counterpart in the table."""
    return TABLE9.get((labelled_split(labelled) or "", model_size(size) or "", lm or ""))
