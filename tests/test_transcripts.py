"""asrkit.transcripts: the txt, jsonl, SRT, WebVTT and CTM writers, over hand-made hypotheses."""

import json

import pytest

from asrkit.errors import SettingError
from asrkit.hypotheses import Hypothesis, Scores, Word, hypothesis_from_row
from asrkit.transcripts import (CueOptions, cues, ctm, json_row, parse_formats, render, srt, timestamp, vtt,
                                wrap)


def spoken(*items) -> Hypothesis:
    """Hypothesis from (word, start, end) or (word, start, end, confidence) tuples."""
    words = tuple(Word(i[0], i[1], i[2], i[3] if len(i) > 3 else 0.9) for i in items)
    return Hypothesis(" ".join(w.word for w in words), words)


def evenly(words: list[str], start: float = 0.0, step: float = 0.3, gap: float = 0.05) -> list[tuple]:
    return [(w, start + i * step, start + i * step + step - gap) for i, w in enumerate(words)]


@pytest.mark.parametrize("seconds, srt_time, vtt_time", [
    (0.0, "00:00:00,000", "00:00:00.000"),
    (62.345, "00:01:02,345", "00:01:02.345"),
    (59.9996, "00:01:00,000", "00:01:00.000"),  # rounded before splitting: never :60
    (3723.004, "01:02:03,004", "01:02:03.004"),
    (10 * 3600 + 0.5, "10:00:00,500", "10:00:00.500"),
    (100 * 3600, "100:00:00,000", "100:00:00.000"),
])
def test_timestamps_of_srt_and_vtt(seconds, srt_time, vtt_time):
    assert timestamp(seconds) == srt_time
    assert timestamp(seconds, ".") == vtt_time


@pytest.mark.parametrize("bad", [-0.001, float("nan"), float("inf")])
def test_timestamp_refuses_negative_and_non_finite_times(bad):
    with pytest.raises(ValueError, match="finite number of seconds"):
        timestamp(bad)


def test_a_short_utterance_is_one_cue_from_first_word_start_to_last_word_end():
    h = spoken(("HELLO", 0.42, 0.78), ("WORLD", 0.9, 1.3))
    assert cues(h) == [cues(h)[0]]
    (c,) = cues(h)
    assert (c.start, c.end, c.lines) == (0.42, 1.3, ("HELLO WORLD",))
    assert srt(h) == "1\n00:00:00,420 --> 00:00:01,300\nHELLO WORLD\n"
    assert vtt(h) == "WEBVTT\n\n00:00:00.420 --> 00:00:01.300\nHELLO WORLD\n"


def test_a_long_pause_always_ends_a_cue():
    h = spoken(("ONE", 0.0, 0.3), ("TWO", 0.35, 0.6), ("THREE", 1.8, 2.1), ("FOUR", 2.15, 2.5))
    assert [c.lines for c in cues(h)] == [("ONE TWO",), ("THREE FOUR",)]
    # a shorter pause than the option's does not
    assert [c.lines for c in cues(h, CueOptions(pause_seconds=1.5))] == [("ONE TWO THREE FOUR",)]


def test_too_many_characters_split_at_the_longest_pause_not_the_middle():
    # 16 words of 5 letters: 95 characters, more than 2 lines of 42. The speaker paused
    # 0.4 s after word 4; everywhere else 0.05 s.
    words = [f"WORD{chr(65 + i)}" for i in range(16)]
    items = evenly(words[:4]) + evenly(words[4:], start=4 * 0.3 + 0.35)
    out = cues(spoken(*items))
    assert [len(" ".join(c.lines).split()) for c in out] == [4, 12]
    for c in out:
        assert len(c.lines) <= 2 and all(len(line) <= 42 for line in c.lines)


def test_equal_pauses_split_near_the_middle_and_lines_are_balanced():
    words = [f"W{i:02d}" for i in range(40)]  # 40 x 3 letters + spaces: 159 characters, 12 s
    out = cues(spoken(*evenly(words)))
    assert sum(len(" ".join(c.lines).split()) for c in out) == 40
    for c in out:
        assert len(c.lines) <= 2 and all(len(line) <= 42 for line in c.lines)
        assert c.end - c.start <= 7.0
        if len(c.lines) == 2:
            assert abs(len(c.lines[0]) - len(c.lines[1])) <= 4
    # equal pauses: halves (20 words, 79 characters: two lines of 39, 5.95 s)
    assert [len(" ".join(c.lines).split()) for c in out] == [20, 20]


def test_a_cue_never_stays_longer_than_max_seconds():
    # slow speech: 6 short words over 12 s, few characters
    h = spoken(*[(f"W{i}", 2.0 * i, 2.0 * i + 1.0) for i in range(6)])
    out = cues(h, CueOptions(max_seconds=7.0, pause_seconds=5.0))
    assert all(c.end - c.start <= 7.0 for c in out)
    assert [" ".join(c.lines) for c in out] == ["W0 W1 W2", "W3 W4 W5"]


def test_wrap_balances_two_lines_and_keeps_a_word_too_long_for_a_line():
    assert wrap("THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG AND THEN SOME MORE".split(), 42, 2) == \
        ("THE QUICK BROWN FOX JUMPS OVER", "THE LAZY DOG AND THEN SOME MORE")
    assert wrap(["SHORT"], 42, 2) == ("SHORT",)
    assert wrap(["X" * 50], 42, 2) == ("X" * 50,)
    assert wrap([], 42, 2) == ()


def test_one_word_longer_than_a_line_is_its_own_cue():
    h = spoken(("A" * 60, 0.0, 1.0), ("B", 1.1, 1.2))
    assert [c.lines for c in cues(h)] == [("A" * 60,), ("B",)]


def test_a_file_longer_than_an_hour_keeps_its_hours():
    h = spoken(("EARLY", 1.0, 1.4), ("LATE", 2 * 3600 + 59 * 60 + 58.12, 2 * 3600 + 59 * 60 + 58.5))
    text = srt(h)
    assert "00:00:01,000 --> 00:00:01,400\nEARLY" in text
    assert "02:59:58,120 --> 02:59:58,500\nLATE" in text
    assert text.startswith("1\n") and "\n\n2\n" in text


def test_srt_numbers_cues_and_separates_them_by_a_blank_line():
    h = spoken(("ONE", 0.0, 0.3), ("TWO", 2.0, 2.3), ("THREE", 4.0, 4.3))
    blocks = srt(h).split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == ["1", "2", "3"]
    assert vtt(h).count(" --> ") == 3 and vtt(h).startswith("WEBVTT\n\n")


def test_no_words_no_cues_and_text_without_times_spans_the_recording():
    assert srt(Hypothesis("")) == ""
    assert vtt(Hypothesis("")) == "WEBVTT\n"
    untimed = Hypothesis("HELLO THERE")
    assert cues(untimed) == []
    (c,) = cues(untimed, duration=3.5)
    assert (c.start, c.end, c.lines) == (0.0, 3.5, ("HELLO THERE",))


def test_ctm_is_one_line_per_word_as_sclite_reads_it():
    h = spoken(("HELLO", 62.345, 62.765, 0.93123), ("WORLD", 62.8, 63.1, 0.5))
    lines = ctm(h, "talk").splitlines()
    assert lines == ["talk 1 62.345 0.420 HELLO 0.9312", "talk 1 62.800 0.300 WORLD 0.5000"]
    fields = lines[0].split()
    assert len(fields) == 6 and float(fields[2]) + float(fields[3]) == pytest.approx(62.765)
    with pytest.raises(ValueError, match="no spaces"):
        ctm(h, "my talk")


def test_json_row_has_the_best_words_and_the_whole_nbest_which_read_back():
    first = spoken(("HELLO", 0.42, 0.78, 0.93), ("WORLD", 0.9, 1.3, 0.4))
    second = Hypothesis("HELLO WORD", first.words[:1] + (Word("WORD", 0.9, 1.3, 0.3),), Scores(-5, -3, 1, -7))
    row = json.loads(render("jsonl", "talk.flac", (first, second), duration=3.52))
    assert row["file"] == "talk.flac" and row["text"] == "HELLO WORLD" and row["duration"] == 3.52
    assert row["words"] == [{"word": "HELLO", "start": 0.42, "end": 0.78, "confidence": 0.93},
                            {"word": "WORLD", "start": 0.9, "end": 1.3, "confidence": 0.4}]
    assert [hypothesis_from_row(r) for r in row["nbest"]] == [first, second]
    assert json_row("x", ())["text"] == "" and json_row("x", ())["nbest"] == []


def test_render_each_format_and_txt_is_the_best_text():
    h = spoken(("HI", 0.1, 0.3))
    assert render("txt", "a.wav", (h,)) == "HI\n"
    assert render("srt", "a.wav", (h,)) == srt(h)
    assert render("vtt", "a.wav", (h,)) == vtt(h)
    assert render("ctm", "a.wav", (h,), recording="a") == "a 1 0.100 0.200 HI 0.9000\n"


@pytest.mark.parametrize("values, expected", [
    (["srt"], ("srt",)), (["srt,vtt"], ("srt", "vtt")), (["jsonl", "SRT, ctm", "srt"], ("jsonl", "srt", "ctm")),
])
def test_format_option_takes_a_comma_list_or_repeats(values, expected):
    assert parse_formats(values) == expected


def test_unknown_format_and_bad_cue_options_are_one_line_errors():
    with pytest.raises(SettingError, match="--format 'docx': not a transcript format; choose from txt, jsonl"):
        parse_formats(["srt,docx"])
    with pytest.raises(SettingError, match="max_seconds must be a positive number"):
        CueOptions(max_seconds=float("nan"))
    with pytest.raises(SettingError, match="at least 1 character"):
        CueOptions(max_chars=0)
