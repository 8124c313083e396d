"""An output option that names a file (or a folder inside one) is a one-line message naming
that file, from every command that writes a folder, never a FileExistsError traceback."""

from __future__ import annotations

import pytest

from asrkit.cli import main
from fake_librispeech import make_librispeech
from report_fixtures import make_models


def _prepare(tmp_path, out):
    make_librispeech(tmp_path / "corpus")
    return ["prepare", "--data-root", str(tmp_path / "corpus"), "--out", out]


def _report(tmp_path, out):
    make_models(tmp_path / "models")
    return ["report", "--models", str(tmp_path / "models" / "base-10min"), "--out", out, "--no-model-card"]


COMMANDS = {
    "prepare": _prepare,
    "vocab": lambda tmp_path, out: ["vocab", "--out", out],
    "synth": lambda tmp_path, out: ["synth", "--root", out, "--no-progress"],
    "report": _report,
}


@pytest.mark.parametrize("inside", [False, True], ids=["is a file", "under a file"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_output_folder_that_is_a_file_is_a_message(tmp_path, capsys, command, inside):
    blocker = tmp_path / "taken"
    blocker.write_text("a user's file\n")
    out = blocker / "sub" if inside else blocker
    assert main(COMMANDS[command](tmp_path, str(out))) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"asrkit {command}: error: cannot make the folder {out}: {blocker} is a file"), err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert blocker.read_text() == "a user's file\n"


# ---------------------------------------------------------------- folders that cannot be written


def _model(tmp_path, out):
    from ctc_fixtures import tiny_model

    return ["decode", "--model", str(tiny_model(__import__("pathlib").Path(out))), "--split", "dev-clean"]


WRITERS = {**COMMANDS,
           "finetune": lambda tmp_path, out: ["finetune", "--out", out, "--no-progress"],
           "pretrain": lambda tmp_path, out: ["pretrain", "--recipe", "tiny", "--out", out, "--no-progress"],
           "lm": lambda tmp_path, out: ["lm", "build", "--text", str(tmp_path / "corpus.txt"), "--lm-dir", out],
           "decode": _model}


@pytest.mark.parametrize("code", ["EACCES", "EROFS", "ENOSPC"])
@pytest.mark.parametrize("command", list(WRITERS))
def test_an_output_folder_that_cannot_be_written_is_a_message(tmp_path, capsys, monkeypatch, command, code):
    """As root no chmod stops a write, so the file system's refusal is simulated: every file
    or folder made under the output folder fails with `code` (a read-only folder, a full disk)."""
    import errno
    import os

    out = tmp_path / "out"
    argv = WRITERS[command](tmp_path, str(out))  # made before the refusals start
    capsys.readouterr()
    real_open, real_mkdir = os.open, os.mkdir

    def refuse(real):
        def call(path, *args, **kwargs):
            if str(path).startswith(str(out)) and (real is real_mkdir or args[0] & os.O_CREAT):
                raise OSError(getattr(errno, code), os.strerror(getattr(errno, code)), str(path))
            return real(path, *args, **kwargs)
        return call

    monkeypatch.setattr(os, "open", refuse(real_open))
    monkeypatch.setattr(os, "mkdir", refuse(real_mkdir))
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"asrkit {command}: error: {out}"), err
    assert os.strerror(getattr(errno, code)).split()[0].lower() in err.lower() or code == "EROFS" and "read-only" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv", [["vocab", "--out", "{tmp}/" + "n" * 300],
                                  ["lm", "build", "--text", "{tmp}/corpus.txt", "--lm-dir", "{tmp}/lm", "--name", "m" * 300]])
def test_a_name_too_long_for_the_file_system_is_a_message(tmp_path, capsys, argv):
    (tmp_path / "corpus.txt").write_text("A B C\n" * 20)
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 1
    err = capsys.readouterr().err
    assert "name is too long" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_full_disk_during_decoding_is_a_message(tmp_path, capsys, monkeypatch):
    """The lock taken, the disk fills while the results are written."""
    import errno
    import os

    from ctc_fixtures import tiny_model
    from test_logits import make_manifest

    model = tiny_model(tmp_path / "model")
    (tmp_path / "manifests").mkdir()
    make_manifest(tmp_path / "manifests", name="dev-clean.jsonl")
    capsys.readouterr()
    real_open = os.open

    def full(path, flags, *args, **kwargs):
        if str(path).startswith(str(model / "decode")) and flags & os.O_CREAT:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", full)
    assert main(["decode", "--model", str(model), "--split", "dev-clean", "--manifests", str(tmp_path / "manifests")]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"asrkit decode: error: {model / 'decode'}") and "no space left on the disk" in err, err
