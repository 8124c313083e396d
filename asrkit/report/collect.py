"""Gather what the earlier stages left in model folders into rows of a WER table.

Read from each model folder (every file optional; what is missing is reported, not fatal,
since stages run in any order and results arrive over time):

    <model_dir>/recipe.yaml                  split: 10min, size: base, ... (fine-tuning recipe)
    <model_dir>/train-log.jsonl              {"step": 100, "loss": 2.91, "lr": 5e-05}
                                             {"step": 500, "dev_wer": 0.84}
    <model_dir>/lm-tuning.json               {"trials": [{"lm_weight": 2.0, "word_score": -1.0, "wer": 0.12}, ...],
                                              "best": {"lm_weight": 2.0, "word_score": -1.0, "wer": 0.12}}
    <model_dir>/decode/<split>/<setting>/    wer-summary.json, recogs.jsonl (asrkit.results)

WERs in these files are fractions; the report shows percent.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from asrkit import paper
from asrkit.results import DecodeSummary, Recog
from asrkit.score import Confusions, GroupScore, confusions, score, speaker_wer, utterance_errors, wer_by_length

_SUMMARY_FIELDS = {f.name for f in dataclasses.fields(DecodeSummary)}


@dataclass(frozen=True)
class Result:
    """One decode result: a split decoded with one setting."""

    split: str  # dev-clean, test-other, ... (the folder name)
    setting: str  # greedy, 4gram, ... (the folder name)
    wer: float  # fraction
    cer: float | None
    substitutions: int
    deletions: int
    insertions: int
    ref_words: int
    utterances: int
    rtf: float | None  # decoding seconds per audio second
    decoder: dict  # decoder name and settings
    command: str  # the command that produced it ("" if not recorded)
    commit: str  # asrkit commit ("" if not recorded)
    path: str  # the result folder
    by_length: tuple[GroupScore, ...] = ()  # from recogs.jsonl; empty if it is missing
    speakers: tuple[GroupScore, ...] = ()
    confusions: Confusions | None = None

    @property
    def lm(self) -> str:
        return lm_kind(self.setting, self.decoder)


@dataclass(frozen=True)
class ModelRun:
    """Everything found in one model folder."""

    name: str  # the folder name
    path: str
    labelled: str | None  # labelled split: canonical ("10min") when it is a Libri-light one
    size: str | None  # "base" | "large" | None
    synthetic: bool  # the recipe points at a synthesised (TTS) corpus
    results: tuple[Result, ...]
    tuning: dict | None  # lm-tuning.json
    train_log: tuple[dict, ...]  # train-log.jsonl rows
    problems: tuple[str, ...] = ()  # files that could not be read, with the reason


@dataclass(frozen=True)
class Row:
    """One table row: a model decoded with one setting, across splits."""

    model: str
    labelled: str | None
    size: str | None
    setting: str
    lm: str  # "none", "4gram", "transformer" or the setting name for other LMs
    cells: dict[str, Result]  # split -> result
    paper: dict[str, float] | None  # Table 9 WER % for the same labelled split, size and LM
    synthetic: bool = False

    @property
    def rtf(self) -> float | None:
        """Mean real-time factor over the splits that recorded one."""
        values = [c.rtf for c in self.cells.values() if c.rtf is not None]
        return sum(values) / len(values) if values else None


def lm_kind(setting: str, decoder: dict) -> str:
    """Which LM a result used, in the paper's terms: "none", "4gram", "transformer", or other.

    Decided from the setting name and the decoder's settings ("lm", "lm_path", ...), since
    settings are named by whoever decoded ("greedy", "4gram", "beam1500-4gram").
    """
    lm_values = [str(v) for k, v in decoder.items() if "lm" in k.lower() and isinstance(v, str) and v]
    text = " ".join([setting, *lm_values]).lower()
    if re.search(r"4[-_ ]?gram", text):
        return "4gram"
    if "transformer" in text:
        return "transformer"
    if not lm_values and (setting.lower() in ("greedy", "nolm", "no-lm", "viterbi")
                          or str(decoder.get("name", "")).lower() == "greedy"
                          or "lm" not in setting.lower()):
        return "none"
    return setting


def load_model(model_dir: str | os.PathLike) -> ModelRun:
    """Read one model folder; missing files give empty fields, unreadable ones a problem line."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise FileNotFoundError(f"no model folder at {model_dir}")
    problems: list[str] = []
    recipe = _read_recipe(model_dir / "recipe.yaml", problems)
    labelled_raw = _find_key(recipe, ("split", "labelled_split", "labeled_split", "train_split", "subset"))
    size_raw = _find_key(recipe, ("size", "model_size"))
    size = paper.model_size(size_raw) or paper.model_size(
        _find_key(recipe, ("model", "pretrained", "checkpoint", "base_model", "model_name")))
    results = tuple(r for d in _result_dirs(model_dir) if (r := _read_result(d, problems)) is not None)
    return ModelRun(
        name=model_dir.resolve().name, path=str(model_dir),
        labelled=paper.labelled_split(labelled_raw) or (str(labelled_raw) if labelled_raw else None),
        size=size, synthetic=_mentions(recipe, "synth"),
        results=results, tuning=_read_tuning(model_dir / "lm-tuning.json", problems),
        train_log=tuple(_read_train_log(model_dir / "train-log.jsonl", problems)),
        problems=tuple(problems),
    )


def columns(models: list[ModelRun]) -> list[str]:
    """The evaluation splits present: LibriSpeech's four in the paper's order, then others."""
    present = {r.split for m in models for r in m.results}
    return [s for s in paper.SPLITS if s in present] + sorted(present - set(paper.SPLITS))


def rows(models: list[ModelRun]) -> list[Row]:
    """One row per (model, setting), models in the order given, no-LM settings first."""
    out = []
    for m in models:
        by_setting: dict[str, dict[str, Result]] = {}
        for r in m.results:
            by_setting.setdefault(r.setting, {})[r.split] = r
        for setting in sorted(by_setting, key=lambda s: (_lm_order(by_setting[s]), s)):
            cells = by_setting[setting]
            lm = next(iter(cells.values())).lm
            follows_librispeech = any(split in paper.SPLITS for split in cells)
            out.append(Row(
                model=m.name, labelled=m.labelled, size=m.size, setting=setting, lm=lm,
                cells=dict(sorted(cells.items(), key=lambda kv: _split_order(kv[0]))),
                paper=paper.paper_wer(m.labelled, m.size, lm) if follows_librispeech else None,
                synthetic=m.synthetic,
            ))
    return out


def _lm_order(cells: dict[str, Result]) -> int:
    lm = next(iter(cells.values())).lm
    return paper.LMS.index(lm) if lm in paper.LMS else len(paper.LMS)


def _split_order(split: str) -> tuple[int, str]:
    return (paper.SPLITS.index(split) if split in paper.SPLITS else len(paper.SPLITS), split)


def _result_dirs(model_dir: Path) -> list[Path]:
    """decode/<split>/<setting> folders holding a summary or recognitions."""
    found = {p.parent for name in ("wer-summary.json", "recogs.jsonl")
             for p in model_dir.glob(f"decode/*/*/{name}")}
    return sorted(found)


def _read_result(folder: Path, problems: list[str]) -> Result | None:
    """A Result from wer-summary.json, scored from recogs.jsonl where the summary is missing."""
    split, setting = folder.parent.name, folder.name
    summary: dict = {}
    summary_path = folder / "wer-summary.json"
    if summary_path.is_file():
        try:
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
            if not isinstance(summary, dict):
                raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError) as e:
            problems.append(f"{summary_path}: unreadable ({e}); scored from recogs.jsonl instead")
            summary = {}
    summary = {k: v for k, v in summary.items() if k in _SUMMARY_FIELDS}

    recogs = _read_recogs(folder / "recogs.jsonl", problems)
    extras = {}
    if recogs:
        utts = utterance_errors(recogs)
        extras = dict(by_length=tuple(wer_by_length(utts)), speakers=tuple(speaker_wer(utts)),
                      confusions=confusions(utts))
        if "wer" not in summary:
            try:
                s = score(recogs)
            except ValueError as e:
                problems.append(f"{folder / 'recogs.jsonl'}: {e}")
                return None
            summary = {**dataclasses.asdict(s), **summary}
    if "wer" not in summary:
        problems.append(f"{folder}: neither a readable wer-summary.json nor recogs.jsonl; left out")
        return None
    return Result(
        split=split, setting=setting, wer=float(summary["wer"]),
        cer=_float_or_none(summary.get("cer")),
        substitutions=int(summary.get("substitutions", 0)), deletions=int(summary.get("deletions", 0)),
        insertions=int(summary.get("insertions", 0)), ref_words=int(summary.get("ref_words", 0)),
        utterances=int(summary.get("utterances", 0)), rtf=_float_or_none(summary.get("rtf")),
        decoder=dict(summary.get("decoder") or {}), command=str(summary.get("command") or ""),
        commit=str(summary.get("commit") or ""), path=str(folder), **extras,
    )


def _read_recogs(path: Path, problems: list[str]) -> list[Recog]:
    if not path.is_file():
        return []
    from asrkit.io import read_jsonl

    try:
        rows = read_jsonl(path)
        return [Recog(id=str(r["id"]), speaker=str(r.get("speaker", "")), duration=float(r.get("duration", 0.0)),
                      ref=str(r.get("ref", "")), hyp=str(r.get("hyp", ""))) for r in rows]
    except (ValueError, KeyError, TypeError) as e:
        problems.append(f"{path}: unreadable ({e})")
        return []


def _read_recipe(path: Path, problems: list[str]) -> dict:
    if not path.is_file():
        return {}
    try:
        recipe = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        problems.append(f"{path}: not valid YAML ({e})")
        return {}
    return recipe if isinstance(recipe, dict) else {}


def _read_tuning(path: Path, problems: list[str]) -> dict | None:
    if not path.is_file():
        return None
    try:
        tuning = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        problems.append(f"{path}: not valid JSON ({e})")
        return None
    if not isinstance(tuning, dict) or not isinstance(tuning.get("trials", []), list):
        problems.append(f"{path}: expected an object with a list of trials")
        return None
    trials = [t for t in tuning.get("trials", [])
              if isinstance(t, dict) and all(_is_number(t.get(k)) for k in ("lm_weight", "wer"))]
    skipped = len(tuning.get("trials", [])) - len(trials)
    if skipped:
        problems.append(f"{path}: {skipped} trial(s) without numeric lm_weight and wer skipped")
    return {**tuning, "trials": trials}


def _read_train_log(path: Path, problems: list[str]) -> list[dict]:
    """train-log.jsonl rows that have a step; a line still being written is skipped."""
    if not path.is_file():
        return []
    rows, bad = [], 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(row, dict) and _is_number(row.get("step")):
            rows.append(row)
        else:
            bad += 1
    if bad:
        problems.append(f"{path}: {bad} line(s) without a JSON object with a step skipped")
    return rows


def _find_key(tree, keys: tuple[str, ...]):
    """The first value under any of `keys`, at the top of the recipe or one level down."""
    if not isinstance(tree, dict):
        return None
    for k in keys:
        if k in tree and not isinstance(tree[k], (dict, list)):
            return tree[k]
    for v in tree.values():
        if isinstance(v, dict):
            for k in keys:
                if k in v and not isinstance(v[k], (dict, list)):
                    return v[k]
    return None


def _mentions(tree, word: str) -> bool:
    if isinstance(tree, dict):
        return any(_mentions(v, word) for v in tree.values())
    if isinstance(tree, list):
        return any(_mentions(v, word) for v in tree)
    return isinstance(tree, str) and word in tree.lower()


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _float_or_none(x) -> float | None:
    return float(x) if _is_number(x) else None
