"""The decode results layout: written by asrkit.decode, read by asrkit.score and asrkit.report.

Results are keyed by split and setting ("greedy", "4gram", ...) and written to files of
fixed names, as icefall does:

    <model_dir>/decode/<split>/<setting>/
        recogs.jsonl       one line per utterance:
                           {"id": "1089-134686-0000", "speaker": "1089", "duration": 10.4,
                            "ref": "HE HOPED THERE", "hyp": "HE HOPED THE"}
        errs.txt           aligned error listing per utterance and the most frequent confusions
        wer-summary.json   DecodeSummary below, as JSON

The WER figures in the summary are computed by asrkit.score from recogs.jsonl.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from asrkit.errors import DataError
from asrkit.io import read_jsonl, write_json, write_jsonl


@dataclass(frozen=True)
class Recog:
    id: str
    speaker: str
    duration: float  # seconds of audio
    ref: str  # normalised reference transcript
    hyp: str  # normalised hypothesis


@dataclass
class DecodeSummary:
    model: str  # model folder or hub id
    split: str  # manifest name: dev-clean, test-other, ...
    setting: str  # "greedy", "4gram", ... (the key of this result)
    wer: float  # fraction, not percent
    cer: float
    substitutions: int
    deletions: int
    insertions: int
    ref_words: int
    utterances: int
    rtf: float | None = None  # decoding seconds per audio second (acoustic model excluded)
    decoder: dict = field(default_factory=dict)  # decoder name and its settings (beam, lm_weight, ...)
    command: str = ""  # the asrkit command line that produced this result
    commit: str = ""  # git commit of asrkit, when known


def result_dir(model_dir: str | os.PathLike, split: str, setting: str) -> Path:
    from asrkit.workspace import check_name

    return Path(model_dir) / "decode" / check_name(split, "split") / check_name(setting, "setting")


def write_recogs(out_dir: str | os.PathLike, recogs: list[Recog]) -> None:
    write_jsonl(Path(out_dir) / "recogs.jsonl", (dataclasses.asdict(r) for r in recogs))


def read_recogs(out_dir: str | os.PathLike) -> list[Recog]:
    """The recogs.jsonl of a result folder. A row needs an id; speaker, duration, ref and hyp
    default to empty. DataError names the file for a row that is not such an object."""
    path = Path(out_dir) / "recogs.jsonl"
    try:
        return [Recog(id=str(r["id"]), speaker=str(r.get("speaker", "")), duration=float(r.get("duration", 0.0)),
                      ref=str(r.get("ref", "")), hyp=str(r.get("hyp", ""))) for r in read_jsonl(path)]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise DataError(f"{path}: not a recogs file: a row lacks an id or has a bad value ({e!r})") from None


def write_summary(out_dir: str | os.PathLike, summary: DecodeSummary) -> None:
    write_json(Path(out_dir) / "wer-summary.json", dataclasses.asdict(summary))


def read_summary(out_dir: str | os.PathLike) -> DecodeSummary:
    """The wer-summary.json of a result folder, as write_summary writes it. DataError names the
    file when it is not JSON or not such a summary (a field missing, unknown, or of the wrong
    type, a rate that is not a finite number, a count that is not a whole number >= 0)."""
    path = Path(out_dir) / "wer-summary.json"
    try:
        fields = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(fields, dict):
        raise DataError(f"{path}: not a decode summary (a JSON object)")
    try:
        summary = DecodeSummary(**fields)
    except TypeError as e:  # a required field missing or an unknown one
        raise DataError(f"{path}: not a decode summary ({e})") from None
    bad = _bad_summary_fields(summary)
    if bad:
        raise DataError(f"{path}: not a decode summary: bad value for {', '.join(bad)}")
    return summary


_RATES = ("wer", "cer")
_COUNTS = ("substitutions", "deletions", "insertions", "ref_words", "utterances")
_TEXTS = ("model", "split", "setting", "command", "commit")


def _bad_summary_fields(s: DecodeSummary) -> list[str]:
    """Names of the fields whose values DecodeSummary's types do not allow."""
    bad = [n for n in _RATES if not _is_finite(getattr(s, n))]
    bad += [n for n in _COUNTS if not (_is_int(getattr(s, n)) and getattr(s, n) >= 0)]
    bad += [n for n in _TEXTS if not isinstance(getattr(s, n), str)]
    if s.rtf is not None and not _is_finite(s.rtf):
        bad.append("rtf")
    if not isinstance(s.decoder, dict):
        bad.append("decoder")
    return bad


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_finite(x) -> bool:
    return (_is_int(x) or isinstance(x, float)) and math.isfinite(x)


