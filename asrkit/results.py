"""The decode results layout: written by asrkit.decode, read by asrkit.score and asrkit.report.

Results are keyed by split and setting ("greedy", "4gram", ...) and written to files of
fixed names, as icefall does:

    <model_dir>/decode/<split>/<setting>/
        recogs.jsonl       one line per utterance, the best hypothesis with its timed words:
                           {"id": "1089-134686-0000", "speaker": "1089", "duration": 10.4,
                            "ref": "HE HOPED THERE", "hyp": "HE HOPED THE",
                            "words": [{"word": "HE", "start": 0.42, "end": 0.56,
                                       "confidence": 0.97}, ...]}
                           (folders written before words existed have no "words": they read
                           as an empty tuple)
        nbest.jsonl        one line per utterance, every hypothesis (asrkit.hypotheses rows):
                           {"id": "1089-134686-0000", "ref": "HE HOPED THERE",
                            "hyps": [{"text": ..., "words": [...], "scores": {...}}, ...]}
        nbest-info.json    what made the lists, so that a reader (an LM rescorer tuning its
                           weight on cached lists) can refuse lists of another model or LM:
                           {"logits_fingerprint": ..., "model": ..., "split": ...,
                            "decoder": {"name": "flashlight", "lm_weight": 2.0, ...},
                            "lm": {"name": "4gram", "path": ..., "sha256": ...} or null,
                            "lm_weight_ln": 0.87, "nbest": 10, "utterances": 2620}
        errs.txt           aligned error listing per utterance and the most frequent confusions
        wer-summary.json   DecodeSummary below, as JSON

The WER figures in the summary are computed by asrkit.score from recogs.jsonl.

<model_dir>/lm-tuning.json holds the weights `asrkit tune-lm` found, one record per (lm,
decoder); asrkit.decode.tune documents it, read_tuning/save_tuning below read and write it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from asrkit.errors import DataError, DecodeError
from asrkit.hypotheses import Hypothesis, NBest, Word, hypothesis_from_row
from asrkit.io import read_jsonl, write_json, write_jsonl


@dataclass(frozen=True)
class Recog:
    id: str
    speaker: str
    duration: float  # seconds of audio
    ref: str  # normalised reference transcript
    hyp: str  # normalised hypothesis
    words: tuple[Word, ...] = ()  # the hypothesis' words with times and confidences; () when unknown

    def row(self) -> dict:
        return {"id": self.id, "speaker": self.speaker, "duration": self.duration, "ref": self.ref,
                "hyp": self.hyp, "words": [w.row() for w in self.words]}


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
    skipped: int = 0  # manifest utterances not decoded (unreadable audio: the logits cache's index lists them)


def skipped_text(summary: DecodeSummary) -> str:
    """" (+2 skipped: unreadable audio)" after an utterance count, "" when none was skipped."""
    return f" (+{summary.skipped} skipped: unreadable audio)" if summary.skipped else ""


def result_dir(model_dir: str | os.PathLike, split: str, setting: str) -> Path:
    from asrkit.workspace import check_name

    return Path(model_dir) / "decode" / check_name(split, "split") / check_name(setting, "setting")


def write_recogs(out_dir: str | os.PathLike, recogs: list[Recog]) -> None:
    write_jsonl(Path(out_dir) / "recogs.jsonl", (r.row() for r in recogs))


def read_recogs(out_dir: str | os.PathLike) -> list[Recog]:
    """The recogs.jsonl of a result folder. A row needs an id; speaker, duration, ref, hyp and
    words default to empty. DataError names the file for a row that is not such an object."""
    path = Path(out_dir) / "recogs.jsonl"
    try:
        return [Recog(id=str(r["id"]), speaker=str(r.get("speaker", "")), duration=float(r.get("duration", 0.0)),
                      ref=str(r.get("ref", "")), hyp=str(r.get("hyp", "")),
                      words=hypothesis_from_row({"text": "", "words": r.get("words") or []}, str(path)).words)
                for r in read_jsonl(path)]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise DataError(f"{path}: not a recogs file: a row lacks an id or has a bad value ({e!r})") from None


NBEST_FILE = "nbest.jsonl"
NBEST_INFO = "nbest-info.json"


def write_nbest(out_dir: str | os.PathLike, rows: list[tuple[str, str, NBest]], meta: dict) -> None:
    """nbest.jsonl (one line per utterance: id, ref, its hypotheses best first) and
    nbest-info.json (`meta`: what made the lists, see the module doc)."""
    out = Path(out_dir)
    write_jsonl(out / NBEST_FILE, ({"id": i, "ref": ref, "hyps": [h.row() for h in hyps]} for i, ref, hyps in rows))
    write_json(out / NBEST_INFO, meta)


def read_nbest(out_dir: str | os.PathLike) -> tuple[dict, list[tuple[str, str, NBest]]]:
    """(meta, [(id, ref, hypotheses best first), ...]) of a result folder's N-best lists.

    DataError names the file when either is missing, a row is not {"id", "ref", "hyps"}, a
    list is empty, a hypothesis is malformed, or a list is not sorted best first.
    """
    out = Path(out_dir)
    path, info = out / NBEST_FILE, out / NBEST_INFO
    for p in (path, info):
        if not p.is_file():
            raise DataError(f"{p}: no such file; N-best lists are written by `asrkit decode --nbest N`")
    meta = _json_object(info, "an N-best description")
    rows = []
    for n, r in enumerate(read_jsonl(path), 1):
        where = f"{path}:{n}"
        if not isinstance(r, dict) or not isinstance(r.get("hyps"), list) or "id" not in r:
            raise DataError(f"{where}: not an N-best row (expected {{\"id\", \"ref\", \"hyps\": [...]}})")
        hyps = tuple(_hypothesis(h, where) for h in r["hyps"])
        if not hyps:
            raise DataError(f"{where}: an empty N-best list (a decoder gives at least one hypothesis)")
        totals = [h.scores.total for h in hyps]
        if any(a < b for a, b in zip(totals, totals[1:])):
            raise DataError(f"{where}: hypotheses are not sorted best first by their total score")
        rows.append((str(r["id"]), str(r.get("ref", "")), hyps))
    return meta, rows


def check_nbest_source(out_dir: str | os.PathLike, meta: dict, logits_fingerprint: str | None = None,
                       lm_sha256: str | None = None) -> None:
    """Refuse N-best lists made from other log-probs or another LM than the ones given (None:
    not checked): DataError naming nbest-info.json and what differs. A rescorer tuning a second
    LM's weight on cached lists must not mix lists of a retrained model or a rebuilt LM."""
    info = Path(out_dir) / NBEST_INFO
    if logits_fingerprint is not None and meta.get("logits_fingerprint") != logits_fingerprint:
        raise DataError(f"{info}: these N-best lists come from log-probs {meta.get('logits_fingerprint')!r}, not "
                        f"{logits_fingerprint!r} (the model or the split changed): decode again with --nbest")
    lm = meta.get("lm") or {}
    if lm_sha256 is not None and lm.get("sha256") != lm_sha256:
        raise DataError(f"{info}: these N-best lists were made with the LM {lm.get('path')!r} "
                        f"(sha256 {str(lm.get('sha256'))[:12]}...), not the one given: decode again with --nbest")


def _json_object(path: Path, what: str) -> dict:
    """The JSON object in `path`; DataError naming the file when it is not JSON or not an object."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: not {what} (a JSON object)")
    return obj


def _hypothesis(row, where: str) -> Hypothesis:
    if not isinstance(row, dict):
        raise DataError(f"{where}: a hypothesis is not a JSON object")
    h = hypothesis_from_row(row, where)
    bad = [x for w in h.words for x in (w.start, w.end, w.confidence) if not math.isfinite(x)]
    bad += [x for x in (h.scores.acoustic, h.scores.lm, h.scores.word, h.scores.total) if not math.isfinite(x)]
    if bad:
        raise DataError(f"{where}: a hypothesis holds a number that is not finite ({bad[0]})")
    return h


def write_summary(out_dir: str | os.PathLike, summary: DecodeSummary) -> None:
    write_json(Path(out_dir) / "wer-summary.json", dataclasses.asdict(summary))


def read_summary(out_dir: str | os.PathLike) -> DecodeSummary:
    """The wer-summary.json of a result folder, as write_summary writes it. DataError names the
    file when it is not JSON or not such a summary (a field missing, unknown, or of the wrong
    type, a rate that is not a finite number, a count that is not a whole number >= 0)."""
    path = Path(out_dir) / "wer-summary.json"
    fields = _json_object(path, "a decode summary")
    try:
        summary = DecodeSummary(**fields)
    except TypeError as e:  # a required field missing or an unknown one
        raise DataError(f"{path}: not a decode summary ({e})") from None
    bad = _bad_summary_fields(summary)
    if bad:
        raise DataError(f"{path}: not a decode summary: bad value for {', '.join(bad)}")
    return summary


_RATES = ("wer", "cer")
_COUNTS = ("substitutions", "deletions", "insertions", "ref_words", "utterances", "skipped")
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




# --------------------------------------------------------------------------- LM tuning record


TUNING_FILE = "lm-tuning.json"


def tuning_path(model_dir: str | os.PathLike) -> Path:
    return Path(model_dir) / TUNING_FILE


def read_tuning(model_dir: str | os.PathLike) -> list[dict]:
    """The records of <model_dir>/lm-tuning.json ([] when there is none)."""
    path = tuning_path(model_dir)
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DecodeError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise DecodeError(f"{path}: not an asrkit LM tuning file (expected {{\"results\": [...]}})")
    return data["results"]


def save_tuning(model_dir: str | os.PathLike, record: dict) -> Path:
    """Add `record` (a tuning result as a dict) to <model_dir>/lm-tuning.json, replacing any for
    the same LM and decoder."""
    key = (record.get("lm"), record.get("decoder"))
    rows = [r for r in read_tuning(model_dir) if (r.get("lm"), r.get("decoder")) != key]
    rows.append(record)
    path = tuning_path(model_dir)
    write_json(path, {"results": rows})
    return path


def tuned_params(model_dir: str | os.PathLike, lm_name: str, decoder: str) -> dict | None:
    """The best settings saved for this LM and decoder, or None."""
    for r in read_tuning(model_dir):
        if r.get("lm") == lm_name and r.get("decoder") == decoder:
            return dict(r["best"])
    return None
