"""The LibriSpeech and Libri-light corpus layout: where each split's files are, and the
transcript reader. No audio is opened here (see asrkit.data.prepare).

    <data-root>/LibriSpeech/<split>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac
                                                       /<speaker>-<chapter>.trans.txt
    <data-root>/librispeech_finetuning/1h/{0..5}/{clean,other}/<speaker>/<chapter>/...
                                      /9h/{clean,other}/<speaker>/<chapter>/...

Split names: every LibriSpeech split found, plus the Libri-light limited-supervision sets as
torchaudio's LibriLightLimited maps them (10min = 1h/0, 1h = 1h/*, 10h = 1h/* + 9h) and
100h = train-clean-100.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from asrkit.errors import InputNotFound

LIBRISPEECH_SPLITS = ("train-clean-100", "train-clean-360", "train-other-500",
                      "dev-clean", "dev-other", "test-clean", "test-other")
LIBRILIGHT_SPLITS = ("10min", "1h", "10h")
ALIASES = {"100h": "train-clean-100"}
ALL_SPLITS = LIBRISPEECH_SPLITS + LIBRILIGHT_SPLITS + tuple(ALIASES)

LIBRISPEECH_DIR = "LibriSpeech"
LIBRILIGHT_DIR = "librispeech_finetuning"
AUDIO_SUFFIXES = (".flac", ".wav")
TRANS_SUFFIX = ".trans.txt"
_SUBSETS = ("clean", "other")  # inside every Libri-light fold

# <speaker>-<chapter>-<utt>; LibriSpeech uses digits, a synthesised corpus may not.
UTT_ID = re.compile(r"([A-Za-z0-9_]+)-([A-Za-z0-9_]+)-([A-Za-z0-9_]+)")

# Why an utterance was skipped. prepare adds the audio and text reasons.
NO_TRANSCRIPT = "no transcript line"
NO_AUDIO = "no audio file"
MALFORMED = "malformed transcript line"
DUPLICATE = "duplicate id"
EMPTY_TEXT = "empty text"
# Why a file or folder of the tree was not taken.
UNREADABLE_FOLDER = "unreadable folder"
UNREADABLE_FILE = "unreadable file"
BROKEN_LINK = "broken link"
WALKED = "folder reached twice through links"
OTHER_FILE = "not audio or a transcript"


@dataclass(frozen=True)
class Problem:
    """A skipped utterance or transcript line: where, why, and the specifics."""

    path: str  # audio file, or "<trans.txt>:<line>"
    reason: str  # one of the reason constants
    detail: str = ""


@dataclass(frozen=True)
class Entry:
    """An utterance whose audio file and transcript line were both found."""

    id: str
    audio: str  # absolute path
    speaker: str
    chapter: str
    text: str  # as in the transcript, whitespace collapsed
    where: str  # "<trans.txt>:<line>", for reports


@dataclass
class Scan:
    """What the file system holds for one split (no audio opened)."""

    entries: list[Entry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: list[tuple[str, int, int]] = field(default_factory=list)  # (path, size, mtime_ns)


@dataclass(frozen=True)
class Corpus:
    """A located corpus: the folders that make up each split found under `root`."""

    root: Path  # the folder the user named
    librispeech: Path | None  # the LibriSpeech folder, if found
    librilight: Path | None  # the librispeech_finetuning folder, if found
    splits: dict[str, tuple[Path, ...]]  # split name -> folders in speaker/chapter layout
    notes: tuple[str, ...] = ()  # oddities worth telling the user (a missing fold...)

    def describe(self) -> list[str]:
        """Lines saying what was found where."""
        lines = []
        if self.librispeech:
            found = [s for s in LIBRISPEECH_SPLITS if s in self.splits]
            lines.append(f"found LibriSpeech at {self.librispeech}: {', '.join(found) or 'no splits'}")
        if self.librilight:
            found = [s for s in LIBRILIGHT_SPLITS if s in self.splits]
            lines.append(f"found Libri-light at {self.librilight}: {', '.join(found) or 'no splits'}")
        return lines + [f"note: {n}" for n in self.notes]


def _child(folder: Path, name: str) -> Path | None:
    """folder/name if it is a directory, matching the name case-insensitively."""
    exact = folder / name
    if exact.is_dir():
        return exact
    try:
        for entry in os.scandir(folder):
            if entry.name.lower() == name.lower() and entry.is_dir():
                return Path(entry.path)
    except OSError:
        pass
    return None


def _librilight_splits(ft: Path) -> tuple[dict[str, tuple[Path, ...]], list[str]]:
    notes = []
    one_h, nine_h = _child(ft, "1h"), _child(ft, "9h")
    try:
        folds = sorted((p for p in one_h.iterdir() if p.is_dir() and p.name.isdigit()),
                       key=lambda p: int(p.name)) if one_h else []
    except OSError as e:
        notes.append(f"cannot list {one_h} ({e.strerror or e}): no 10min, 1h or 10h")
        folds = []

    def subsets(folder: Path) -> list[Path]:
        found = [folder / s for s in _SUBSETS if (folder / s).is_dir()]
        if len(found) < len(_SUBSETS):
            notes.append(f"{folder} has {', '.join(p.name for p in found) or 'neither clean nor other'}"
                         f" (expected clean and other)")
        return found

    splits: dict[str, tuple[Path, ...]] = {}
    if one_h and len(folds) != 6:
        notes.append(f"{one_h} has {len(folds)} folds (the release has 6: 0..5)")
    if folds and folds[0].name == "0":
        splits["10min"] = tuple(subsets(folds[0]))
    if folds:
        splits["1h"] = tuple(p for fold in folds for p in subsets(fold))
    if folds and nine_h:
        splits["10h"] = splits["1h"] + tuple(subsets(nine_h))
    elif folds:
        notes.append(f"no 9h folder in {ft}: 10h is not available")
    return {k: v for k, v in splits.items() if v}, notes


def find_corpus(data_root: str | os.PathLike) -> Corpus:
    """Locate LibriSpeech and Libri-light folders under `data_root`.

    `data_root` may contain LibriSpeech/ and/or librispeech_finetuning/, or be one of them,
    or be a single LibriSpeech split folder. Raises FileNotFoundError naming the folder
    searched and what was looked for.
    """
    root = Path(data_root).expanduser()
    if not root.is_dir():
        raise InputNotFound(f"corpus folder {root} does not exist "
                            f"(make one with `asrkit synth` or `asrkit download`)")
    ls = _child(root, LIBRISPEECH_DIR)
    ft = _child(root, LIBRILIGHT_DIR)
    only = None
    if ls is None and ft is None:
        if any((root / s).is_dir() for s in LIBRISPEECH_SPLITS):
            ls = root  # pointed at LibriSpeech/ itself
        elif _child(root, "1h") or _child(root, "9h"):
            ft = root  # pointed at librispeech_finetuning/ itself
        elif root.name in LIBRISPEECH_SPLITS:
            ls, only = root.parent, root.name  # pointed at one split
    splits: dict[str, tuple[Path, ...]] = {}
    notes: list[str] = []
    if ls is not None:
        for s in LIBRISPEECH_SPLITS:
            if (ls / s).is_dir() and only in (None, s):
                splits[s] = (ls / s,)
        for alias, target in ALIASES.items():
            if target in splits:
                splits[alias] = splits[target]
    if ft is not None:
        ll, ll_notes = _librilight_splits(ft)
        splits.update(ll)
        notes += ll_notes
    if not splits:
        raise InputNotFound(
            f"no LibriSpeech or Libri-light corpus in {root}: looked for "
            f"{root / LIBRISPEECH_DIR}/<split>/ (splits {', '.join(LIBRISPEECH_SPLITS)}) and "
            f"{root / LIBRILIGHT_DIR}/{{1h/0..5,9h}}/{{clean,other}}/ "
            f"(make one with `asrkit synth` or `asrkit download`)")
    return Corpus(root, ls, ft, splits, tuple(notes))


# What str.splitlines() breaks a line at, but \n: a transcript line must not hold one.
LINE_BREAKS = frozenset("\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def read_transcripts(path: str | os.PathLike) -> tuple[list[tuple[int, str, str]], list[Problem]]:
    """Parse one <speaker>-<chapter>.trans.txt: [(line number, id, text)] and bad lines.

    One utterance per line, id then the upper-case words:

        1089-134686-0000 HE HOPED THERE WOULD BE STEW FOR DINNER TURNIPS AND CARROTS
    """
    rows, problems = [], []
    try:
        # newline="": lines end at \n only (a CRLF's \r is dropped below); universal newlines
        # (and str.splitlines) would cut a line at a stray \r and keep its first half as the label.
        with open(path, encoding="utf-8", newline="") as f:
            lines = f.read().split("\n")
    except (OSError, UnicodeDecodeError) as e:
        return [], [Problem(str(path), MALFORMED, f"cannot read transcript file ({e})")]
    for n, line in enumerate(lines, 1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        breaks = sorted({repr(c) for c in line if c in LINE_BREAKS})
        if breaks:
            # Not normalised: whether it stood for a line break (two utterances run together)
            # or a stray byte cannot be told, and either guess may train on a wrong label.
            problems.append(Problem(f"{path}:{n}", MALFORMED, f"a line break ({', '.join(breaks)}) inside the "
                                                              f"line; put one utterance per line, ended by \\n"))
            continue
        utt_id, _, text = line.strip().partition(" ")
        if not UTT_ID.fullmatch(utt_id):
            problems.append(Problem(f"{path}:{n}", MALFORMED,
                                    f"starts with {utt_id[:40]!r}, not <speaker>-<chapter>-<utt>"))
            continue
        rows.append((n, utt_id, " ".join(text.split())))
    return rows, problems


def _entries(folder: str, scan: Scan) -> list[os.DirEntry] | None:
    """The folder's entries sorted by name, or None (a Problem recorded) if it cannot be listed."""
    try:
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError as e:
        scan.problems.append(Problem(folder, UNREADABLE_FOLDER, e.strerror or str(e)))
        return None


def _stat(entry: os.DirEntry, scan: Scan) -> os.stat_result | None:
    """stat() through links; a broken or looping link is a Problem, not an abort."""
    try:
        return entry.stat()
    except OSError as e:
        if entry.is_symlink():
            target = _readlink(entry.path)
            scan.problems.append(Problem(entry.path, BROKEN_LINK, f"link to {target} ({e.strerror or e})"))
        else:
            scan.problems.append(Problem(entry.path, UNREADABLE_FILE, e.strerror or str(e)))
        return None


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def _walk(folder: Path, scan: Scan) -> dict[str, tuple[dict[str, str], list[str]]]:
    """Directory -> (audio stem -> path, transcript files), recording every file's stat.

    Links are followed, but each real folder is walked once: a link back to a folder already
    walked (a loop, or a second link to the same place) is reported, not entered again.
    Nothing found is dropped silently: unreadable folders, broken links and files that are
    neither audio nor transcripts become Problems.
    """
    dirs: dict[str, tuple[dict[str, str], list[str]]] = {}
    walked: dict[tuple[int, int], str] = {}
    stack = [str(folder)]
    while stack:
        dirpath = stack.pop()
        st = _stat_folder(dirpath, scan)
        if st is None:
            continue
        key = (st.st_dev, st.st_ino)
        if key in walked:
            scan.problems.append(Problem(dirpath, WALKED, f"the same folder as {walked[key]}"))
            continue
        walked[key] = dirpath
        entries = _entries(dirpath, scan)
        if entries is None:
            continue
        audio: dict[str, str] = {}
        trans: list[str] = []
        subdirs = []
        for entry in entries:
            est = _stat(entry, scan)
            if est is None:
                continue
            if stat.S_ISDIR(est.st_mode):
                subdirs.append(entry.path)
                continue
            _file(entry, est, audio, trans, scan)
        stack.extend(reversed(subdirs))  # depth first, in name order
        if audio or trans:
            dirs[dirpath] = (audio, trans)
    return dirs


def _stat_folder(path: str, scan: Scan) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError as e:
        scan.problems.append(Problem(path, UNREADABLE_FOLDER, e.strerror or str(e)))
        return None


def _file(entry: os.DirEntry, st: os.stat_result, audio: dict[str, str], trans: list[str], scan: Scan) -> None:
    """Sort one file into audio or transcripts (recording its stat), or report it."""
    name, path = entry.name, entry.path
    if not stat.S_ISREG(st.st_mode):
        scan.problems.append(Problem(path, OTHER_FILE, "not a regular file (a fifo, socket or device)"))
        return
    if name.endswith(TRANS_SUFFIX):
        trans.append(path)
    elif name.lower().endswith(AUDIO_SUFFIXES):
        stem = name.rsplit(".", 1)[0]
        if stem in audio:
            scan.problems.append(Problem(path, DUPLICATE, f"{stem} also at {audio[stem]}"))
            return
        audio[stem] = path
    else:
        scan.problems.append(Problem(path, OTHER_FILE, f"neither audio ({', '.join(AUDIO_SUFFIXES)}) "
                                                       f"nor a transcript (*{TRANS_SUFFIX})"))
        return
    scan.files.append((path, st.st_size, st.st_mtime_ns))


def scan_split(folders: tuple[Path, ...] | list[Path]) -> Scan:
    """Pair every audio file with its transcript line across `folders`.

    Transcript lines and audio files are matched within a chapter directory. Unmatched
    files, malformed lines, empty texts and ids seen twice become Problems.
    """
    scan = Scan()
    seen: dict[str, str] = {}
    for folder in folders:
        for dirpath, (audio, trans_files) in _walk(Path(os.path.abspath(folder)), scan).items():
            for trans in trans_files:
                rows, problems = read_transcripts(trans)
                scan.problems += problems
                for n, utt_id, text in rows:
                    where = f"{trans}:{n}"
                    if utt_id in seen:
                        scan.problems.append(Problem(where, DUPLICATE, f"{utt_id} first at {seen[utt_id]}"))
                        continue
                    seen[utt_id] = where
                    path = audio.pop(utt_id, None)
                    if path is None:
                        scan.problems.append(Problem(where, NO_AUDIO, f"{utt_id}: no {utt_id}.flac in {dirpath}"))
                    elif not text:
                        scan.problems.append(Problem(path, EMPTY_TEXT, f"{utt_id} at {where}"))
                    else:
                        speaker, chapter, _ = UTT_ID.fullmatch(utt_id).groups()
                        scan.entries.append(Entry(utt_id, path, speaker, chapter, text, where))
            for stem, path in sorted(audio.items()):
                scan.problems.append(Problem(path, NO_TRANSCRIPT,
                                             f"no line for {stem} in {', '.join(trans_files) or f'any {TRANS_SUFFIX} in {dirpath}'}"))
    return scan
