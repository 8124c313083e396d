"""What an LM needs in memory (asrkit.lm.memory), and the refusal of one that cannot fit
before any decoder loads it."""

from __future__ import annotations

import gzip
import re
import subprocess

import numpy as np
import pytest

from asrkit import lm
from asrkit.decode import Vocabulary, make_decoder
from asrkit.decode import flashlight as fl
from asrkit.decode import pyctcdecode as pcd
from asrkit.errors import LMError
from asrkit.lm import memory
from ctc_fixtures import needs_kenlm, write_arpa, write_lexicon

SENTENCES = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog", "the world is big",
             "the cat is big", "a dog is a dog", "on the mat sat the cat", "big big world"]


@pytest.fixture
def small_lm(tmp_path, monkeypatch):
    """A 3-gram built by lmplz (a probing binary beside its ARPA)."""
    monkeypatch.setenv("ASRKIT_WORK", str(tmp_path / "work"))
    text = tmp_path / "corpus.txt"
    text.write_text("\n".join(SENTENCES * 3) + "\n")
    return lm.build([text], name="small", options=lm.BuildOptions(order=3))


def header_only_arpa(path, counts):
    path.write_text("\\data\\\n" + "".join(f"ngram {n}={c}\n" for n, c in enumerate(counts, 1)) + "\n\\1-grams:\n")
    return path


@needs_kenlm
def test_counts_come_from_the_arpa_header(small_lm, tmp_path):
    arpa = small_lm.path.with_suffix(".arpa")
    counts = lm.arpa_counts(arpa)
    body = arpa.read_text()
    for n, c in enumerate(counts, 1):  # the header agrees with the sections lmplz wrote
        section = body.split(f"\\{n}-grams:\n")[1].split("\n\n")[0]
        assert len(section.strip().splitlines()) == c
    gz = tmp_path / "small.arpa.gz"
    gz.write_bytes(gzip.compress(arpa.read_bytes()))
    assert lm.arpa_counts(gz) == counts


@needs_kenlm
@pytest.mark.parametrize("counts", [(200_003, 38_229_161, 87_689_568, 145_020_563), (20_003, 3_822_916, 8_768_957),
                                    (63, 600, 1_500, 2_500)])
def test_estimate_matches_build_binary_own_arithmetic(tmp_path, counts):
    """build_binary given only an ARPA prints KenLM's memory estimate from the header counts."""
    arpa = header_only_arpa(tmp_path / "h.arpa", counts)
    out = subprocess.run([str(lm.kenlm_tool("build_binary")), str(arpa)], capture_output=True, text=True).stderr
    unit = {"B": 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}[re.search(r"type\s+(\w?B)", out).group(1)]
    kenlm = [int(x) * unit for x in re.findall(r"^(?:probing|trie)\s+(\d+)", out, re.M)]
    ours = [lm.kenlm_bytes(counts), lm.kenlm_bytes(counts, "trie"), lm.kenlm_bytes(counts, "trie", 8, 8)]
    for mine, theirs in zip(ours, (kenlm[0], kenlm[2], kenlm[3])):  # probing, trie, trie -q 8 -b 8
        # KenLM floors to its unit; headers and alignment differ by a few kB in a GB
        assert theirs * (1 - 1e-4) <= mine < theirs * (1 + 1e-4) + unit + 64


@needs_kenlm
def test_resident_estimate_of_binary_is_its_size_and_of_arpa_the_probing_size(small_lm):
    assert lm.resident_bytes(small_lm.path) == small_lm.path.stat().st_size
    arpa = small_lm.path.with_suffix(".arpa")
    assert lm.resident_bytes(arpa) == lm.kenlm_bytes(lm.arpa_counts(arpa))
    # the probing binary build_binary wrote is the estimate plus a small header
    assert 0 <= small_lm.path.stat().st_size - lm.resident_bytes(arpa) < 4096


def test_malformed_header_is_an_error(tmp_path):
    bad = tmp_path / "bad.arpa"
    bad.write_text("\\data\\\nngram 1=x\n\n\\1-grams:\n")
    with pytest.raises(LMError, match="malformed ARPA header"):
        lm.arpa_counts(bad)
    with pytest.raises(LMError, match="no ARPA"):
        lm.arpa_counts(header_only_arpa(tmp_path / "gap.arpa", []))


@pytest.fixture
def tiny_files(tmp_path):
    arpa = write_arpa(tmp_path / "t.arpa", {"THE": -0.5, "CAT": -1.0})
    lexicon = write_lexicon(tmp_path / "lexicon.txt", ["THE", "CAT"])
    (tmp_path / "unigrams.txt").write_text("THE\nCAT\n")
    return arpa, lexicon, tmp_path / "unigrams.txt"


@pytest.mark.parametrize("decoder", ["flashlight", "pyctcdecode"])
def test_decoders_refuse_an_lm_larger_than_available_memory(tiny_files, monkeypatch, decoder):
    arpa, lexicon, unigrams = tiny_files
    need = lm.resident_bytes(arpa)
    options = (fl.FlashlightOptions(lm=str(arpa), lexicon=str(lexicon)) if decoder == "flashlight"
               else pcd.PyctcdecodeOptions(lm=str(arpa), unigrams=str(unigrams)))
    monkeypatch.setattr(memory, "available_bytes", lambda: need - 1)
    with pytest.raises(LMError) as e:
        make_decoder(decoder, options, Vocabulary.letters())
    message = str(e.value)
    assert "\n" not in message and str(arpa) in message and "GiB" in message
    monkeypatch.setattr(memory, "available_bytes", lambda: need)  # exactly enough: loads
    d = make_decoder(decoder, options, Vocabulary.letters())
    nbest = d.decode_one(np.zeros((0, len(Vocabulary.letters().tokens)), np.float32), 0.02)
    assert [h.text for h in nbest] == [""]


def test_refusal_can_be_overridden_and_near_limit_warns(tiny_files, monkeypatch, caplog):
    arpa, _, _ = tiny_files
    need = lm.resident_bytes(arpa)
    monkeypatch.setattr(memory, "available_bytes", lambda: need // 2)
    monkeypatch.setenv(memory.IGNORE_ENV, "1")
    assert lm.check_fits(arpa) == need
    monkeypatch.delenv(memory.IGNORE_ENV)
    monkeypatch.setattr(memory, "available_bytes", lambda: int(need / 0.9))
    with caplog.at_level("WARNING"):
        lm.check_fits(arpa)
    assert "needs about" in caplog.text


def test_available_memory_is_a_positive_number():
    assert 0 < lm.available_bytes() < 1 << 50


# --------------------------------------------------------------------------- lm download 4gram

def test_download_requirements_come_from_the_published_counts():
    from asrkit.lm import openslr

    counts = openslr.OPENSLR_COUNTS["4-gram.arpa.gz"]
    lines, build = openslr.requirements("4gram", "probing")
    assert build == int(openslr.BUILD_PEAK["probing"] * lm.kenlm_bytes(counts))
    text = "\n".join(lines)
    assert "1.36 GB to download" in text and "memory to build the probing binary" in text
    assert f"probing {memory.gib(lm.kenlm_bytes(counts) + openslr.DECODE_EXTRA_BYTES)}" in text
    _, trie_build = openslr.requirements("4gram", "trie")
    assert trie_build < 0.7 * build  # the trie is the way out when memory is short
    lines, build = openslr.requirements("3gram")
    assert build is None and "not estimated" in lines[-1]


def test_download_refuses_before_fetching_when_the_binary_cannot_be_built(monkeypatch, tmp_path, capsys):
    from asrkit.cli import main
    from asrkit.lm import openslr
    from asrkit.locks import LOCK_NAME

    _, probing = openslr.requirements("4gram", "probing")
    _, trie = openslr.requirements("4gram", "trie")
    monkeypatch.setattr(memory, "available_bytes", lambda: (probing + trie) // 2)
    fetched = []
    monkeypatch.setattr("asrkit.download.fetch", lambda *a, **k: fetched.append(a))
    args = ["lm", "download", "4gram", "--lm-dir", str(tmp_path), "--base-url", "http://127.0.0.1:9"]
    assert main(args) != 0
    captured = capsys.readouterr()
    assert "memory to build the probing binary" in captured.out  # printed before anything starts
    written = [p.name for p in tmp_path.iterdir() if p.name != LOCK_NAME]  # the command's lock stays
    assert "--binary-type trie" in captured.err and not fetched and not written
    openslr.check_room("4gram", "trie")  # the trie fits in the same memory
