"""How much memory a KenLM model takes once loaded, and refusing one that cannot fit.

KenLM's own arithmetic (lm/search_hashed.cc, lm/trie.cc; `build_binary x.arpa` prints it)
from the n-gram counts of the ARPA \\data\\ header (c_1 .. c_N, N the order):

    probing   24 B per unigram (table + vocabulary hash) + 24 B per middle n-gram
              (8 B key + 4 B prob + 4 B back-off, times the 1.5 hash multiplier)
              + 18 B per highest-order n-gram (8 B key + 4 B prob, times 1.5)
    trie      23 B per unigram; per n-gram of a middle order n, bits: word (ceil log2 c_1)
              + prob (31, or -q) + back-off (32, or -b) + pointer (ceil log2 (c_{n+1} + 1));
              highest order: word + prob bits; with -q, 4 B per quantisation bin

checked against build_binary's estimates in tests/test_lm_memory.py. A KenLM binary is
read whole into memory when loaded (KenLM's default: populate the mapping), so its
resident size is the file's size; an ARPA file is loaded into a probing structure.
The decoders call `check_fits` before loading: an LM larger than the memory available is
refused in one line naming the file and the estimate, before KenLM tries (and the kernel
kills the process minutes later).
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

from asrkit.errors import LMError
from asrkit.lm.formats import check_lm_file, open_text

log = logging.getLogger(__name__)

IGNORE_ENV = "ASRKIT_IGNORE_LM_MEMORY"
"""Set to 1 to load an LM whatever its estimate (e.g. when swap or a lazy mmap is wanted)."""

WARN_FRACTION = 0.8  # an LM above this share of the available memory is loaded with a warning


def arpa_counts(path: str | os.PathLike) -> tuple[int, ...]:
    """n-gram counts per order from an ARPA file's \\data\\ header (gzip too).

        \\data\\
        ngram 1=200003
        ngram 2=...
    """
    counts: dict[int, int] = {}
    with open_text(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("ngram "):
                n, _, c = line[6:].partition("=")
                try:
                    counts[int(n)] = int(c)
                except ValueError:
                    raise LMError(f"{path}: malformed ARPA header line {line!r}") from None
            elif line.startswith("\\") and line != "\\data\\":
                break
    if not counts or sorted(counts) != list(range(1, len(counts) + 1)):
        raise LMError(f"{path}: no ARPA \\data\\ header with ngram 1=..., 2=... counts")
    return tuple(counts[n] for n in range(1, len(counts) + 1))


def kenlm_bytes(counts: tuple[int, ...], structure: str = "probing", prob_bits: int | None = None,
                backoff_bits: int | None = None) -> int:
    """Bytes of a KenLM binary with these n-gram counts (see the module doc).

    structure: "probing" or "trie"; prob_bits/backoff_bits: the trie's -q/-b quantisation.
    """
    if structure == "probing":
        if prob_bits or backoff_bits:
            raise LMError("KenLM quantises only the trie structure")
        return 24 * counts[0] + 24 * sum(counts[1:-1]) + 18 * counts[-1]
    if structure != "trie":
        raise LMError(f"unknown KenLM structure {structure!r}: probing or trie")
    word = max(1, math.ceil(math.log2(counts[0])))
    prob, backoff = prob_bits or 31, backoff_bits or prob_bits or 32
    bits = 0
    for n in range(1, len(counts)):
        pointer = 0 if n == len(counts) - 1 else math.ceil(math.log2(counts[n + 1] + 1))
        per = word + prob + (pointer + backoff if n < len(counts) - 1 else 0)
        bits += per * counts[n]
    tables = 4 * ((len(counts) - 1) * (1 << prob_bits) + (len(counts) - 2) * (1 << backoff)) if prob_bits else 0
    return 23 * counts[0] + bits // 8 + tables


def resident_bytes(path: str | os.PathLike) -> int:
    """Estimated memory of `path` loaded by KenLM: a binary's size, an ARPA's probing size."""
    if check_lm_file(path) == "binary":
        return Path(path).stat().st_size
    return kenlm_bytes(arpa_counts(path))


def available_bytes() -> int:
    """Memory this process can still take: MemAvailable, capped by a cgroup (container) limit."""
    avail = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
    except OSError:
        pass
    if avail is None:
        avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit.isdigit():
            avail = min(avail, int(limit) - used)
    except (OSError, ValueError):
        pass
    return avail


def gib(n: float) -> str:
    return f"{n / (1 << 30):.1f} GiB"


def check_fits(path: str | os.PathLike) -> int:
    """Refuse (LMError) an LM whose estimated resident size exceeds the available memory;
    warn above WARN_FRACTION of it. Returns the estimate in bytes."""
    need = resident_bytes(path)
    if os.environ.get(IGNORE_ENV) == "1":
        return need
    have = available_bytes()
    if need > have:
        raise LMError(f"{path}: loading this LM needs about {gib(need)} of memory but only {gib(have)} is "
                      f"available; use a smaller LM or a trie binary (`build_binary -q 8 -b 8 trie`), free "
                      f"memory, or set {IGNORE_ENV}=1 to try anyway")
    if need > WARN_FRACTION * have:
        log.warning("%s: this LM needs about %s of the %s available", path, gib(need), gib(have))
    return need
