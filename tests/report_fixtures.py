"""Hand-made model folders in the layouts the report reads (asrkit.report.collect), shared by
tests/test_report.py and tests/test_report_html.py.

    base-10min   recipe (10min, base), training log, LM tuning, as asrkit.train and
                 asrkit.decode.tune write them;
                 greedy on dev-clean and dev-other, 4gram on dev-other; recogs for all three
    tiny-synth   recipe on a synthesised corpus (its logits cache names a synth manifest);
                 one summary (dev-clean greedy), nothing else

WERs by hand:
    base-10min greedy dev-clean: THE CAT SAT / THE HAT SAT (1 S) + 5 correct words -> 1/8 = 12.50 %
    base-10min greedy dev-other: ONE TWO THREE FOUR / ONE TOO THREE (1 S, 1 D)      -> 2/4 = 50.00 %
    base-10min 4gram  dev-other: ONE TWO THREE FOUR / ONE TWO THREE (1 D)           -> 1/4 = 25.00 %
    tiny-synth greedy dev-clean: summary only, wer 0.4                              -> 40.00 %
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from asrkit.results import DecodeSummary, Recog, result_dir, write_recogs, write_summary
from asrkit.score import score

RESULTS = {
    ("dev-clean", "greedy"): ([("1-1-0", "1", 3.0, "THE CAT SAT", "THE HAT SAT"),
                               ("2-1-0", "2", 12.0, "A B C D E", "A B C D E")],
                              0.01, {"name": "greedy"}),
    ("dev-other", "greedy"): ([("3-1-0", "3", 6.0, "ONE TWO THREE FOUR", "ONE TOO THREE")],
                              0.02, {"name": "greedy"}),
    ("dev-other", "4gram"): ([("3-1-0", "3", 6.0, "ONE TWO THREE FOUR", "ONE TWO THREE")],
                             0.2, {"name": "flashlight", "lm": "work/lm/librispeech-4gram/lm.bin",
                                   "lm_weight": 2.0, "word_score": -1.0, "beam": 500}),
}


def make_models(root: Path) -> tuple[Path, Path]:
    base = root / "base-10min"
    base.mkdir(parents=True)
    (base / "recipe.yaml").write_text(  # as asrkit.train writes it (abridged)
        "# Resolved recipe of this fine-tuning run (every key, defaults included).\n"
        "# command: asrkit finetune --recipe recipes/base_10min.yaml\n"
        "model:\n  name: facebook/wav2vec2-base\n  freeze_feature_encoder: true\n"
        "data:\n  train_split: 10min\n  dev_split: dev-other\n"
        "train:\n  max_updates: 1000\n  lr: 5.0e-05\n")
    for (split, setting), (utts, rtf, decoder) in RESULTS.items():
        recogs = [Recog(*u) for u in utts]
        folder = result_dir(base, split, setting)
        write_recogs(folder, recogs)
        s = score(recogs)
        fields = {f.name for f in dataclasses.fields(DecodeSummary)}
        write_summary(folder, DecodeSummary(
            model=str(base), split=split, setting=setting, rtf=rtf, decoder=decoder,
            command=f"asrkit decode --model {base} --split {split} --setting {setting}",
            commit="abc1234", **{k: v for k, v in dataclasses.asdict(s).items() if k in fields}))
    trials = [(2.0, -1.0, 0.40), (0.5, -1.0, 0.45), (1.0, 0.0, 0.33), (2.0, -0.5, 0.25), (3.0, 1.0, 0.30),
              (4.5, 2.0, 0.45)]
    (base / "lm-tuning.json").write_text(json.dumps({"results": [{  # as asrkit.decode.tune writes it
        "lm": "4gram", "decoder": "flashlight", "split": "dev-other", "method": "tpe",
        "params": ["lm_weight", "word_score"], "best": {"lm_weight": 2.0, "word_score": -0.5}, "best_wer": 0.25,
        "default": {"lm_weight": 2.0, "word_score": -1.0}, "default_wer": 0.40, "beam": 500,
        "trials": [{"lm_weight": w, "word_score": ws, "wer": wer} for w, ws, wer in trials], "seconds": 3.2}]}))
    log = [{"time": 0.0, "kind": "start", "update": 0, "recipe": {"model": {"name": "facebook/wav2vec2-base"}}}]
    log += [{"time": 1.0, "kind": "train", "update": u, "epoch": 1, "loss": 3.0 / (1 + u / 100),
             "lr": 5e-5 * min(1.0, u / 200), "gnorm": 1.0} for u in range(50, 1001, 50)]
    log += [{"time": 2.0, "kind": "valid", "update": u, "split": "dev-other", "wer": w, "cer": w / 2}
            for u, w in [(250, 0.9), (500, 0.7), (750, 0.55), (1000, 0.5)]]
    (base / "train-log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))

    tiny = root / "tiny-synth"
    (tiny / "decode" / "dev-clean" / "greedy").mkdir(parents=True)
    (tiny / "recipe.yaml").write_text("data:\n  train_split: tiny\n")
    # Its dev-clean log-probs came from a manifest of a synth corpus (synth-report.json).
    corpus = root / "synth-corpus"
    corpus.mkdir()
    (corpus / "synth-report.json").write_text("{}")
    manifest = root / "synth-manifests" / "dev-clean.jsonl"
    manifest.parent.mkdir()
    manifest.write_text(json.dumps({"id": "1-1-0", "audio": str(corpus / "LibriSpeech/dev-clean/1/1/1-1-0.flac")}) + "\n")
    (tiny / "logits" / "dev-clean").mkdir(parents=True)
    (tiny / "logits" / "dev-clean" / "index.json").write_text(json.dumps({"manifest": str(manifest)}))
    (tiny / "decode" / "dev-clean" / "greedy" / "wer-summary.json").write_text(json.dumps({
        "model": str(tiny), "split": "dev-clean", "setting": "greedy", "wer": 0.4, "cer": 0.2,
        "substitutions": 2, "deletions": 1, "insertions": 1, "ref_words": 10, "utterances": 2}))
    return base, tiny
