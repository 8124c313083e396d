"""Gather what the earlier stages left in model folders into rows of a WER table.

Read from each model folder (every file optional; what is missing is reported, not fatal,
since stages run in any order and results arrive over time):

    <model_dir>/recipe.yaml        the fine-tuning recipe (asrkit.config), e.g.
                                   model: {name: facebook/wav2vec2-base, ...}
                                   data: {train_split: 10min, dev_split: dev-other, ...}
    <model_dir>/train-log.jsonl    asrkit.train's log, one JSON object a line:
                                   {"kind": "train", "update": 200, "loss": 2.91, "lr": 5e-05, ...}
                                   {"kind": "valid", "update": 1000, "split": "dev-other", "wer": 0.84, ...}
    <model_dir>/lm-tuning.json     asrkit.decode.tune's record per (LM, decoder):
                                   {"results": [{"lm": "4gram", "decoder": "flashlight", "split": "dev-other",
                                    "params": ["lm_weight", "word_score"], "best": {...}, "best_wer": 0.081,
                                    "trials": [{"lm_weight": 2.0, "word_score": -1.0, "wer": 0.093}, ...]}]}
    <model_dir>/decode/<split>/<setting>/   wer-summary.json, recogs.jsonl (asrkit.results)
    <model_dir>/logits/<split>/index.json   the manifest the split's log-probs came from

Each file is read as the stage that wrote it defines it (the recipe through asrkit.config,
the tuning file through asrkit.decode.tune, results through asrkit.results); a file in
another layout is a problem line, not a guess.

WERs in these files are fractions; the report shows percent.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from asrkit import paper, workspace
from asrkit.config import Recipe, load_recipe
from asrkit.results import read_tuning
from asrkit.errors import AsrkitError, InputNotFound
from asrkit.logits import cached_manifest
from asrkit.pretrain.info import Pretraining, read_pretraining
from asrkit.results import DecodeSummary, Recog, read_recogs, read_summary
from asrkit.score import Confusions, GroupScore, Score, confusions, score, speaker_wer, utterance_errors, wer_by_length

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
    skipped: int = 0  # utterances of the split left out of the WER (unreadable audio)

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
    synthetic: bool  # evaluated on a synthesised (TTS) corpus (see _synthetic)
    results: tuple[Result, ...]
    tuning: tuple[dict, ...]  # lm-tuning.json records: lm, decoder, split, params, trials, best, best_wer
    train_log: tuple[dict, ...]  # train-log.jsonl as {"step", and any of "loss", "lr", "dev_wer"}
    problems: tuple[str, ...] = ()  # files that could not be read, with the reason
    pretraining: Pretraining | None = None  # how the starting checkpoint was pre-trained (recipe's model.name)


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
    """Which LM a result used, in the paper's terms: "none", "4gram" (a word 4-gram),
    "transformer" (a Transformer LM rescoring a first pass), or the setting's own name for any
    other LM.

    Read from what decode recorded (wer-summary.json's decoder): its name and LM file, whose
    folder's info.json (asrkit.lm) gives the LM's order and unit.
    """
    if decoder.get("name") == "greedy" or not decoder.get("lm"):
        return "none"
    if decoder.get("name") == "rescore":  # N-best lists re-ranked by a causal Transformer LM (asrkit.rescore)
        return "transformer"
    info = _lm_info(Path(str(decoder["lm"])).parent / "info.json")
    if info.get("order") == 4 and info.get("unit", "word") == "word":
        return "4gram"
    return setting


def _lm_info(path: Path) -> dict:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # the LM moved or was removed since decoding: the setting names it
    return info if isinstance(info, dict) else {}


def load_model(model_dir: str | os.PathLike) -> ModelRun:
    """Read one model folder; missing files give empty fields, unreadable ones a problem line."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise InputNotFound(f"no model folder at {model_dir}")
    problems: list[str] = []
    recipe = _read_recipe(model_dir / "recipe.yaml", problems)
    split = recipe.data.train_split if recipe else None
    results = tuple(r for d in _result_dirs(model_dir) if (r := _read_result(d, problems)) is not None)
    return ModelRun(
        name=model_dir.resolve().name, path=str(model_dir),
        labelled=paper.labelled_split(split) or split, size=paper.model_size(recipe.model.name) if recipe else None,
        synthetic=_synthetic(model_dir, [split or ""] + [r.split for r in results]),
        results=results, tuning=tuple(_read_tuning(model_dir / "lm-tuning.json", problems)),
        train_log=tuple(_read_train_log(model_dir / "train-log.jsonl", problems)),
        problems=tuple(problems),
        pretraining=read_pretraining(recipe.model.name) if recipe else None,
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
    """A Result from wer-summary.json, scored from recogs.jsonl where the summary is missing
    or unreadable (a problem line says which)."""
    summary = _read_summary(folder, problems)
    recogs = _read_recogs(folder, problems)
    extras = {}
    if recogs:
        utts = utterance_errors(recogs)
        extras = dict(by_length=tuple(wer_by_length(utts)), speakers=tuple(speaker_wer(utts)),
                      confusions=confusions(utts))
    if summary is not None:
        return _result(folder, summary, summary, extras)
    if not recogs:
        problems.append(f"{folder}: neither a readable wer-summary.json nor recogs.jsonl; left out")
        return None
    try:
        return _result(folder, score(recogs), None, extras)
    except AsrkitError as e:
        problems.append(f"{folder / 'recogs.jsonl'}: {e}")
        return None


def _result(folder: Path, counts: DecodeSummary | Score, summary: DecodeSummary | None,
            extras: dict) -> Result:
    """A Result with the error counts of `counts` and what decode recorded in `summary`."""
    return Result(
        split=folder.parent.name, setting=folder.name, wer=float(counts.wer), cer=float(counts.cer),
        substitutions=counts.substitutions, deletions=counts.deletions, insertions=counts.insertions,
        ref_words=counts.ref_words, utterances=counts.utterances,
        rtf=None if summary is None or summary.rtf is None else float(summary.rtf),
        decoder=dict(summary.decoder) if summary else {}, command=summary.command if summary else "",
        commit=summary.commit if summary else "", path=str(folder), skipped=summary.skipped if summary else 0,
        **extras,
    )


def _read_summary(folder: Path, problems: list[str]) -> DecodeSummary | None:
    if not (folder / "wer-summary.json").is_file():
        return None
    try:
        return read_summary(folder)
    except AsrkitError as e:
        problems.append(f"{e}; scored from recogs.jsonl instead")
        return None


def _read_recogs(folder: Path, problems: list[str]) -> list[Recog]:
    if not (folder / "recogs.jsonl").is_file():
        return []
    try:
        return read_recogs(folder)
    except AsrkitError as e:
        problems.append(f"{folder / 'recogs.jsonl'}: unreadable ({e})")
        return []


def _read_recipe(path: Path, problems: list[str]) -> Recipe | None:
    """The fine-tuning recipe asrkit.train wrote, read as asrkit.config reads any recipe."""
    if not path.is_file():
        return None
    try:
        return load_recipe(path)
    except AsrkitError as e:
        problems.append(f"not an asrkit fine-tuning recipe: {e}")
        return None


def _read_tuning(path: Path, problems: list[str]) -> list[dict]:
    """lm-tuning.json as a list of records, each with the two tuned parameter names and
    only the trials that have numbers for them and a WER."""
    if not path.is_file():
        return []
    try:
        records = read_tuning(path.parent)
    except (AsrkitError, UnicodeDecodeError) as e:
        problems.append(str(e))
        return []
    out, skipped = [], 0
    for rec in records:
        if not (isinstance(rec, dict) and isinstance(rec.get("trials", []), list)
                and isinstance(rec.get("params"), list) and len(rec["params"]) == 2):
            skipped += 1
            continue
        params = rec["params"]
        trials = [t for t in rec.get("trials", [])
                  if isinstance(t, dict) and _is_number(t.get(params[0])) and _is_number(t.get("wer"))]
        skipped += len(rec.get("trials", [])) - len(trials)
        best = rec.get("best") if isinstance(rec.get("best"), dict) else {}
        best_wer = rec.get("best_wer")
        out.append({**rec, "params": params, "trials": trials, "best": best,
                    "best_wer": best_wer if _is_number(best_wer) else None})
    if skipped:
        problems.append(f"{path}: {skipped} record(s) or trial(s) without the tuned values and a WER skipped")
    return out


def _read_train_log(path: Path, problems: list[str]) -> list[dict]:
    """train-log.jsonl as {"step", "loss", "lr", "dev_wer"} rows (those present), from the
    "update" of each line and the "wer" of validation lines ("kind": "valid"), as asrkit.train
    writes them. A line still being written is skipped."""
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
        step = row.get("update") if isinstance(row, dict) else None
        if not _is_number(step):
            bad += 1
            continue
        dev_wer = row.get("wer") if row.get("kind") == "valid" else None
        out = {"step": step, "loss": row.get("loss"), "lr": row.get("lr"), "dev_wer": dev_wer}
        out = {k: v for k, v in out.items() if _is_number(v)}
        if len(out) > 1:  # a start line (the recipe) has nothing to plot
            rows.append(out)
    if bad:
        problems.append(f"{path}: {bad} line(s) without a JSON object with an update number skipped")
    return rows


def _synthetic(model_dir: Path, splits: list[str]) -> bool:
    """Whether the run's speech was synthesised by `asrkit synth`.

    Neither recipes nor results name the corpus, so look where the audio is: the manifest
    each split's log-probs came from (its logits cache records it), else the workspace
    manifest of that split, points at files under a corpus root, and a synth corpus root
    holds synth-report.json.
    """
    for split in filter(None, splits):
        for manifest in (cached_manifest(model_dir, split), workspace.manifests_dir() / f"{split}.jsonl"):
            if manifest is not None and _under_synth_corpus(manifest):
                return True
    return False


def _under_synth_corpus(manifest: Path) -> bool:
    try:
        with open(manifest, encoding="utf-8") as f:
            audio = Path(json.loads(f.readline())["audio"])
    except (ValueError, KeyError, TypeError, OSError):
        return False
    return any((parent / "synth-report.json").is_file() for parent in audio.parents)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)
