"""train.adam_missing_grads, torch vs fairseq, on a short run with a frozen phase.

fairseq's fp16 optimizer steps every parameter each update (a zero gradient when it got
none), so all share one step count and the transformer's first steps after unfreezing are
not bias-corrected; torch's Adam skips parameters without a gradient. Same model, data and
seed for both; the tiny w2v-BERT of the tests memorises 4 espeak-ng utterances (the
transformer frozen for the first 20 of 70 updates, layerdrop 0.1, no masks). Prints one
JSON line per run: training loss per character every 10 updates and dev (= train) CER.

    .venv/bin/python benchmarks/adam_missing_grads.py [--seeds 1 2 3] [--out /tmp/adam-missing-grads]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import tempfile
import time
from pathlib import Path

import torch

from asrkit.config import recipe_from_dict
from asrkit.train import FinetuneOptions, finetune


def _test_fixtures():
    """tests/speech_fixtures.py (the tests' espeak-ng utterances), loaded by its path: the
    tests folder is not a package, and sys.path is left alone."""
    path = Path(__file__).resolve().parent.parent / "tests" / "speech_fixtures.py"
    spec = importlib.util.spec_from_file_location("speech_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def recipe(seed: int, adam: str):
    return recipe_from_dict({
        "model": {"name": "tiny-w2v-bert", "freeze_transformer_updates": 20, "mask_time_prob": 0.0,
                  "mask_feature_prob": 0.0, "layerdrop": 0.1, "activation_dropout": 0.0},
        "data": {"train_split": "train", "dev_split": "train", "max_tokens": 160_000, "update_tokens": 160_000,
                 "num_workers": 0, "batch_size_multiple": 1},
        "train": {"max_updates": 70, "lr": 2e-3, "phase_ratio": [0.1, 0.8, 0.1], "log_interval_updates": 10,
                  "validate_after_updates": 30, "validate_interval_updates": 10, "select_by": "cer",
                  "checkpoint_interval_updates": 1000, "seed": seed, "adam_missing_grads": adam}})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--out", type=Path, default=None, help="work folder (default: a temporary one)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    root = args.out or Path(tempfile.mkdtemp(prefix="adam-missing-grads-"))
    fixtures = _test_fixtures()
    manifests = fixtures.make_manifests(root, {"train": fixtures.make_utterances(root / "audio")})
    for seed in args.seeds:
        for adam in ("torch", "fairseq"):
            out = root / f"{adam}-{seed}"
            started = time.time()
            summary = finetune(FinetuneOptions(recipe=recipe(seed, adam), out_dir=out, manifests_dir=manifests,
                                               progress=False, restart=True))
            rows = [json.loads(line) for line in (out / "train-log.jsonl").read_text().splitlines()]
            print(json.dumps({"adam": adam, "seed": seed,
                              "loss_per_char": [round(r["loss_per_char"], 3) for r in rows if r["kind"] == "train"],
                              "dev_cer": [(r["update"], round(r["cer"], 3)) for r in rows if r["kind"] == "valid"],
                              "best_cer": summary["best_cer"], "seconds": round(time.time() - started)}), flush=True)


if __name__ == "__main__":
    main()
