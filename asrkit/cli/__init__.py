"""The `asrkit` command. Each subcommand lives in asrkit/cli/<name>.py, parses its
arguments and calls one library function; this file only dispatches.

A subcommand module defines:
    HELP = "one line for `asrkit --help`"
    def add_arguments(parser: argparse.ArgumentParser) -> None
    def run(args: argparse.Namespace) -> int | None
and, when it writes a run or results folder:
    def output_folder(args: argparse.Namespace) -> Path | None
whose lock (asrkit.locks) the command holds while it runs.

Every subcommand (and each of its own subcommands, as `asrkit lm build`) gets
--no-progress from build_parser here, as args.no_progress: its run() passes
progress=not args.no_progress to the library functions that draw tqdm bars. A module
does not define the flag itself. transformers' own bars (loading and saving weights, hub
downloads) have no such argument: main() turns them off for the command (library_bars).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import logging
import os
import re
import shlex
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

# Operating-system refusals of a path the user chose (an output folder they cannot write, a
# full disk, a name too long for the file system): one line naming the path, what to do.
# Every write is atomic (asrkit.io) and runs resume from their last checkpoint, so nothing
# written before is lost.
OS_PROBLEMS = {
    errno.EACCES: "permission denied: choose a folder you can write, or fix its permissions",
    errno.EPERM: "operation not permitted: choose a folder you can write",
    errno.EROFS: "the file system is read-only: choose another output folder",
    errno.ENOSPC: "no space left on the disk: free some space and run the same command again "
                  "(files already written are kept; training resumes from its last checkpoint)",
    errno.EDQUOT: "disk quota exceeded: free some space and run the same command again",
    errno.ENAMETOOLONG: "a file or folder name is too long for the file system: choose a shorter name",
    errno.EIO: "input/output error while writing: check the disk, then run the same command again",
}


def os_problem(error: OSError) -> str | None:
    """One line for an OSError in OS_PROBLEMS, naming its path; None for any other."""
    what = OS_PROBLEMS.get(error.errno)
    if what is None:
        return None
    path = error.filename if error.filename is not None else ""
    return f"{path}: {what}" if path else what


PROGRESS_HELP = "no progress bars (they go to stderr)"


def add_progress_flag(parser: argparse.ArgumentParser, default=False) -> None:
    """--no-progress on `parser` and on its own subcommands (lm build,
    lm download, ...), so that the flag may come before or after the action. Those take
    default=SUPPRESS: a subcommand's default would otherwise overwrite a --no-progress given
    before it (argparse copies the subcommand's namespace over its parent's)."""
    parser.add_argument("--no-progress", action="store_true", default=default, help=PROGRESS_HELP)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                add_progress_flag(sub, argparse.SUPPRESS)


@contextlib.contextmanager
def library_bars(progress: bool):
    """Without `progress`, transformers' and huggingface_hub's tqdm bars ("Loading weights",
    "Writing model shards", downloads) are off while the command runs, and as they were after.
    They have no per-call switch, so this is the one place asrkit sets theirs."""
    if progress:
        yield
        return
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


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
        add_progress_flag(p)
        p.set_defaults(func=module.run, command_parser=p, output_folder=getattr(module, "output_folder", None))
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


def output_lock(args: argparse.Namespace):
    """The lock of the folder the command writes, so that a second command on it is refused
    instead of interleaving its files. Under `accelerate launch` only the first process
    (RANK 0, the one that writes) takes it."""
    from asrkit.locks import folder_lock

    folder = args.output_folder(args) if getattr(args, "output_folder", None) else None
    if folder is None or os.environ.get("RANK", "0") != "0":
        return contextlib.nullcontext()
    return folder_lock(folder, "asrkit " + shlex.join(args.argv))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # The command line as given, for results that record how they were made.
    args.argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        # accelerate logs four INFO lines per checkpoint saved or loaded (a quarter of a demo's
        # output); asrkit says once what it saved or resumed. Its warnings still show.
        logging.getLogger("accelerate").setLevel(logging.WARNING)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with output_lock(args), library_bars(not args.no_progress):
            return int(args.func(args) or 0)
    except USER_ERRORS as e:
        # A problem the user can fix: one clear line (and the traceback with -v). Anything
        # else is a bug and propagates with its traceback.
        if args.verbose:
            traceback.print_exc()
        print(f"asrkit {args.command}: error: {user_message(e, getattr(args, 'command_parser', None))}",
              file=sys.stderr)
        return 1
    except OSError as e:
        message = os_problem(e)
        if message is None:
            raise  # not one of the user's: a bug, with its traceback
        if args.verbose:
            traceback.print_exc()
        print(f"asrkit {args.command}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"asrkit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
