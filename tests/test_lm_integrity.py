"""LM files checked when read: a truncated info.json is one line (lm list, decode, lm build),
a binary damaged after it was built is refused before a decoder loads it, and a corpus that
is not text is refused before lmplz counts its bytes as words."""

from __future__ import annotations

import os

import numpy as np
import pytest

from asrkit import lm
from asrkit.cli import main
from asrkit.errors import LMError
from ctc_fixtures import needs_kenlm
from test_lm import corpus, work  # noqa: F401  (fixture)


@pytest.fixture
def built(tmp_path, work):  # noqa: F811
    return lm.build([corpus(tmp_path)], name="tiny", options=lm.BuildOptions(order=3))


@needs_kenlm
def test_a_binary_damaged_after_it_was_built_is_refused(built):
    assert lm.resolve("tiny").path == built.path  # sound: passes (and is remembered)
    data = bytearray(built.path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 256] = np.random.default_rng(0).bytes(256)
    built.path.write_bytes(bytes(data))  # same size, new bytes
    with pytest.raises(LMError, match=r"tiny.bin: damaged: its size or sha256 differs"):
        lm.resolve("tiny")


@needs_kenlm
def test_a_truncated_info_json_is_one_line_everywhere(tmp_path, built, work, capsys):  # noqa: F811
    info = built.path.parent / "info.json"
    info.write_text(info.read_text()[:50])
    with pytest.raises(LMError, match=r"info.json: damaged or truncated"):
        lm.resolve("tiny")
    assert main(["lm", "list"]) == 0
    assert "tiny\tunusable:" in capsys.readouterr().out
    assert main(["lm", "build", "--text", str(tmp_path / "corpus.txt"), "--name", "tiny", "--order", "3"]) == 1
    err = capsys.readouterr().err
    assert "info.json: damaged or truncated" in err and len(err.strip().splitlines()) == 1


@needs_kenlm
def test_random_bytes_are_no_corpus(tmp_path, work):  # noqa: F811
    noise = tmp_path / "noise.txt"
    noise.write_bytes(os.urandom(200_000))
    with pytest.raises(LMError, match=r"noise.txt: not a text corpus"):
        lm.build([noise], name="noise")
    assert not (work / "lm" / "noise").exists()
