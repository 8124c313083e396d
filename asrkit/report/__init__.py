"""`asrkit report`: WER tables (Markdown, JSON, HTML with plots) and model cards from the
decode results of one or more model folders.

    collect.py      read model folders (results, recipe, LM tuning, training log) into rows
    markdown.py     the Markdown table and its provenance
    json_report.py  the same content as JSON
    html.py         the self-contained HTML page
    plots.py        WER vs LM weight, training curves, WER by utterance length (inline SVG)
    card.py         README.md model cards with the Hugging Face model-index block
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from asrkit.errors import InputNotFound, ReportError
from asrkit.io import write_json, write_text
from asrkit.report import card, html, json_report, markdown
from asrkit.report.collect import ModelRun, Row, columns, load_model, rows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReportOptions:
    out_dir: Path  # where report.md, report.json and report.html go
    model_cards: bool = True  # write README.md model cards into the model folders
    overwrite_readme: bool = False  # replace a README.md that asrkit did not write


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    json: Path
    html: Path
    table: str  # the Markdown WER table alone
    cards: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # files that could not be read


def report(model_dirs: list[str | os.PathLike], options: ReportOptions) -> ReportFiles:
    """Read the models' results and write the Markdown, JSON and HTML reports (atomically)."""
    if not model_dirs:
        raise ReportError("no model folders given")
    models = [load_model(d) for d in model_dirs]
    for m in models:
        if not m.results:
            log.warning("%s: no decode results under %s (run `asrkit decode`)", m.name, Path(m.path) / "decode")
    if not any(m.results for m in models):
        raise InputNotFound(
            "no decode results in " + ", ".join(str(Path(m.path) / "decode") for m in models)
            + ": run `asrkit decode` first")
    table_rows, cols = rows(models), columns(models)
    out = Path(options.out_dir)
    files = ReportFiles(markdown=out / "report.md", json=out / "report.json", html=out / "report.html",
                        table=markdown.table(table_rows, cols),
                        problems=[p for m in models for p in m.problems])
    write_text(files.markdown, markdown.render(models, table_rows, cols))
    write_json(files.json, json_report.to_json(models, table_rows, cols))
    write_text(files.html, html.render(models, table_rows, cols))
    if options.model_cards:
        for m in models:
            if m.results and (path := card.write_card(m, table_rows, overwrite=options.overwrite_readme)):
                files.cards.append(path)
    return files


def find_models(root: str | os.PathLike) -> list[Path]:
    """Model folders under `root` that hold decode results."""
    return sorted(p for p in Path(root).iterdir() if p.is_dir() and any(p.glob("decode/*/*/*")))


__all__ = ["ModelRun", "ReportFiles", "ReportOptions", "Row", "columns", "find_models", "load_model",
           "report", "rows"]
