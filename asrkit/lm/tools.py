"""KenLM's command-line tools (lmplz, build_binary): where they are and how they are run."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterable

from asrkit.errors import LMError
from asrkit.provenance import SOURCE_ROOT

log = logging.getLogger(__name__)


SETUP_BIN = SOURCE_ROOT / ".cache" / "kenlm" / "bin"
"""Where scripts/setup.sh (lm/build_kenlm.sh) builds lmplz and build_binary in a checkout."""


def kenlm_tool(name: str, bin_dir: str | os.PathLike | None = None) -> Path:
    """Path of a KenLM command-line tool (lmplz, build_binary, query).

    Looked for, in order, in `bin_dir` (the `kenlm_bin` setting), $ASRKIT_KENLM_BIN, $PATH,
    and where asrkit's own setup builds it (SETUP_BIN). The current folder is never searched:
    a command run from a folder of someone else's files must not run their programs.
    """
    for folder in (bin_dir, os.environ.get("ASRKIT_KENLM_BIN")):
        if folder:
            tool = Path(folder) / name
            if tool.is_file() and os.access(tool, os.X_OK):
                return tool.resolve()
    found = shutil.which(name) or shutil.which(name, path=str(SETUP_BIN))
    if found:
        return Path(found).resolve()
    raise LMError(
        f"KenLM's `{name}` was not found in `kenlm_bin`, $ASRKIT_KENLM_BIN, $PATH or {SETUP_BIN}: "
        "run scripts/setup.sh (or lm/build_kenlm.sh) to build it, or set `kenlm_bin` to its folder"
    )


def run_tool(cmd: list[str], what: str, stdin_lines: Iterable[str] | None = None) -> None:
    """Run a KenLM tool; on failure raise LMError with the tail of its output."""
    log.debug("running %s", " ".join(cmd))
    with open(os.devnull, "rb") as devnull:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE if stdin_lines is not None else devnull,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
    if stdin_lines is not None:
        # lmplz reads the corpus from stdin; its log goes to a pipe we drain afterwards,
        # so write it from a thread to avoid both sides waiting on full pipes.
        import threading

        output: list[bytes] = []
        reader = threading.Thread(target=lambda: output.append(proc.stdout.read()))
        reader.start()
        try:
            for line in stdin_lines:
                proc.stdin.write(line.encode("utf-8") + b"\n")
        except BrokenPipeError:
            pass
        finally:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
        proc.wait()
        reader.join()
        out = b"".join(output)
    else:
        out, _ = proc.communicate()
    if proc.returncode != 0:
        tail = "\n".join(out.decode("utf-8", "replace").strip().splitlines()[-6:])
        raise LMError(f"{what} failed (exit {proc.returncode}):\n{tail}")
