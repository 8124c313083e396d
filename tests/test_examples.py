"""The commands README.md and every `--help` show must work as written: each parses, each
fine-tuning and pre-training example resolves its recipe and overrides, the model folders
the README decodes are those finetune writes, and the pre-training example runs (on the
test corpus instead of work/manifests)."""

from __future__ import annotations

import logging
import re
import shlex
from pathlib import Path

import pytest

from asrkit import cli

ROOT = Path(__file__).resolve().parents[1]


def _commands(text: str) -> list[str]:
    """`asrkit ...` command lines of a text (continuations joined), as argv strings after 'asrkit'."""
    text = text.replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        match = re.search(r"(?:^|\s|/|-m )asrkit ((?:[a-z-]+)(?: .*)?)$", line.strip().split("  #")[0].strip())
        if match and not line.strip().startswith(("#", "`")):
            found.append(match.group(1).strip())
    return found


def _readme_commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    return [c for block in blocks for c in _commands(block)]


def _help_commands() -> list[str]:
    import importlib

    found = []
    for _, module in cli.COMMANDS:
        doc = importlib.import_module(module).__doc__ or ""
        found += _commands(doc.split("Examples:", 1)[1] if "Examples:" in doc else doc)
    return found


def _runnable(command: str) -> bool:
    """Placeholders ([optional], ...) are notation, not commands."""
    return not re.search(r"\[|\.\.\.|\bCOMMAND\b", command)


EXAMPLES = sorted({c for c in _readme_commands() + _help_commands() if _runnable(c)})


def test_the_examples_were_found():
    assert len(EXAMPLES) >= 25, EXAMPLES
    assert any(c.startswith("pretrain --recipe tiny --manifests work/manifests") for c in EXAMPLES)
    assert any(c.startswith("tune-lm --model work/models/") for c in EXAMPLES)


@pytest.mark.parametrize("command", EXAMPLES)
def test_every_example_parses(command):
    parser = cli.build_parser()
    try:
        parser.parse_args(shlex.split(command))
    except SystemExit as e:
        pytest.fail(f"`asrkit {command}` does not parse (exit {e.code})")


@pytest.mark.parametrize("command", [c for c in EXAMPLES if c.split()[0] in ("finetune", "pretrain")])
def test_every_training_example_resolves_its_recipe(command, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)  # as the README says: from the repository root (nothing is written)
    assert cli.main(shlex.split(command) + ["--print-recipe"]) == 0, capsys.readouterr().err


def test_the_readme_decodes_the_folder_finetune_writes():
    from asrkit.cli import finetune, pretrain

    parser = cli.build_parser()
    written = set()
    for command in _readme_commands():
        args = parser.parse_args(shlex.split(command))
        args.print_recipe = False
        if args.command in ("finetune", "pretrain"):
            written.add((finetune if args.command == "finetune" else pretrain).output_folder(args).name)
        elif getattr(args, "model", None) and args.model.startswith("work/models/"):
            assert Path(args.model).name in written, f"`asrkit {command}`: finetune writes {sorted(written)}"


@pytest.mark.slow
def test_the_pretrain_help_example_runs_and_prints_one_line_per_event(synth_corpus, tmp_path, monkeypatch, caplog,
                                                                      one_torch_thread):
    """`--manifests work/manifests` after `asrkit prepare`: here, the test corpus prepared."""
    from asrkit.data.prepare import PrepareOptions, prepare

    root, _ = synth_corpus
    prepare(PrepareOptions(data_root=root, out_dir=tmp_path / "manifests", splits=("10min", "dev-other")))
    example = next(c for c in EXAMPLES if c.startswith("pretrain --recipe tiny --manifests work/manifests"))
    argv = shlex.split(example.replace("work/manifests", str(tmp_path / "manifests")))
    monkeypatch.setenv("ASRKIT_WORK", str(tmp_path / "work"))
    caplog.set_level(logging.INFO)
    assert cli.main(argv + ["--no-progress"]) == 0
    assert (tmp_path / "work" / "models" / "pretrain-tiny" / "model.safetensors").is_file()
    chatter = [r.getMessage() for r in caplog.records if r.name.startswith("accelerate") and r.levelno < logging.WARNING]
    assert not chatter, chatter  # accelerate's per-checkpoint INFO lines
