"""Where the stages read and write by default, so that commands chain with no flags.

    work/                      ASRKIT_WORK overrides the root
      corpus/                  LibriSpeech/<split>/... and librispeech_finetuning/... (synth or download)
      manifests/<split>.jsonl  asrkit prepare
      lm/<name>/               asrkit lm build / lm download: ARPA, binary, unigrams, lexicon
      models/<name>/           asrkit finetune: HF model + processor + recipe + log
        logits/<split>/        asrkit logits: log_probs.npy + index.json (reused by decode, tune-lm)
        lm-tuning.json         asrkit tune-lm: best LM weights per (lm, decoder), every trial
        decode/<split>/<setting>/{recogs.jsonl,errs.txt,wer-summary.json}
      reports/                 asrkit report

and how many cores the stages use when not told (cpu_cores).
"""

from __future__ import annotations

import os
from pathlib import Path


def root() -> Path:
    return Path(os.environ.get("ASRKIT_WORK", "work"))


def corpus_dir() -> Path:
    return root() / "corpus"


def manifests_dir() -> Path:
    return root() / "manifests"


def lm_dir() -> Path:
    return root() / "lm"


def models_dir() -> Path:
    return root() / "models"


def reports_dir() -> Path:
    return root() / "reports"


def check_name(name: str, what: str) -> str:
    """`name` checked as one folder or file name inside a stage's folder, never a path: a
    `/`, a `..` or an absolute path would write outside it (`lm build --name ../../x`,
    `decode --setting /abs/path`)."""
    from asrkit.errors import SettingError

    if not name or name in (".", "..") or any(c in name for c in "/\\\0"):
        raise SettingError(f"{what} {name!r} must be a plain name (no '/' or '\\', not '.' or '..'): "
                           f"it names a folder asrkit writes into")
    return name


def cpu_cores() -> int:
    """The cores this process may run on: the default worker count of decoding and synth."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def resolve_model(name_or_path: str | os.PathLike) -> Path:
    """A model folder given as a path, or as a name under models_dir()."""
    from asrkit.errors import InputNotFound

    p = Path(name_or_path)
    if p.is_dir():
        return p
    by_name = models_dir() / str(name_or_path)
    if by_name.is_dir():
        return by_name
    root = models_dir()
    names = sorted(d.name for d in root.iterdir() if (d / "config.json").is_file()) if root.is_dir() else []
    raise InputNotFound(f"no model folder {name_or_path!r} (nor {by_name}); "
                        f"models available: {', '.join(names) or 'none'}")
