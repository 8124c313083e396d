"""Scoring with jiwer: WER, CER and error counts over a list of recognitions.

Both sides pass through asrkit.text.normalize, so a model's casing or punctuation never
counts as an error. Beyond the corpus-level `score`: per-utterance alignments
(`align`, `utterance_errors`), per-speaker WER, WER by utterance length, the most frequent
confusions, and the errs.txt listing the decode stage writes (`write_error_stats`, in
icefall's layout).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import jiwer

from asrkit.errors import DataError
from asrkit.io import write_text
from asrkit.results import Recog
from asrkit.text import normalize


@dataclass(frozen=True)
class Score:
    wer: float  # (S + D + I) / reference words; fraction, not percent
    cer: float  # the same over characters (spaces included, as jiwer counts them)
    substitutions: int
    deletions: int
    insertions: int
    hits: int
    ref_words: int
    utterances: int


def score(recogs: list[Recog]) -> Score:
    """Corpus-level WER/CER of `recogs` (normalised on both sides)."""
    if not recogs:
        raise DataError("nothing to score: no recognitions")
    refs = [normalize(r.ref) for r in recogs]
    hyps = [normalize(r.hyp) for r in recogs]
    # jiwer refuses empty references; an utterance with no reference words can only add
    # insertions, which we count by hand.
    keep = [i for i, ref in enumerate(refs) if ref]
    extra_ins = sum(len(hyps[i].split()) for i in range(len(refs)) if not refs[i])
    extra_chars = sum(len(hyps[i]) for i in range(len(refs)) if not refs[i])
    if not keep:
        raise DataError("nothing to score: every reference is empty")
    words = jiwer.process_words([refs[i] for i in keep], [hyps[i] for i in keep])
    chars = jiwer.process_characters([refs[i] for i in keep], [hyps[i] for i in keep])
    ref_words = words.hits + words.substitutions + words.deletions
    ref_chars = chars.hits + chars.substitutions + chars.deletions
    errors = words.substitutions + words.deletions + words.insertions + extra_ins
    char_errors = chars.substitutions + chars.deletions + chars.insertions + extra_chars
    return Score(
        wer=errors / ref_words, cer=char_errors / ref_chars,
        substitutions=words.substitutions, deletions=words.deletions,
        insertions=words.insertions + extra_ins, hits=words.hits,
        ref_words=ref_words, utterances=len(recogs),
    )


# ---------------------------------------------------------------------------
# Error statistics: alignments, per-speaker WER, confusions, errs.txt
# ---------------------------------------------------------------------------

EPS = "*"
"""Stands for the missing word of an insertion or a deletion in listings, as icefall writes it."""

Pair = tuple[str, str]
"""One aligned position: (ref word, hyp word); EPS on the side that has no word."""


@dataclass(frozen=True)
class UttErrors:
    """One utterance's alignment and its error counts (normalised words)."""

    id: str
    speaker: str
    duration: float  # seconds of audio
    pairs: tuple[Pair, ...]  # the alignment, in order

    @property
    def substitutions(self) -> int:
        return sum(1 for r, h in self.pairs if r != EPS and h != EPS and r != h)

    @property
    def deletions(self) -> int:
        return sum(1 for _, h in self.pairs if h == EPS)

    @property
    def insertions(self) -> int:
        return sum(1 for r, _ in self.pairs if r == EPS)

    @property
    def errors(self) -> int:
        return sum(1 for r, h in self.pairs if r != h)

    @property
    def ref_words(self) -> int:
        return sum(1 for r, _ in self.pairs if r != EPS)


def align(ref: str, hyp: str) -> list[Pair]:
    """Word alignment of normalised `ref` and `hyp` by jiwer's Levenshtein path.

    >>> align("THE CAT SAT", "THE HAT SAT ON")
    [('THE', 'THE'), ('CAT', 'HAT'), ('SAT', 'SAT'), ('*', 'ON')]
    """
    ref_words, hyp_words = normalize(ref).split(), normalize(hyp).split()
    # jiwer needs at least one word on the reference side; the degenerate cases are
    # all insertions or all deletions anyway.
    if not ref_words or not hyp_words:
        return [(r, EPS) for r in ref_words] + [(EPS, h) for h in hyp_words]
    out = jiwer.process_words(" ".join(ref_words), " ".join(hyp_words))
    pairs: list[Pair] = []
    for chunk in out.alignments[0]:
        refs = ref_words[chunk.ref_start_idx:chunk.ref_end_idx]
        hyps = hyp_words[chunk.hyp_start_idx:chunk.hyp_end_idx]
        if chunk.type == "insert":
            pairs += [(EPS, h) for h in hyps]
        elif chunk.type == "delete":
            pairs += [(r, EPS) for r in refs]
        else:  # "equal" and "substitute" chunks pair words one to one
            pairs += list(zip(refs, hyps))
    return pairs


def utterance_errors(recogs: list[Recog]) -> list[UttErrors]:
    """The alignment of every recognition, in the order given."""
    return [UttErrors(r.id, r.speaker, r.duration, tuple(align(r.ref, r.hyp))) for r in recogs]


def format_pairs(pairs: Sequence[Pair]) -> str:
    """icefall's one-line form: correct words as they are, errors as (REF->HYP).

    >>> format_pairs([("THE", "THE"), ("CAT", "HAT"), ("SAT", "SAT"), ("*", "ON")])
    'THE (CAT->HAT) SAT (*->ON)'
    """
    return " ".join(r if r == h else f"({r}->{h})" for r, h in pairs)


def format_alignment(pairs: Sequence[Pair]) -> str:
    """Three aligned lines REF / HYP / error marks (S, D, I) with columns padded.

    A missing word shows as asterisks the width of the word it stands against:

        REF: THE CAT SAT **
        HYP: THE HAT SAT ON
                 S       I
    """
    ref, hyp, marks = [], [], []
    for r, h in pairs:
        width = max(len(r), len(h))
        ref.append((EPS * width if r == EPS else r).ljust(width))
        hyp.append((EPS * width if h == EPS else h).ljust(width))
        mark = "" if r == h else "I" if r == EPS else "D" if h == EPS else "S"
        marks.append(mark.ljust(width))
    return "\n".join(
        (prefix + " ".join(cols)).rstrip() for prefix, cols in
        (("REF: ", ref), ("HYP: ", hyp), ("     ", marks)))


@dataclass(frozen=True)
class GroupScore:
    """Word errors over a group of utterances (a speaker, a length bin)."""

    name: str
    utterances: int
    ref_words: int
    errors: int  # substitutions + deletions + insertions

    @property
    def wer(self) -> float:
        """errors / ref_words; inf when a group with no reference words has errors."""
        if self.ref_words:
            return self.errors / self.ref_words
        return float("inf") if self.errors else 0.0


def _group(name: str, utts: list[UttErrors]) -> GroupScore:
    return GroupScore(name, len(utts), sum(u.ref_words for u in utts), sum(u.errors for u in utts))


def speaker_wer(recogs_or_errors: list[Recog] | list[UttErrors]) -> list[GroupScore]:
    """WER per speaker, worst first (ties by speaker name)."""
    utts = _as_errors(recogs_or_errors)
    by_speaker: dict[str, list[UttErrors]] = {}
    for u in utts:
        by_speaker.setdefault(u.speaker, []).append(u)
    groups = [_group(s, us) for s, us in by_speaker.items()]
    return sorted(groups, key=lambda g: (-g.wer, g.name))


LENGTH_BINS = (0.0, 2.5, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0)
"""Utterance length bin edges in seconds; the last bin is open. LibriSpeech dev/test
utterances run from about 1 s to 35 s."""


def wer_by_length(recogs_or_errors: list[Recog] | list[UttErrors],
                  edges: Sequence[float] = LENGTH_BINS) -> list[GroupScore]:
    """WER per utterance-length bin, shortest first; empty bins are left out.

    A bin is named "lo-hi s" and holds durations lo <= d < hi ("lo+ s" for the last).
    """
    utts = _as_errors(recogs_or_errors)
    out = []
    for i, lo in enumerate(edges):
        hi = edges[i + 1] if i + 1 < len(edges) else float("inf")
        members = [u for u in utts if lo <= u.duration < hi]
        if members:
            name = f"{lo:g}-{hi:g} s" if hi != float("inf") else f"{lo:g}+ s"
            out.append(_group(name, members))
    return out


@dataclass(frozen=True)
class Confusions:
    """How often each word error happened, most frequent first (ties alphabetical)."""

    substitutions: list[tuple[Pair, int]]  # ((ref, hyp), count)
    deletions: list[tuple[str, int]]  # (ref word, count)
    insertions: list[tuple[str, int]]  # (hyp word, count)


def confusions(recogs_or_errors: list[Recog] | list[UttErrors]) -> Confusions:
    """Count substitution pairs, deleted words and inserted words over all utterances."""
    subs: Counter[Pair] = Counter()
    dels: Counter[str] = Counter()
    ins: Counter[str] = Counter()
    for u in _as_errors(recogs_or_errors):
        for r, h in u.pairs:
            if r == h:
                continue
            if r == EPS:
                ins[h] += 1
            elif h == EPS:
                dels[r] += 1
            else:
                subs[(r, h)] += 1

    def ranked(counter):
        return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))

    return Confusions(ranked(subs), ranked(dels), ranked(ins))


def _as_errors(items: list[Recog] | list[UttErrors]) -> list[UttErrors]:
    return [u if isinstance(u, UttErrors) else utterance_errors([u])[0] for u in items]


def error_stats_text(recogs: list[Recog], top: int = 30) -> str:
    """The errs.txt listing (icefall's layout plus an aligned REF/HYP block per utterance).

    Sections: summary; PER-UTT DETAILS (every utterance, errors as (REF->HYP));
    PER-UTT ALIGNMENT (utterances with errors only); PER-SPEAKER WER; SUBSTITUTIONS,
    DELETIONS, INSERTIONS (the `top` most frequent of each).
    """
    s = score(recogs)
    utts = utterance_errors(recogs)
    conf = confusions(utts)
    lines = [
        f"%WER = {100 * s.wer:.2f}",
        f"%CER = {100 * s.cer:.2f}",
        f"Errors: {s.insertions} insertions, {s.deletions} deletions, {s.substitutions} "
        f"substitutions, over {s.ref_words} reference words ({s.hits} correct) "
        f"in {s.utterances} utterances",
        "Search below for sections starting with PER-UTT DETAILS:, PER-UTT ALIGNMENT:, "
        "PER-SPEAKER WER:, SUBSTITUTIONS:, DELETIONS:, INSERTIONS:",
        "",
        "PER-UTT DETAILS: corr or (ref->hyp)",
    ]
    lines += [f"{u.id}:\t{format_pairs(u.pairs)}" for u in utts]
    lines += ["", "PER-UTT ALIGNMENT: utterances with errors (S substitution, D deletion, I insertion)"]
    for u in utts:
        if u.errors:
            lines += [f"{u.id}: {u.errors} error{'s' * (u.errors != 1)} over {u.ref_words} words",
                      format_alignment(u.pairs), ""]
    lines += ["", "PER-SPEAKER WER: speaker %WER errors ref_words utterances"]
    lines += [f"{g.name}\t{100 * g.wer:.2f}\t{g.errors}\t{g.ref_words}\t{g.utterances}"
              for g in speaker_wer(utts)]
    lines += ["", f"SUBSTITUTIONS: count ref -> hyp (top {top})"]
    lines += [f"{n}\t{r} -> {h}" for (r, h), n in conf.substitutions[:top]]
    lines += ["", f"DELETIONS: count ref (top {top})"]
    lines += [f"{n}\t{w}" for w, n in conf.deletions[:top]]
    lines += ["", f"INSERTIONS: count hyp (top {top})"]
    lines += [f"{n}\t{w}" for w, n in conf.insertions[:top]]
    return "\n".join(lines) + "\n"


def write_error_stats(path: str | os.PathLike, recogs: list[Recog], top: int = 30) -> Score:
    """Write the errs.txt listing for `recogs` to `path` atomically; return their Score."""
    write_text(path, error_stats_text(recogs, top=top))
    return score(recogs)


def wer_metric_path() -> Path:
    """The folder of asrkit's `evaluate` WER metric: `evaluate.load(str(wer_metric_path()))`.

    It works offline and with jiwer 4, unlike `evaluate.load("wer")`.
    """
    return Path(__file__).parent / "metrics" / "wer"
