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
