"""`asrkit download`: the OpenSLR LibriSpeech parts and Libri-light's limited-supervision set.

Each part is fetched by asrkit.download to <to>/<archive>.part (an interrupted download
resumes with an HTTP Range request), checked against its published checksums, and
extracted member by member into a staging folder inside <to>: a member with an absolute
path, a ".." component, a link that leads outside, or a device file stops the extraction
with an error, and nothing of that archive is moved into <to>. Only a fully extracted
archive is merged in: into the folders already there (a link to a folder, such as a
LibriSpeech/ on another disk, is followed), never removing any of them.
A finished part leaves <to>/.asrkit-download/<part>.json and is not fetched again.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from asrkit.download import MismatchError, Remote, fetch, openslr
from asrkit.errors import DownloadError, SettingError

log = logging.getLogger(__name__)

LIBRISPEECH_RESOURCE = 12  # OpenSLR's LibriSpeech corpus
LIBRISPEECH_URL = openslr(LIBRISPEECH_RESOURCE)
LIBRILIGHT_URL = "https://dl.fbaipublicfiles.com/librilight/data"
MARKERS = ".asrkit-download"


@dataclass(frozen=True)
class Archive:
    """One downloadable archive of a LibriSpeech part or of Libri-light's fine-tuning sets."""

    name: str
    filename: str
    folder: str  # what the archive extracts, relative to the target folder
    size: str  # approximate, for --list
    md5: str | None  # OpenSLR's published md5sum.txt
    sha256: str | None  # as pinned by torchaudio's LibriSpeech / LibriLightLimited datasets
    librilight: bool = False


def _ls(name: str, size: str, md5: str, sha256: str) -> Archive:
    return Archive(name, f"{name}.tar.gz", f"LibriSpeech/{name}", size, md5, sha256)


PARTS = {p.name: p for p in (
    _ls("dev-clean", "337M", "42e2234ba48799c1f50f24a7926300a1",
        "76f87d090650617fca0cac8f88b9416e0ebf80350acb97b343a85fa903728ab3"),
    _ls("dev-other", "314M", "c8d0bcc9cca99d4f8b62fcc847357931",
        "12661c48e8c3fe1de2c1caa4c3e135193bfb1811584f11f569dd12645aa84365"),
    _ls("test-clean", "346M", "32fa31d27d2e1cad72775fee3f4849a9",
        "39fde525e59672dc6d1551919b1478f724438a95aa55f874b576be21967e6c23"),
    _ls("test-other", "328M", "fb5a50374b501bb3bac4815ee91d3135",
        "d09c181bba5cf717b3dee7d4d592af11a3ee3a09e08ae025c5506f6ebe961c29"),
    _ls("train-clean-100", "6.3G", "2a93770f6d5c6c964bc36631d331a522",
        "d4ddd1d5a6ab303066f14971d768ee43278a5f2a0aa43dc716b0e64ecbbbf6e2"),
    _ls("train-clean-360", "23G", "c0e676e450a7ff2f54aeade5171606fa",
        "146a56496217e96c14334a160df97fffedd6e0a04e66b9c5af0d40be3c792ecf"),
    _ls("train-other-500", "30G", "d1a0fd59409feb2c614ce4d30c387708",
        "ddb22f27f96ec163645d53215559df6aa36515f26e01dd70798188350adcb6d2"),
    Archive("librispeech_finetuning", "librispeech_finetuning.tgz", "librispeech_finetuning", "?",
            None, "5d1efdc777b548194d7e09ba89126e2188026df9fd57aa57eb14408d2b2342af", librilight=True),
)}
DEFAULT_PARTS = ("dev-clean", "dev-other", "test-clean", "test-other")


class UnsafeArchiveError(DownloadError):
    """An archive member that would land outside the target folder."""


@dataclass(frozen=True)
class DownloadOptions:
    parts: tuple[str, ...]  # names from PARTS
    to: Path  # target folder: LibriSpeech/ and librispeech_finetuning/ appear inside
    base_url: str = LIBRISPEECH_URL  # where <part>.tar.gz is fetched from
    librilight_url: str = LIBRILIGHT_URL  # where librispeech_finetuning.tgz is fetched from
    sha256: dict[str, str] = field(default_factory=dict)  # part -> checksum, for a mirror's own files
    keep_archives: bool = False  # keep <part>.tar.gz after extraction
    progress: bool = True
    timeout: float = 60.0  # seconds without data before a try fails
    retries: int = 3  # tries per part; each resumes where the last stopped


@dataclass(frozen=True)
class PartResult:
    name: str
    folder: Path  # where the part's files are now
    fetched: bool  # False: already present from an earlier run


def check_parts(names: tuple[str, ...]) -> None:
    unknown = [n for n in names if n not in PARTS]
    if unknown:
        raise SettingError(f"unknown part(s) {', '.join(unknown)}: choose from {', '.join(PARTS)}")


def url_of(part: Archive, options: DownloadOptions) -> str:
    base = options.librilight_url if part.librilight else options.base_url
    return f"{base.rstrip('/')}/{part.filename}"


def download(options: DownloadOptions) -> list[PartResult]:
    """Fetch, verify and extract every part in `options.parts`; skip finished ones."""
    check_parts(options.parts)
    for name in options.sha256:
        check_parts((name,))
    to = Path(options.to)
    to.mkdir(parents=True, exist_ok=True)
    return [_one(PARTS[name], options, to) for name in dict.fromkeys(options.parts)]


def _one(part: Archive, options: DownloadOptions, to: Path) -> PartResult:
    marker = to / MARKERS / f"{part.name}.json"
    folder = to / part.folder
    if marker.is_file() and folder.is_dir():
        log.info("%s: already in %s", part.name, folder)
        return PartResult(part.name, folder, False)
    check_target(part, to)
    remote = remote_of(part, options)
    try:
        archive = fetch(remote, to / part.filename, progress=options.progress, timeout=options.timeout,
                        retries=options.retries)
    except MismatchError as e:
        raise DownloadError(f"{e} (a mirror serving other bytes needs `sha256` {part.name}=HEX)") from None
    safe_extract(archive, to, progress=options.progress)
    if not folder.is_dir():
        raise DownloadError(f"{archive}: extracted, but it held no {part.folder}/ folder")
    marker.parent.mkdir(exist_ok=True)
    marker.write_text(json.dumps({"url": remote.url, **remote.checksums()}) + "\n")
    if not options.keep_archives:
        archive.unlink()
    return PartResult(part.name, folder, True)


def remote_of(part: Archive, options: DownloadOptions) -> Remote:
    """Where `part` is and its checksums: a --sha256 given for it replaces the built-in ones."""
    if part.name in options.sha256:
        return Remote(url_of(part, options), sha256=options.sha256[part.name])
    return Remote(url_of(part, options), md5=part.md5, sha256=part.sha256)


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


def check_member(member: tarfile.TarInfo, root: str) -> str | None:
    """Why extracting `member` under the folder `root` (a real path) is unsafe, or None."""
    name = member.name
    if name.startswith(("/", "\\")) or os.path.isabs(name) or PurePosixPath(name).drive:
        return "absolute path"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "'..' in its path"
    dest = os.path.realpath(os.path.join(root, name))
    if not _inside(dest, root):
        return "it resolves outside the target (through a link?)"
    if member.issym():
        if os.path.isabs(member.linkname):
            return f"symlink to the absolute path {member.linkname}"
        if not _inside(os.path.realpath(os.path.join(os.path.dirname(dest), member.linkname)), root):
            return f"symlink to {member.linkname}, outside the target"
    elif member.islnk():
        if os.path.isabs(member.linkname) or not _inside(
                os.path.realpath(os.path.join(root, member.linkname)), root):
            return f"hard link to {member.linkname}, outside the target"
    elif not (member.isfile() or member.isdir()):
        return "a device, fifo or other special file"
    return None


def safe_extract(archive: str | os.PathLike, target: str | os.PathLike, progress: bool = True) -> None:
    """Extract a tar archive into `target`, refusing any member that would land outside.

    Members go to a staging folder inside `target` first (checked here, and by tarfile's
    'data' filter as a second guard); only a complete, clean extraction is merged in.
    """
    from tqdm import tqdm

    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".extract-", dir=target)
    root = os.path.realpath(staging)
    try:
        with tarfile.open(archive, "r:*") as tar, tqdm(
                desc=f"extract {Path(archive).name}", unit=" files", disable=not progress,
                leave=False) as bar:
            for member in tar:
                why = check_member(member, root)
                if why:
                    raise UnsafeArchiveError(
                        f"{archive}: refusing member {member.name!r}: {why}; nothing from this "
                        f"archive was written to {target}")
                tar.extract(member, staging, filter="data")
                bar.update(1)
        _merge(Path(staging), target)
    except tarfile.FilterError as e:
        raise UnsafeArchiveError(f"{archive}: refusing an unsafe member ({e}); nothing from this "
                                 f"archive was written to {target}") from None
    except (tarfile.TarError, EOFError, zlib.error) as e:
        raise DownloadError(f"{archive}: not a readable tar archive ({e})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _merge(src: Path, dst: Path) -> None:
    """Move the tree `src` into `dst`, merging into the folders that exist there.

    Nothing in `dst` is removed: a folder there, or a link to one (a LibriSpeech/ on another
    disk), is merged into; only a file of the same name is replaced by the archive's copy.
    An archive entry that would put a file or link where a folder is (or a folder where a
    file is) stops the merge before anything moves.
    """
    clashes = list(_clashes(src, dst))
    if clashes:
        shown = "; ".join(clashes[:5]) + (f"; and {len(clashes) - 5} more" if len(clashes) > 5 else "")
        raise DownloadError(f"extracting into {dst} would replace what is there ({shown}); nothing was "
                            f"changed: move those paths aside, or set `to` to another folder")
    _move_tree(src, dst)


def _is_folder(path: Path) -> bool:
    """A real folder, not a link: the archive's own entries (its links are never followed)."""
    return path.is_dir() and not path.is_symlink()


def _clashes(src: Path, dst: Path):
    """Why each entry of `src` cannot be moved to `dst` without removing something there."""
    for child in sorted(src.iterdir()):
        out = dst / child.name
        if out.is_symlink() and not out.exists():
            yield f"{out} is a link to the missing {os.readlink(out)}"
        elif _is_folder(child):
            if out.is_dir():
                yield from _clashes(child, out)
            elif out.exists():
                yield f"{out} is a file; the archive has a folder there"
        elif out.is_dir():
            yield f"{out} is a folder; the archive has a {'link' if child.is_symlink() else 'file'} there"


def _move_tree(src: Path, dst: Path) -> None:
    for child in src.iterdir():
        out = dst / child.name
        if _is_folder(child) and out.is_dir():
            _move_tree(child, out)
        else:
            # shutil.move: a rename, or copy and delete when dst is a link to another disk.
            shutil.move(child, out)


def check_target(part: Archive, to: Path) -> None:
    """Refuse before fetching when a folder the part extracts into is a file or a broken link
    (else the error would come after the whole download, and again on every run)."""
    path = to
    for name in PurePosixPath(part.folder).parts:
        path = path / name
        if path.is_symlink() and not path.exists():
            raise DownloadError(f"{path} is a link to the missing {os.readlink(path)}: {part.name} "
                                f"extracts into it; mount or fix that folder, or remove the link")
        if path.exists() and not path.is_dir():
            raise DownloadError(f"{path} is a file, not a folder: {part.name} extracts into "
                                f"{to / part.folder}; move that file aside")
