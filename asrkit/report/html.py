"""The report as one self-contained HTML page: inline CSS, plots as inline SVG, no scripts."""

from __future__ import annotations

import json
from html import escape

from asrkit.report import plots
from asrkit.report.collect import ModelRun, Result, Row
from asrkit.report.markdown import MISSING, SYNTHETIC_MARK, cell_text, notes, pct, rtf_text

_CSS = """
body { font: 14px/1.45 system-ui, "DejaVu Sans", sans-serif; margin: 24px auto; max-width: 1150px;
       padding: 0 16px; color: #1d232a; }
h1 { font-size: 24px; } h2 { font-size: 19px; margin-top: 32px; border-bottom: 1px solid #d5dae0; }
h3 { font-size: 16px; }
table { border-collapse: collapse; margin: 8px 0 12px; }
th, td { border: 1px solid #d5dae0; padding: 4px 9px; text-align: left; vertical-align: top; }
th { background: #eef1f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.num .paper { color: #6b7480; font-size: 12px; }
tbody tr:nth-child(even) { background: #f8f9fb; }
code { font: 12px ui-monospace, "DejaVu Sans Mono", monospace; background: #f1f3f6; padding: 1px 3px;
       word-break: break-all; }
.notes { color: #4a525c; font-size: 13px; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
figure { margin: 0; padding: 8px; border: 1px solid #e1e5ea; border-radius: 4px; background: #fff; }
figure svg { display: block; max-width: 100%; height: auto; }
figcaption { font-size: 12px; color: #4a525c; margin-top: 4px; }
figure.missing { color: #6b7480; font-style: italic; width: 260px; }
.problems { color: #a33; }
"""


def _num(text: str) -> str:
    """A numeric cell: the paper's bracketed figure, if any, set smaller."""
    if " (" in text:
        ours, theirs = text.split(" (", 1)
        return f'<td class="num">{escape(ours)} <span class="paper">({escape(theirs)}</span></td>'
    return f'<td class="num">{escape(text)}</td>'


def wer_table(rows: list[Row], columns: list[str]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in ["model", "labelled", "LM", *columns, "RTF"])
    body = []
    for row in rows:
        labelled = (row.labelled or MISSING) + (f" {SYNTHETIC_MARK}" if row.synthetic else "")
        cells = [f"<td>{escape(row.model)}</td>", f"<td>{escape(labelled)}</td>",
                 f"<td>{escape(row.setting)}</td>",
                 *(_num(cell_text(row, s)) for s in columns), _num(rtf_text(row.rtf))]
        body.append(f'<tr data-model="{escape(row.model)}" data-setting="{escape(row.setting)}">'
                    + "".join(cells) + "</tr>")
    return (f'<table id="wer-table"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def provenance_table(rows: list[Row]) -> str:
    head = "".join(f"<th>{h}</th>" for h in
                   ["row", "split", "WER", "CER", "S/D/I", "words", "utts", "RTF", "commit", "decoder", "command"])
    body = []
    for row in rows:
        for split, r in row.cells.items():
            decoder = json.dumps(r.decoder, sort_keys=True) if r.decoder else "{}"
            body.append(
                "<tr>" + f"<td>{escape(row.model)} / {escape(row.setting)}</td><td>{escape(split)}</td>"
                + _num(pct(r.wer)) + _num(pct(r.cer))
                + _num(f"{r.substitutions}/{r.deletions}/{r.insertions}")
                + _num(str(r.ref_words)) + _num(str(r.utterances)) + _num(rtf_text(r.rtf))
                + f"<td><code>{escape(r.commit or 'not recorded')}</code></td>"
                + f"<td><code>{escape(decoder)}</code></td>"
                + f"<td><code>{escape(r.command or 'not recorded')}</code></td></tr>")
    return f'<table id="provenance"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _figure(kind: str, svg: str | None, caption: str, missing: str) -> str:
    if svg is None:
        return f'<figure class="missing" data-plot="{kind}">{escape(missing)}</figure>'
    return f'<figure data-plot="{kind}">{svg}<figcaption>{escape(caption)}</figcaption></figure>'


def _errors_details(results: tuple[Result, ...], top: int = 10) -> str:
    parts = []
    for r in results:
        if not r.speakers and not r.confusions:
            continue
        speakers = "".join(
            f"<tr><td>{escape(g.name)}</td>{_num(pct(g.wer))}{_num(str(g.errors))}{_num(str(g.ref_words))}</tr>"
            for g in r.speakers)
        c = r.confusions
        confused = "".join(f"<tr><td>{escape(a)} → {escape(b)}</td>{_num(str(n))}</tr>"
                           for (a, b), n in (c.substitutions[:top] if c else []))
        dels = ", ".join(f"{escape(w)} ({n})" for w, n in (c.deletions[:top] if c else []))
        ins = ", ".join(f"{escape(w)} ({n})" for w, n in (c.insertions[:top] if c else []))
        parts.append(
            f"<h4>{escape(r.split)} / {escape(r.setting)}</h4>"
            "<table><thead><tr><th>speaker</th><th>WER</th><th>errors</th><th>words</th></tr></thead>"
            f"<tbody>{speakers}</tbody></table>"
            "<table><thead><tr><th>substitution</th><th>count</th></tr></thead>"
            f"<tbody>{confused}</tbody></table>"
            f"<p>Deleted: {dels or MISSING}</p><p>Inserted: {ins or MISSING}</p>")
    if not parts:
        return ""
    return ("<details><summary>Per-speaker WER and most frequent errors</summary>"
            + "".join(parts) + "</details>")


def model_section(m: ModelRun) -> str:
    figures = [
        _figure("lm-tuning", plots.lm_tuning(m.tuning, m.name),
                "Each dot is one decode of the tuning split; colour is the second tuned setting.",
                "No LM tuning results (lm-tuning.json not found)."),
        _figure("wer-by-length", plots.wer_by_length(m.results, m.name),
                "Utterances binned by duration; WER over each bin's words.",
                "No recognitions (recogs.jsonl) to bin by length."),
        _figure("training", plots.training_curves(m.train_log, m.name),
                "From train-log.jsonl.", "No training log (train-log.jsonl not found)."),
    ]
    if m.pretraining is not None and m.pretraining.log:
        figures.append(_figure("pretraining", plots.pretraining_curves(m.pretraining.log, m.name),
                               "Self-supervised pre-training of the starting checkpoint (its train-log.jsonl).",
                               "No pre-training log."))
    facts = (f"labelled split {escape(m.labelled or MISSING)}, model size {escape(m.size or MISSING)}, "
             f"pre-training {escape(m.pretraining.describe() if m.pretraining else MISSING)}, "
             f"folder <code>{escape(m.path)}</code>")
    problems = "".join(f"<li>{escape(p)}</li>" for p in m.problems)
    return (f'<section class="model" id="model-{escape(m.name)}"><h3>{escape(m.name)}</h3><p>{facts}</p>'
            f'<div class="plots">{"".join(figures)}</div>{_errors_details(m.results)}'
            + (f'<ul class="problems">{problems}</ul>' if problems else "") + "</section>")


def render(models: list[ModelRun], rows: list[Row], columns: list[str]) -> str:
    note_items = "".join(f"<li>{escape(n)}</li>" for n in notes(rows))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>asrkit WER report</title><style>{_CSS}</style></head><body>"
        "<h1>WER report</h1>"
        f"{wer_table(rows, columns)}<ul class=\"notes\">{note_items}</ul>"
        "<h2>How each row was produced</h2>"
        f"{provenance_table(rows)}"
        "<h2>Models</h2>"
        + "".join(model_section(m) for m in models)
        + "</body></html>\n"
    )
