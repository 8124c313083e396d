"""Transcripts as the files people read: plain text, JSON Lines, SRT and WebVTT subtitles, CTM.

Pure functions over asrkit.hypotheses (a Hypothesis, or a file's N-best list): nothing here
reads audio or runs a model, so every format is tested with hand-made hypotheses.

    txt    the best hypothesis' text, one line
    jsonl  one row per recording: file, text, duration, words (word, start, end, confidence
           of the best hypothesis), nbest (every hypothesis' row, best first; see
           asrkit.hypotheses for the row)
    srt    SubRip cues:   1 / 00:01:02,345 --> 00:01:04,000 / text, blank line between cues
    vtt    WebVTT:        WEBVTT header, then 00:01:02.345 --> 00:01:04.000 / text
    ctm    NIST CTM as sclite reads it, one line per word:
               <recording> <channel> <start> <duration> <word> <confidence>
               talk 1 62.345 0.420 HELLO 0.9312

Cues (srt, vtt) follow common subtitle conventions (the BBC's and Netflix's guidelines,
whisper's --max_line_width/--max_line_count): at most `max_chars` characters per line
(42), `max_lines` lines (2), `max_seconds` on screen (7 s); a pause of `pause_seconds`
(1 s) or more between two words always ends a cue, so no text hangs over silence. A run of
words too long for one cue is split where the speaker paused longest (ties: nearest the
middle), and again until every piece fits; a cue's lines are balanced (the split that makes
the longest line shortest). A cue runs from its first word's start to its last word's end.
Times count from the start of the recording, hours without a limit (a 3-hour file's last
cue is 02:59:58,120).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Sequence

from asrkit.errors import SettingError
from asrkit.hypotheses import Hypothesis, Word, best

FORMATS = ("txt", "jsonl", "srt", "vtt", "ctm")
"""What `asrkit transcribe --format` can write; each is also the file's extension."""


@dataclass(frozen=True)
class CueOptions:
    max_chars: int = 42  # characters per subtitle line (BBC and Netflix: 37-42)
    max_lines: int = 2  # lines per cue
    max_seconds: float = 7.0  # longest time one cue stays on screen
    pause_seconds: float = 1.0  # a gap between words at least this long always ends a cue

    def __post_init__(self):
        if self.max_chars < 1 or self.max_lines < 1:
            raise SettingError(f"cues need at least 1 character and 1 line; got {self.max_chars} and "
                               f"{self.max_lines}")
        for name in ("max_seconds", "pause_seconds"):
            x = getattr(self, name)
            if not (math.isfinite(x) and x > 0):
                raise SettingError(f"cue {name} must be a positive number of seconds, got {x}")


@dataclass(frozen=True)
class Cue:
    """One subtitle: shown from `start` to `end` (seconds), its text in `lines`."""

    start: float
    end: float
    lines: tuple[str, ...]


# --------------------------------------------------------------------------- time stamps


def timestamp(seconds: float, decimal: str = ",") -> str:
    """HH:MM:SS,mmm (SRT; "." for WebVTT). Rounded to the millisecond before it is split, so
    59.9996 s is 00:01:00,000, never 00:00:60,000; hours grow past 99 if they must."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a subtitle time must be a finite number of seconds >= 0, got {seconds}")
    ms = round(seconds * 1000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{ms:03d}"


# --------------------------------------------------------------------------- cues


def cues(hypothesis: Hypothesis, options: CueOptions = CueOptions(), duration: float | None = None) -> list[Cue]:
    """The subtitle cues of one recording's hypothesis (module doc for the rules).

    A hypothesis with text but no timed words (nothing to place it by) becomes one cue over
    the whole recording when its `duration` is known, else none.
    """
    words = [w for w in hypothesis.words if w.word]
    if not words:
        text = hypothesis.text.strip()
        if text and duration:
            return [Cue(0.0, duration, wrap(text.split(), options.max_chars, options.max_lines))]
        return []
    out = []
    for run in _split_at_pauses(words, options.pause_seconds):
        out.extend(_fit(run, options))
    return out


def _split_at_pauses(words: list[Word], pause: float) -> list[list[Word]]:
    runs = [[words[0]]]
    for prev, w in zip(words, words[1:]):
        if w.start - prev.end >= pause:
            runs.append([])
        runs[-1].append(w)
    return runs


def _fits(words: Sequence[Word], o: CueOptions) -> bool:
    if len(words) == 1:  # one word always makes a cue, however long it is
        return True
    lines = _greedy_lines([w.word for w in words], o.max_chars)
    return (words[-1].end - words[0].start <= o.max_seconds and len(lines) <= o.max_lines
            and all(len(" ".join(line)) <= o.max_chars for line in lines))


def _fit(words: list[Word], o: CueOptions) -> list[Cue]:
    """Cues for a run of words, split at its longest pause until each piece fits."""
    if _fits(words, o):
        return [Cue(words[0].start, words[-1].end, wrap([w.word for w in words], o.max_chars, o.max_lines))]
    middle = (len(words) - 1) / 2
    # Split before word i (1..n-1): the longest pause first, then the most even halves.
    # Pauses are compared at millisecond precision, so float noise does not beat balance.
    i = max(range(1, len(words)),
            key=lambda i: (round(words[i].start - words[i - 1].end, 3), -abs(i - 1 - middle)))
    return _fit(words[:i], o) + _fit(words[i:], o)


def _greedy_lines(words: Sequence[str], max_chars: int) -> list[list[str]]:
    """Words filled into lines of at most max_chars (a longer word gets a line of its own)."""
    lines: list[list[str]] = [[]]
    for w in words:
        if lines[-1] and len(" ".join(lines[-1] + [w])) > max_chars:
            lines.append([])
        lines[-1].append(w)
    return lines


def wrap(words: Sequence[str], max_chars: int, max_lines: int) -> tuple[str, ...]:
    """A cue's words as its lines: as few lines as fit max_chars, then balanced so the longest
    line is as short as it can be. More than max_lines lines only when words do not fit
    otherwise (a cue is never cut short of its words)."""
    words = list(words)
    n = len(_greedy_lines(words, max_chars)) if words else 0
    if n <= 1:
        return (" ".join(words),) if words else ()
    # Fewest-lines partition minimising the longest line (dynamic programme over word
    # boundaries; cues hold a handful of words, so W^2 x lines is nothing).
    width = lambda a, b: len(" ".join(words[a:b]))  # noqa: E731
    w = len(words)
    best_cost = {(0, 0): (0, ())}  # (words used, lines made) -> (longest line, cut points)
    for lines in range(1, n + 1):
        for end in range(1, w + 1):
            options = [(max(best_cost[(start, lines - 1)][0], width(start, end)),
                        best_cost[(start, lines - 1)][1] + (end,))
                       for start in range(end) if (start, lines - 1) in best_cost]
            if options:
                best_cost[(end, lines)] = min(options)
    cuts = (0, *best_cost[(w, n)][1])
    return tuple(" ".join(words[a:b]) for a, b in zip(cuts, cuts[1:]))


# --------------------------------------------------------------------------- the formats


def srt(hypothesis: Hypothesis, options: CueOptions = CueOptions(), duration: float | None = None) -> str:
    """SubRip text: numbered cues, times with a comma before the milliseconds."""
    blocks = [f"{i}\n{timestamp(c.start)} --> {timestamp(c.end)}\n" + "\n".join(c.lines) + "\n"
              for i, c in enumerate(cues(hypothesis, options, duration), 1)]
    return "\n".join(blocks)


def vtt(hypothesis: Hypothesis, options: CueOptions = CueOptions(), duration: float | None = None) -> str:
    """WebVTT text: the WEBVTT header, then cues with a full stop before the milliseconds."""
    blocks = [f"{timestamp(c.start, '.')} --> {timestamp(c.end, '.')}\n" + "\n".join(c.lines) + "\n"
              for c in cues(hypothesis, options, duration)]
    return "\n".join(["WEBVTT\n", *blocks])


def ctm(hypothesis: Hypothesis, recording: str, channel: str = "1") -> str:
    """One CTM line per word of the hypothesis (sclite's hypothesis format, module doc).

    `recording` must match the reference's (STM) file name, so it may hold no white space.
    """
    if not recording or any(c.isspace() for c in recording):
        raise ValueError(f"a CTM recording name needs at least one character and no spaces: {recording!r}")
    return "".join(f"{recording} {channel} {w.start:.3f} {max(w.end - w.start, 0.0):.3f} {w.word} "
                   f"{w.confidence:.4f}\n" for w in hypothesis.words if w.word)


def txt(hypothesis: Hypothesis) -> str:
    return hypothesis.text + "\n"


def json_row(file: str, nbest: Sequence[Hypothesis], duration: float | None = None, **extra: Any) -> dict:
    """One recording's JSON row: file, text and words of the best hypothesis, then the N-best.

        {"file": "talk.flac", "text": "HELLO WORLD", "duration": 3.52,
         "words": [{"word": "HELLO", "start": 0.42, "end": 0.78, "confidence": 0.93}, ...],
         "nbest": [{"text": ..., "words": [...], "scores": {...}}, ...]}
    """
    top = best(nbest)
    return {"file": file, "text": top.text, "duration": duration, **extra,
            "words": [w.row() for w in top.words], "nbest": [h.row() for h in nbest]}


def render(fmt: str, file: str, nbest: Sequence[Hypothesis], duration: float | None = None,
           recording: str | None = None, options: CueOptions = CueOptions()) -> str:
    """The text of one recording in format `fmt` (one of FORMATS). `recording` names it in
    CTM (default: `file`)."""
    top = best(nbest)
    if fmt == "txt":
        return txt(top)
    if fmt == "jsonl":
        return json.dumps(json_row(file, nbest, duration), ensure_ascii=False) + "\n"
    if fmt == "srt":
        return srt(top, options, duration)
    if fmt == "vtt":
        return vtt(top, options, duration)
    if fmt == "ctm":
        return ctm(top, recording or file)
    raise SettingError(f"unknown transcript format {fmt!r}; choose from {', '.join(FORMATS)}")


def parse_formats(values: Sequence[str]) -> tuple[str, ...]:
    """--format values ("srt", "srt,vtt", repeated) -> the formats in order, each once."""
    out: list[str] = []
    for value in values:
        for f in (p.strip().lower() for p in value.split(",")):
            if not f:
                continue
            if f not in FORMATS:
                raise SettingError(f"--format {f!r}: not a transcript format; choose from {', '.join(FORMATS)}")
            if f not in out:
                out.append(f)
    return tuple(out)
