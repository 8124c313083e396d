"""Download LibriSpeech parts (OpenSLR resource 12) and Libri-light's librispeech_finetuning.tgz.

Downloads resume after an interruption (HTTP Range on a .part file), are checked against
the published md5/sha256 checksums, and are extracted safely (no archive member may land
outside --to). A part already downloaded is skipped. The result is the layout
`asrkit prepare` reads:

    <to>/LibriSpeech/<part>/<speaker>/<chapter>/...
    <to>/librispeech_finetuning/{1h,9h}/...      (with --librilight)

For the paper's 10min / 1h / 10h settings: --librilight plus the dev and test parts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asrkit import workspace

HELP = "download LibriSpeech parts and the Libri-light fine-tuning sets"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from asrkit.data.download import DEFAULT_PARTS, LIBRILIGHT_URL, LIBRISPEECH_RESOURCE, LIBRISPEECH_URL
    from asrkit.download import OPENSLR_MIRRORS, openslr

    parser.add_argument("--parts", default=",".join(DEFAULT_PARTS),
                        help="comma-separated LibriSpeech parts (see --list); 'none' for none")
    parser.add_argument("--librilight", action="store_true",
                        help="also fetch librispeech_finetuning.tgz (10min, 1h, 10h splits)")
    parser.add_argument("--to", type=Path, default=workspace.corpus_dir(), help="target folder")
    parser.add_argument("--base-url", default=LIBRISPEECH_URL,
                        help="where the LibriSpeech parts are; mirrors: "
                             f"{', '.join(openslr(LIBRISPEECH_RESOURCE, site) for site in OPENSLR_MIRRORS)}")
    parser.add_argument("--librilight-url", default=LIBRILIGHT_URL,
                        help="where librispeech_finetuning.tgz is")
    parser.add_argument("--sha256", action="append", default=[], metavar="PART=HEX",
                        help="expected sha256 of a part, replacing the built-in checksums "
                             "(for a mirror that serves other archives)")
    parser.add_argument("--keep-archives", action="store_true", help="keep the archives after extraction")
    parser.add_argument("--list", action="store_true", help="list the parts and exit")


def run(args: argparse.Namespace) -> int:
    from asrkit.errors import SettingError
    from asrkit.data.download import PARTS, DownloadOptions, check_parts, download

    if args.list:
        for part in PARTS.values():
            print(f"{part.name:24s} {part.size:>5s}  {part.filename}")
        return 0
    parts = () if args.parts.strip() == "none" else tuple(
        p.strip() for p in args.parts.split(",") if p.strip())
    if args.librilight:
        parts += ("librispeech_finetuning",)
    if not parts:
        raise SettingError("nothing to download: give --parts and/or --librilight")
    check_parts(parts)
    sha256 = {}
    for item in args.sha256:
        name, sep, value = item.partition("=")
        if not sep or len(value) != 64:
            raise SettingError(f"--sha256 {item!r}: expected PART=<64 hex digits>")
        sha256[name] = value
    options = DownloadOptions(parts=parts, to=args.to, base_url=args.base_url,
                              librilight_url=args.librilight_url, sha256=sha256,
                              keep_archives=args.keep_archives, progress=not args.no_progress)
    for result in download(options):
        print(f"{result.name}: {'downloaded to' if result.fetched else 'already in'} {result.folder}")
    print(f"next: asrkit prepare --data-root {args.to}")
    return 0


def output_folder(args: argparse.Namespace) -> Path:
    """The corpus folder the parts are unpacked into."""
    return args.to
