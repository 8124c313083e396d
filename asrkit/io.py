"""Small file helpers: atomic writes and JSON Lines, used by every stage that writes results."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

from asrkit.errors import DataError, SettingError


def make_dir(path: str | os.PathLike) -> Path:
    """Create the folder `path` and its parents; when a file stands where a folder must be
    (an output option naming a file), say which, instead of a FileExistsError traceback."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), path)
        raise SettingError(f"cannot make the folder {path}: {blocker} is a file, not a folder; "
                           f"choose another output folder") from None
    return path


def damaged_file(folder: str | os.PathLike) -> tuple[Path, str] | None:
    """The first file of a saved model or checkpoint folder that cannot be read whole, with why
    (a truncated safetensors, torch.save or JSON file); None when every one looks sound. The
    loaders' own errors do not say which file they were reading."""
    import zipfile

    from safetensors import safe_open

    for path in sorted(Path(folder).iterdir()):
        try:
            if path.suffix == ".safetensors":
                with safe_open(str(path), "pt"):
                    pass
            elif path.suffix in (".bin", ".pt", ".pth") and path.stat().st_size:
                zipfile.ZipFile(path).close()  # torch.save's format; a cut file loses its index
            elif path.suffix == ".pkl":
                # accelerate's RNG states (torch.save, small): it reads them in a try that only logs
                # at INFO, so a damaged one would resume with other random draws, unnoticed.
                with zipfile.ZipFile(path) as z:
                    bad = z.testzip()
                if bad:
                    raise ValueError(f"{bad} fails its CRC check")
            elif path.suffix == ".json":
                json.loads(path.read_text(encoding="utf-8"))
        except Exception as e:  # whatever the reader raises, the file is unusable
            return path, f"{type(e).__name__}: {e}"
    return None


# How writers that are not Python's report a failed write: torch.save's C++ stream writer
# ("PytorchStreamWriter failed writing file data/0: file write failed") and safetensors'
# Rust one ("IoError(Os { code: 28, kind: StorageFull ...})") raise RuntimeError or their own
# error type, never an OSError with an errno.
_WRITE_FAILURES = ("failed writing file", "file write failed", "StorageFull", "No space left", "os error 28")
FULL_BYTES = 64 << 20  # less free space than this where a write failed: the disk is full


@contextlib.contextmanager
def disk_errors(folder: str | os.PathLike) -> Iterator[None]:
    """Turn a failed write of torch or safetensors into an OSError naming `folder`: ENOSPC when
    the disk is (nearly) full, else EIO, which the CLI prints in one line (asrkit.cli)."""
    import errno
    import shutil

    try:
        yield
    except OSError:
        raise
    except Exception as e:  # RuntimeError, SafetensorError: recognised by their message only
        if not any(s in str(e) for s in _WRITE_FAILURES):
            raise
        where = next((p for p in (Path(folder), *Path(folder).parents) if p.exists()), Path("."))
        full = "28" in str(e) or shutil.disk_usage(where).free < FULL_BYTES
        raise OSError(errno.ENOSPC if full else errno.EIO, f"writing failed ({e})", str(folder)) from e


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename.

    A reader never sees a half-written file, and an interrupted writer leaves the old one.
    """
    path = Path(path)
    make_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write `obj` as indented JSON, atomically."""
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> None:
    """Write one JSON object per line, atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read a JSON Lines file; a malformed line is an error naming the file and line."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{n}: not valid JSON ({e.msg})") from None
    return rows
