"""How a starting checkpoint was pre-trained, read from what `asrkit pretrain` wrote, for
reports and model cards: a fine-tuned model's recipe names its starting checkpoint
(model.name), and when that is an asrkit pre-training folder (or one of its snapshots)
its recipe, summary and log say what the pre-training was."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from asrkit.config import PretrainRecipe, load_recipe
from asrkit.errors import AsrkitError

_LOG_KEYS = ("contrastive", "accuracy", "code_perplexity", "prob_perplexity", "diversity", "feature_penalty",
             "temperature", "lr", "audio_seconds")
# Built-in random-init architectures of fine-tuning (asrkit.model) and pre-training
# (asrkit.pretrain.model), named here so that reading a report does not import torch.
RANDOM_INIT = ("tiny", "tiny-layernorm", "tiny-w2v-bert", "base", "large", "tiny-deep")


@dataclass(frozen=True)
class Pretraining:
    """What the starting checkpoint of a fine-tuned model was."""

    kind: str  # "asrkit pretrain", "random init" or "checkpoint" (any other: a hub id, a fine-tuned folder)
    source: str  # the model.name the fine-tuning started from
    recipe: str = ""  # asrkit pretrain: the pre-training recipe's model.name (tiny, base, ...)
    updates: int | None = None  # pre-training updates behind this checkpoint
    audio_hours_seen: float | None = None  # audio processed in those updates (the whole run's when a snapshot)
    train_split: str = ""
    dev_accuracy: float | None = None  # contrastive accuracy on held-out audio at `updates`
    log: tuple[dict, ...] = ()  # the pre-training log rows up to `updates`: {"kind", "update", KEYS...}

    def describe(self) -> str:
        if self.kind == "random init":
            return f"none (random init: {self.source})"
        if self.kind == "checkpoint":
            return f"checkpoint {self.source} (not made by asrkit pretrain)"
        parts = [f"asrkit pretrain (model {self.recipe}, data {self.train_split})"]
        if self.updates is not None:
            parts.append(f"{self.updates:,} updates")
        if self.audio_hours_seen is not None:
            parts.append(f"{self.audio_hours_seen:.0f} h of audio seen")
        if self.dev_accuracy is not None:
            parts.append(f"dev contrastive accuracy {100 * self.dev_accuracy:.1f}%")
        return ", ".join(parts)


def _run_folder(path: Path) -> tuple[Path, int | None]:
    """(the pre-training run folder, the snapshot's update or None) for a run or snapshot folder."""
    if path.parent.name == "snapshots" and path.name.startswith("update-"):
        try:
            return path.parent.parent, int(path.name.removeprefix("update-"))
        except ValueError:
            pass
    return path, None


def _log_rows(path: Path, upto: int | None) -> tuple[dict, ...]:
    rows = []
    if not path.is_file():
        return ()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line still being written
        if not isinstance(row, dict) or row.get("kind") not in ("train", "valid"):
            continue
        if upto is not None and row.get("update", 0) > upto:
            continue
        rows.append({"kind": row["kind"], "update": row.get("update"),
                     **{k: row[k] for k in _LOG_KEYS if isinstance(row.get(k), (int, float))}})
    return tuple(rows)


def read_pretraining(source: str) -> Pretraining:
    """How the checkpoint `source` (a fine-tuning recipe's model.name) was pre-trained."""
    if source in RANDOM_INIT:
        return Pretraining("random init", source)
    run, snapshot = _run_folder(Path(source))
    try:
        recipe = load_recipe(run / "recipe.yaml", kind=PretrainRecipe)
    except (AsrkitError, OSError):
        return Pretraining("checkpoint", source)
    log = _log_rows(run / "train-log.jsonl", snapshot)
    updates = snapshot
    hours = None
    summary_path = run / "train-summary.json"
    if summary_path.is_file() and snapshot is None:
        try:
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
            updates, hours = summary.get("updates"), summary.get("audio_seconds", 0) / 3600
        except (OSError, ValueError):
            pass
    if hours is None:
        seen = [r for r in log if r["kind"] == "train"]
        hours = sum(r.get("audio_seconds", 0) for r in seen) / 3600 if seen else None
        if updates is None and seen:
            updates = seen[-1]["update"]
    dev = [r for r in log if r["kind"] == "valid" and "accuracy" in r]
    return Pretraining("asrkit pretrain", source, recipe.model.name, updates, hours, recipe.data.train_split,
                       dev[-1]["accuracy"] if dev else None, log)
