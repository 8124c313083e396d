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


def test_settings_named_by_the_library_are_shown_as_the_commands_flags(tmp_path, capsys):
    # The library says `min_words`; the user typed --min-words.
    assert cli.main(["synth", "--root", str(tmp_path), "--min-words", "9", "--max-words", "3"]) == 1
    err = capsys.readouterr().err
    assert err == "asrkit synth: error: need 1 <= --min-words <= --max-words, not 9, 3\n"


def test_a_setting_without_a_flag_keeps_its_library_name():
    parser = argparse.ArgumentParser()
    parser.add_argument("--beam-threshold", type=float)
    message = cli.user_message(AsrkitError("`beam_threshold` and `lm_weight`: run `asrkit lm`"), parser)
    assert message == "--beam-threshold and `lm_weight`: run `asrkit lm`"


def test_finetune_records_the_command_it_was_given(monkeypatch, tmp_path):
    # main(argv) called from Python (as a test or a notebook does): the record is argv, not sys.argv.
    import asrkit.train

    seen = {}
    monkeypatch.setattr(asrkit.train, "finetune", lambda options: seen.setdefault("options", options) and {"updates": 0})
    monkeypatch.setattr("sys.argv", ["python", "-m", "pytest"])
    argv = ["finetune", "--recipe", "recipes/demo.yaml", "--out", str(tmp_path / "m"), "--model", "tiny"]
    assert cli.main(argv) == 0
    assert seen["options"].command == f"asrkit finetune --recipe recipes/demo.yaml --out {tmp_path / 'm'} --model tiny"


def test_a_bad_override_names_the_flag_it_came_from(capsys):
    assert cli.main(["finetune", "--set", "train.lr", "--print-recipe"]) == 1
    assert "asrkit finetune: error: --set 'train.lr': expected SECTION.KEY=VALUE" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["finetune", "pretrain"])
def test_a_model_folder_is_recorded_as_an_absolute_path(tmp_path, monkeypatch, capsys, command):
    """A report run from another folder must still find the checkpoint (and its pre-training)."""
    import yaml

    (tmp_path / "pre").mkdir()
    monkeypatch.chdir(tmp_path)
    assert cli.main([command, "--model", "pre", "--print-recipe"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["model"]["name"] == str(tmp_path / "pre")
    assert cli.main([command, "--model", "base", "--print-recipe"]) == 0  # a built-in name stays a name
    assert yaml.safe_load(capsys.readouterr().out)["model"]["name"] == "base"
