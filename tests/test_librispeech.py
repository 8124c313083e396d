"""Corpus layout: finding splits, the Libri-light mapping, and pairing audio with transcripts."""

from __future__ import annotations

import os

import pytest

from asrkit.data import librispeech as ls
from fake_librispeech import make_librilight, make_librispeech, write_chapter


def test_finds_librispeech_and_librilight_under_data_root(tmp_path):
    make_librispeech(tmp_path, splits=("dev-clean", "train-clean-100"))
    make_librilight(tmp_path)
    corpus = ls.find_corpus(tmp_path)
    assert corpus.librispeech == tmp_path / "LibriSpeech"
    assert corpus.librilight == tmp_path / "librispeech_finetuning"
    assert set(corpus.splits) == {"dev-clean", "train-clean-100", "100h", "10min", "1h", "10h"}
    assert corpus.splits["100h"] == corpus.splits["train-clean-100"]
    assert corpus.notes == ()


def test_librilight_mapping_matches_torchaudio(tmp_path):
    make_librilight(tmp_path)
    ft = tmp_path / "librispeech_finetuning"
    splits = ls.find_corpus(tmp_path).splits
    assert splits["10min"] == (ft / "1h/0/clean", ft / "1h/0/other")
    assert splits["1h"] == tuple(ft / f"1h/{fold}/{s}" for fold in range(6) for s in ("clean", "other"))
    assert splits["10h"] == splits["1h"] + (ft / "9h/clean", ft / "9h/other")


def test_data_root_may_be_the_librispeech_folder_itself(tmp_path):
    make_librispeech(tmp_path, splits=("dev-clean", "test-other"))
    corpus = ls.find_corpus(tmp_path / "LibriSpeech")
    assert set(corpus.splits) == {"dev-clean", "test-other"}
    assert corpus.librispeech == tmp_path / "LibriSpeech"


def test_data_root_may_be_one_split_folder(tmp_path):
    make_librispeech(tmp_path, splits=("dev-clean", "test-other"))
    corpus = ls.find_corpus(tmp_path / "LibriSpeech" / "test-other")
    assert set(corpus.splits) == {"test-other"}


def test_data_root_may_be_librispeech_finetuning(tmp_path):
    make_librilight(tmp_path, nine_h=False)
    corpus = ls.find_corpus(tmp_path / "librispeech_finetuning")
    assert set(corpus.splits) == {"10min", "1h"}
    assert any("no 9h folder" in note for note in corpus.notes)


def test_folder_name_case_is_forgiven(tmp_path):
    make_librispeech(tmp_path, splits=("dev-clean",))
    (tmp_path / "LibriSpeech").rename(tmp_path / "librispeech")
    corpus = ls.find_corpus(tmp_path)
    assert corpus.librispeech == tmp_path / "librispeech"
    assert set(corpus.splits) == {"dev-clean"}


def test_missing_fold_is_noted(tmp_path):
    make_librilight(tmp_path, folds=range(5))
    corpus = ls.find_corpus(tmp_path)
    assert len(corpus.splits["1h"]) == 10
    assert any("5 folds" in note for note in corpus.notes)


@pytest.mark.parametrize("make", [lambda p: None, lambda p: (p / "other-stuff").mkdir()])
def test_empty_corpus_error_names_folder_and_what_was_looked_for(tmp_path, make):
    make(tmp_path)
    with pytest.raises(FileNotFoundError) as e:
        ls.find_corpus(tmp_path)
    msg = str(e.value)
    assert str(tmp_path) in msg and "LibriSpeech/<split>" in msg and "librispeech_finetuning" in msg


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ls.find_corpus(tmp_path / "nope")


def test_read_transcripts_parses_and_flags_malformed_lines(tmp_path):
    trans = tmp_path / "1-2.trans.txt"
    trans.write_text("1-2-0000 HELLO  WORLD\n\nHELLO WITHOUT ID\n1-2-0001\n")
    rows, problems = ls.read_transcripts(trans)
    assert rows == [(1, "1-2-0000", "HELLO WORLD"), (4, "1-2-0001", "")]
    assert [(p.path, p.reason) for p in problems] == [(f"{trans}:3", ls.MALFORMED)]


def test_scan_pairs_audio_and_reports_each_mismatch(tmp_path):
    split = tmp_path / "dev-clean"
    chapter = write_chapter(split, "1", "2", {"0000": "HELLO", "0001": "WORLD", "0002": ""},
                            audio={"0000", "0002"})
    # an audio file with no transcript line, and a line duplicated in another chapter file
    write_chapter(split, "1", "3", {"0000": "EXTRA"})
    (chapter / "1-2-0009.flac").write_bytes((chapter / "1-2-0000.flac").read_bytes())
    with open(split / "1" / "3" / "1-3.trans.txt", "a") as f:
        f.write("1-2-0000 DUPLICATE\n")

    scan = ls.scan_split((split,))
    assert [e.id for e in scan.entries] == ["1-2-0000", "1-3-0000"]
    first = scan.entries[0]
    assert (first.speaker, first.chapter, first.text) == ("1", "2", "HELLO")
    assert first.audio == str(chapter / "1-2-0000.flac")
    reasons = sorted((p.reason, p.path.rsplit("/", 1)[-1]) for p in scan.problems)
    assert reasons == [
        (ls.DUPLICATE, "1-3.trans.txt:2"),
        (ls.EMPTY_TEXT, "1-2-0002.flac"),
        (ls.NO_AUDIO, "1-2.trans.txt:2"),
        (ls.NO_TRANSCRIPT, "1-2-0009.flac"),
    ]
    # every audio and transcript file is fingerprinted
    assert len(scan.files) == 4 + 2


def test_chapter_without_transcript_file(tmp_path):
    chapter = write_chapter(tmp_path / "s", "5", "6", {"0000": "HI"})
    (chapter / "5-6.trans.txt").unlink()
    scan = ls.scan_split((tmp_path / "s",))
    assert scan.entries == []
    assert [p.reason for p in scan.problems] == [ls.NO_TRANSCRIPT]
    assert "any .trans.txt" in scan.problems[0].detail


# ---- links, loops and folders that cannot be read: walked once, reported, never an abort


def _reasons(scan):
    return sorted((p.reason, os.path.basename(p.path)) for p in scan.problems)


def test_links_back_to_a_parent_are_walked_once(tmp_path):
    """Two links to the split's own folder: each real folder is read once, no false
    duplicates, and both links are reported."""
    split = tmp_path / "dev-clean"
    write_chapter(split, "1", "2", {"0000": "HELLO", "0001": "WORLD"})
    (split / "1" / "2" / "up").symlink_to("../..")
    (split / "1" / "again").symlink_to(split)
    scan = ls.scan_split((split,))
    assert [e.id for e in scan.entries] == ["1-2-0000", "1-2-0001"]
    assert _reasons(scan) == [(ls.WALKED, "again"), (ls.WALKED, "up")]
    assert len(scan.files) == 3


def test_a_linked_speaker_folder_elsewhere_is_taken(tmp_path):
    elsewhere = write_chapter(tmp_path / "other-disk", "7", "8", {"0000": "HI THERE"}).parent
    split = tmp_path / "dev-clean"
    write_chapter(split, "1", "2", {"0000": "HELLO"})
    (split / "7").symlink_to(elsewhere)
    scan = ls.scan_split((split,))
    assert [e.id for e in scan.entries] == ["1-2-0000", "7-8-0000"] and scan.problems == []


def test_broken_and_self_referencing_links_are_reported_and_the_scan_goes_on(tmp_path):
    split = tmp_path / "dev-clean"
    chapter = write_chapter(split, "1", "2", {"0000": "HELLO", "0001": "WORLD"})
    (chapter / "1-2-0001.flac").unlink()
    (chapter / "1-2-0001.flac").symlink_to(tmp_path / "gone.flac")  # broken
    (chapter / "loop.flac").symlink_to("loop.flac")  # points at itself
    (split / "9").symlink_to(tmp_path / "no-such-speaker")  # a broken speaker folder
    scan = ls.scan_split((split,))
    assert [e.id for e in scan.entries] == ["1-2-0000"]
    assert _reasons(scan) == [(ls.BROKEN_LINK, "1-2-0001.flac"), (ls.BROKEN_LINK, "9"),
                              (ls.BROKEN_LINK, "loop.flac"), (ls.NO_AUDIO, "1-2.trans.txt:2")]
    assert "gone.flac" in next(p.detail for p in scan.problems if p.path.endswith("1-2-0001.flac"))


def test_unreadable_folder_and_stray_files_are_reported(tmp_path, monkeypatch):
    """A speaker folder that cannot be listed (permissions; simulated, since root reads
    everything) is a Problem, and the other speakers are still taken."""
    split = tmp_path / "dev-clean"
    write_chapter(split, "1", "2", {"0000": "HELLO"})
    locked = write_chapter(split, "3", "4", {"0000": "WORLD"}).parent
    (split / "1" / "2" / "notes.md").write_text("x")
    os.mkfifo(split / "1" / "2" / "1-2-0005.flac")
    scandir = os.scandir

    def denying(path="."):
        if os.fspath(path) == str(locked):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", denying)
    scan = ls.scan_split((split,))
    assert [e.id for e in scan.entries] == ["1-2-0000"]
    assert _reasons(scan) == [(ls.OTHER_FILE, "1-2-0005.flac"), (ls.OTHER_FILE, "notes.md"),
                              (ls.UNREADABLE_FOLDER, "3")]
    assert "Permission denied" in next(p.detail for p in scan.problems if p.reason == ls.UNREADABLE_FOLDER)


def test_an_unreadable_librilight_1h_folder_is_a_note_not_a_traceback(tmp_path, monkeypatch):
    from pathlib import Path

    make_librilight(tmp_path)
    make_librispeech(tmp_path)
    one_h = tmp_path / "librispeech_finetuning" / "1h"
    iterdir = Path.iterdir

    def denying(self):
        if self == one_h:
            raise PermissionError(13, "Permission denied", str(self))
        return iterdir(self)

    monkeypatch.setattr(Path, "iterdir", denying)
    corpus = ls.find_corpus(tmp_path)
    assert "dev-clean" in corpus.splits and "1h" not in corpus.splits
    assert any("cannot list" in n and "Permission denied" in n for n in corpus.notes)


@pytest.mark.parametrize("stray", ["\r", "\x0c", "\u2028"])
def test_a_line_break_inside_a_transcript_line_is_a_problem_naming_the_line(tmp_path, stray):
    """Not a cut label kept: universal newlines ended the line at the \\r and kept 'HELLO' as the text."""
    trans = tmp_path / "1-2.trans.txt"
    trans.write_bytes(f"1-2-0000 HELLO{stray}WORLD\r\n1-2-0001 GOOD  DAY\r\n".encode())
    rows, problems = ls.read_transcripts(trans)
    assert rows == [(2, "1-2-0001", "GOOD DAY")]  # a CRLF line ending is only an ending
    assert [(p.path, p.reason) for p in problems] == [(f"{trans}:1", ls.MALFORMED)]
    assert "line break" in problems[0].detail and repr(stray) in problems[0].detail
