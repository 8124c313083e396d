"""The report as JSON (report.json): the rows of the Markdown table with every figure and
its provenance, WER and CER in percent as in the table."""

from __future__ import annotations

from asrkit import paper
from asrkit.report.collect import ModelRun, Result, Row


def result_dict(r: Result) -> dict:
    """A result as JSON: WER figures in percent like the tables, plus its provenance."""
    return {
        "wer": round(100 * r.wer, 4), "cer": None if r.cer is None else round(100 * r.cer, 4),
        "substitutions": r.substitutions, "deletions": r.deletions, "insertions": r.insertions,
        "ref_words": r.ref_words, "utterances": r.utterances, "skipped": r.skipped, "rtf": r.rtf,
        "decoder": r.decoder, "command": r.command, "commit": r.commit, "path": r.path,
    }


def to_json(models: list[ModelRun], rows: list[Row], columns: list[str]) -> dict:
    """The report's content as a JSON-able dict (WER in percent, as in the table)."""
    return {
        "units": "WER and CER in percent",
        "columns": columns,
        "paper": paper.CITATION,
        "rows": [{
            "model": r.model, "labelled": r.labelled, "size": r.size, "setting": r.setting, "lm": r.lm,
            "synthetic": r.synthetic, "rtf": r.rtf,
            "results": {split: result_dict(c) for split, c in r.cells.items()},
            "paper": r.paper,
        } for r in rows],
        "models": [{"name": m.name, "path": m.path, "labelled": m.labelled, "size": m.size,
                    "synthetic": m.synthetic, "lm_tuning": list(m.tuning), "problems": list(m.problems),
                    "pretraining": None if m.pretraining is None else {
                        "kind": m.pretraining.kind, "source": m.pretraining.source,
                        "description": m.pretraining.describe(), "updates": m.pretraining.updates,
                        "audio_hours_seen": m.pretraining.audio_hours_seen,
                        "dev_accuracy": m.pretraining.dev_accuracy}}
                   for m in models],
    }
