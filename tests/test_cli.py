"""The command line tells bad input (one line) from bugs (a traceback)."""

from __future__ import annotations

import argparse

import pytest

from asrkit import cli
from asrkit.errors import AsrkitError, RecipeError


def _command(monkeypatch, raises: BaseException) -> None:
    """Register a command `boom` whose run() raises `raises`."""
    module = argparse.Namespace(HELP="raises", __doc__="raises", add_arguments=lambda p: None)

    def run(args):
        raise raises

    module.run = run
    real = cli.importlib.import_module
    monkeypatch.setattr(cli, "COMMANDS", [*cli.COMMANDS, ("boom", "boom")])
    monkeypatch.setattr(cli.importlib, "import_module", lambda name: module if name == "boom" else real(name))


@pytest.mark.parametrize("error", [RecipeError("recipe.yaml: train.lr must be > 0"),
                                   FileNotFoundError("no such file: x.wav")])
def test_a_user_error_is_one_line(monkeypatch, capsys, error):
    _command(monkeypatch, error)
    assert cli.main(["boom"]) == 1
    err = capsys.readouterr().err
    assert err == f"asrkit boom: error: {error}\n"


def test_verbose_adds_the_traceback_of_a_user_error(monkeypatch, capsys):
    _command(monkeypatch, AsrkitError("bad input"))
    assert cli.main(["-v", "boom"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.endswith("asrkit boom: error: bad input\n")


def test_a_value_error_is_a_bug_with_a_traceback(monkeypatch):
    # numpy and torch raise ValueError for shape bugs: never printed as bad input.
    _command(monkeypatch, ValueError("operands could not be broadcast together"))
    with pytest.raises(ValueError, match="broadcast"):
        cli.main(["boom"])
