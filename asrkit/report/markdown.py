"""The WER table as Markdown, with the command, commit, decode settings and RTF of each row.

    | model | labelled | LM | dev-clean | dev-other | RTF |
    |---|---|---|---:|---:|---:|
    | base-10min | 10min | greedy | 48.20 (46.1) | 53.02 (51.5) | 0.0021 |
"""

from __future__ import annotations

import json

from asrkit import paper
from asrkit.report.collect import ModelRun, Row

MISSING = "-"
SYNTHETIC_MARK = "†"
SKIPPED_MARK = "‡"  # a WER over part of the split: some utterances' audio could not be read


def pct(fraction: float | None, digits: int = 2) -> str:
    """A WER fraction as percent text; MISSING for None."""
    return MISSING if fraction is None else f"{100 * fraction:.{digits}f}"


def rtf_text(rtf: float | None) -> str:
    return MISSING if rtf is None else f"{rtf:.2g}"


def cell_text(row: Row, split: str) -> str:
    """Our WER %, then the paper's in brackets when the row has a Table 9 counterpart."""
    result = row.cells.get(split)
    ours = pct(result.wer) if result else MISSING
    if result and result.skipped:
        ours += f" {SKIPPED_MARK}"
    theirs = (row.paper or {}).get(split)
    return ours if theirs is None else f"{ours} ({theirs:.1f})"


def row_label(row: Row) -> str:
    return " / ".join([row.model, row.labelled or MISSING, row.setting])


def table(rows: list[Row], columns: list[str]) -> str:
    """The Markdown WER table alone (what `asrkit report` prints)."""
    lines = [
        "| " + " | ".join(["model", "labelled", "LM", *columns, "RTF"]) + " |",
        "|" + "---|" * 3 + "---:|" * (len(columns) + 1),
    ]
    for row in rows:
        labelled = (row.labelled or MISSING) + (f" {SYNTHETIC_MARK}" if row.synthetic else "")
        cells = [row.model, labelled, row.setting, *(cell_text(row, s) for s in columns), rtf_text(row.rtf)]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def notes(rows: list[Row]) -> list[str]:
    out = ["WER in %, corpus level (errors over reference words), both sides normalised."]
    if any(r.paper for r in rows):
        out.append(f"In brackets: {paper.CITATION}, for the same labelled split, model size and LM "
                   "(their 4-gram is the official LibriSpeech LM).")
    if any(r.synthetic for r in rows):
        out.append(f"{SYNTHETIC_MARK} trained and evaluated on synthesised (TTS) speech in the "
                   "LibriSpeech layout, not on LibriSpeech recordings.")
    if any(c.skipped for r in rows for c in r.cells.values()):
        out.append(f"{SKIPPED_MARK} over part of the split: some utterances' audio could not be read and was left "
                   "out (how many: the row's details below; which: the logits cache's index.json, skipped_audio).")
    if any(r.lm == "transformer" for r in rows):
        out.append("Transformer rows: the first pass's N-best lists (its setting and N in the row's decoder) "
                   "re-ranked by a Transformer LM; the paper decodes with its Transformer LM in the first "
                   "pass at beam 500. Each cell's decoder also records the first pass's WER and the N-best "
                   "oracle WER (the best any re-ranking could reach).")
    out.append("RTF: decoding seconds per second of audio, mean over the row's splits "
               "(acoustic model excluded; for Transformer rows, the rescoring alone).")
    return out


def beam_note(decoder: dict | None) -> str:
    """"; beam 1500 (the paper's test setting)" or "; beam 500 (the paper's: 1500)"; "" without a beam."""
    beam = (decoder or {}).get("beam")
    if not beam:
        return ""
    return f"; beam {beam} " + ("(the paper's test setting)" if beam == paper.TEST_BEAM
                                else f"(the paper's: {paper.TEST_BEAM})")


def tuning_lines(models: list[ModelRun]) -> list[str]:
    """One line per LM tuning record: trials, beam and searched ranges, against the paper's."""
    lines = []
    for m in models:
        for rec in m.tuning:
            ranges = rec.get("ranges") or {}
            searched = ", ".join(f"{k} [{lo:g}, {hi:g}]" for k, (lo, hi) in ranges.items())
            paper_like = (len(rec.get("trials", [])) >= paper.TUNE_TRIALS and rec.get("beam") == paper.TUNE_BEAM)
            lines.append(f"- {m.name}: {rec.get('lm')} / {rec.get('decoder')} tuned on {rec.get('split')}: "
                         f"{len(rec.get('trials', []))} trials at beam {rec.get('beam')}"
                         f"{' over ' + searched if searched else ''} "
                         + ("(the paper's setting)" if paper_like else
                            f"(the paper: {paper.TUNE_TRIALS} trials at beam {paper.TUNE_BEAM} over lm weight "
                            f"[{paper.TUNE_WEIGHT_RANGE[0]:g}, {paper.TUNE_WEIGHT_RANGE[1]:g}], word score "
                            f"[{paper.TUNE_SCORE_RANGE[0]:g}, {paper.TUNE_SCORE_RANGE[1]:g}])"))
    return lines


def provenance(row: Row) -> list[str]:
    """How each cell of `row` was made: one bullet per split."""
    lines = []
    for split, r in row.cells.items():
        decoder = json.dumps(r.decoder, sort_keys=True) if r.decoder else "{}"
        lines.append(
            f"- {split}: WER {pct(r.wer)}, CER {pct(r.cer)}, S/D/I {r.substitutions}/{r.deletions}/"
            f"{r.insertions} over {r.ref_words} words in {r.utterances} utterance{'s' * (r.utterances != 1)}"
            f"{f' ({r.skipped} more left out: unreadable audio)' if r.skipped else ''}; "
            f"RTF {rtf_text(r.rtf)}; commit `{r.commit or 'not recorded'}`; decoder `{decoder}`"
            f"{beam_note(r.decoder)}")
        lines.append(f"  `{r.command}`" if r.command else "  (command not recorded)")
    return lines


def render(models: list[ModelRun], rows: list[Row], columns: list[str]) -> str:
    """The whole Markdown report: table, notes, then per row how it was produced."""
    out = ["# WER report", "", table(rows, columns).rstrip(), ""]
    out += [*notes(rows), ""]
    out += ["## How each row was produced", ""]
    for row in rows:
        out += [f"### {row_label(row)}", "", *provenance(row), ""]
    pretrained = [m for m in models if m.pretraining is not None]
    if pretrained:
        out += ["## How each model was pre-trained", ""]
        out += [f"- {m.name}: {m.pretraining.describe()}" for m in pretrained] + [""]
    tuning = tuning_lines(models)
    if tuning:
        out += ["## LM weight tuning", "", *tuning, ""]
    problems = [p for m in models for p in m.problems]
    if problems:
        out += ["## Files that could not be read", "", *(f"- {p}" for p in problems), ""]
    return "\n".join(out)
