"""A model card: README.md in the model folder whose YAML front matter carries the
Hugging Face model-index block, so that the Hub (and huggingface_hub's ModelCard) reads
the WER results:

    model-index:
    - name: base-10min
      results:
      - task: {type: automatic-speech-recognition, name: Automatic Speech Recognition}
        dataset: {name: LibriSpeech (clean), type: librispeech_asr, config: clean, split: test}
        metrics:
        - {type: wer, value: 9.1, name: Test WER (4gram)}
"""

from __future__ import annotations

import logging
from pathlib import Path

import yaml

from asrkit.io import write_text
from asrkit.report import markdown
from asrkit.report.collect import ModelRun, Row, columns

log = logging.getLogger(__name__)

MARKER = "<!-- model card written by `asrkit report`; it is rewritten on each run -->"

# LibriSpeech split -> (config, split) of the Hub's librispeech_asr dataset
_LIBRISPEECH = {
    "dev-clean": ("clean", "validation"), "dev-other": ("other", "validation"),
    "test-clean": ("clean", "test"), "test-other": ("other", "test"),
}


def _dataset(split: str, synthetic: bool) -> dict:
    if split in _LIBRISPEECH and not synthetic:
        config, hub_split = _LIBRISPEECH[split]
        return {"name": f"LibriSpeech ({config})", "type": "librispeech_asr", "config": config,
                "split": hub_split, "args": {"language": "en"}}
    # Not the real corpus: name the local split and do not claim the Hub dataset.
    name = f"{split} (synthesised speech, LibriSpeech layout)" if synthetic else split
    return {"name": name, "type": "asrkit-local", "config": split, "split": split}


def model_index(run: ModelRun, rows: list[Row]) -> list[dict]:
    """The model-index block: one result per evaluation split, one WER metric per setting."""
    results = []
    for split in sorted({s for r in rows for s in r.cells}, key=lambda s: (s not in _LIBRISPEECH, s)):
        metrics = [{"type": "wer", "value": round(100 * r.cells[split].wer, 2),
                    "name": f"{split} WER ({r.setting})"}
                   for r in rows if split in r.cells]
        results.append({
            "task": {"type": "automatic-speech-recognition", "name": "Automatic Speech Recognition"},
            "dataset": _dataset(split, run.synthetic),
            "metrics": metrics,
        })
    return [{"name": run.name, "results": results}]


def card_text(run: ModelRun, rows: list[Row]) -> str:
    """README.md text for `run`: front matter with model-index, then its rows of the report."""
    rows = [r for r in rows if r.model == run.name]
    meta = {
        "language": ["en"],
        "license": "apache-2.0",
        "library_name": "transformers",
        "pipeline_tag": "automatic-speech-recognition",
        "tags": ["automatic-speech-recognition", "ctc", "asrkit"],
        "metrics": ["wer"],
    }
    if not run.synthetic and any(s in _LIBRISPEECH for r in rows for s in r.cells):
        meta["datasets"] = ["librispeech_asr"]
    meta["model-index"] = model_index(run, rows)
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    trained = ", ".join(x for x in [
        f"labelled split {run.labelled}" if run.labelled else "",
        f"model size {run.size}" if run.size else "",
        "synthesised (TTS) speech" if run.synthetic else ""] if x) or "see recipe.yaml"
    body = [
        f"# {run.name}", "",
        f"A CTC speech recogniser fine-tuned with asrkit ({trained}).", "",
        "## Results", "",
        markdown.table(rows, columns([run])).rstrip(), "",
        *markdown.notes(rows), "",
        "## How the results were produced", "",
    ]
    for row in rows:
        body += [f"### {row.setting}", "", *markdown.provenance(row), ""]
    body += [
        "## Usage", "",
        "```python",
        "from transformers import pipeline",
        f'asr = pipeline("automatic-speech-recognition", model="path/to/{run.name}")  # this folder',
        'print(asr("audio.flac")["text"])',
        "```", "",
        "This decodes greedily (no LM); to decode with the LM settings above, use asrkit's "
        "decoders (see the asrkit README).", "",
    ]
    return f"---\n{front}---\n\n{MARKER}\n\n" + "\n".join(body)


def write_card(run: ModelRun, rows: list[Row], overwrite: bool = False) -> Path | None:
    """Write <model_dir>/README.md; a README that asrkit did not write is kept unless `overwrite`."""
    path = Path(run.path) / "README.md"
    if path.exists() and not overwrite and MARKER not in path.read_text(encoding="utf-8", errors="replace"):
        log.warning("%s was not written by asrkit: model card not written (pass --model-card to replace it)", path)
        return None
    write_text(path, card_text(run, rows))
    return path
