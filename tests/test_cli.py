"""The command line tells bad input (one line) from bugs (a traceback); every subcommand
takes --no-progress."""

from __future__ import annotations

import argparse
import sys

import pytest

from asrkit import cli
from asrkit.errors import AsrkitError, RecipeError
from ctc_fixtures import needs_kenlm


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


# ----------------------------------------------------------------------------- progress bars
# Every subcommand takes --no-progress (defined once, in build_parser): tqdm bars on stderr
# fill cluster log files with carriage-return lines.


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def _bar(err: str) -> bool:
    """Whether stderr holds tqdm bar text ("desc:  50%|#####     | 1/2 [00:01<00:01, 1.0it/s]")."""
    return "%|" in err or "it/s" in err or "\r" in err


@pytest.mark.parametrize("name", [name for name, _ in cli.COMMANDS])
def test_every_subcommand_takes_no_progress_from_one_place(name):
    sub = _subcommands(cli.build_parser())[name]
    action = sub._option_string_actions["--no-progress"]
    assert action.dest == "no_progress" and action.default is False and action.const is True
    # build_parser is its one home: the command's own module does not define it.
    module = cli.importlib.import_module(dict(cli.COMMANDS)[name])
    own = argparse.ArgumentParser()
    module.add_arguments(own)
    assert "--no-progress" not in own._option_string_actions


@pytest.mark.parametrize("argv", [["lm", "--no-progress", "build", "--text", "t.txt"],
                                  ["lm", "build", "--text", "t.txt", "--no-progress"],
                                  ["lm", "download", "--no-progress"], ["lm", "list", "--no-progress"]])
def test_no_progress_goes_before_or_after_a_subcommands_action(argv):
    assert cli.build_parser().parse_args(argv).no_progress is True
    assert cli.build_parser().parse_args([a for a in argv if a != "--no-progress"]).no_progress is False


def _tiny_split(folder, name: str):
    """<folder>/<name>.jsonl: three short noise utterances."""
    from speech_fixtures import noise_utterances

    from asrkit.data.manifest import write_manifest

    write_manifest(folder / f"{name}.jsonl", noise_utterances(folder / name, [0.5, 1.2, 0.8]))


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("command", ["logits", "decode"])
def test_no_progress_leaves_stderr_without_bars(tmp_path, capsys, model_dir, command):
    """The logits bar (decode and tune-lm run it when the cache is missing) is drawn without
    the flag, and not with it."""
    for split in ("quiet", "shown"):
        _tiny_split(tmp_path, f"{command}-{split}")
    argv = [command, "--model", str(model_dir), "--manifests", str(tmp_path), *(["--lm", "none"] * (command == "decode"))]

    assert cli.main(argv + ["--split", f"{command}-quiet", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert not _bar(err) and "logits" not in err, err

    assert cli.main(argv + ["--split", f"{command}-shown"]) == 0
    err = capsys.readouterr().err
    assert _bar(err) and f"logits {command}-shown" in err, err  # the test can fail


@needs_kenlm
def test_lm_build_no_progress(tmp_path, capsys):
    text = tmp_path / "text.txt"
    text.write_text("HELLO WORLD\nGOOD MORNING WORLD\nHELLO GOOD MORNING\n" * 5)
    argv = ["lm", "build", "--order", "2", "--text", str(text), "--lm-dir", str(tmp_path / "lm")]

    assert cli.main(argv + ["--name", "quiet", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert not _bar(err) and "lm quiet" not in err, err

    assert cli.main(argv + ["--name", "shown"]) == 0
    err = capsys.readouterr().err
    assert _bar(err) and "lm shown" in err, err


def test_prepare_no_progress(tmp_path, capsys, monkeypatch):
    """prepare's bar shows on a terminal only: stderr is made to look like one."""
    import asrkit.data.prepare
    from fake_librispeech import make_librispeech

    make_librispeech(tmp_path / "corpus")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    real, seen = asrkit.data.prepare.prepare, []
    monkeypatch.setattr(asrkit.data.prepare, "prepare", lambda o: seen.append(o.progress) or real(o))
    argv = ["prepare", "--data-root", str(tmp_path / "corpus"), "--workers", "1", "--force"]

    assert cli.main(argv + ["--out", str(tmp_path / "quiet"), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert seen == [False] and not _bar(err), err

    assert cli.main(argv + ["--out", str(tmp_path / "shown")]) == 0
    err = capsys.readouterr().err
    assert seen == [False, True] and _bar(err) and "dev-clean" in err, err


@pytest.mark.parametrize("flag, progress", [(["--no-progress"], False), ([], True)])
def test_demo_passes_no_progress_to_every_stage(tmp_path, monkeypatch, capsys, flag, progress):
    import asrkit.demo

    seen = []
    monkeypatch.setattr(asrkit.demo, "run_demo", lambda o: seen.append(o) or [])
    assert cli.main(["demo", "--work", str(tmp_path), "--model", "tiny", *flag]) == 0
    (options,) = seen
    assert options.progress is progress
    # Each stage prints the `asrkit` command that does its work: the same flag, and it parses.
    parser = cli.build_parser()
    for stage in asrkit.demo.stages(options):
        assert parser.parse_args(list(stage.argv)).no_progress is not progress, stage.command
