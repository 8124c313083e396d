"""How a result was made, recorded beside it: the command that made it and the commit of
the code that ran.

Every stage that writes a result takes the command as a string (FinetuneOptions.command,
decode's `command`), so that the CLI records the real argv and the demo the equivalent
command of each stage it runs as a library call.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Sequence

SOURCE_ROOT = Path(__file__).resolve().parent.parent
"""The folder holding the asrkit package: a git checkout when asrkit runs from one."""


def command_line(argv: Sequence[str]) -> str:
    """`asrkit` followed by `argv`, quoted so that a shell runs it as given."""
    return shlex.join(["asrkit", *map(str, argv)])


def git_commit() -> str:
    """The short commit of the asrkit checkout, or "" outside one (an installed package)."""
    if not (SOURCE_ROOT / ".git").exists():  # else git would answer for a folder around site-packages
        return ""
    try:
        out = subprocess.run(["git", "-C", str(SOURCE_ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""
