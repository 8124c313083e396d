"""Decoding with an LM of the official LibriSpeech 4-gram's size: memory, load time and
decoding speed at beams 50, 500 and 1,500, against the CPU inference time of a wav2vec 2.0
BASE on the same audio, measured in one run.

What is measured (all on this machine, same run):
  1. Audio: `asrkit synth` speech (the demo's corpus: KJV test books, TTS voices), the
     test splits chosen (--splits).
  2. Log-probs: the embedded starting checkpoint (asrkit/assets/starting-checkpoint, its own
     supervised CTC head) on that audio, so the beam search sees real posteriors.
  3. Baseline: Wav2Vec2ForCTC with the BASE config (95M parameters, random init: same
     compute as a trained one), fp32, CPU, torch threads = --workers, over the same audio
     (asrkit.logits.compute: inference seconds excluding audio reading). Its cache in --work
     keeps the seconds of the run that made it: a new --work measures it again.
  4. LM: a folder made by benchmarks/synthetic_4gram.py (the official counts; its lexicon
     spells all 200k words) and the KenLM binaries built beside it (--binaries: file names
     under that folder; /tmp/issue21-4gram/binaries.sh in BENCHMARKS.md builds them).
  5. Each binary is loaded in a fresh child process (load time, resident memory after the
     load, peak of the parent and of the decoding workers) that decodes every setting in
     turn with flashlight's lexicon decoder through asrkit.decode.parallel_decode.

    .venv/bin/python benchmarks/official_4gram.py --lm /tmp/issue21-4gram/full \\
        --binaries 4gram-synthetic.probing.bin,4gram-synthetic.trie.q8.bin [--work /tmp/issue21-4gram/bench]

Goal (issue 21): the lexicon beam search with the official-size 4-gram at beam 1,500 adds at
most 20% to the BASE model's inference time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# (beam, beam_threshold, beam_size_token, workers): after the --beams at asrkit's (and fairseq
# infer.py's) default threshold 25 on every core, the levers, one at a time, at beam 1,500.
LEVERS = [(1500, 10.0, None, 0), (1500, 15.0, None, 0), (1500, 25.0, 8, 0), (1500, 15.0, 8, 0), (1500, 25.0, None, 1)]


def prepare_audio(work: Path, splits: list[str], workers: int) -> dict[str, Path]:
    """Synthesise the demo corpus (idempotent) and write manifests; {split: manifest}."""
    from asrkit.data.prepare import PrepareOptions, prepare
    from asrkit.data.synth import SynthOptions, synthesize

    synthesize(SynthOptions(root=work / "corpus", jobs=workers), progress=False)
    prepare(PrepareOptions(data_root=work / "corpus", out_dir=work / "manifests", splits=tuple(splits),
                           progress=False))
    return {s: work / "manifests" / f"{s}.jsonl" for s in splits}


def base_model(work: Path) -> Path:
    """A random-init wav2vec 2.0 BASE with the letter vocabulary (BASE: group norm, no mask)."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

    from asrkit.vocab import build_processor

    out = work / "wav2vec2-base-random"
    if not (out / "config.json").is_file():
        processor = build_processor(return_attention_mask=False)
        torch.manual_seed(0)
        Wav2Vec2ForCTC(Wav2Vec2Config(vocab_size=len(processor.tokenizer), pad_token_id=0)).save_pretrained(str(out))
        processor.save_pretrained(str(out))
    return out


def log_probs(work: Path, manifests: dict[str, Path], workers: int):
    """(arrays, refs, audio seconds, embedded model seconds, BASE seconds) over the splits."""
    import torch

    from asrkit import logits
    from asrkit.demo import EMBEDDED_CHECKPOINT
    from asrkit.results import Recog

    torch.set_num_threads(workers)
    embedded = work / "starting-checkpoint"  # a copy: the cache is written under the model folder
    if not embedded.is_dir():
        shutil.copytree(EMBEDDED_CHECKPOINT, embedded)
    arrays, refs, audio_s, embedded_s, base_s = [], [], 0.0, 0.0, 0.0
    base = base_model(work)
    opts = logits.LogitsOptions(device="cpu")
    for split, manifest in manifests.items():
        cache = logits.compute(embedded, manifest, split, opts)  # cached per --work folder
        arrays += cache.log_probs()
        refs += [Recog(u["id"], u["speaker"], u["duration"], u["text"], "") for u in cache.utterances]
        audio_s += cache.audio_seconds
        embedded_s += float(cache.index["inference_seconds"])
        # the baseline is cached in --work too: its inference seconds are those of the run that made it
        base_s += float(logits.compute(base, manifest, split, opts).index["inference_seconds"])
    return arrays, refs, audio_s, embedded_s, base_s


def rss_kib(field: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def child(spec: dict) -> dict:
    """In a fresh process: load one LM, decode every setting; times and memory."""
    import numpy as np

    from asrkit.decode import Vocabulary, make_decoder, parallel_decode
    from asrkit.decode.flashlight import FlashlightOptions
    from asrkit.results import Recog
    from asrkit.score import score

    data = np.load(spec["arrays"], allow_pickle=False)
    arrays = [data[f"a{i}"] for i in range(len(data.files))]
    refs = [Recog(**r) for r in json.loads(Path(spec["refs"]).read_text())]
    vocab = Vocabulary.letters()
    rss0 = rss_kib()
    t0 = time.perf_counter()
    base = FlashlightOptions(lm=spec["lm"], lexicon=spec["lexicon"], lm_weight=spec["lm_weight"],
                             word_score=spec["word_score"])
    decoder = make_decoder("flashlight", base, vocab)
    out = {"load_s": time.perf_counter() - t0, "rss_loaded_mib": (rss_kib() - rss0) / 1024, "rows": []}
    for beam, threshold, token, workers in spec["settings"]:
        options = dataclasses.replace(base, beam=beam, beam_threshold=threshold, beam_size_token=token)
        d = decoder.with_options(options)
        t = time.perf_counter()
        texts = parallel_decode(d, arrays, workers or None)
        wall = time.perf_counter() - t
        wer = score([dataclasses.replace(r, hyp=h) for r, h in zip(refs, texts)]).wer
        out["rows"].append({"beam": beam, "threshold": threshold, "token": token, "workers": workers,
                            "wall_s": wall, "wer": wer})
        print(f"  beam {beam} thr {threshold} token {token} workers {workers or 'all'}: {wall:.1f} s, "
              f"WER {100 * wer:.2f}", file=sys.stderr, flush=True)
    out["peak_parent_mib"] = rss_kib("VmHWM") / 1024
    out["peak_worker_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lm", type=Path, required=True, help="folder from synthetic_4gram.py with binaries built")
    p.add_argument("--binaries", default="4gram-synthetic.probing.bin", help="comma-separated binaries in --lm")
    p.add_argument("--levers", default="4gram-synthetic.probing.bin",
                   help="binaries that also get the lever settings (threshold, beam_size_token, one core)")
    p.add_argument("--beams", default="50,500,1500", help="beams decoded with every binary (threshold 25, all cores)")
    p.add_argument("--lever-settings", default=None,
                   help="lever settings instead of the built-in list: beam:threshold:token:workers,... "
                        "(token 0: all tokens; workers 0: every core)")
    p.add_argument("--splits", default="test-clean,test-other")
    p.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--lm-weight", type=float, default=2.0, help="flashlight LM weight (asrkit's default)")
    p.add_argument("--word-score", type=float, default=-1.0)
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "asrkit-official-4gram")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    p.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child.read_text()))))
        return
    import numpy as np

    args.work.mkdir(parents=True, exist_ok=True)
    manifests = prepare_audio(args.work, args.splits.split(","), args.workers)
    arrays, refs, audio_s, embedded_s, base_s = log_probs(args.work, manifests, args.workers)
    np.savez(args.work / "arrays.npz", **{f"a{i}": a for i, a in enumerate(arrays)})
    (args.work / "refs.json").write_text(json.dumps([dataclasses.asdict(r) for r in refs]))
    print(f"{len(arrays)} utterances, {audio_s:.0f} s of audio; embedded checkpoint {embedded_s:.1f} s, "
          f"wav2vec2 BASE (random init, fp32, {args.workers} threads) {base_s:.1f} s (RTF {base_s / audio_s:.3f})",
          flush=True)
    results = {}
    for name in args.binaries.split(","):
        main_settings = [(int(b), 25.0, None, 0) for b in args.beams.split(",")]
        levers = LEVERS if args.lever_settings is None else [
            (int(b), float(t), int(k) or None, int(w)) for b, t, k, w in
            (x.split(":") for x in args.lever_settings.split(","))]
        settings = main_settings + (levers if name in args.levers.split(",") else [])
        spec = {"arrays": str(args.work / "arrays.npz"), "refs": str(args.work / "refs.json"),
                "lm": str(args.lm / name), "lexicon": str(args.lm / "lexicon.txt"), "settings": settings,
                "lm_weight": args.lm_weight, "word_score": args.word_score}
        spec_path = args.work / "child.json"
        spec_path.write_text(json.dumps(spec))
        print(f"{name} ({(args.lm / name).stat().st_size / 2**30:.2f} GiB):", flush=True)
        run = subprocess.run([sys.executable, __file__, "--lm", str(args.lm), "--child", str(spec_path)],
                             stdout=subprocess.PIPE, text=True, check=True)
        results[name] = json.loads(run.stdout.strip().splitlines()[-1])
        r = results[name]
        print(f"  load {r['load_s']:.1f} s, +{r['rss_loaded_mib']:.0f} MiB resident after loading, peak parent "
              f"{r['peak_parent_mib']:.0f} MiB, peak worker {r['peak_worker_mib']:.0f} MiB", flush=True)
    print_table(results, audio_s, base_s)
    if args.json:
        args.json.write_text(json.dumps({"audio_s": audio_s, "base_s": base_s, "embedded_s": embedded_s,
                                         "utterances": len(arrays), "results": results}, indent=2))


def print_table(results: dict, audio_s: float, base_s: float) -> None:
    print("\n| binary | beam | threshold | beam_size_token | cores | decode s | RTF | % of BASE inference | WER % |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        for row in r["rows"]:
            print(f"| {name} | {row['beam']} | {row['threshold']:g} | {row['token'] or 'all'} | "
                  f"{row['workers'] or 'all'} | {row['wall_s']:.1f} | {row['wall_s'] / audio_s:.3f} | "
                  f"{100 * row['wall_s'] / base_s:.0f}% | {100 * row['wer']:.2f} |")


if __name__ == "__main__":
    main()
