"""Language models on disk, found by name (a folder under lm_dir()), folder or file.

Two kinds live side by side: KenLM n-grams (asrkit.lm.builder; decoders load their file)
and causal Transformer LMs (asrkit.lm.transformer; info.json says "kind": "transformer"),
which rescore N-best lists (asrkit.rescore) and are loaded from their folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from asrkit import workspace
from asrkit.errors import LMError
from asrkit.lm.formats import check_lm_file, read_lexicon, read_words
from asrkit.lm.integrity import read_info, verify
from asrkit.text import LETTERS
from asrkit.vocab import spelled


@dataclass(frozen=True)
class LanguageModel:
    """A language model folder, as `resolve` finds it."""

    name: str
    path: Path  # the file the decoders load: <name>.bin when present, else the ARPA
    unigrams: Path | None  # unigrams.txt (pyctcdecode); None when unknown
    lexicon: Path | None  # lexicon.txt (flashlight lexicon decoder)
    unit: str = "word"  # "word" or "letter"
    info: dict = field(default_factory=dict, compare=False)
    kind: str = "ngram"  # "ngram" (KenLM: path is its file) or "transformer" (path is its folder)

    def read_unigrams(self) -> list[str]:
        if self.unigrams is None:
            raise LMError(f"{self.path}: no unigrams.txt beside this LM; pyctcdecode needs one")
        return read_words(self.unigrams)


def available(root: str | os.PathLike | None = None) -> list[str]:
    """Names of the models under `root` (default lm_dir()): folders holding an info.json
    (not the hidden ones a Transformer LM build works in)."""
    root = Path(root or workspace.lm_dir())
    return sorted(p.parent.name for p in root.glob("*/info.json")
                  if not p.parent.name.startswith(".")) if root.is_dir() else []


def _from_dir(d: Path) -> LanguageModel:
    info = read_info(d)
    name = info.get("name", d.name)
    if info.get("kind") == "transformer" or (not info and (d / "config.json").is_file()):
        return _transformer_dir(d, name, info)
    for candidate in (d / f"{name}.bin", d / f"{name}.arpa", *sorted(d.glob("*.bin")), *sorted(d.glob("*.arpa"))):
        if candidate.is_file():
            check_lm_file(candidate)
            verify(candidate, info)
            break
    else:
        raise LMError(f"{d}: no <name>.bin or <name>.arpa language model in this folder")
    unigrams, lexicon = d / "unigrams.txt", d / "lexicon.txt"
    if not unigrams.is_file():  # an ARPA lists its words itself
        arpa = d / f"{name}.arpa"
        unigrams = arpa if arpa.is_file() else candidate if candidate.suffix == ".arpa" else None
    return LanguageModel(
        name=name, path=candidate, unigrams=unigrams,
        lexicon=lexicon if lexicon.is_file() else None, unit=info.get("unit", "word"), info=info,
    )


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model", "spiece.model",
                   "vocab.txt")
"""Any of these beside a Transformer LM's config.json means the folder carries a tokenizer."""


def has_tokenizer(folder: Path) -> bool:
    return any((folder / f).is_file() for f in TOKENIZER_FILES)


def _transformer_dir(d: Path, name: str, info: dict) -> LanguageModel:
    """A causal Transformer LM folder: transformers' config.json and a tokenizer beside it."""
    if info.get("model"):  # registered: a folder elsewhere or a hub id (`lm build --lm-model`)
        return LanguageModel(name=name, path=d, unigrams=None, lexicon=None, unit="word", info=info,
                             kind="transformer")
    if not (d / "config.json").is_file():
        raise LMError(f"{d}: info.json says Transformer LM but there is no config.json (an unfinished build?)")
    if not has_tokenizer(d):
        raise LMError(f"{d}: a Transformer LM folder without a tokenizer (none of {', '.join(TOKENIZER_FILES)}); "
                      "save it beside the model with tokenizer.save_pretrained")
    return LanguageModel(name=name, path=d, unigrams=None, lexicon=None, unit="word", info=info, kind="transformer")


def resolve(name_or_path: str, root: str | os.PathLike | None = None) -> LanguageModel | None:
    """The model `--lm` names: "none", a name under `root` (default lm_dir()), a folder,
    or an LM file.

    A bare file (.arpa or .bin) is used with the unigrams.txt/lexicon.txt beside it; for
    an ARPA file without them, they are read from the ARPA itself.
    """
    if name_or_path.lower() in ("none", ""):
        return None
    p = Path(name_or_path)
    root = Path(root or workspace.lm_dir())
    by_name = root / name_or_path
    if "/" not in name_or_path and by_name.is_dir():
        return _from_dir(by_name)
    if p.is_dir():
        return _from_dir(p)
    if p.is_file():
        kind = check_lm_file(p)
        unigrams, lexicon = p.parent / "unigrams.txt", p.parent / "lexicon.txt"
        return LanguageModel(
            name=p.name.split(".")[0], path=p, unit="word",
            unigrams=unigrams if unigrams.is_file() else (p if kind == "arpa" else None),
            lexicon=lexicon if lexicon.is_file() else None,
        )
    names = available(root)
    listed = ", ".join(names) if names else "none yet (run `asrkit lm build` or `asrkit lm download 4gram`)"
    raise LMError(f"unknown language model {name_or_path!r}: not a file or folder, nor a name under "
                  f"{root}; available: {listed}")


def lexicon_words(lm: LanguageModel) -> dict[str, list[list[str]]]:
    """The lexicon of `lm`: its lexicon.txt, or one spelled from its vocabulary."""
    if lm.lexicon is not None:
        return read_lexicon(lm.lexicon)
    allowed = set(LETTERS)
    words = [w for w in lm.read_unigrams() if set(w) <= allowed] if lm.unigrams else []
    if not words:
        raise LMError(f"{lm.path}: no lexicon.txt beside it and no vocabulary to spell one from")
    return {w: [spelled(w).split()] for w in words}
