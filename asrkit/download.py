"""Resumable, checksum-verified HTTP downloads with the standard library.

A download goes to `<dest>.part`; an interrupted one is resumed with an HTTP Range
request when the server supports it (206 Partial Content), and restarted otherwise.
Only a file whose size and checksum match is renamed to `dest`, so a file at `dest`
is always complete. A file already at `dest` with the expected checksum is not fetched
again.
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

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # bytes read per iteration


class DownloadError(RuntimeError):
    """A download that failed or fetched the wrong bytes; the message names the URL."""


@dataclass(frozen=True)
class Remote:
    url: str
    md5: str | None = None  # published checksum, when the host publishes one
    size: int | None = None  # published size in bytes, when known


def file_hash(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _verify(path: Path, remote: Remote) -> None:
    size = path.stat().st_size
    if remote.size is not None and size != remote.size:
        raise DownloadError(f"{remote.url}: got {size} bytes, expected {remote.size}")
    if remote.md5 is not None:
        got = file_hash(path, "md5")
        if got != remote.md5:
            raise DownloadError(f"{remote.url}: md5 {got} does not match the published {remote.md5}")


def download(remote: Remote, dest: str | os.PathLike, progress: bool = True, timeout: float = 60) -> Path:
    """Fetch `remote.url` to `dest`, resuming a `.part` file left by an earlier attempt.

    Returns `dest`. Raises DownloadError for HTTP/network failures and for a size or md5
    that differs from the published one (the bad file is removed so the next try starts
    afresh).
    """
    dest = Path(dest)
    if dest.is_file():
        try:
            _verify(dest, remote)
            log.info("%s: already downloaded", dest)
            return dest
        except DownloadError:
            log.warning("%s: exists but does not match; fetching again", dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    if remote.size is not None and have > remote.size:
        part.unlink()
        have = 0
    if remote.size is None or have < remote.size:
        _fetch(remote.url, part, have, timeout, progress)
    if remote.size is not None and part.stat().st_size < remote.size:
        raise DownloadError(f"{remote.url}: incomplete ({part.stat().st_size} of {remote.size} bytes); "
                            "run again to resume")
    try:
        _verify(part, remote)
    except DownloadError:
        part.unlink()  # whole but wrong: start afresh next time
        raise
    os.replace(part, dest)
    return dest


def _fetch(url: str, part: Path, have: int, timeout: float, progress: bool) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "asrkit"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # range not satisfiable: the .part is already whole
            return
        raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        raise DownloadError(f"{url}: cannot connect ({getattr(e, 'reason', e)})") from None
    with response:
        resumed = have and response.status == 206
        if have and not resumed:
            log.info("%s: server ignored the range request; starting again", url)
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        from tqdm import tqdm

        with open(part, "ab" if resumed else "wb") as f, tqdm(
            total=total, initial=have, unit="B", unit_scale=True, desc=part.name[:-5],
            disable=not progress,
        ) as bar:
            got = have
            try:
                for block in iter(lambda: response.read(CHUNK), b""):
                    f.write(block)
                    got += len(block)
                    bar.update(len(block))
            except (OSError, urllib.error.URLError, http.client.HTTPException) as e:
                raise DownloadError(f"{url}: interrupted ({e}); run again to resume") from None
    # A dropped connection can end the stream early without an exception.
    if total is not None and got < total:
        raise DownloadError(f"{url}: interrupted after {got} of {total} bytes; run again to resume")
