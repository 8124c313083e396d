"""asrkit download against a local HTTP server (127.0.0.1, random port) that honours Range."""

from __future__ import annotations

import hashlib
import io
import random
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from asrkit.cli import main
from asrkit.data import download as dl


class Server:
    """Serves `files` (url path -> bytes); records each request's path and Range header.

    ignore_range: answer 200 with everything even when a range is asked.
    cut_first: on the first request of a path, send only this many bytes and hang up.
    """

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.ignore_range = False
        self.cut_first: int | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                first = all(p != self.path for p, _ in server.requests)
                server.requests.append((self.path, rng))
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                if rng and not server.ignore_range:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if first and server.cut_first is not None:
                    self.wfile.write(body[: server.cut_first])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def make_tar(members: list[tuple[str, bytes | tuple[str, str]]]) -> bytes:
    """A .tar.gz in memory; a member is (name, data) or (name, ("sym"|"hard", linkname))."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if isinstance(content, tuple):
                info.type = tarfile.SYMTYPE if content[0] == "sym" else tarfile.LNKTYPE
                info.linkname = content[1]
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def dev_clean_tar(extra: bytes = b"") -> bytes:
    # incompressible, so the .tar.gz is big enough to cut short and resume
    flac = random.Random(0).randbytes(200_000) + extra
    return make_tar([
        ("LibriSpeech/README.TXT", b"readme"),
        ("LibriSpeech/dev-clean/1/2/1-2.trans.txt", b"1-2-0000 HELLO\n"),
        ("LibriSpeech/dev-clean/1/2/1-2-0000.flac", flac),
    ])


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def opts(server, tmp_path, parts=("dev-clean",), **kw):
    kw.setdefault("progress", False)
    kw.setdefault("timeout", 10)
    return dl.DownloadOptions(parts=parts, to=tmp_path / "corpus", base_url=server.url + "/ls",
                              librilight_url=server.url + "/ll", **kw)


def test_downloads_verifies_extracts_and_skips_next_time(server, tmp_path):
    data = dev_clean_tar()
    server.files["/ls/dev-clean.tar.gz"] = data
    [result] = dl.download(opts(server, tmp_path, sha256={"dev-clean": sha(data)}))
    corpus = tmp_path / "corpus"
    assert result.fetched and result.folder == corpus / "LibriSpeech/dev-clean"
    assert (corpus / "LibriSpeech/dev-clean/1/2/1-2.trans.txt").read_text() == "1-2-0000 HELLO\n"
    assert (corpus / "LibriSpeech/dev-clean/1/2/1-2-0000.flac").stat().st_size == 200_000
    assert not (corpus / "dev-clean.tar.gz").exists()  # archives are removed unless kept
    assert not any(p.name.startswith(".extract-") for p in corpus.iterdir())
    assert server.requests == [("/ls/dev-clean.tar.gz", None)]

    [again] = dl.download(opts(server, tmp_path, sha256={"dev-clean": sha(data)}))
    assert not again.fetched and len(server.requests) == 1


def test_resumes_a_partial_download_with_range(server, tmp_path):
    data = dev_clean_tar()
    server.files["/ls/dev-clean.tar.gz"] = data
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus/dev-clean.tar.gz.part").write_bytes(data[:1000])
    dl.download(opts(server, tmp_path, sha256={"dev-clean": sha(data)}, keep_archives=True))
    assert server.requests == [("/ls/dev-clean.tar.gz", "bytes=1000-")]
    assert (tmp_path / "corpus/dev-clean.tar.gz").read_bytes() == data
    assert (tmp_path / "corpus/LibriSpeech/dev-clean/1/2/1-2-0000.flac").is_file()


def test_complete_part_file_gets_416_and_is_used(server, tmp_path):
    data = dev_clean_tar()
    server.files["/ls/dev-clean.tar.gz"] = data
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus/dev-clean.tar.gz.part").write_bytes(data)
    [result] = dl.download(opts(server, tmp_path, sha256={"dev-clean": sha(data)}))
    assert result.fetched and server.requests == [("/ls/dev-clean.tar.gz", f"bytes={len(data)}-")]


def test_server_without_range_support_restarts_from_zero(server, tmp_path):
    data = dev_clean_tar()
    server.files["/ls/dev-clean.tar.gz"] = data
    server.ignore_range = True
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus/dev-clean.tar.gz.part").write_bytes(b"x" * 500)  # stale garbage
    [result] = dl.download(opts(server, tmp_path, sha256={"dev-clean": sha(data)}))
    assert result.fetched


def test_interrupted_transfer_is_resumed_on_retry(server, tmp_path):
    data = dev_clean_tar()
    server.files["/ls/dev-clean.tar.gz"] = data
    server.cut_first = 5000
    dl.download(opts(server, tmp_path, sha256={"dev-clean": sha(data)}))
    assert server.requests == [("/ls/dev-clean.tar.gz", None), ("/ls/dev-clean.tar.gz", "bytes=5000-")]
    assert (tmp_path / "corpus/LibriSpeech/dev-clean/1/2/1-2-0000.flac").is_file()


def test_interrupted_without_retries_keeps_the_part_file(server, tmp_path):
    server.files["/ls/dev-clean.tar.gz"] = dev_clean_tar()
    server.cut_first = 5000
    with pytest.raises(dl.DownloadError, match="run again to resume"):
        dl.download(opts(server, tmp_path, retries=1, sha256={"dev-clean": "0" * 64}))
    assert (tmp_path / "corpus/dev-clean.tar.gz.part").stat().st_size == 5000


def test_checksum_mismatch_is_an_error_and_nothing_is_extracted(server, tmp_path):
    data = dev_clean_tar()
    server.files["/ls/dev-clean.tar.gz"] = data
    with pytest.raises(dl.DownloadError) as e:
        dl.download(opts(server, tmp_path, sha256={"dev-clean": "ab" * 32}))
    assert "sha256 checksum mismatch" in str(e.value) and sha(data) in str(e.value)
    assert "run again to fetch it afresh" in str(e.value) and "`sha256` dev-clean=HEX" in str(e.value)
    corpus = tmp_path / "corpus"
    assert sorted(p.name for p in corpus.iterdir()) == []  # .part removed, nothing extracted


def test_builtin_checksums_are_the_published_ones(server, tmp_path):
    # the served archive is not the real dev-clean, so OpenSLR's md5 must reject it
    server.files["/ls/dev-clean.tar.gz"] = dev_clean_tar()
    with pytest.raises(dl.DownloadError, match="md5 checksum mismatch .expected 42e2234ba48799c1f50f24a7926300a1"):
        dl.download(opts(server, tmp_path))


def test_http_error_names_the_url(server, tmp_path):
    with pytest.raises(dl.DownloadError, match=r"/ls/test-other.tar.gz: HTTP 404"):
        dl.download(opts(server, tmp_path, parts=("test-other",)))


def test_two_parts_merge_into_one_librispeech_folder_and_librilight(server, tmp_path):
    a, b = dev_clean_tar(), make_tar([("LibriSpeech/README.TXT", b"readme"),
                                      ("LibriSpeech/test-clean/3/4/3-4.trans.txt", b"3-4-0000 HI\n")])
    ll = make_tar([("librispeech_finetuning/1h/0/clean/5/6/5-6.trans.txt", b"5-6-0000 HI\n")])
    server.files.update({"/ls/dev-clean.tar.gz": a, "/ls/test-clean.tar.gz": b,
                         "/ll/librispeech_finetuning.tgz": ll})
    results = dl.download(opts(server, tmp_path, parts=("dev-clean", "test-clean", "librispeech_finetuning"),
                               sha256={"dev-clean": sha(a), "test-clean": sha(b),
                                       "librispeech_finetuning": sha(ll)}))
    corpus = tmp_path / "corpus"
    assert [r.folder for r in results] == [corpus / "LibriSpeech/dev-clean", corpus / "LibriSpeech/test-clean",
                                           corpus / "librispeech_finetuning"]
    assert all(r.folder.is_dir() for r in results)
    assert (corpus / "LibriSpeech/dev-clean/1/2/1-2.trans.txt").is_file()


UNSAFE = {
    "dot-dot": [("LibriSpeech/ok.txt", b"fine"), ("../escaped.txt", b"evil")],
    "nested dot-dot": [("LibriSpeech/../../escaped.txt", b"evil")],
    "absolute": [("/tmp/asrkit-escaped-absolute.txt", b"evil")],
    "symlink absolute": [("LibriSpeech/link", ("sym", "/etc"))],
    "symlink relative out": [("LibriSpeech/link", ("sym", "../../..")),
                             ("LibriSpeech/link/escaped.txt", b"evil")],
    "hardlink out": [("LibriSpeech/hard", ("hard", "../escaped.txt"))],
}


@pytest.mark.parametrize("case", list(UNSAFE))
def test_malicious_archive_is_rejected_and_nothing_lands_outside(tmp_path, case):
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(make_tar(UNSAFE[case]))
    target = tmp_path / "a" / "target"
    with pytest.raises(dl.UnsafeArchiveError, match="refusing member"):
        dl.safe_extract(archive, target, progress=False)
    # nothing outside the target, and nothing of the archive inside it either
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "evil.tar.gz", "target"]
    assert not list(target.iterdir())


def test_safe_links_inside_the_archive_are_kept(tmp_path):
    archive = tmp_path / "ok.tar.gz"
    archive.write_bytes(make_tar([("d/file.txt", b"data"), ("d/link", ("sym", "file.txt")),
                                  ("d/hard", ("hard", "d/file.txt"))]))
    dl.safe_extract(archive, tmp_path / "t", progress=False)
    assert (tmp_path / "t/d/link").read_text() == "data"
    assert (tmp_path / "t/d/hard").read_text() == "data"


def test_malicious_download_is_rejected_end_to_end(server, tmp_path):
    data = make_tar(UNSAFE["dot-dot"])
    server.files["/ls/dev-clean.tar.gz"] = data
    with pytest.raises(dl.UnsafeArchiveError, match=r"'\.\./escaped.txt'"):
        dl.download(opts(server, tmp_path, sha256={"dev-clean": sha(data)}))
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "corpus/LibriSpeech").exists()


def test_not_a_tar_archive(tmp_path):
    (tmp_path / "x.tar.gz").write_bytes(b"definitely not gzip")
    with pytest.raises(dl.DownloadError, match="not a readable tar archive"):
        dl.safe_extract(tmp_path / "x.tar.gz", tmp_path / "t", progress=False)


def test_cli(server, tmp_path, capsys):
    data = dev_clean_tar()
    server.files["/ls/dev-clean.tar.gz"] = data
    args = ["download", "--parts", "dev-clean", "--to", str(tmp_path / "c"),
            "--base-url", server.url + "/ls", "--sha256", f"dev-clean={sha(data)}"]
    assert main(args) == 0
    assert f"dev-clean: downloaded to {tmp_path / 'c/LibriSpeech/dev-clean'}" in capsys.readouterr().out
    assert main(args) == 0
    assert "dev-clean: already in" in capsys.readouterr().out

    assert main(["download", "--parts", "dev-dirty", "--to", str(tmp_path / "c")]) == 1
    assert "unknown part(s) dev-dirty" in capsys.readouterr().err
    assert main(["download", "--parts", "none", "--to", str(tmp_path / "c")]) == 1
    assert "nothing to download" in capsys.readouterr().err

    dead = server.url.rsplit(":", 1)[0] + ":9"  # discard port: connection refused
    code = main(["download", "--parts", "test-clean", "--to", str(tmp_path / "c"), "--base-url", dead])
    err = capsys.readouterr().err
    assert code == 1 and "cannot connect" in err and "Traceback" not in err

    assert main(["download", "--list"]) == 0
    listing = capsys.readouterr().out
    assert "train-clean-100" in listing and "librispeech_finetuning" in listing


# ---- what is already in the target folder is merged into, never removed


@pytest.mark.parametrize("entry", [b"a file", ("sym", "elsewhere")], ids=["file", "symlink"])
def test_an_archive_entry_never_replaces_an_existing_folder(tmp_path, entry):
    """A LibriSpeech/ holding parts downloaded earlier survives an archive that has a file or
    link of that name: the extraction is refused, naming the path, and nothing changes."""
    target = tmp_path / "corpus"
    earlier = target / "LibriSpeech" / "test-clean" / "1" / "1-1.trans.txt"
    earlier.parent.mkdir(parents=True)
    earlier.write_text("1-1-0000 HI\n")
    archive = tmp_path / "x.tar.gz"
    archive.write_bytes(make_tar([("README", b"r"), ("LibriSpeech", entry)]))
    with pytest.raises(dl.DownloadError, match=r"LibriSpeech is a folder; the archive has a (file|link)"):
        dl.safe_extract(archive, target, progress=False)
    assert earlier.read_text() == "1-1-0000 HI\n"
    assert sorted(p.name for p in target.iterdir()) == ["LibriSpeech"]


def test_a_symlinked_librispeech_folder_is_followed(server, tmp_path):
    """LibriSpeech/ as a link to a folder elsewhere (another disk): the part lands there."""
    data = dev_clean_tar()
    server.files["/ls/dev-clean.tar.gz"] = data
    disk = tmp_path / "disk2" / "LibriSpeech"
    (disk / "test-clean").mkdir(parents=True)
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "LibriSpeech").symlink_to(disk)
    [result] = dl.download(opts(server, tmp_path, sha256={"dev-clean": sha(data)}))
    assert (disk / "dev-clean/1/2/1-2-0000.flac").stat().st_size == 200_000
    assert (disk / "test-clean").is_dir() and (tmp_path / "corpus" / "LibriSpeech").is_symlink()
    assert result.folder.is_dir()


@pytest.mark.parametrize("make", ["file", "broken link"])
def test_a_target_that_cannot_hold_the_part_is_refused_before_the_download(server, tmp_path, make):
    server.files["/ls/dev-clean.tar.gz"] = dev_clean_tar()
    (tmp_path / "corpus").mkdir()
    path = tmp_path / "corpus" / "LibriSpeech"
    if make == "file":
        path.write_text("not a folder")
    else:
        path.symlink_to(tmp_path / "unmounted-disk")
    with pytest.raises(dl.DownloadError, match="is a file, not a folder|is a link to the missing"):
        dl.download(opts(server, tmp_path))
    assert server.requests == []
