"""asrkit prepare: manifests per split, idempotence, bad utterances, fairseq output, CLI."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import soundfile as sf

from asrkit.cli import main
from asrkit.data import librispeech as ls
from asrkit.data import prepare as prep
from asrkit.data.manifest import read_manifest
from asrkit.errors import SettingError
from fake_librispeech import make_librilight, make_librispeech, tone, write_chapter


def options(tmp_path, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("workers", 2)
    return prep.PrepareOptions(data_root=tmp_path / "corpus", out_dir=tmp_path / "manifests", **kw)


@pytest.mark.parametrize("samples, frames", [(399, 0), (400, 1), (720, 2), (16_000, 49), (32_000, 99)])
def test_wav2vec2_frames_follows_the_conv_stack(samples, frames):
    # 400-sample receptive field, 320-sample hop: frames = (samples - 400) // 320 + 1
    assert prep.wav2vec2_frames(samples) == frames


@pytest.mark.parametrize("text, need", [("A", 1), ("AA", 3), ("A A", 3), ("HELLO WORLD", 12),
                                        ("BOOKKEEPER", 13)])
def test_ctc_min_frames_counts_labels_and_repeats(text, need):
    assert prep.ctc_min_frames(text) == need


def test_prepares_every_split_found(tmp_path):
    make_librispeech(tmp_path / "corpus", splits=("dev-clean",), speakers=("1089", "121"))
    make_librilight(tmp_path / "corpus")
    corpus, reports = prep.prepare(options(tmp_path))
    by = {r.split: r for r in reports}
    assert set(by) == {"dev-clean", "10min", "1h", "10h"}
    assert {s: by[s].utterances for s in by} == {"dev-clean": 4, "10min": 4, "1h": 24, "10h": 28}
    assert by["10h"].speakers == 14 and by["10min"].speakers == 2
    assert by["1h"].hours == pytest.approx(24 / 3600)
    assert all(r.n_skipped == 0 and r.error is None and not r.reused for r in reports)

    ten_min = read_manifest(tmp_path / "manifests" / "10min.jsonl")
    # 10min is fold 0 of 1h: speakers 110 (clean) and 210 (other)
    assert [u.id for u in ten_min] == ["110-7-0000", "110-7-0001", "210-7-0000", "210-7-0001"]
    u = ten_min[1]
    assert (u.samples, u.sample_rate, u.speaker, u.chapter, u.text) == (16000, 16000, "110", "7", "ANOTHER TEST")
    assert u.audio == str(tmp_path / "corpus/librispeech_finetuning/1h/0/clean/110/7/110-7-0001.flac")
    assert os.path.isabs(u.audio)

    dev = read_manifest(tmp_path / "manifests" / "dev-clean.jsonl")
    assert [u.text for u in dev] == ["HELLO WORLD", "IT'S A TEST"] * 2
    meta = json.loads((tmp_path / "manifests" / "dev-clean.meta.json").read_text())
    assert meta["utterances"] == 4 and meta["skipped"] == {}


def test_second_run_reuses_and_a_changed_file_redoes(tmp_path):
    make_librispeech(tmp_path / "corpus", splits=("dev-clean", "test-clean"))
    prep.prepare(options(tmp_path))
    manifest = tmp_path / "manifests" / "dev-clean.jsonl"
    before = manifest.stat().st_mtime_ns

    _, reports = prep.prepare(options(tmp_path))
    assert [r.reused for r in reports] == [True, True]
    assert reports[0].utterances == 4 and reports[0].hours == pytest.approx(4 / 3600)
    assert manifest.stat().st_mtime_ns == before

    # touch one transcript file of dev-clean: dev-clean is redone, test-clean is not
    trans = next((tmp_path / "corpus/LibriSpeech/dev-clean").rglob("*.trans.txt"))
    st = trans.stat()
    os.utime(trans, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    _, reports = prep.prepare(options(tmp_path))
    assert [(r.split, r.reused) for r in reports] == [("dev-clean", False), ("test-clean", True)]

    _, reports = prep.prepare(options(tmp_path, force=True))
    assert [r.reused for r in reports] == [False, False]


def test_only_requested_splits_and_100h_alias(tmp_path):
    make_librispeech(tmp_path / "corpus", splits=("train-clean-100", "dev-clean"))
    _, reports = prep.prepare(options(tmp_path, splits=("100h",)))
    assert [r.split for r in reports] == ["100h"]
    assert [u.id for u in read_manifest(tmp_path / "manifests/100h.jsonl")] == \
        ["1089-1000-0000", "1089-1000-0001", "121-1001-0000", "121-1001-0001"]
    assert not (tmp_path / "manifests/dev-clean.jsonl").exists()


def test_unknown_or_absent_split_is_a_clear_error(tmp_path):
    make_librispeech(tmp_path / "corpus", splits=("dev-clean",))
    with pytest.raises(SettingError, match="unknown split 'dev'"):
        prep.prepare(options(tmp_path, splits=("dev",)))
    with pytest.raises(FileNotFoundError, match="split 10min is not in .*found: dev-clean"):
        prep.prepare(options(tmp_path, splits=("10min",)))


def _bad_corpus(root):
    """dev-clean with two good utterances and one of every kind of bad one."""
    split = root / "LibriSpeech" / "dev-clean"
    good = write_chapter(split, "1", "1", {"0000": "GOOD ONE", "0001": "GOOD TWO"})
    ch = write_chapter(split, "2", "2", {
        "0000": "UNREADABLE", "0001": "TRUNCATED", "0002": "EMPTY AUDIO", "0003": "HELLO, WORLD",
        "0004": "lower case", "0005": "THIS TEXT IS FAR TOO LONG FOR A TENTH OF A SECOND",
        "0006": "NO AUDIO FOR THIS LINE", "0007": "",
    }, audio={"0001"})
    (ch / "2-2-0000.flac").write_bytes(b"not audio at all" * 10)
    full = (ch / "2-2-0001.flac").read_bytes()
    (ch / "2-2-0001.flac").write_bytes(full[: len(full) // 2])
    sf.write(ch / "2-2-0002.wav", np.zeros(0, np.float32), 16000)
    for utt in ("0003", "0004", "0007"):
        sf.write(ch / f"2-2-{utt}.flac", tone(1.0), 16000)
    sf.write(ch / "2-2-0005.flac", tone(0.1), 16000)
    sf.write(ch / "2-2-0099.flac", tone(1.0), 16000)  # no transcript line
    with open(ch / "2-2.trans.txt", "a") as f:
        f.write("A LINE WITH NO ID\n1-1-0000 GOOD ONE AGAIN\n")
    return good


EXPECTED_SKIPS = {
    prep.UNREADABLE: 1, prep.TRUNCATED: 1, prep.EMPTY_AUDIO: 1, prep.OUT_OF_VOCABULARY: 2,
    prep.TOO_SHORT: 1, ls.NO_AUDIO: 1, ls.EMPTY_TEXT: 1, ls.NO_TRANSCRIPT: 1,
    ls.MALFORMED: 1, ls.DUPLICATE: 1,
}


def test_bad_utterances_are_reported_skipped_and_counted(tmp_path, caplog):
    _bad_corpus(tmp_path / "corpus")
    _, [report] = prep.prepare(options(tmp_path))
    assert report.utterances == 2 and report.error is None
    assert report.skipped == EXPECTED_SKIPS
    assert [u.id for u in read_manifest(report.manifest)] == ["1-1-0000", "1-1-0001"]

    by_reason = {}
    for p in report.problems:
        by_reason.setdefault(p.reason, []).append(p)
    assert by_reason[prep.UNREADABLE][0].path.endswith("2-2-0000.flac")
    assert by_reason[prep.TRUNCATED][0].path.endswith("2-2-0001.flac")
    assert by_reason[prep.EMPTY_AUDIO][0].path.endswith("2-2-0002.wav")
    oov = sorted(p.detail for p in by_reason[prep.OUT_OF_VOCABULARY])
    assert oov[0].startswith("','") and "2-2.trans.txt:4" in oov[0]
    assert oov[1].startswith("'acelorsw'")
    # 0.1 s = 1600 samples -> 4 frames; 49 characters + 1 repeat (TOO) = 50
    assert "gives 4 frames, the label needs 50" in by_reason[prep.TOO_SHORT][0].detail
    assert by_reason[ls.NO_TRANSCRIPT][0].path.endswith("2-2-0099.flac")
    assert by_reason[ls.DUPLICATE][0].path.endswith("2-2.trans.txt:10")

    # every skip is on the console with its path and in the .skipped.tsv
    assert "2-2-0001.flac: truncated audio" in caplog.text
    rows = (tmp_path / "manifests/dev-clean.skipped.tsv").read_text().splitlines()
    assert rows[0] == "path\treason\tdetail" and len(rows) == 1 + sum(EXPECTED_SKIPS.values())


def test_verify_decodes_fully_and_agrees(tmp_path):
    _bad_corpus(tmp_path / "corpus")
    _, [report] = prep.prepare(options(tmp_path, verify=True))
    assert report.skipped == EXPECTED_SKIPS


def test_probe_reads_other_rates_and_channels(tmp_path):
    sf.write(tmp_path / "a.flac", tone(0.5, rate=8000, channels=2), 8000)
    assert prep.probe_audio(str(tmp_path / "a.flac")) == prep.Probe(4000, 8000)


def test_all_skipped_split_writes_no_manifest(tmp_path):
    split = tmp_path / "corpus/LibriSpeech/dev-other"
    write_chapter(split, "3", "3", {"0000": "bad text"})
    _, [report] = prep.prepare(options(tmp_path))
    assert report.error and "every utterance" in report.error
    assert not report.manifest.exists()


def test_fairseq_manifests(tmp_path):
    make_librispeech(tmp_path / "corpus", splits=("dev-clean",), speakers=("1089",))
    prep.prepare(options(tmp_path, fairseq=True))
    out = tmp_path / "manifests/fairseq"
    root = tmp_path / "corpus/LibriSpeech/dev-clean/1089/1000"
    assert (out / "dev-clean.tsv").read_text().splitlines() == [
        str(root), "1089-1000-0000.flac\t16000", "1089-1000-0001.flac\t16000"]
    assert (out / "dev-clean.wrd").read_text() == "HELLO WORLD\nIT'S A TEST\n"
    assert (out / "dev-clean.ltr").read_text() == \
        "H E L L O | W O R L D |\nI T ' S | A | T E S T |\n"

    # asked for later on an up-to-date split: written from the manifest, no rescan needed
    for f in out.iterdir():
        f.unlink()
    _, [report] = prep.prepare(options(tmp_path, fairseq=True))
    assert report.reused and (out / "dev-clean.ltr").is_file()


def test_cli_prints_table_and_never_a_traceback(tmp_path, capsys):
    make_librispeech(tmp_path / "corpus", splits=("dev-clean",))
    args = ["prepare", "--data-root", str(tmp_path / "corpus"), "--out", str(tmp_path / "m")]
    assert main(args) == 0
    out = capsys.readouterr().out
    header, row = out.splitlines()[:2]
    assert header.split() == ["split", "utterances", "hours", "speakers", "skipped"]
    assert row.split() == ["dev-clean", "4", "0.001", "2", "0", "written"]
    assert main(args + ["--split", "dev-clean"]) == 0
    assert "up to date" in capsys.readouterr().out

    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["prepare", "--data-root", str(empty), "--out", str(tmp_path / "m")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("asrkit prepare: error: no LibriSpeech") and str(empty) in err
    assert "Traceback" not in err

    assert main(args + ["--split", "bogus"]) == 1
    assert "unknown split 'bogus'" in capsys.readouterr().err


def test_cli_split_with_no_files_fails_with_what_it_looked_for(tmp_path, capsys):
    (tmp_path / "corpus/LibriSpeech/dev-clean").mkdir(parents=True)
    assert main(["prepare", "--data-root", str(tmp_path / "corpus"), "--out", str(tmp_path / "m")]) == 1
    captured = capsys.readouterr()
    assert "FAILED" in captured.out
    assert "no audio or transcripts in" in captured.err and ".trans.txt" in captured.err


def test_links_and_loops_are_listed_in_skipped_tsv_and_the_run_goes_on(tmp_path, capsys):
    """A broken link, a self-referencing link and a link loop: each listed with its reason in
    <split>.skipped.tsv and counted; the good utterances are prepared; exit status 0."""
    split = make_librispeech(tmp_path / "corpus") / "LibriSpeech" / "dev-clean"
    chapter = next((split / "1089").iterdir())
    (chapter / "1089-9-0000.flac").symlink_to(tmp_path / "gone.flac")
    (chapter / "self.flac").symlink_to("self.flac")
    (split / "121" / "loop").symlink_to("..")
    assert main(["prepare", "--data-root", str(tmp_path / "corpus"), "--out", str(tmp_path / "m")]) == 0
    assert len(read_manifest(tmp_path / "m" / "dev-clean.jsonl")) == 4
    rows = (tmp_path / "m" / "dev-clean.skipped.tsv").read_text().splitlines()[1:]
    reasons = sorted((os.path.basename(r.split("\t")[0]), r.split("\t")[1]) for r in rows)
    assert reasons == [("1089-9-0000.flac", ls.BROKEN_LINK), ("loop", ls.WALKED), ("self.flac", ls.BROKEN_LINK)]
    assert "skipped 2 broken link, 1 folder reached twice through links" in capsys.readouterr().out


def test_nan_or_infinite_audio_is_skipped_and_counted(tmp_path):
    split = make_librispeech(tmp_path / "corpus") / "LibriSpeech" / "dev-clean"
    chapter = next((split / "1089").iterdir())
    flac = sorted(chapter.glob("*.flac"))[0]
    wave = tone(1.0)
    wave[[5, 500]] = [np.nan, np.inf]
    flac.unlink()
    sf.write(flac.with_suffix(".wav"), wave, 16_000, subtype="FLOAT")
    _, [report] = prep.prepare(options(tmp_path))
    assert report.utterances == 3 and report.skipped == {prep.NON_FINITE: 1}
    [problem] = report.problems
    assert problem.path.endswith(flac.stem + ".wav") and problem.detail == "2 of 16000 samples"
