"""asrkit.locks: one writer per output folder. A second command on a folder being written is
refused in one line naming the holder; a lock left by a killed process is taken over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from asrkit.cli import main
from asrkit.errors import FolderBusy
from asrkit.locks import LOCK_NAME, folder_lock


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    with folder_lock(tmp_path / "run", "asrkit pretrain --out run"):
        with pytest.raises(FolderBusy, match=rf"being written by pid {os.getpid()} on host .*: asrkit pretrain"):
            with folder_lock(tmp_path / "run", "asrkit pretrain --out run"):
                pass
    with folder_lock(tmp_path / "run", "again"):  # released at the end of the block
        pass


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    code = ("import sys, time; from asrkit.locks import folder_lock\n"
            "with folder_lock(sys.argv[1], 'asrkit finetune'):\n"
            "    print('held', flush=True); time.sleep(600)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "run")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FolderBusy, match=f"pid {holder.pid}"):
            with folder_lock(tmp_path / "run", "asrkit finetune"):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert f"pid {holder.pid}" in (tmp_path / "run" / LOCK_NAME).read_text()  # what it left
    with folder_lock(tmp_path / "run", "asrkit finetune") as path:
        assert f"pid {os.getpid()}" in path.read_text()


def test_without_flock_a_stale_holder_is_recognised(tmp_path, monkeypatch):
    """Where flock is not supported the file's text is the lock: a dead holder's is stale."""
    import errno

    import asrkit.locks as locks

    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, "no locks available")

    monkeypatch.setattr(locks.fcntl, "flock", no_flock)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / LOCK_NAME).write_text(locks._holder_text("x").replace(f"pid {os.getpid()}", f"pid {dead.stdout.strip()}"))
    with folder_lock(tmp_path / "run", "asrkit decode"):
        with pytest.raises(FolderBusy, match=f"pid {os.getpid()}"):  # a live holder is not stale
            with folder_lock(tmp_path / "run", "asrkit decode"):
                pass


def _model(tmp_path):
    (tmp_path / "model").mkdir()
    return str(tmp_path / "model")


COMMANDS = {
    "finetune": lambda t: (["finetune", "--out", str(t / "out")], t / "out"),
    "pretrain": lambda t: (["pretrain", "--recipe", "tiny", "--out", str(t / "out")], t / "out"),
    "decode": lambda t: (["decode", "--model", _model(t), "--split", "dev-clean"], t / "model"),
    "logits": lambda t: (["logits", "--model", _model(t), "--split", "dev-clean"], t / "model"),
    "tune-lm": lambda t: (["tune-lm", "--model", _model(t), "--split", "dev-clean"], t / "model"),
    "lm build": lambda t: (["lm", "build", "--text", str(t / "corpus.txt"), "--lm-dir", str(t / "lm")], t / "lm"),
    "prepare": lambda t: (["prepare", "--data-root", str(t), "--out", str(t / "out")], t / "out"),
    "synth": lambda t: (["synth", "--root", str(t / "out")], t / "out"),
    "download": lambda t: (["download", "--parts", "dev-clean", "--to", str(t / "out")], t / "out"),
    "vocab": lambda t: (["vocab", "--out", str(t / "out")], t / "out"),
    "report": lambda t: (["report", "--models", _model(t), "--out", str(t / "out")], t / "out"),
    "demo": lambda t: (["demo", "--work", str(t / "out")], t / "out"),
}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_that_writes_a_folder_holds_its_lock(command, tmp_path, capsys):
    argv, folder = COMMANDS[command](tmp_path)
    with folder_lock(folder, "asrkit the-first"):
        assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"asrkit {command.split()[0]}: error: {folder} is being written by pid {os.getpid()}")
    assert "asrkit the-first" in err and len(err.splitlines()) == 1


def test_a_command_that_fails_leaves_no_holder_named(tmp_path):
    with pytest.raises(RuntimeError):
        with folder_lock(tmp_path / "run", "asrkit finetune"):
            raise RuntimeError("the command failed")
    assert (tmp_path / "run" / LOCK_NAME).read_text() == ""
