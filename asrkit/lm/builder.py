"""Building an n-gram from text with KenLM: normalise, lmplz, build_binary, word lists."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from asrkit import workspace
from asrkit.download import file_hash
from asrkit.errors import InputNotFound, LMError
from asrkit.io import atomic_path, write_json
from asrkit.lm.formats import arpa_order, arpa_words, open_text, write_lexicon, write_unigrams
from asrkit.lm.integrity import check_text, checksums, read_info
from asrkit.lm.registry import LanguageModel, _from_dir
from asrkit.lm.tools import kenlm_tool, run_tool
from asrkit.text import normalize
from asrkit.vocab import spelled

log = logging.getLogger(__name__)


def corpus_lines(paths: Iterable[str | os.PathLike], unit: str = "word") -> Iterator[str]:
    """Normalised, non-empty lines of the corpus files, in order.

    unit="letter" spells each line out as "H E L L O | W O R L D |".
    """
    for path in paths:
        with open_text(path) as f:
            for line in f:
                text = normalize(line)
                if not text:
                    continue
                yield spelled(text) if unit == "letter" else text


@dataclass(frozen=True)
class BuildOptions:
    order: int = 4  # n of the n-gram (KenLM here is built with a maximum of 6)
    unit: str = "word"  # "word" or "letter" (for the lexicon-free decoder)
    prune: tuple[int, ...] = ()  # lmplz --prune counts per order, e.g. (0, 0, 1, 1)
    discount_fallback: bool | None = None  # None: retry with it when lmplz says the corpus is too small
    memory: str | None = None  # lmplz -S (sort memory); None: 100M for corpora under 1 GB, else 20%
    binary_type: str = "probing"  # build_binary data structure: probing (fast) or trie (small)


def _check_build_options(o: BuildOptions) -> None:
    if not 1 <= o.order <= 6:
        raise LMError(f"`order` {o.order}: KenLM here supports orders 1 to 6")
    if o.unit not in ("word", "letter"):
        raise LMError(f"`unit` {o.unit!r}: expected 'word' or 'letter'")
    if o.prune and (len(o.prune) > o.order or any(p < 0 for p in o.prune)):
        raise LMError(f"`prune` {' '.join(map(str, o.prune))}: give at most {o.order} non-negative counts")
    if o.prune and o.prune[0] != 0:
        raise LMError("`prune`: KenLM cannot prune unigrams; the first count must be 0")
    if o.binary_type not in ("probing", "trie"):
        raise LMError(f"`binary_type` {o.binary_type!r}: expected 'probing' or 'trie'")


def text_paths(texts: Sequence[str | os.PathLike]) -> list[Path]:
    """The LM's text files as paths; LMError when none is given, InputNotFound naming a missing one."""
    paths = [Path(t) for t in texts]
    if not paths:
        raise LMError("no `text` files given")
    for p in paths:
        if not p.is_file():
            raise InputNotFound(f"no text corpus at {p}")
    return paths


def _inputs_fingerprint(paths: list[Path]) -> list[dict]:
    return [{"path": str(p.resolve()), "bytes": p.stat().st_size, "sha256": file_hash(p)} for p in paths]


def build(texts: list[str | os.PathLike], name: str = "4gram", options: BuildOptions = BuildOptions(),
          out_root: str | os.PathLike | None = None, force: bool = False,
          kenlm_bin: str | os.PathLike | None = None, progress: bool = True) -> LanguageModel:
    """Build an n-gram from text files into <out_root or lm_dir()>/<name>/ (see module doc).

    Idempotent: when info.json records the same inputs (by sha256) and options, nothing
    is rebuilt. `kenlm_bin` is the folder of lmplz and build_binary (asrkit.lm.tools).
    `progress`: a tqdm bar (stderr) over the corpus lines read.
    """
    _check_build_options(options)
    workspace.check_name(name, "LM name")
    paths = text_paths(texts)
    out = Path(out_root or workspace.lm_dir()) / name
    inputs = _inputs_fingerprint(paths)
    info_path = out / "info.json"
    if info_path.is_file() and not force:
        old = read_info(out)
        if old.get("inputs") == inputs and old.get("options") == json.loads(json.dumps(dataclasses.asdict(options))):
            log.info("%s: already built from the same text and options", out)
            return _from_dir(out)
    for path in paths:
        check_text(path)
    out.mkdir(parents=True, exist_ok=True)
    lmplz, build_binary = kenlm_tool("lmplz", kenlm_bin), kenlm_tool("build_binary", kenlm_bin)
    arpa, binary = out / f"{name}.arpa", out / f"{name}.bin"
    # lmplz allocates all of -S up front: 20% of RAM costs a second even for ten lines.
    memory = options.memory or ("20%" if sum(i["bytes"] for i in inputs) > 1 << 30 else "100M")

    counts = {"lines": 0, "words": 0}

    def lines() -> Iterator[str]:
        counts["lines"] = counts["words"] = 0
        from tqdm import tqdm

        for line in tqdm(corpus_lines(paths, options.unit), desc=f"lm {name}", unit=" lines", disable=not progress):
            counts["lines"] += 1
            counts["words"] += line.count(" ") + 1
            yield line

    started = time.time()
    with atomic_path(arpa) as tmp_arpa:
        cmd = [str(lmplz), "-o", str(options.order), "-S", memory, "-T", str(out),
               "--arpa", str(tmp_arpa)]
        if options.prune:
            cmd += ["--prune", *map(str, options.prune)]
        try:
            run_tool(cmd + (["--discount_fallback"] if options.discount_fallback else []), "lmplz", lines())
        except LMError as e:
            # Kneser-Ney discounts cannot be estimated from a tiny corpus (too few
            # singletons); lmplz then wants --discount_fallback.
            if options.discount_fallback is None and "discount" in str(e).lower():
                log.warning("lmplz: corpus too small to estimate discounts; using --discount_fallback")
                run_tool(cmd + ["--discount_fallback"], "lmplz", lines())
            else:
                raise
        if counts["lines"] == 0:
            raise LMError(f"no text left after normalisation in {', '.join(map(str, paths))}")
    with atomic_path(binary) as tmp_bin:
        run_tool([str(build_binary), "-S", memory, options.binary_type, str(arpa), str(tmp_bin)], "build_binary")
    words = arpa_words(arpa)
    write_unigrams(words, out / "unigrams.txt")
    n_lexicon = write_lexicon(words, out / "lexicon.txt") if options.unit == "word" else 0
    write_json(info_path, {
        "name": name, "order": options.order, "unit": options.unit, "source": "built",
        "corpus_lines": counts["lines"], "corpus_words": counts["words"],
        "vocabulary": len(words), "lexicon_words": n_lexicon, "inputs": inputs,
        "options": dataclasses.asdict(options), "seconds": round(time.time() - started, 1),
        "files": {"arpa": arpa.name, "binary": binary.name, "unigrams": "unigrams.txt",
                  "lexicon": "lexicon.txt" if options.unit == "word" else None},
        "checksums": checksums([binary, arpa]),  # checked before use (asrkit.lm.integrity)
    })
    log.info("%s: %d-gram over %d words from %d lines", out, options.order, len(words), counts["lines"])
    return _from_dir(out)


def finish_arpa(arpa: Path, name: str, info: dict, binary_type: str = "probing",
                kenlm_bin: str | os.PathLike | None = None) -> LanguageModel:
    """Binarise an ARPA file in its folder and write unigrams, lexicon and info.json beside it."""
    out = arpa.parent
    binary = out / f"{name}.bin"
    with atomic_path(binary) as tmp_bin:
        # -S: the trie's on-disk sort would otherwise take 80% of RAM (build_binary's default);
        # 1G keeps the build near the binary's own size (asrkit.lm.openslr.BUILD_PEAK).
        run_tool([str(kenlm_tool("build_binary", kenlm_bin)), "-S", "1G", binary_type, str(arpa),
                  str(tmp_bin)], "build_binary")
    words = arpa_words(arpa)
    write_unigrams(words, out / "unigrams.txt")
    n_lexicon = write_lexicon(words, out / "lexicon.txt")
    write_json(out / "info.json", {
        "name": name, "order": arpa_order(arpa), "unit": "word", "vocabulary": len(words),
        "lexicon_words": n_lexicon,
        "files": {"arpa": arpa.name, "binary": binary.name, "unigrams": "unigrams.txt", "lexicon": "lexicon.txt"},
        "checksums": checksums([binary, arpa]),  # checked before use (asrkit.lm.integrity)
        **info,
    })
    return _from_dir(out)
