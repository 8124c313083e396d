"""The paper's third column on the demo corpus: no LM / 4-gram / Transformer LM (rescoring).

Runs `asrkit demo` in --work (idempotent: finished stages are skipped, so after a full demo
only what is missing runs), then prints, from the results folders it wrote:

  - WER per split for greedy, the 4-gram and the Transformer LM re-ranking the 4-gram's
    N-best lists, with the N-best oracle WER (the floor of any re-ranking), and whether the
    paper's ordering (Transformer <= 4-gram < no LM) holds on each split;
  - the Transformer LM's size, build time (wall and CPU seconds) and dev perplexity beside
    the 4-gram's (same vocabulary, same OOV rule);
  - the tuned rescoring weights and the demo's stage timings.

    .venv/bin/python benchmarks/transformer_column.py --work work/demo
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from asrkit.demo import LM_NAME, SPLITS, TRANSFORMER_NAME, DemoOptions, EMBEDDED_CHECKPOINT, run_demo
from asrkit.config import recipes_dir
from asrkit.results import read_summary, read_tuning


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, required=True, help="the demo's work folder")
    ap.add_argument("--no-run", action="store_true", help="only read what the demo left there")
    args = ap.parse_args()
    if not args.no_run:
        run_demo(DemoOptions(work=args.work, model=str(EMBEDDED_CHECKPOINT), recipe=recipes_dir() / "demo.yaml",
                             progress=False))
    model = args.work / "models" / "demo"
    print("| split | no LM | 4-gram | Transformer (rescoring) | 4-gram N-best oracle | Transformer <= 4-gram < no LM |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for split in SPLITS:
        none, ngram, tr = (read_summary(model / "decode" / split / s) for s in ("greedy", LM_NAME, TRANSFORMER_NAME))
        holds = tr.wer <= ngram.wer < none.wer
        print(f"| {split} | {100 * none.wer:.2f} | {100 * ngram.wer:.2f} | {100 * tr.wer:.2f} | "
              f"{100 * tr.decoder['oracle_wer']:.2f} | {'yes' if holds else 'no'} |")
    info = json.loads((args.work / "lm" / TRANSFORMER_NAME / "info.json").read_text())
    ppl = info.get("perplexity", {})
    print(f"\nTransformer LM: {info['options']['layers']} layers x {info['options']['width']}, "
          f"{info['parameters']:,} parameters, {info['options']['steps']} updates of {info['options']['batch']} "
          f"sentences; build {info['seconds']} s wall, {info.get('cpu_seconds')} CPU s; final train loss "
          f"{info['final_train_loss']}")
    if ppl:
        print(f"dev perplexity ({', '.join(Path(d).stem for d in ppl['dev'])}; {ppl['predictions']} predictions, "
              f"{ppl['oov']} OOV words skipped for both): Transformer {ppl['transformer']}, "
              f"{ppl.get('ngram_name')} {ppl.get('ngram')}")
    for r in read_tuning(model):
        if r.get("decoder") == "rescore":
            print(f"tuned on {r['split']} ({len(r['trials'])} trials, {r['seconds']} s): {r['best']}, WER "
                  f"{100 * r['best_wer']:.2f} (first pass {100 * r['first_pass_wer']:.2f}, default weights "
                  f"{100 * r['default_wer']:.2f}, oracle {100 * r['oracle_wer']:.2f})")
    timings = json.loads((args.work / "demo-timings.json").read_text())
    print("stage wall times (s): " + ", ".join(f"{t['stage']} {t['seconds']}" for t in timings))


if __name__ == "__main__":
    main()
