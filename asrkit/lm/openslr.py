"""The LibriSpeech n-grams of OpenSLR resource 11: fetched, checked and finished like a built one."""

from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
from pathlib import Path

from asrkit import workspace
from asrkit.download import file_hash, openslr
from asrkit.errors import LMError
from asrkit.io import atomic_path
from asrkit.lm.builder import finish_arpa
from asrkit.lm.formats import check_lm_file
from asrkit.lm.registry import LanguageModel, _from_dir

log = logging.getLogger(__name__)

LM_RESOURCE = 11  # OpenSLR's LibriSpeech language models
LM_URL = openslr(LM_RESOURCE)
"""Where the LibriSpeech LMs are; asrkit.download.OPENSLR_MIRRORS serve them too (base_url)."""

# md5 as published for OpenSLR resource 11 (copied in Sean Robertson's LibriSpeech
# preparation script, adapted from Kaldi) and sizes from Kaldi's
# egs/librispeech/s5/local/download_lm.sh; see lm/README.md.
OPENSLR_FILES = {
    "4-gram.arpa.gz": ("6abdcd5b055bd482e4f9defe91d40408", 1355172078),
    "3-gram.arpa.gz": ("74cbb837e582378c26c602e1c8cbcb9c", 759636181),
    "3-gram.pruned.1e-7.arpa.gz": ("9a0f1325bcaf3a0f7b7be4be10823c2a", 34094057),
    "3-gram.pruned.3e-7.arpa.gz": ("8f67ec741827742eee05799ab7605b50", 13654242),
    "librispeech-lm-norm.txt.gz": ("c83c64c726a1aedfe65f80aa311de402", None),
    "librispeech-vocab.txt": ("bf3cc7a50112831ed8b0afa40cae96a5", 1737588),
}
# n-gram counts per order in the \\data\\ header of 4-gram.arpa.gz: 200,000 words + <s>, </s>,
# <unk>; BENCHMARKS.md ("The official 4-gram at its real scale") says where the higher orders'
# counts come from. benchmarks/synthetic_4gram.py makes an LM of this shape.
OPENSLR_COUNTS = {"4-gram.arpa.gz": (200_003, 38_229_161, 87_689_568, 145_020_563)}

# Measured on an LM of that shape (BENCHMARKS.md, 2026-12-03): bytes of ARPA text per n-gram
# (8.16 GB / 271M), build_binary's peak resident memory over the binary's size (probing 1.00;
# trie -q 8 -b 8 with -S 2G 1.49, 1.18 at a tenth of the size), and what decoding holds beyond
# the LM at beam 1,500 (flashlight's lexicon trie of 200k words, dictionaries, beams: 526 MiB).
ARPA_BYTES_PER_NGRAM = 30.1
BUILD_PEAK = {"probing": 1.03, "trie": 1.5}
DECODE_EXTRA_BYTES = 530 << 20

DOWNLOADABLE = {  # --lm name -> file in resource 11
    "4gram": "4-gram.arpa.gz",
    "3gram": "3-gram.arpa.gz",
    "3gram-pruned-1e-7": "3-gram.pruned.1e-7.arpa.gz",
    "3gram-pruned-3e-7": "3-gram.pruned.3e-7.arpa.gz",
}
CORPUS_FILE = "librispeech-lm-norm.txt.gz"


def _remote(filename: str, base_url: str):
    from asrkit.download import Remote

    md5, size = OPENSLR_FILES[filename]
    return Remote(url=f"{base_url.rstrip('/')}/{filename}", md5=md5, size=size)


def requirements(name: str, binary_type: str = "probing") -> tuple[list[str], int | None]:
    """What fetching and finishing `name` takes (lines to print before a download starts),
    and the memory building its binary needs (None when the n-gram counts are not known)."""
    from asrkit.lm.memory import available_bytes, gib, kenlm_bytes

    filename = DOWNLOADABLE[name]
    gz = OPENSLR_FILES[filename][1] or 0
    lines = [f"{name}: {filename} from OpenSLR {LM_RESOURCE}, {gz / 1e9:.2f} GB to download"]
    counts = OPENSLR_COUNTS.get(filename)
    if counts is None:
        return lines + ["memory and disk: not estimated (the n-gram counts of this file are not recorded here)"], None
    arpa = int(ARPA_BYTES_PER_NGRAM * sum(counts))
    sizes = {"probing": kenlm_bytes(counts), "trie": kenlm_bytes(counts, "trie"),
             "trie -q 8 -b 8": kenlm_bytes(counts, "trie", 8, 8)}
    build = int(BUILD_PEAK[binary_type] * sizes[binary_type])
    lines += [
        f"disk: about {gib(gz + arpa + sizes[binary_type])} while finishing, {gib(arpa + sizes[binary_type])} "
        f"after (ARPA {gib(arpa)} + {binary_type} binary {gib(sizes[binary_type])})",
        f"memory to build the {binary_type} binary: about {gib(build)}",
        "memory to decode (LM + lexicon and beams): " + ", ".join(
            f"{kind} {gib(size + DECODE_EXTRA_BYTES)}" for kind, size in sizes.items()),
        f"memory available now: {gib(available_bytes())}"
        + ("" if binary_type == "trie" else "; --binary-type trie needs less and decodes about as fast at this size"),
    ]
    return lines, build


def check_room(name: str, binary_type: str) -> None:
    """LMError before anything is fetched when building the binary cannot fit in memory."""
    from asrkit.lm.memory import IGNORE_ENV, available_bytes, gib

    _, build = requirements(name, binary_type)
    have = available_bytes()
    if build is not None and build > have and os.environ.get(IGNORE_ENV) != "1":
        raise LMError(f"{name}: building its {binary_type} binary needs about {gib(build)} of memory but only "
                      f"{gib(have)} is available; use --binary-type trie, free memory, or set {IGNORE_ENV}=1")


def download(name: str = "4gram", base_url: str = LM_URL, corpus: bool = False,
             out_root: str | os.PathLike | None = None, binary_type: str = "probing",
             progress: bool = True, kenlm_bin: str | os.PathLike | None = None) -> LanguageModel:
    """Fetch a LibriSpeech n-gram from OpenSLR 11 into <lm_dir>/<name>/ and finish it there.

    The .arpa.gz is downloaded (resumable, retried, md5- and size-checked), decompressed to <name>.arpa,
    binarised, and unigrams.txt, lexicon.txt and info.json written beside it. With
    corpus=True the LM training text (librispeech-lm-norm.txt.gz, about 1.5 GB) is also
    fetched into <lm_dir>/corpus/, for `asrkit lm build`. Done files are not fetched again.
    """
    from asrkit.download import fetch

    if name not in DOWNLOADABLE:
        raise LMError(f"cannot download {name!r}: OpenSLR 11 offers {', '.join(DOWNLOADABLE)}")
    check_room(name, binary_type)
    root = Path(out_root or workspace.lm_dir())
    out = root / name
    filename = DOWNLOADABLE[name]
    remote = _remote(filename, base_url)
    if corpus:
        text = fetch(_remote(CORPUS_FILE, base_url), root / "corpus" / CORPUS_FILE, progress=progress)
        log.info("LM corpus in %s; build with: asrkit lm build --order 4 --text %s --name 4gram-built",
                 text, text)
    info_path = out / "info.json"
    if info_path.is_file():
        info = json.loads(info_path.read_text(encoding="utf-8"))
        if info.get("download", {}).get("md5") == remote.md5 and (out / f"{name}.bin").is_file():
            log.info("%s: already downloaded", out)
            return _from_dir(out)
    gz = fetch(remote, out / filename, progress=progress)
    sha256 = file_hash(gz, "sha256")
    arpa = out / f"{name}.arpa"
    with atomic_path(arpa) as tmp, gzip.open(gz, "rb") as src, open(tmp, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    check_lm_file(arpa)
    lm = finish_arpa(arpa, name, {"source": "openslr-11", "download": {
        "url": remote.url, "md5": remote.md5, "bytes": gz.stat().st_size, "sha256": sha256}},
        binary_type=binary_type, kenlm_bin=kenlm_bin)
    gz.unlink()  # the ARPA and binary hold it all; info.json keeps the checksums
    return lm
