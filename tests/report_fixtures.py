"""Hand-made model folders in the layouts the report reads (asrkit.report.collect), shared by
tests/test_report.py and tests/test_report_html.py.

    base-10min   recipe (10min, base, LibriSpeech), training log, LM tuning;
                 greedy on dev-clean and dev-other, 4gram on dev-other; recogs for all three
    tiny-synth   recipe on a synthesised corpus; one summary (dev-clean greedy), nothing else

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
    (base / "recipe.yaml").write_text(
        "# 10 minutes of labelled speech\nsplit: 10min\nmodel:\n  size: base\n"
        "  pretrained: facebook/wav2vec2-base\ncorpus: librispeech\n")
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
    (base / "lm-tuning.json").write_text(json.dumps({
        "split": "dev-other",
        "trials": [{"lm_weight": w, "word_score": ws, "wer": wer} for w, ws, wer in
                   [(0.5, -1.0, 0.40), (1.0, 0.0, 0.33), (2.0, -1.0, 0.25), (3.0, 1.0, 0.30), (4.5, 2.0, 0.45)]],
        "best": {"lm_weight": 2.0, "word_score": -1.0, "wer": 0.25}}))
    log = [{"step": s, "loss": 3.0 / (1 + s / 100), "lr": 5e-5 * min(1.0, s / 200)} for s in range(0, 1001, 50)]
    log += [{"step": s, "dev_wer": w} for s, w in [(250, 0.9), (500, 0.7), (750, 0.55), (1000, 0.5)]]
    (base / "train-log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))

    tiny = root / "tiny-synth"
    (tiny / "decode" / "dev-clean" / "greedy").mkdir(parents=True)
    (tiny / "recipe.yaml").write_text("split: tiny\ncorpus: work/corpus/synth\n")
    (tiny / "decode" / "dev-clean" / "greedy" / "wer-summary.json").write_text(json.dumps({
        "model": str(tiny), "split": "dev-clean", "setting": "greedy", "wer": 0.4, "cer": 0.2,
        "substitutions": 2, "deletions": 1, "insertions": 1, "ref_words": 10, "utterances": 2}))
    return base, tiny
