"""Checks on what an LM folder holds and what an LM is built from: info.json read with a
message when damaged, the decoder's file checked against the checksum recorded when it was
made, and a corpus that is not text refused before lmplz counts its bytes as words.

info.json (asrkit.lm.builder) records, per file a decoder loads:

    "checksums": {"4gram.bin": {"bytes": 1512345678, "sha256": "9f2c..."}}

Hashing a 1.5 GB binary costs seconds, so a successful check is remembered in
.verified.json beside it, by the file's size and modification time: a later use re-reads the
file only when it was written since (4 MB of random bytes written into a binary changes
both its bytes and its mtime; the size alone would not show it).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from asrkit.errors import LMError
from asrkit.io import write_json

log = logging.getLogger(__name__)

VERIFIED = ".verified.json"
SAMPLE_BYTES = 1 << 16  # of each corpus file, to tell text from binary


def read_info(folder: str | os.PathLike) -> dict:
    """<folder>/info.json as a dict ({} when there is none); LMError naming it when it cannot be read."""
    path = Path(folder) / "info.json"
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise LMError(f"{path}: damaged or truncated ({e}); build the LM again (asrkit lm build --force) "
                      f"or remove the folder") from None
    if not isinstance(info, dict):
        raise LMError(f"{path}: not an LM description (a JSON object)")
    return info


def checksums(paths: list[Path]) -> dict[str, dict]:
    """{file name: {"bytes", "sha256"}} for info.json, of the files that exist."""
    from asrkit.download import file_hash

    return {p.name: {"bytes": p.stat().st_size, "sha256": file_hash(p)} for p in paths if p.is_file()}


def verify(path: Path, info: dict) -> None:
    """The LM file `path` is what info.json's checksums recorded when it was made (LMs built
    before checksums were recorded pass unchecked). LMError names the file otherwise."""
    from asrkit.download import file_hash

    expected = (info.get("checksums") or {}).get(path.name)
    if not isinstance(expected, dict):
        return
    st = path.stat()
    stamp = {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": expected.get("sha256")}
    memo = path.parent / VERIFIED
    try:
        if json.loads(memo.read_text(encoding="utf-8")).get(path.name) == stamp:
            return
    except (OSError, ValueError, AttributeError):
        pass
    if st.st_size != expected.get("bytes") or file_hash(path) != expected.get("sha256"):
        raise LMError(f"{path}: damaged: its size or sha256 differs from the one recorded in "
                      f"{path.parent / 'info.json'} when it was built; build or download it again")
    try:
        old = json.loads(memo.read_text(encoding="utf-8")) if memo.is_file() else {}
        write_json(memo, {**(old if isinstance(old, dict) else {}), path.name: stamp})
    except (OSError, ValueError):
        log.debug("cannot record the check of %s", path)  # a read-only LM folder: checked again next time


def check_text(path: Path) -> None:
    """A corpus file must be text: NUL bytes or mostly undecodable bytes in its first 64 KiB
    (decompressed) mean a binary file, whose bytes lmplz would count as thousands of words."""
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            head = f.read(SAMPLE_BYTES)
    except (gzip.BadGzipFile, EOFError) as e:
        raise LMError(f"{path}: not a readable gzip file ({e})") from None
    text = head.decode("utf-8", errors="replace")
    bad = text.count("\ufffd") + sum(1 for c in text if c < " " and c not in "\t\n\r")
    if b"\0" in head or bad > max(8, len(text) // 100):
        raise LMError(f"{path}: not a text corpus ({bad} undecodable or control characters in its first "
                      f"{len(head)} bytes); give UTF-8 text, one sentence per line")
