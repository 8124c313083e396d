"""The demo's beam: WER and decoding time of its 4-gram setting at several beams, from a
finished `asrkit demo` work folder (its cached log-probs, its own LM and the weights
tune-lm saved), so the demo's beam is chosen from numbers.

Reads the demo folder only (nothing is written there); every beam decodes the same
cached log-probs with the same tuned lm_weight / word_score on every core. --model and
--lm-dir point it at any model with cached log-probs and an LM folder instead.

    .venv/bin/python benchmarks/demo_beam.py --work work/demo [--beams 50,100,200,500,1500]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    from asrkit import logits
    from asrkit.decode import Vocabulary, check_log_probs, make_decoder, parallel_decode
    from asrkit.decode.run import references
    from asrkit.decode.setup import DecoderChoice, setup_decoder
    from asrkit.demo import LM_NAME, SPLITS
    from asrkit.score import score

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, required=True, help="the demo's work folder (asrkit demo --work)")
    p.add_argument("--model", type=Path, default=None, help="model folder with cached log-probs "
                   "(default <work>/models/demo)")
    p.add_argument("--lm-dir", type=Path, default=None, help="folder of the 4gram LM (default <work>/lm)")
    p.add_argument("--beams", default="50,100,200,500,1500")
    p.add_argument("--splits", default=",".join(SPLITS))
    p.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    args = p.parse_args()
    model = args.model or args.work / "models" / "demo"
    caches = {s: logits.LogitsCache(logits.cache_dir(model, s)) for s in args.splits.split(",")}
    vocab = Vocabulary.of(next(iter(caches.values())).tokens)
    batches = {s: check_log_probs(c.log_probs(), vocab) for s, c in caches.items()}
    setup = setup_decoder(model, DecoderChoice(lm=LM_NAME, lm_dir=args.lm_dir or args.work / "lm"))
    print(f"weights: {setup.source}: lm_weight {setup.options.lm_weight}, word_score {setup.options.word_score}; "
          f"threshold {setup.options.beam_threshold}; {args.workers} workers")
    decoder = make_decoder(setup.decoder, setup.options, vocab)
    print("| beam | " + " | ".join(f"{s} WER % (s)" for s in caches) + " | all splits s |")
    print("|---:|" + "---:|" * (len(caches) + 1))
    for beam in map(int, args.beams.split(",")):
        d = decoder.with_options(dataclasses.replace(setup.options, beam=beam))
        cells, total = [], 0.0
        for s, batch in batches.items():
            t = time.perf_counter()
            texts = parallel_decode(d, batch, args.workers)
            wall = time.perf_counter() - t
            total += wall
            wer = score([dataclasses.replace(r, hyp=h) for r, h in zip(references(caches[s]), texts)]).wer
            cells.append(f"{100 * wer:.2f} ({wall:.1f})")
        print(f"| {beam} | " + " | ".join(cells) + f" | {total:.1f} |", flush=True)


if __name__ == "__main__":
    main()
