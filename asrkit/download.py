"""Resumable, checksum-verified HTTP downloads with the standard library.

A download goes to `<dest>.part`; an interrupted one is resumed with an HTTP Range
request when the server supports it (206 Partial Content), and restarted otherwise. A
dropped connection is retried, each try resuming where the last stopped. Only a file
whose size and checksums match is renamed to `dest`, so a file at `dest` is always
complete; a whole `.part` that does not match is removed, so the next run starts afresh.
A file already at `dest` that matches is not fetched again.

`fetch` is the one downloader; asrkit.lm.download (the LibriSpeech n-grams) and
asrkit.data.download.download (LibriSpeech parts, Libri-light's sets) are the stages that
use it.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from asrkit.errors import DownloadError

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # bytes read per iteration

OPENSLR = "https://www.openslr.org/resources"
"""OpenSLR, where LibriSpeech (resource 12) and its LMs (resource 11) are published."""
OPENSLR_MIRRORS = ("https://us.openslr.org/resources", "https://openslr.elda.org/resources",
                   "https://openslr.magicdatatech.com/resources")


def openslr(resource: int, site: str = OPENSLR) -> str:
    """The URL of an OpenSLR resource's folder, on the main site or a mirror."""
    return f"{site}/{resource}"


class MismatchError(DownloadError):
    """A whole download whose size or checksum differs from the expected one."""


@dataclass(frozen=True)
class Remote:
    url: str
    md5: str | None = None  # published checksum, when the host publishes one
    size: int | None = None  # published size in bytes, when known
    sha256: str | None = None  # pinned checksum, when one is known

    def checksums(self) -> dict[str, str]:
        """The expected checksums, by hashlib name (lower-case hex)."""
        return {k: v.lower() for k, v in (("md5", self.md5), ("sha256", self.sha256)) if v}


class _Interrupted(Exception):
    """A try that stopped early; the next one resumes from the .part file."""


def file_hash(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks."""
    return file_hashes(path, (algorithm,))[algorithm]


def file_hashes(path: str | os.PathLike, algorithms: tuple[str, ...]) -> dict[str, str]:
    """Hex digests of a file by several algorithms, in one read."""
    hashes = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            for h in hashes.values():
                h.update(block)
    return {name: h.hexdigest() for name, h in hashes.items()}


def mismatch(path: Path, remote: Remote) -> str | None:
    """None when `path` has the expected size and every expected checksum, else what differs."""
    size = path.stat().st_size
    if remote.size is not None and size != remote.size:
        return f"got {size} bytes, expected {remote.size}"
    expected = remote.checksums()
    for name, got in file_hashes(path, tuple(expected)).items():
        if got != expected[name]:
            return f"{name} checksum mismatch (expected {expected[name]}, got {got})"
    return None


def fetch(remote: Remote, dest: str | os.PathLike, progress: bool = True, timeout: float = 60,
          retries: int = 3) -> Path:
    """Fetch `remote.url` to `dest`, resuming a `.part` file left by an earlier attempt.

    Returns `dest`. Raises DownloadError for HTTP/network failures (the .part is kept
    for the next run to resume) and MismatchError for a size or checksum that differs
    from the expected one (the bad file is removed so the next run starts afresh).
    `timeout`: seconds without data before a try fails; `retries`: tries in all.
    """
    dest = Path(dest)
    if dest.is_file():
        problem = mismatch(dest, remote)
        if problem is None:
            log.info("%s: already downloaded", dest)
            return dest
        log.warning("%s: exists but does not match (%s); fetching again", dest, problem)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    _fetch(remote, part, timeout, progress, retries)
    problem = mismatch(part, remote)
    if problem:
        part.unlink()  # whole but wrong: resuming it would only append to wrong bytes
        raise MismatchError(f"{remote.url}: {problem}; removed {part}, run again to fetch it afresh")
    os.replace(part, dest)
    return dest


def _fetch(remote: Remote, part: Path, timeout: float, progress: bool, retries: int) -> None:
    """Fill `part` from `remote.url`, retrying interrupted tries up to `retries` in all."""
    for attempt in range(1, retries + 1):
        try:
            _fetch_once(remote, part, timeout, progress)
            return
        except _Interrupted as e:
            if attempt >= retries:
                kept = f"{part} is kept, " if part.exists() else ""
                raise DownloadError(f"{remote.url}: interrupted ({e}); {kept}run again to resume") from None
            log.warning("%s: interrupted (%s); resuming (try %d of %d)", remote.url, e, attempt + 1, retries)


def _resume_from(part: Path, remote: Remote) -> int:
    """Bytes of `part` worth keeping: none when it is longer than the whole file."""
    have = part.stat().st_size if part.exists() else 0
    if remote.size is not None and have > remote.size:
        part.unlink()
        return 0
    return have


def _fetch_once(remote: Remote, part: Path, timeout: float, progress: bool) -> None:
    url = remote.url
    have = _resume_from(part, remote)
    if have and have == remote.size:
        return  # already whole; verified by the caller
    request = urllib.request.Request(url, headers={"User-Agent": "asrkit"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing after `have`: the .part is already whole
            return
        raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        raise _Interrupted(f"cannot connect: {getattr(e, 'reason', e)}") from None
    with response:
        _write(response, part, have, remote, progress)


def _write(response, part: Path, have: int, remote: Remote, progress: bool) -> None:
    """Append the response body to `part` (or rewrite it when the range was ignored)."""
    from tqdm import tqdm

    resumed = bool(have) and response.status == 206
    if have and not resumed:
        log.info("%s: the server ignored the range request; starting again", remote.url)
        have = 0
    length = response.headers.get("Content-Length")
    total = have + int(length) if length else remote.size
    with open(part, "ab" if resumed else "wb") as f, tqdm(
            total=total, initial=have, unit="B", unit_scale=True, desc=part.name[:-5],
            disable=not progress, leave=False) as bar:
        try:
            for block in iter(lambda: response.read(CHUNK), b""):
                f.write(block)
                bar.update(len(block))
        except (OSError, urllib.error.URLError, http.client.HTTPException) as e:
            raise _Interrupted(str(e)) from None
    # A dropped connection can end the stream early without an exception.
    if total is not None and part.stat().st_size < total:
        raise _Interrupted(f"got {part.stat().st_size} of {total} bytes")
