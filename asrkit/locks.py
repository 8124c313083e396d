"""One writer per output folder: a command that writes a run or results folder holds its lock,
and a second command on the same folder is refused in one line naming the holder, instead of
interleaving train-log.jsonl or replacing files under the first.

    <folder>/.asrkit.lock   pid 4242 on host gpu-3, started 2026-12-03T02:41:07Z: asrkit pretrain ...
                            start ticks 1234567   (the process's start, /proc/<pid>/stat)

The lock is flock(2) on that file: the kernel releases it when its process ends, however it
ends (kill -9 included), so a lock left by a killed process is taken over by the next command
without anyone removing a file. Where flock is not supported (some network file systems) the
file alone is the lock, and one whose holder is gone (same host, and no process of that pid
that started at that time) is recovered as stale. The file stays after release (removing it
would race with a command opening it); its text is cleared.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import time
from pathlib import Path
from typing import Iterator

from asrkit.errors import FolderBusy
from asrkit.io import make_dir

LOCK_NAME = ".asrkit.lock"


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (/proc), '' where unknown."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _holder_text(command: str) -> str:
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return (f"pid {os.getpid()} on host {socket.gethostname()}, started {started}: {command}\n"
            f"start ticks {_start_time(os.getpid())}\n")


def _holder_gone(text: str) -> bool:
    """True when the holder named in a lock file's text is a process of this host that no
    longer runs (its pid gone, or reused by a process that started at another time)."""
    try:
        words = text.split()
        pid, host = int(words[1]), words[4].rstrip(",")
        ticks = text.split("\nstart ticks", 1)[1].strip()
    except (IndexError, ValueError):
        return not text.strip()  # an empty file: released, or its writer died before writing
    if host != socket.gethostname():
        return False  # another machine's process: it cannot be checked from here
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's
    return bool(ticks) and _start_time(pid) not in ("", ticks)


def _busy(path: Path, text: str) -> FolderBusy:
    holder = text.strip().splitlines()[0] if text.strip() else "another process"
    return FolderBusy(f"{path.parent} is being written by {holder}; wait for it to finish, or use another "
                      f"output folder (lock: {path})")


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, command: str) -> Iterator[Path]:
    """Hold `folder`'s lock for the block (the folder is created); FolderBusy names the holder."""
    path = make_dir(folder) / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy(path, path.read_text(errors="replace")) from None
        except OSError as e:
            if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
            text = path.read_text(errors="replace")
            if not _holder_gone(text):  # no flock here: the file's text is the lock
                raise _busy(path, text) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, _holder_text(command).encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)  # released, whether the command succeeded or failed
    finally:
        os.close(fd)  # closing the last descriptor releases the flock
