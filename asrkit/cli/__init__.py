"""The `asrkit` command. Each subcommand lives in asrkit/cli/<name>.py, parses its
arguments and calls one library function; this file only dispatches.

A subcommand module defines:
    HELP = "one line for `asrkit --help`"
    def add_arguments(parser: argparse.ArgumentParser) -> None
    def run(args: argparse.Namespace) -> int | None
"""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys
import traceback

from asrkit.errors import AsrkitError

# (name, module) in the order of the pipeline; modules are imported lazily so that
# `asrkit --help` stays fast and a stage's heavy imports cost only that stage.
COMMANDS = [
    ("synth", "asrkit.cli.synth"),
    ("prepare", "asrkit.cli.prepare"),
    ("download", "asrkit.cli.download"),
    ("vocab", "asrkit.cli.vocab"),
    ("pretrain", "asrkit.cli.pretrain"),
    ("codes", "asrkit.cli.codes"),
    ("finetune", "asrkit.cli.finetune"),
    ("lm", "asrkit.cli.lm"),
    ("logits", "asrkit.cli.logits"),
    ("decode", "asrkit.cli.decode"),
    ("tune-lm", "asrkit.cli.tune_lm"),
    ("report", "asrkit.cli.report"),
    ("transcribe", "asrkit.cli.transcribe"),
    ("demo", "asrkit.cli.demo"),
]


# What the user can fix. A missing or misplaced path the user named (an open() of an
# argument) counts too: its message names the path. A ValueError does not: one from numpy
# or torch is a bug, and asrkit's own checks raise AsrkitError.
USER_ERRORS = (AsrkitError, FileNotFoundError, NotADirectoryError, IsADirectoryError)


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the layout of a subcommand's docstring (examples, tables) and shows defaults."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asrkit",
        description="CTC fine-tuning of wav2vec 2.0 style models and decoding with KenLM.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, path in COMMANDS:
        module = importlib.import_module(path)
        p = sub.add_parser(name, help=module.HELP, description=(module.__doc__ or module.HELP),
                           formatter_class=HelpFormatter)
        module.add_arguments(p)
        p.set_defaults(func=module.run, command_parser=p)
    return parser


def flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    """{setting: flag} for a subcommand's options and those of its own subcommands:
    {"beam_threshold": "--beam-threshold", "root": "--root", ...}. The library names a
    setting by its dataclass field, which is the option's dest here."""
    out: dict[str, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                out = {**flags(sub), **out}
        elif action.option_strings and action.dest not in out:
            out[action.dest] = next((s for s in action.option_strings if s.startswith("--")), action.option_strings[0])
    return out


def user_message(error: BaseException, parser: argparse.ArgumentParser | None) -> str:
    """The error's message with each `setting` the command has a flag for shown as that flag:
    "`beam` must be >= 1" -> "--beam must be >= 1". The one place settings become flags."""
    known = flags(parser) if parser is not None else {}
    return re.sub(r"`([a-z_]+)`", lambda m: known.get(m.group(1), m.group(0)), str(error))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # The command line as given, for results that record how they were made.
    args.argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as e:
        # A problem the user can fix: one clear line (and the traceback with -v). Anything
        # else is a bug and propagates with its traceback.
        if args.verbose:
            traceback.print_exc()
        print(f"asrkit {args.command}: error: {user_message(e, getattr(args, 'command_parser', None))}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"asrkit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
