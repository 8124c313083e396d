"""KenLM language models: build from text, download the LibriSpeech 4-gram, resolve by name.

Every model lives in its own folder under asrkit.workspace.lm_dir():

    work/lm/<name>/
        <name>.arpa     the n-gram in ARPA text form
        <name>.bin      the same, KenLM binary (fast to load; what the decoders read)
        unigrams.txt    one word per line: the LM vocabulary (pyctcdecode needs it beside a
                        binary LM, since it cannot read words from one)
        lexicon.txt     word TAB its letters, space separated, ending with the word
                        delimiter, as flashlight and fairseq read it:
                            HELLO\tH E L L O |
        info.json       what was built from what: order, unit, corpus lines, vocabulary
                        size, inputs with sha256, options

A "letter" model (unit="letter") is an n-gram over the letters of the same corpus
("H E L L O | W O R L D |"), for the lexicon-free decoder, which asks its LM about
one token at a time.

KenLM's lmplz and build_binary come from lm/build_kenlm.sh (run by scripts/setup.sh).
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from asrkit import workspace
from asrkit.download import file_hash, openslr
from asrkit.errors import InputNotFound, LMError
from asrkit.io import atomic_path, write_json
from asrkit.text import LETTERS, normalize
from asrkit.vocab import spelled

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
SPECIAL_WORDS = {"<s>", "</s>", "<unk>"}
KENLM_BINARY_MAGIC = b"mmap lm "  # first bytes of every KenLM binary file


# --------------------------------------------------------------------------- tools


def kenlm_tool(name: str) -> Path:
    """Path of a KenLM command-line tool (lmplz, build_binary, query).

    Looked for in $ASRKIT_KENLM_BIN, then .cache/kenlm/bin (in the current folder and in
    the asrkit checkout), then $PATH.
    """
    candidates = []
    if os.environ.get("ASRKIT_KENLM_BIN"):
        candidates.append(Path(os.environ["ASRKIT_KENLM_BIN"]) / name)
    candidates += [Path(".cache/kenlm/bin") / name, REPO_ROOT / ".cache/kenlm/bin" / name]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c.resolve()
    found = shutil.which(name)
    if found:
        return Path(found)
    raise LMError(
        f"KenLM's `{name}` was not found in $ASRKIT_KENLM_BIN, .cache/kenlm/bin or $PATH: "
        "run scripts/setup.sh (or lm/build_kenlm.sh) to build it"
    )


def _run(cmd: list[str], what: str, stdin_lines: Iterable[str] | None = None) -> None:
    """Run a KenLM tool; on failure raise LMError with the tail of its output."""
    log.debug("running %s", " ".join(cmd))
    with open(os.devnull, "rb") as devnull:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE if stdin_lines is not None else devnull,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
    if stdin_lines is not None:
        # lmplz reads the corpus from stdin; its log goes to a pipe we drain afterwards,
        # so write it from a thread to avoid both sides waiting on full pipes.
        import threading

        output: list[bytes] = []
        reader = threading.Thread(target=lambda: output.append(proc.stdout.read()))
        reader.start()
        try:
            for line in stdin_lines:
                proc.stdin.write(line.encode("utf-8") + b"\n")
        except BrokenPipeError:
            pass
        finally:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
        proc.wait()
        reader.join()
        out = b"".join(output)
    else:
        out, _ = proc.communicate()
    if proc.returncode != 0:
        tail = "\n".join(out.decode("utf-8", "replace").strip().splitlines()[-6:])
        raise LMError(f"{what} failed (exit {proc.returncode}):\n{tail}")


# --------------------------------------------------------------------------- corpus


def open_text(path: str | os.PathLike):
    """Open a text corpus for reading; .gz files are decompressed on the fly."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFound(f"no text corpus at {path}")
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def corpus_lines(paths: Iterable[str | os.PathLike], unit: str = "word") -> Iterator[str]:
    """Normalised, non-empty lines of the corpus files, in order.

    unit="letter" spells each line out as "H E L L O | W O R L D |".
    """
    for path in paths:
        with open_text(path) as f:
            for line in f:
                text = normalize(line)
                if not text:
                    continue
                yield spelled(text) if unit == "letter" else text


# --------------------------------------------------------------------------- ARPA


def arpa_words(arpa: str | os.PathLike) -> list[str]:
    """The vocabulary of an ARPA file (its 1-grams, less <s>, </s>, <unk>), in file order.

    ARPA layout (the part we read):
        \\data\\
        ngram 1=3
        \\1-grams:
        -1.2  HELLO  -0.3
    """
    words: list[str] = []
    in_unigrams = False
    with open_text(arpa) as f:
        for line in f:
            line = line.strip()
            if line.startswith("\\"):
                if in_unigrams:
                    break
                in_unigrams = line == "\\1-grams:"
                continue
            if in_unigrams and line:
                parts = line.split("\t") if "\t" in line else line.split()
                if len(parts) < 2:
                    raise LMError(f"{arpa}: malformed 1-gram line {line[:60]!r}")
                word = parts[1].strip()
                if word not in SPECIAL_WORDS:
                    words.append(word)
    if not words:
        raise LMError(f"{arpa}: no 1-grams found: not an ARPA language model")
    return words


def arpa_order(arpa: str | os.PathLike) -> int:
    """The highest n of an ARPA file, from its \\data\\ header."""
    order = 0
    with open_text(arpa) as f:
        for line in f:
            line = line.strip()
            if line.startswith("ngram "):
                order = max(order, int(line.split()[1].split("=")[0]))
            elif line.startswith("\\") and line != "\\data\\":
                break
    return order


def check_lm_file(path: str | os.PathLike) -> str:
    """Say what kind of LM file `path` is ("arpa" or "binary"); LMError if it is neither."""
    path = Path(path)
    if not path.is_file():
        raise LMError(f"no language model file at {path}")
    with open(path, "rb") as f:
        head = f.read(4096)
    if head.startswith(KENLM_BINARY_MAGIC):
        return "binary"
    if head.startswith(b"\x1f\x8b"):
        with gzip.open(path, "rb") as g:
            head = g.read(4096)
    if head.lstrip().startswith(b"\\data\\"):
        return "arpa"
    raise LMError(f"{path}: not a KenLM language model (neither ARPA text nor a KenLM binary)")


def write_unigrams(words: list[str], path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text("".join(w + "\n" for w in words), encoding="utf-8")


def write_lexicon(words: list[str], path: Path) -> int:
    """Write "WORD\\tW O R D |" for each word a letter vocabulary can spell; returns the count.

    Words with other characters (digits, lower case, <unk>) are left out: the lexicon
    decoder could never emit them.
    """
    allowed = set(LETTERS)
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for w in words:
            if w and set(w) <= allowed:
                f.write(f"{w}\t{spelled(w)}\n")
                n += 1
    return n


def read_lexicon(path: str | os.PathLike) -> dict[str, list[list[str]]]:
    """word -> spellings (lists of tokens) from a lexicon file; LMError on a malformed line."""
    lexicon: dict[str, list[list[str]]] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\n").split("\t") if "\t" in line else line.split(None, 1)
            if len(parts) != 2 or not parts[1].strip():
                raise LMError(f"{path}:{n}: expected 'WORD<TAB>L E T T E R S |', got {line.strip()[:60]!r}")
            lexicon.setdefault(parts[0].strip(), []).append(parts[1].split())
    if not lexicon:
        raise LMError(f"{path}: empty lexicon")
    return lexicon


# --------------------------------------------------------------------------- models on disk


@dataclass(frozen=True)
class LanguageModel:
    """A language model folder, as `resolve` finds it."""

    name: str
    path: Path  # the file the decoders load: <name>.bin when present, else the ARPA
    unigrams: Path | None  # unigrams.txt (pyctcdecode); None when unknown
    lexicon: Path | None  # lexicon.txt (flashlight lexicon decoder)
    unit: str = "word"  # "word" or "letter"
    info: dict = field(default_factory=dict, compare=False)

    def read_unigrams(self) -> list[str]:
        if self.unigrams is None:
            raise LMError(f"{self.path}: no unigrams.txt beside this LM; pyctcdecode needs one")
        return read_words(self.unigrams)


def read_words(path: str | os.PathLike) -> list[str]:
    """A word list: unigrams.txt (one word per line), or the 1-grams of an ARPA file."""
    with open(path, "rb") as f:
        head = f.read(64)
    if head.lstrip().startswith(b"\\data\\") or head.startswith(b"\x1f\x8b"):
        return arpa_words(path)
    return [w for w in Path(path).read_text(encoding="utf-8").split("\n") if w.strip()]


def available(root: str | os.PathLike | None = None) -> list[str]:
    """Names of the models under `root` (default lm_dir()): folders holding an info.json."""
    root = Path(root or workspace.lm_dir())
    return sorted(p.parent.name for p in root.glob("*/info.json")) if root.is_dir() else []


def _from_dir(d: Path) -> LanguageModel:
    info_path = d / "info.json"
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.is_file() else {}
    name = info.get("name", d.name)
    for candidate in (d / f"{name}.bin", d / f"{name}.arpa", *sorted(d.glob("*.bin")), *sorted(d.glob("*.arpa"))):
        if candidate.is_file():
            check_lm_file(candidate)
            break
    else:
        raise LMError(f"{d}: no <name>.bin or <name>.arpa language model in this folder")
    unigrams, lexicon = d / "unigrams.txt", d / "lexicon.txt"
    if not unigrams.is_file():  # an ARPA lists its words itself
        arpa = d / f"{name}.arpa"
        unigrams = arpa if arpa.is_file() else candidate if candidate.suffix == ".arpa" else None
    return LanguageModel(
        name=name, path=candidate, unigrams=unigrams,
        lexicon=lexicon if lexicon.is_file() else None, unit=info.get("unit", "word"), info=info,
    )


def resolve(name_or_path: str, root: str | os.PathLike | None = None) -> LanguageModel | None:
    """The model `--lm` names: "none", a name under `root` (default lm_dir()), a folder,
    or an LM file.

    A bare file (.arpa or .bin) is used with the unigrams.txt/lexicon.txt beside it; for
    an ARPA file without them, they are read from the ARPA itself.
    """
    if name_or_path.lower() in ("none", ""):
        return None
    p = Path(name_or_path)
    root = Path(root or workspace.lm_dir())
    by_name = root / name_or_path
    if "/" not in name_or_path and by_name.is_dir():
        return _from_dir(by_name)
    if p.is_dir():
        return _from_dir(p)
    if p.is_file():
        kind = check_lm_file(p)
        unigrams, lexicon = p.parent / "unigrams.txt", p.parent / "lexicon.txt"
        return LanguageModel(
            name=p.name.split(".")[0], path=p, unit="word",
            unigrams=unigrams if unigrams.is_file() else (p if kind == "arpa" else None),
            lexicon=lexicon if lexicon.is_file() else None,
        )
    names = available(root)
    listed = ", ".join(names) if names else "none yet (run `asrkit lm build` or `asrkit lm download 4gram`)"
    raise LMError(f"unknown language model {name_or_path!r}: not a file or folder, nor a name under "
                  f"{root}; available: {listed}")


def lexicon_words(lm: LanguageModel) -> dict[str, list[list[str]]]:
    """The lexicon of `lm`: its lexicon.txt, or one spelled from its vocabulary."""
    if lm.lexicon is not None:
        return read_lexicon(lm.lexicon)
    allowed = set(LETTERS)
    words = [w for w in lm.read_unigrams() if set(w) <= allowed] if lm.unigrams else []
    if not words:
        raise LMError(f"{lm.path}: no lexicon.txt beside it and no vocabulary to spell one from")
    return {w: [spelled(w).split()] for w in words}


# --------------------------------------------------------------------------- build


@dataclass(frozen=True)
class BuildOptions:
    order: int = 4  # n of the n-gram (KenLM here is built with a maximum of 6)
    unit: str = "word"  # "word" or "letter" (for the lexicon-free decoder)
    prune: tuple[int, ...] = ()  # lmplz --prune counts per order, e.g. (0, 0, 1, 1)
    discount_fallback: bool | None = None  # None: retry with it when lmplz says the corpus is too small
    memory: str | None = None  # lmplz -S (sort memory); None: 100M for corpora under 1 GB, else 20%
    binary_type: str = "probing"  # build_binary data structure: probing (fast) or trie (small)


def _check_build_options(o: BuildOptions) -> None:
    if not 1 <= o.order <= 6:
        raise LMError(f"`order` {o.order}: KenLM here supports orders 1 to 6")
    if o.unit not in ("word", "letter"):
        raise LMError(f"`unit` {o.unit!r}: expected 'word' or 'letter'")
    if o.prune and (len(o.prune) > o.order or any(p < 0 for p in o.prune)):
        raise LMError(f"`prune` {' '.join(map(str, o.prune))}: give at most {o.order} non-negative counts")
    if o.prune and o.prune[0] != 0:
        raise LMError("`prune`: KenLM cannot prune unigrams; the first count must be 0")
    if o.binary_type not in ("probing", "trie"):
        raise LMError(f"`binary_type` {o.binary_type!r}: expected 'probing' or 'trie'")


def _inputs_fingerprint(paths: list[Path]) -> list[dict]:
    return [{"path": str(p.resolve()), "bytes": p.stat().st_size, "sha256": file_hash(p)} for p in paths]


def build(texts: list[str | os.PathLike], name: str = "4gram", options: BuildOptions = BuildOptions(),
          out_root: str | os.PathLike | None = None, force: bool = False) -> LanguageModel:
    """Build an n-gram from text files into <out_root or lm_dir()>/<name>/ (see module doc).

    Idempotent: when info.json records the same inputs (by sha256) and options, nothing
    is rebuilt.
    """
    _check_build_options(options)
    paths = [Path(t) for t in texts]
    if not paths:
        raise LMError("no `text` files given")
    for p in paths:
        if not p.is_file():
            raise InputNotFound(f"no text corpus at {p}")
    out = Path(out_root or workspace.lm_dir()) / name
    inputs = _inputs_fingerprint(paths)
    info_path = out / "info.json"
    if info_path.is_file() and not force:
        old = json.loads(info_path.read_text(encoding="utf-8"))
        if old.get("inputs") == inputs and old.get("options") == json.loads(json.dumps(dataclasses.asdict(options))):
            log.info("%s: already built from the same text and options", out)
            return _from_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    lmplz, build_binary = kenlm_tool("lmplz"), kenlm_tool("build_binary")
    arpa, binary = out / f"{name}.arpa", out / f"{name}.bin"
    # lmplz allocates all of -S up front: 20% of RAM costs a second even for ten lines.
    memory = options.memory or ("20%" if sum(i["bytes"] for i in inputs) > 1 << 30 else "100M")

    counts = {"lines": 0, "words": 0}

    def lines() -> Iterator[str]:
        counts["lines"] = counts["words"] = 0
        from tqdm import tqdm

        for line in tqdm(corpus_lines(paths, options.unit), desc=f"lm {name}", unit=" lines",
                         disable=not log.isEnabledFor(logging.INFO)):
            counts["lines"] += 1
            counts["words"] += line.count(" ") + 1
            yield line

    started = time.time()
    with atomic_path(arpa) as tmp_arpa:
        cmd = [str(lmplz), "-o", str(options.order), "-S", memory, "-T", str(out),
               "--arpa", str(tmp_arpa)]
        if options.prune:
            cmd += ["--prune", *map(str, options.prune)]
        try:
            _run(cmd + (["--discount_fallback"] if options.discount_fallback else []), "lmplz", lines())
        except LMError as e:
            # Kneser-Ney discounts cannot be estimated from a tiny corpus (too few
            # singletons); lmplz then wants --discount_fallback.
            if options.discount_fallback is None and "discount" in str(e).lower():
                log.warning("lmplz: corpus too small to estimate discounts; using --discount_fallback")
                _run(cmd + ["--discount_fallback"], "lmplz", lines())
            else:
                raise
        if counts["lines"] == 0:
            raise LMError(f"no text left after normalisation in {', '.join(map(str, paths))}")
    with atomic_path(binary) as tmp_bin:
        _run([str(build_binary), "-S", memory, options.binary_type, str(arpa), str(tmp_bin)], "build_binary")
    words = arpa_words(arpa)
    write_unigrams(words, out / "unigrams.txt")
    n_lexicon = write_lexicon(words, out / "lexicon.txt") if options.unit == "word" else 0
    write_json(info_path, {
        "name": name, "order": options.order, "unit": options.unit, "source": "built",
        "corpus_lines": counts["lines"], "corpus_words": counts["words"],
        "vocabulary": len(words), "lexicon_words": n_lexicon, "inputs": inputs,
        "options": dataclasses.asdict(options), "seconds": round(time.time() - started, 1),
        "files": {"arpa": arpa.name, "binary": binary.name, "unigrams": "unigrams.txt",
                  "lexicon": "lexicon.txt" if options.unit == "word" else None},
    })
    log.info("%s: %d-gram over %d words from %d lines", out, options.order, len(words), counts["lines"])
    return _from_dir(out)


def finish_arpa(arpa: Path, name: str, info: dict, binary_type: str = "probing") -> LanguageModel:
    """Binarise an ARPA file in its folder and write unigrams, lexicon and info.json beside it."""
    out = arpa.parent
    binary = out / f"{name}.bin"
    with atomic_path(binary) as tmp_bin:
        _run([str(kenlm_tool("build_binary")), binary_type, str(arpa), str(tmp_bin)], "build_binary")
    words = arpa_words(arpa)
    write_unigrams(words, out / "unigrams.txt")
    n_lexicon = write_lexicon(words, out / "lexicon.txt")
    write_json(out / "info.json", {
        "name": name, "order": arpa_order(arpa), "unit": "word", "vocabulary": len(words),
        "lexicon_words": n_lexicon,
        "files": {"arpa": arpa.name, "binary": binary.name, "unigrams": "unigrams.txt", "lexicon": "lexicon.txt"},
        **info,
    })
    return _from_dir(out)


# --------------------------------------------------------------------------- download

LM_RESOURCE = 11  # OpenSLR's LibriSpeech language models
LM_URL = openslr(LM_RESOURCE)
"""Where the LibriSpeech LMs are; asrkit.download.OPENSLR_MIRRORS serve them too (base_url)."""

# md5 as published for OpenSLR resource 11 (copied in Sean Robertson's LibriSpeech
# preparation script, adapted from Kaldi) and sizes from Kaldi's
# egs/librispeech/s5/local/download_lm.sh; see lm/README.md.
OPENSLR_FILES = {
    "4-gram.arpa.gz": ("6abdcd5b055bd482e4f9defe91d40408", 1355172078),
    "3-gram.arpa.gz": ("74cbb837e582378c26c602e1c8cbcb9c", 759636181),
    "3-gram.pruned.1e-7.arpa.gz": ("9a0f1325bcaf3a0f7b7be4be10823c2a", 34094057),
    "3-gram.pruned.3e-7.arpa.gz": ("8f67ec741827742eee05799ab7605b50", 13654242),
    "librispeech-lm-norm.txt.gz": ("c83c64c726a1aedfe65f80aa311de402", None),
    "librispeech-vocab.txt": ("bf3cc7a50112831ed8b0afa40cae96a5", 1737588),
}
DOWNLOADABLE = {  # --lm name -> file in resource 11
    "4gram": "4-gram.arpa.gz",
    "3gram": "3-gram.arpa.gz",
    "3gram-pruned-1e-7": "3-gram.pruned.1e-7.arpa.gz",
    "3gram-pruned-3e-7": "3-gram.pruned.3e-7.arpa.gz",
}
CORPUS_FILE = "librispeech-lm-norm.txt.gz"


def _remote(filename: str, base_url: str):
    from asrkit.download import Remote

    md5, size = OPENSLR_FILES[filename]
    return Remote(url=f"{base_url.rstrip('/')}/{filename}", md5=md5, size=size)


def download(name: str = "4gram", base_url: str = LM_URL, corpus: bool = False,
             out_root: str | os.PathLike | None = None, binary_type: str = "probing",
             progress: bool = True) -> LanguageModel:
    """Fetch a LibriSpeech n-gram from OpenSLR 11 into <lm_dir>/<name>/ and finish it there.

    The .arpa.gz is downloaded (resumable, retried, md5- and size-checked), decompressed to <name>.arpa,
    binarised, and unigrams.txt, lexicon.txt and info.json written beside it. With
    corpus=True the LM training text (librispeech-lm-norm.txt.gz, about 1.5 GB) is also
    fetched into <lm_dir>/corpus/, for `asrkit lm build`. Done files are not fetched again.
    """
    from asrkit.download import download as fetch

    if name not in DOWNLOADABLE:
        raise LMError(f"cannot download {name!r}: OpenSLR 11 offers {', '.join(DOWNLOADABLE)}")
    root = Path(out_root or workspace.lm_dir())
    out = root / name
    filename = DOWNLOADABLE[name]
    remote = _remote(filename, base_url)
    if corpus:
        text = fetch(_remote(CORPUS_FILE, base_url), root / "corpus" / CORPUS_FILE, progress=progress)
        log.info("LM corpus in %s; build with: asrkit lm build --order 4 --text %s --name 4gram-built",
                 text, text)
    info_path = out / "info.json"
    if info_path.is_file():
        info = json.loads(info_path.read_text(encoding="utf-8"))
        if info.get("download", {}).get("md5") == remote.md5 and (out / f"{name}.bin").is_file():
            log.info("%s: already downloaded", out)
            return _from_dir(out)
    gz = fetch(remote, out / filename, progress=progress)
    sha256 = file_hash(gz, "sha256")
    arpa = out / f"{name}.arpa"
    with atomic_path(arpa) as tmp, gzip.open(gz, "rb") as src, open(tmp, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    check_lm_file(arpa)
    lm = finish_arpa(arpa, name, {"source": "openslr-11", "download": {
        "url": remote.url, "md5": remote.md5, "bytes": gz.stat().st_size, "sha256": sha256}},
        binary_type=binary_type)
    gz.unlink()  # the ARPA and binary hold it all; info.json keeps the checksums
    return lm
