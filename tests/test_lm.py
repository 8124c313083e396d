"""KenLM tools: building from text, the files written beside the model, resolving --lm,
and downloads from a local HTTP server (resume, checksums)."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import json
import os
import threading
from pathlib import Path

import pytest

from asrkit import lm
from asrkit.lm import builder, openslr, tools
from asrkit.download import Remote, fetch
from asrkit.errors import DownloadError
from ctc_fixtures import needs_kenlm, write_arpa

SENTENCES = [
    "The cat sat on the mat.", "The dog sat on the log!", "A cat and a dog.",
    "Hello, world -- it's a well-known world.", "THE WORLD IS BIG", "the cat is big",
]


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.setenv("ASRKIT_WORK", str(tmp_path / "work"))
    return tmp_path / "work"


def corpus(tmp_path: Path, lines=SENTENCES, name="corpus.txt") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n\n  \n")
    return path


# --------------------------------------------------------------------------- build


@needs_kenlm
def test_build_writes_arpa_binary_unigrams_lexicon_info(tmp_path, work):
    model = lm.build([corpus(tmp_path)], name="tiny", options=lm.BuildOptions(order=3))
    out = work / "lm" / "tiny"
    assert model.path == out / "tiny.bin" and lm.check_lm_file(model.path) == "binary"
    assert lm.check_lm_file(out / "tiny.arpa") == "arpa" and lm.arpa_order(out / "tiny.arpa") == 3
    words = (out / "unigrams.txt").read_text().split()
    # Normalised: upper case, punctuation gone, "well-known" split, "it's" kept.
    assert set(words) == {"THE", "CAT", "SAT", "ON", "MAT", "DOG", "LOG", "A", "AND", "HELLO", "WORLD",
                          "IT'S", "WELL", "KNOWN", "IS", "BIG"}
    lexicon = (out / "lexicon.txt").read_text().splitlines()
    assert "HELLO\tH E L L O |" in lexicon and "IT'S\tI T ' S |" in lexicon and len(lexicon) == 16
    info = json.loads((out / "info.json").read_text())
    assert info["order"] == 3 and info["corpus_lines"] == 6 and info["vocabulary"] == 16
    assert info["corpus_words"] == 6 + 6 + 5 + 7 + 4 + 4
    assert info["inputs"][0]["sha256"] == hashlib.sha256((tmp_path / "corpus.txt").read_bytes()).hexdigest()


@needs_kenlm
def test_build_is_idempotent_and_notices_changed_text(tmp_path, work, monkeypatch):
    text = corpus(tmp_path)
    lm.build([text], name="tiny", options=lm.BuildOptions(order=2))
    calls = []
    real_run = builder.run_tool
    monkeypatch.setattr(builder, "run_tool", lambda *a, **k: (calls.append(a[0][0]), real_run(*a, **k)))
    lm.build([text], name="tiny", options=lm.BuildOptions(order=2))
    assert calls == []  # nothing rerun
    text.write_text(text.read_text() + "a new sentence about zebras\n")
    model = lm.build([text], name="tiny", options=lm.BuildOptions(order=2))
    assert calls and "ZEBRAS" in model.read_unigrams()


@needs_kenlm
def test_build_reads_gzip_and_several_files(tmp_path, work):
    gz = tmp_path / "more.txt.gz"
    with gzip.open(gz, "wt") as f:
        f.write("zebras eat grass\n")
    model = lm.build([corpus(tmp_path), gz], name="two", options=lm.BuildOptions(order=2))
    assert {"ZEBRAS", "GRASS", "CAT"} <= set(model.read_unigrams())
    assert model.info["corpus_lines"] == 7


@needs_kenlm
def test_letter_lm(tmp_path, work):
    model = lm.build([corpus(tmp_path)], name="letters", options=lm.BuildOptions(order=5, unit="letter"))
    assert model.unit == "letter" and model.lexicon is None
    assert set(model.read_unigrams()) == set("THECASMONDGLIRWKBP'|") - {"P"}


@needs_kenlm
def test_pruning_is_passed_to_lmplz(tmp_path, work):
    # Trigrams with w1 w2 occur once each; "W2 THE END" and the like recur.
    words = [a + b for a in "BCDFG" for b in ("AX", "OP", "UM", "IR")]
    lines = [f"the {words[i % 20]} {words[(i * 7 + 3) % 20]} the end" for i in range(20)]
    text = corpus(tmp_path, lines)
    full = lm.build([text], name="full", options=lm.BuildOptions(order=3))
    pruned = lm.build([text], name="pruned", options=lm.BuildOptions(order=3, prune=(0, 1, 1)))
    def count(m, n):
        header = [l for l in m.path.with_suffix(".arpa").read_text().splitlines() if l.startswith(f"ngram {n}=")]
        return int(header[0].split("=")[1])
    assert count(pruned, 3) < count(full, 3)


def test_build_checks_options(tmp_path, work):
    text = corpus(tmp_path)
    with pytest.raises(lm.LMError, match="orders 1 to 6"):
        lm.build([text], options=lm.BuildOptions(order=9))
    with pytest.raises(lm.LMError, match="cannot prune unigrams"):
        lm.build([text], options=lm.BuildOptions(order=3, prune=(1, 1, 1)))
    with pytest.raises(FileNotFoundError, match="no text corpus at"):
        lm.build([tmp_path / "missing.txt"])


@needs_kenlm
def test_empty_corpus_is_an_error(tmp_path, work):
    with pytest.raises(lm.LMError):
        lm.build([corpus(tmp_path, ["...", "123 456"])], name="empty", options=lm.BuildOptions(order=2))


def test_missing_kenlm_tools_say_how_to_build_them(tmp_path, monkeypatch):
    monkeypatch.setenv("ASRKIT_KENLM_BIN", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(tools, "SETUP_BIN", tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(lm.LMError, match="run scripts/setup.sh \\(or lm/build_kenlm.sh\\)"):
        lm.kenlm_tool("lmplz")


def test_kenlm_bin_env_is_searched_first(tmp_path, monkeypatch):
    tool = tmp_path / "lmplz"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    monkeypatch.setenv("ASRKIT_KENLM_BIN", str(tmp_path))
    assert lm.kenlm_tool("lmplz") == tool.resolve()


# --------------------------------------------------------------------------- files and names


def test_arpa_words_and_bad_files(tmp_path):
    arpa = write_arpa(tmp_path / "x.arpa", {"HELLO": -1.0, "WORLD": -1.2})
    assert lm.arpa_words(arpa) == ["HELLO", "WORLD"] and lm.arpa_order(arpa) == 2
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01garbage")
    with pytest.raises(lm.LMError, match="junk.bin: not a KenLM language model"):
        lm.check_lm_file(junk)
    with pytest.raises(lm.LMError, match="no language model file"):
        lm.check_lm_file(tmp_path / "nothing.arpa")


def test_read_lexicon_rejects_malformed_lines(tmp_path):
    path = tmp_path / "lexicon.txt"
    path.write_text("HELLO\tH E L L O |\nBROKEN\n")
    with pytest.raises(lm.LMError, match="lexicon.txt:2: expected"):
        lm.read_lexicon(path)


def test_resolve_by_name_folder_file_and_none(tmp_path, work):
    folder = work / "lm" / "small"
    folder.mkdir(parents=True)
    write_arpa(folder / "small.arpa", {"HELLO": -1.0})
    (folder / "info.json").write_text(json.dumps({"name": "small", "order": 2}))
    assert lm.resolve("none") is None
    by_name = lm.resolve("small")
    assert by_name.path == folder / "small.arpa" and by_name.read_unigrams() == ["HELLO"]
    assert lm.resolve(str(folder)).name == "small"
    by_file = lm.resolve(str(folder / "small.arpa"))
    assert by_file.read_unigrams() == ["HELLO"]  # read from the ARPA itself
    assert lm.lexicon_words(by_file) == {"HELLO": [["H", "E", "L", "L", "O", "|"]]}
    with pytest.raises(lm.LMError, match=r"unknown language model 'nope'.*available: small"):
        lm.resolve("nope")


def test_resolve_lists_nothing_with_a_hint(work):
    with pytest.raises(lm.LMError, match="asrkit lm download 4gram"):
        lm.resolve("4gram")


# --------------------------------------------------------------------------- downloads


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; honours "Range: bytes=N-" unless the server says not to."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.requests.append((self.path, self.headers.get("Range")))
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        rng = self.headers.get("Range")
        if rng and self.server.ranges:
            start = int(rng.split("=")[1].rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        if self.server.cut:  # stop after this many bytes, as a dropped connection would
            body = body[:self.server.cut]
            self.server.cut = None
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    handler = lambda *a, **k: RangeHandler(*a, directory=str(root), **k)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.requests, httpd.ranges, httpd.cut = [], True, None
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.root = root
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _remote(server, name: str, data: bytes, md5: str | None = "auto") -> Remote:
    (server.root / name).write_bytes(data)
    return Remote(f"{server.url}/{name}", md5=hashlib.md5(data).hexdigest() if md5 == "auto" else md5,
                  size=len(data))


def test_download_verifies_and_skips_done_files(tmp_path, server):
    data = os.urandom(50_000)
    remote = _remote(server, "f.bin", data)
    dest = fetch(remote, tmp_path / "out" / "f.bin", progress=False)
    assert dest.read_bytes() == data
    fetch(remote, dest, progress=False)
    assert len(server.requests) == 1  # the second call fetched nothing


def test_download_resumes_a_partial_file(tmp_path, server):
    data = os.urandom(80_000)
    remote = _remote(server, "f.bin", data)
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(data[:30_000])
    fetch(remote, dest, progress=False)
    assert dest.read_bytes() == data and not (tmp_path / "f.bin.part").exists()
    assert server.requests == [("/f.bin", "bytes=30000-")]


def test_interrupted_download_resumes_on_the_next_call(tmp_path, server):
    data = os.urandom(3_000_000)
    remote = _remote(server, "f.bin", data)
    server.cut = 1_200_000
    with pytest.raises(DownloadError, match="f.bin.part is kept, run again to resume"):
        fetch(remote, tmp_path / "f.bin", progress=False, retries=1)
    assert (tmp_path / "f.bin.part").stat().st_size == 1_200_000
    fetch(remote, tmp_path / "f.bin", progress=False)
    assert (tmp_path / "f.bin").read_bytes() == data
    assert server.requests[-1] == ("/f.bin", "bytes=1200000-")


def test_interrupted_download_is_resumed_by_a_retry(tmp_path, server):
    data = os.urandom(3_000_000)
    remote = _remote(server, "f.bin", data)
    server.cut = 1_200_000
    assert fetch(remote, tmp_path / "f.bin", progress=False).read_bytes() == data
    assert server.requests == [("/f.bin", None), ("/f.bin", "bytes=1200000-")]


def test_server_without_ranges_restarts(tmp_path, server):
    data = os.urandom(20_000)
    remote = _remote(server, "f.bin", data)
    server.ranges = False
    (tmp_path / "f.bin.part").write_bytes(b"x" * 5_000)  # wrong bytes: must not be kept
    assert fetch(remote, tmp_path / "f.bin", progress=False).read_bytes() == data


def test_checksum_mismatch_is_an_error_and_leaves_nothing(tmp_path, server):
    remote = _remote(server, "f.bin", b"hello" * 100, md5="0" * 32)
    with pytest.raises(DownloadError, match="md5 checksum mismatch .expected 0{32}, got"):
        fetch(remote, tmp_path / "f.bin", progress=False)
    assert not (tmp_path / "f.bin").exists() and not (tmp_path / "f.bin.part").exists()


def test_sha256_is_checked_as_well_as_md5(tmp_path, server):
    data = b"hello" * 100
    remote = Remote(_remote(server, "f.bin", data).url, md5=hashlib.md5(data).hexdigest(), sha256="ab" * 32)
    with pytest.raises(DownloadError, match="sha256 checksum mismatch .expected (ab){32}, got"):
        fetch(remote, tmp_path / "f.bin", progress=False)
    good = Remote(remote.url, md5=remote.md5, sha256=hashlib.sha256(data).hexdigest().upper())
    assert fetch(good, tmp_path / "f.bin", progress=False).read_bytes() == data


def test_wrong_file_at_dest_is_fetched_again(tmp_path, server):
    data = os.urandom(10_000)
    remote = _remote(server, "f.bin", data)
    (tmp_path / "f.bin").write_bytes(b"stale")
    assert fetch(remote, tmp_path / "f.bin", progress=False).read_bytes() == data
    assert server.requests == [("/f.bin", None)]


def test_missing_remote_file_is_an_error(tmp_path, server):
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(Remote(f"{server.url}/absent.gz"), tmp_path / "absent.gz", progress=False)


@needs_kenlm
def test_download_4gram_from_a_mirror(tmp_path, work, server, monkeypatch):
    arpa = write_arpa(tmp_path / "small.arpa", {"HELLO": -1.0, "WORLD": -1.2, "x1": -2.0})
    gz = gzip.compress(arpa.read_bytes())
    (server.root / "4-gram.arpa.gz").write_bytes(gz)
    corpus_gz = gzip.compress(b"HELLO WORLD\n")
    (server.root / "librispeech-lm-norm.txt.gz").write_bytes(corpus_gz)
    monkeypatch.setitem(openslr.OPENSLR_FILES, "4-gram.arpa.gz", (hashlib.md5(gz).hexdigest(), len(gz)))
    monkeypatch.setitem(openslr.OPENSLR_FILES, "librispeech-lm-norm.txt.gz", (hashlib.md5(corpus_gz).hexdigest(), None))
    monkeypatch.delitem(openslr.OPENSLR_COUNTS, "4-gram.arpa.gz")  # this small file needs no memory check
    model = lm.download("4gram", base_url=server.url, corpus=True, progress=False)
    out = work / "lm" / "4gram"
    assert model.path == out / "4gram.bin" and lm.check_lm_file(model.path) == "binary"
    assert (out / "unigrams.txt").read_text().split() == ["HELLO", "WORLD", "x1"]
    assert (out / "lexicon.txt").read_text() == "HELLO\tH E L L O |\nWORLD\tW O R L D |\n"  # x1 unspellable
    info = json.loads((out / "info.json").read_text())
    assert info["download"]["md5"] == hashlib.md5(gz).hexdigest()
    assert info["download"]["sha256"] == hashlib.sha256(gz).hexdigest()
    assert (work / "lm" / "corpus" / "librispeech-lm-norm.txt.gz").read_bytes() == corpus_gz
    assert lm.resolve("4gram").path == model.path
    n = len(server.requests)
    lm.download("4gram", base_url=server.url, progress=False)
    assert len(server.requests) == n  # already there: nothing fetched


def test_download_unknown_name(work):
    with pytest.raises(lm.LMError, match="OpenSLR 11 offers 4gram"):
        lm.download("5gram")


def test_published_checksums_are_recorded():
    md5, size = openslr.OPENSLR_FILES["4-gram.arpa.gz"]
    assert md5 == "6abdcd5b055bd482e4f9defe91d40408" and size == 1355172078


# --------------------------------------------------------------------------- command line


@needs_kenlm
def test_cli_build_and_list(tmp_path, work, capsys):
    from asrkit.cli import main

    assert main(["lm", "build", "--order", "2", "--text", str(corpus(tmp_path)), "--name", "bi"]) == 0
    assert "use it with: asrkit decode --lm bi" in capsys.readouterr().out
    assert main(["lm", "list"]) == 0
    assert capsys.readouterr().out.startswith("bi\t2-gram\tword\t16 words")


def test_cli_build_missing_text_is_one_line(tmp_path, work, capsys):
    from asrkit.cli import main

    assert main(["lm", "build", "--text", str(tmp_path / "none.txt")]) == 1
    assert "error: no text corpus at" in capsys.readouterr().err


def test_kenlm_setting_wins_and_the_current_folder_is_never_searched(tmp_path, monkeypatch):
    def tool_in(folder):
        folder.mkdir(parents=True)
        (folder / "lmplz").write_text("#!/bin/sh\n")
        (folder / "lmplz").chmod(0o755)
        return (folder / "lmplz").resolve()

    given, env = tool_in(tmp_path / "given"), tool_in(tmp_path / "env")
    tool_in(tmp_path / "cwd" / ".cache" / "kenlm" / "bin")  # planted in the folder a command runs from
    monkeypatch.setenv("ASRKIT_KENLM_BIN", str(tmp_path / "env"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(tools, "SETUP_BIN", tmp_path / "setup")
    monkeypatch.chdir(tmp_path / "cwd")
    assert lm.kenlm_tool("lmplz", tmp_path / "given") == given
    assert lm.kenlm_tool("lmplz") == env
    monkeypatch.delenv("ASRKIT_KENLM_BIN")
    with pytest.raises(lm.LMError, match="was not found"):
        lm.kenlm_tool("lmplz")
    setup = tool_in(tmp_path / "setup")
    assert lm.kenlm_tool("lmplz") == setup

