"""How well asrkit's word confidence separates right words from wrong ones.

On dev-clean and dev-other synthesised as the demo makes them (`asrkit synth` with the demo's
speaker grid and books; only the dev splits, `--dev-minutes` each), a CTC model (by default
the embedded starting checkpoint, a w2v-BERT 2.0 fine-tuned with CTC; `--model
work/models/demo` after `asrkit demo` measures the demo's own model) is decoded greedy and
with a 4-gram (flashlight lexicon decoder, built here on the KJV text of the books the dev
sentences are not from). Every hypothesis word is labelled by jiwer's alignment with the
reference: right when it is in an `equal` chunk, wrong when substituted or inserted. Then

    AUROC         the chance that a right word has a higher confidence than a wrong one
                  (ties count half; 0.5 is no separation, 1 perfect)
    err < 0.5     the share of words with confidence below 0.5 that are wrong, beside the
                  share of words at or above 0.5 that are wrong, and how many fall below

Confidence is asrkit.ctc's definition (the minimum over a word's letter frames of NeMo's
exponentially normalised Tsallis entropy, alpha 1/3, or of the chosen letter's probability
where lower).

    .venv/bin/python benchmarks/confidence.py [--dev-minutes 3] [--work /tmp/asrkit-confidence]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from asrkit.demo import EMBEDDED_CHECKPOINT
from word_times import decoders  # benchmarks/, the script's own folder

SPLITS = ("dev-clean", "dev-other")


def auroc(right: np.ndarray, wrong: np.ndarray) -> float:
    """P(confidence of a right word > that of a wrong one), ties half (Mann-Whitney U / n1 n2)."""
    if not len(right) or not len(wrong):
        return float("nan")
    scores = np.concatenate([right, wrong])
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(scores):  # average ranks over ties
        tied = scores == value
        ranks[tied] = ranks[tied].mean()
    u = ranks[:len(right)].sum() - len(right) * (len(right) + 1) / 2
    return float(u / (len(right) * len(wrong)))


def label_words(ref: str, hyp_words: list[str]) -> list[bool]:
    """True for each hypothesis word that jiwer's alignment calls equal to the reference."""
    import jiwer

    right = [False] * len(hyp_words)
    if not hyp_words:
        return right
    if not ref.split():
        return right  # every word is an insertion
    for chunk in jiwer.process_words(ref, " ".join(hyp_words)).alignments[0]:
        if chunk.type == "equal":
            for k in range(chunk.hyp_start_idx, chunk.hyp_end_idx):
                right[k] = True
    return right


def separation(confidences: list[float], right: list[bool]) -> dict:
    c, r = np.asarray(confidences, dtype=np.float64), np.asarray(right, dtype=bool)
    low = c < 0.5
    return {"words": int(len(c)), "wrong": int((~r).sum()), "auroc": auroc(c[r], c[~r]),
            "below_half": int(low.sum()),
            "error_below_half": float((~r[low]).mean()) if low.any() else float("nan"),
            "error_at_or_above_half": float((~r[~low]).mean()) if (~low).any() else float("nan")}


def dev_sets(work: Path, minutes: float) -> dict[str, list]:
    """{split: utterances} of dev-clean and dev-other made as the demo makes them (cached)."""
    from asrkit.data.manifest import read_split
    from asrkit.data.prepare import PrepareOptions, prepare
    from asrkit.data.synth import SynthOptions, synthesize

    synthesize(SynthOptions(root=work / "corpus", fold_minutes=0, folds=0, dev_minutes=minutes, test_minutes=0),
               progress=True)
    prepare(PrepareOptions(data_root=work / "corpus", out_dir=work / "manifests", splits=SPLITS, progress=False))
    return {s: read_split(work / "manifests", s) for s in SPLITS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dev-minutes", type=float, default=3.0, help="audio in each dev split (the demo's: 3)")
    ap.add_argument("--model", type=Path, default=EMBEDDED_CHECKPOINT, help="a CTC model folder")
    ap.add_argument("--beam", type=int, default=100, help="beam of the 4-gram decoder")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "asrkit-confidence",
                    help="cache of the dev sets and the 4-gram")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()

    from asrkit.audio import load_audio
    from asrkit.inference import AcousticModel, LogitsOptions

    started = time.time()
    sets = dev_sets(args.work, args.dev_minutes)
    acoustic = AcousticModel(args.model, LogitsOptions(device="cpu"))
    fs = acoustic.seconds_per_frame
    built = decoders(args.model, args.work, args.beam)
    results = {}
    for split, utts in sets.items():
        log_probs = acoustic.run({i: load_audio(u.audio) for i, u in enumerate(utts)}, progress=split)
        for name, decoder in built.items():
            conf, right = [], []
            for i, u in enumerate(utts):
                nbest = decoder.decode_one(log_probs[i], fs, 1)
                words = nbest[0].words if nbest else ()
                conf += [w.confidence for w in words]
                right += label_words(u.text, [w.word for w in words])
            results[f"{split} {name}"] = separation(conf, right)
    print("| split, decoding | words | wrong | AUROC | words < 0.5 | wrong among < 0.5 | wrong among >= 0.5 |")
    print("|---|---|---|---|---|---|---|")
    for key, r in results.items():
        print(f"| {key} | {r['words']} | {r['wrong']} ({100 * r['wrong'] / max(r['words'], 1):.1f}%) "
              f"| {r['auroc']:.3f} | {r['below_half']} | {100 * r['error_below_half']:.1f}% "
              f"| {100 * r['error_at_or_above_half']:.1f}% |")
    print(f"model {args.model.name}; {sum(len(u) for u in sets.values())} utterances; "
          f"{time.time() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
