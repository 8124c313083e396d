"""Scores on known pairs, checked against counts made by hand."""

import json
import math

import pytest

from asrkit.errors import DataError
from asrkit.results import DecodeSummary, Recog, read_summary, write_summary
from asrkit.score import (
    EPS, align, confusions, error_stats_text, format_alignment, format_pairs, score,
    speaker_wer, utterance_errors, wer_by_length, write_error_stats,
)

# Hand counts (words):                       S  D  I  ref words
#   a  THE CAT SAT  / the hat sat on         1  0  1  3    CAT->HAT, +ON
#   b  A B          / (empty)                0  2  0  2    -A, -B
#   c  (empty)      / X Y                    0  0  2  0    +X, +Y
#   d  HELLO WORLD  / hello, world!          0  0  0  2    normalised away
#   total                                    1  2  3  7    WER 6/7
# Characters (spaces count): a: C->H and " ON" inserted = 4 errors over 11;
# b: 3 deleted over 3; c: 3 inserted over 0; d: 0 over 11.  CER 10/25.
RECOGS = [
    Recog("a", "s1", 3.0, "THE CAT SAT", "the hat sat on"),
    Recog("b", "s2", 12.0, "A B", ""),
    Recog("c", "s2", 1.0, "", "X Y"),
    Recog("d", "s3", 7.0, "HELLO WORLD", "hello, world!"),
]


def test_score_matches_hand_counts():
    s = score(RECOGS)
    assert (s.substitutions, s.deletions, s.insertions, s.hits) == (1, 2, 3, 4)
    assert s.ref_words == 7 and s.utterances == 4
    assert s.wer == pytest.approx(6 / 7)
    assert s.cer == pytest.approx(10 / 25)


def test_score_empty_hyp_is_all_deletions_and_all_insertions_needs_some_reference():
    s = score([Recog("b", "s", 1.0, "A B C", "")])
    assert (s.deletions, s.wer) == (3, 1.0)
    s = score([Recog("x", "s", 1.0, "A", "A B C D")])
    assert (s.insertions, s.hits, s.wer) == (3, 1, 3.0)
    with pytest.raises(DataError, match="every reference is empty"):
        score([Recog("c", "s", 1.0, "", "X Y")])
    with pytest.raises(DataError, match="no recognitions"):
        score([])


@pytest.mark.parametrize("ref, hyp, pairs", [
    ("THE CAT SAT", "the hat sat on", [("THE", "THE"), ("CAT", "HAT"), ("SAT", "SAT"), (EPS, "ON")]),
    ("A B C D", "A X C", [("A", "A"), ("B", "X"), ("C", "C"), ("D", EPS)]),
    ("A B C", "X Y", [("A", "X"), ("B", "Y"), ("C", EPS)]),  # a two-word substitute chunk
    ("A B", "", [("A", EPS), ("B", EPS)]),
    ("", "X Y", [(EPS, "X"), (EPS, "Y")]),
    ("", "", []),
    ("DON'T STOP", "don’t stop.", [("DON'T", "DON'T"), ("STOP", "STOP")]),
])
def test_align(ref, hyp, pairs):
    assert align(ref, hyp) == pairs


def test_per_utterance_counts_sum_to_the_corpus_counts():
    utts = utterance_errors(RECOGS)
    assert [(u.substitutions, u.deletions, u.insertions, u.ref_words) for u in utts] == [
        (1, 0, 1, 3), (0, 2, 0, 2), (0, 0, 2, 0), (0, 0, 0, 2)]
    s = score(RECOGS)
    assert sum(u.errors for u in utts) == s.substitutions + s.deletions + s.insertions


def test_format_pairs_and_alignment():
    pairs = align("THE CAT SAT", "the hat sat on")
    assert format_pairs(pairs) == "THE (CAT->HAT) SAT (*->ON)"
    assert format_alignment(pairs) == (
        "REF: THE CAT SAT **\n"
        "HYP: THE HAT SAT ON\n"
        "         S       I")
    assert format_alignment(align("ABOUT IT", "IT")) == (
        "REF: ABOUT IT\n"
        "HYP: ***** IT\n"
        "     D")


def test_speaker_wer_worst_first():
    groups = speaker_wer(RECOGS)
    assert [(g.name, g.errors, g.ref_words, g.utterances) for g in groups] == [
        ("s2", 4, 2, 2), ("s1", 2, 3, 1), ("s3", 0, 2, 1)]
    assert [g.wer for g in groups] == pytest.approx([2.0, 2 / 3, 0.0])


def test_speaker_with_only_insertions_has_infinite_wer():
    (g,) = speaker_wer([Recog("c", "s9", 1.0, "", "X")])
    assert math.isinf(g.wer)


def test_wer_by_length_bins():
    groups = wer_by_length(RECOGS)
    assert [(g.name, g.errors, g.ref_words) for g in groups] == [
        ("0-2.5 s", 2, 0), ("2.5-5 s", 2, 3), ("5-10 s", 0, 2), ("10-15 s", 2, 2)]
    assert [g.name for g in wer_by_length(RECOGS, edges=(0, 5))] == ["0-5 s", "5+ s"]


def test_confusions_ranked_by_count_then_word():
    recogs = RECOGS + [Recog("e", "s1", 2.0, "THE CAT AND DOG", "A HAT AND DOG")]
    c = confusions(recogs)
    assert c.substitutions == [(("CAT", "HAT"), 2), (("THE", "A"), 1)]
    assert c.deletions == [("A", 1), ("B", 1)]
    assert c.insertions == [("ON", 1), ("X", 1), ("Y", 1)]


def test_write_error_stats(tmp_path):
    path = tmp_path / "decode" / "errs.txt"
    s = write_error_stats(path, RECOGS)
    assert s == score(RECOGS)
    text = path.read_text()
    assert text.startswith(
        "%WER = 85.71\n%CER = 40.00\n"
        "Errors: 3 insertions, 2 deletions, 1 substitutions, over 7 reference words "
        "(4 correct) in 4 utterances\n")
    assert "PER-UTT DETAILS: corr or (ref->hyp)\na:\tTHE (CAT->HAT) SAT (*->ON)\n" \
           "b:\t(A->*) (B->*)\nc:\t(*->X) (*->Y)\nd:\tHELLO WORLD\n" in text
    assert "a: 2 errors over 3 words\nREF: THE CAT SAT **\nHYP: THE HAT SAT ON\n" in text
    assert "d: 0 errors" not in text  # correct utterances are not aligned again
    assert "PER-SPEAKER WER: speaker %WER errors ref_words utterances\n" \
           "s2\t200.00\t4\t2\t2\ns1\t66.67\t2\t3\t1\ns3\t0.00\t0\t2\t1\n" in text
    assert "SUBSTITUTIONS: count ref -> hyp (top 30)\n1\tCAT -> HAT\n" in text
    assert "DELETIONS: count ref (top 30)\n1\tA\n1\tB\n" in text
    assert "INSERTIONS: count hyp (top 30)\n1\tON\n1\tX\n1\tY\n" in text
    assert [p.name for p in path.parent.iterdir()] == ["errs.txt"]  # no temporary left


def test_error_stats_top_limits_each_list():
    text = error_stats_text(RECOGS, top=1)
    assert "INSERTIONS: count hyp (top 1)\n1\tON\n" in text
    assert "\tX\n" not in text


def test_read_summary_round_trip_and_bad_files(tmp_path):
    summary = DecodeSummary(model="m", split="dev", setting="greedy", wer=0.25, cer=0.1, substitutions=1,
                            deletions=1, insertions=0, ref_words=8, utterances=2, rtf=0.01,
                            decoder={"name": "greedy"}, command="asrkit decode", commit="abc")
    write_summary(tmp_path, summary)
    assert read_summary(tmp_path) == summary
    path = tmp_path / "wer-summary.json"
    good = json.loads(path.read_text())
    for text, why in [("{", "not valid JSON"), ("[1]", "not a decode summary"),
                      (json.dumps({"wer": 0.5}), "missing"), (json.dumps({**good, "beam": 5}), "beam"),
                      (json.dumps({**good, "wer": "0.5"}), "bad value for wer"),
                      (json.dumps({**good, "cer": float("nan")}), "bad value for cer"),
                      (json.dumps({**good, "deletions": -1, "rtf": "fast"}), "bad value for deletions, rtf")]:
        path.write_text(text)
        with pytest.raises(DataError, match=f"^{path}: .*{why}"):
            read_summary(tmp_path)
