"""Decoding speed and WER per decoder, against greedy decoding and against the CPU
inference time of a wav2vec 2.0 BASE acoustic model on the same audio, in one run.

What is measured (all on this machine, same run):
  1. A word 4-gram built with `asrkit lm build` (KenLM lmplz) from the KJV training-side
     text (asrkit.data.texts.lm_sentences: 36,670 sentences, 632k words; the dev and test
     books are held out, so their names and rare words are out of vocabulary).
  2. Log-probs: synthetic, "peaky but noisy", spelled from held-out KJV sentences (dev:
     Joshua/Acts/Ezekiel, test: Judges/John/Job/Daniel): each letter lasts 1+Poisson(1)
     frames, 0-3 blank frames before each, and 6% of frames get a random rival token
     scoring close to the true one (greedy: about 28% WER, 7% CER), at 20 ms per frame
     (wav2vec 2.0's rate). A random-init model's
     logits say nothing about WER, hence synthetic ones; WER here compares decoders on
     the same evidence, not models.
  3. LM weights: flashlight's lm_weight/word_score and pyctcdecode's alpha/beta are each
     tuned on dev with asrkit's tuner (optuna TPE, same number of trials, same beam),
     then every decoder decodes test at that beam.
  4. Inference baseline: Wav2Vec2ForCTC with the BASE config (95M parameters, random
     init, fp32, CPU, torch threads = --workers) run by `asrkit.logits.compute` over
     noise audio of exactly the test utterances' lengths.

    .venv/bin/python benchmarks/decode_speed.py [--utterances 150] [--beam 100] [--trials 20]

Goal: beam search with the 4-gram adds at most 20% to the inference time, at a
WER no worse than pyctcdecode's best setting.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from asrkit import lm
from asrkit.decode import Vocabulary, check_log_probs, make_decoder, parallel_decode
from asrkit.decode.flashlight import FlashlightOptions, LexiconFreeOptions
from asrkit.decode.greedy import GreedyOptions
from asrkit.decode.pyctcdecode import PyctcdecodeOptions
from asrkit.decode.tune import TuneOptions, tune
from asrkit.results import Recog
from asrkit.score import score

VOCAB = Vocabulary.letters()
SECONDS_PER_FRAME = 0.02


def synthetic_log_probs(text: str, rng: np.random.Generator, confusion: float = 0.06,
                        margin: float = -1.0, peak: float = 8.0) -> np.ndarray:
    """(T, V) log-probs spelling `text` with CTC-like timing, peaky but noisy.

    Each letter lasts 1+Poisson(1) frames with 0-3 blank frames before it; the spelled
    token scores `peak` above N(0, 1) noise on every token; on a `confusion` fraction of
    frames one random token (a competitor) also gets `peak` + N(margin, 1.5), and wins
    when that noise exceeds the true token's. 0.06 / -1.0 gives greedy about 28% WER and
    7% CER, like a lightly fine-tuned model.
    """
    ids = []
    for i, word in enumerate(text.split()):
        for ch in ([VOCAB.delimiter] if i else []) + list(word):
            ids += [VOCAB.blank_id] * int(rng.integers(0, 4))
            ids += [VOCAB.index(ch)] * (1 + int(rng.poisson(1.0)))
    ids += [VOCAB.blank_id] * int(rng.integers(1, 5))
    T, V = len(ids), len(VOCAB.tokens)
    x = rng.normal(0.0, 1.0, size=(T, V)).astype(np.float32)
    x[np.arange(T), ids] += peak
    confused = rng.random(T) < confusion
    rivals = rng.integers(0, V, size=T)
    x[np.arange(T)[confused], rivals[confused]] += peak + rng.normal(margin, 1.5, size=int(confused.sum()))
    x -= x.max(axis=1, keepdims=True)
    return (x - np.log(np.exp(x).sum(axis=1, keepdims=True))).astype(np.float32)


def make_set(sentences, n: int, rng, confusion: float):
    picked = [sentences[i] for i in sorted(rng.choice(len(sentences), size=n, replace=False))]
    refs = [Recog(id=f"{s.book}-{s.ref}", speaker=s.book, duration=0.0, ref=s.text, hyp="") for s in picked]
    arrays = [synthetic_log_probs(r.ref, rng, confusion) for r in refs]
    refs = [dataclasses.replace(r, duration=len(a) * SECONDS_PER_FRAME) for r, a in zip(refs, arrays)]
    return refs, arrays


def wer(refs, texts) -> float:
    return score([dataclasses.replace(r, hyp=t) for r, t in zip(refs, texts)]).wer


def build_lm(root: Path) -> lm.LanguageModel:
    from asrkit.data.texts import lm_sentences

    text = root / "kjv-train.txt"
    if not text.is_file():
        text.write_text("\n".join(lm_sentences()) + "\n")
    return lm.build([text], name="kjv-4gram", options=lm.BuildOptions(order=4), out_root=root)


def inference_seconds(durations: list[float], root: Path, workers: int) -> tuple[float, int]:
    """CPU seconds of wav2vec2-base (random init) over noise audio of these lengths."""
    import soundfile as sf
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

    from asrkit import logits
    from asrkit.data.manifest import Utterance, write_manifest
    from asrkit.vocab import build_processor

    torch.set_num_threads(workers)
    model_dir = root / "wav2vec2-base-random"
    if not (model_dir / "config.json").is_file():
        processor = build_processor(return_attention_mask=False)  # BASE: group norm, no mask
        torch.manual_seed(0)
        model = Wav2Vec2ForCTC(Wav2Vec2Config(vocab_size=len(processor.tokenizer), pad_token_id=0))
        model.save_pretrained(str(model_dir))
        processor.save_pretrained(str(model_dir))
    params = sum(p.numel() for p in Wav2Vec2ForCTC.from_pretrained(str(model_dir)).parameters())
    rng = np.random.default_rng(0)
    audio = root / "audio"
    audio.mkdir(exist_ok=True)
    utts = []
    for i, d in enumerate(durations):
        n = int(round(d * 16000))
        path = audio / f"{i:05d}.flac"
        if not path.is_file():
            sf.write(path, (0.05 * rng.standard_normal(n)).astype(np.float32), 16000)
        utts.append(Utterance(f"{i:05d}", str(path), n, 16000, "0", "0", "X"))
    write_manifest(root / "test.jsonl", utts)
    cache = logits.compute(model_dir, root / "test.jsonl", "bench-test",
                           logits.LogitsOptions(device="cpu"), force=True)
    return float(cache.index["inference_seconds"]), params


def timed_decode(name: str, options, arrays, workers: int) -> tuple[list[str], float, float]:
    """(texts, load seconds, decode wall seconds)."""
    t0 = time.perf_counter()
    decoder = make_decoder(name, options, VOCAB)
    t1 = time.perf_counter()
    if name == "greedy":
        texts = [decoder.decode_one(x, 0.02)[0].text for x in arrays]
    else:
        texts = [n[0].text for n in parallel_decode(decoder, arrays, workers, frame_seconds=0.02)]
    return texts, t1 - t0, time.perf_counter() - t1


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--utterances", type=int, default=150, help="test utterances (dev uses as many)")
    p.add_argument("--beam", type=int, default=100, help="beam of every beam-search decoder")
    p.add_argument("--trials", type=int, default=20, help="tuning trials per decoder on dev")
    p.add_argument("--confusion", type=float, default=0.06, help="fraction of frames with a rival token")
    p.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)), help="cores to use")
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "asrkit-decode-bench",
                   help="where the LM, audio and model are kept between runs")
    p.add_argument("--no-inference", action="store_true", help="skip the wav2vec2-base timing")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = p.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    from asrkit.data.texts import sentence_pools

    t = time.perf_counter()
    model = build_lm(args.work)
    print(f"4-gram: {model.info['vocabulary']} words, {model.info['corpus_lines']} lines "
          f"({time.perf_counter() - t:.1f} s incl. any rebuild)", flush=True)
    pools = sentence_pools()
    rng = np.random.default_rng(0)
    dev_refs, dev = make_set(pools.dev, args.utterances, rng, args.confusion)
    test_refs, test = make_set(pools.test, args.utterances, rng, args.confusion)
    dev, test = check_log_probs(dev, VOCAB), check_log_probs(test, VOCAB)
    audio_s = sum(r.duration for r in test_refs)
    oov = sum(w not in set(model.read_unigrams()) for r in test_refs for w in r.ref.split())
    n_words = sum(len(r.ref.split()) for r in test_refs)
    print(f"test: {len(test)} utterances, {audio_s:.0f} s of audio at 20 ms/frame, "
          f"{n_words} words, OOV {100 * oov / n_words:.1f}%", flush=True)

    fl_base = FlashlightOptions(lm=str(model.path), lexicon=str(model.lexicon), beam=args.beam)
    pc_base = PyctcdecodeOptions(lm=str(model.path), unigrams=str(model.unigrams), beam=args.beam)
    tuned = {}
    for name, base in (("flashlight", fl_base), ("pyctcdecode", pc_base)):
        t = time.perf_counter()
        r = tune(name, base, dev, dev_refs, TuneOptions(trials=args.trials, workers=args.workers), progress=False)
        tuned[name] = dataclasses.replace(base, **r.best)
        print(f"tuned {name} on dev: {r.best} WER {100 * r.best_wer:.2f}% (default {100 * r.default_wer:.2f}%), "
              f"{time.perf_counter() - t:.0f} s", flush=True)

    runs = [
        ("greedy", "greedy", GreedyOptions()),
        ("flashlight lexicon + 4-gram (tuned)", "flashlight", tuned["flashlight"]),
        ("flashlight lexicon-free, no LM", "lexfree", LexiconFreeOptions(beam=args.beam)),
        ("pyctcdecode + 4-gram (default alpha/beta)", "pyctcdecode", pc_base),
        ("pyctcdecode + 4-gram (tuned)", "pyctcdecode", tuned["pyctcdecode"]),
    ]
    rows = []
    for label, name, options in runs:
        texts, load_s, wall = timed_decode(name, options, test, 1 if name == "greedy" else args.workers)
        cores = 1 if name == "greedy" else min(args.workers, len(test))
        rows.append({"decoder": label, "wer": wer(test_refs, texts), "load_s": load_s, "wall_s": wall,
                     "rtf": wall / audio_s, "rtf_per_core": wall * cores / audio_s, "cores": cores})
        print(f"{label}: WER {100 * rows[-1]['wer']:.2f}%  wall {wall:.2f} s", flush=True)

    infer_s, params = (None, None) if args.no_inference else inference_seconds(
        [r.duration for r in test_refs], args.work, args.workers)
    print()
    print(f"test set: {len(test)} utterances, {audio_s / 60:.1f} min of audio; beam {args.beam}; "
          f"{args.workers} workers; LM load time excluded from wall time")
    if infer_s:
        print(f"wav2vec2-base ({params / 1e6:.1f}M params, random init, fp32, {args.workers} threads): "
              f"{infer_s:.1f} s, RTF {infer_s / audio_s:.4f}")
    print()
    print("| decoder | test WER % | decode wall s | RTF | RTF per core | vs greedy | % of inference time |")
    print("|---|---|---|---|---|---|---|")
    greedy_wall = rows[0]["wall_s"]
    for r in rows:
        share = f"{100 * r['wall_s'] / infer_s:.1f}" if infer_s else "-"
        print(f"| {r['decoder']} | {100 * r['wer']:.2f} | {r['wall_s']:.2f} | {r['rtf']:.4f} | "
              f"{r['rtf_per_core']:.4f} | {r['wall_s'] / greedy_wall:.0f}x | {share} |")
    fl_row, pc_row = rows[1], rows[4]
    best_pc = min(rows[3]["wer"], rows[4]["wer"])
    print()
    if infer_s:
        print(f"goal 1: flashlight + 4-gram adds {100 * fl_row['wall_s'] / infer_s:.1f}% to inference time "
              f"(goal <= 20%): {'met' if fl_row['wall_s'] <= 0.2 * infer_s else 'NOT met'}")
    print(f"goal 2: flashlight WER {100 * fl_row['wer']:.2f}% vs pyctcdecode's best {100 * best_pc:.2f}%: "
          f"{'met' if fl_row['wer'] <= best_pc else 'NOT met'}")
    ratio = pc_row["wall_s"] / fl_row["wall_s"]
    print(f"flashlight takes {1 / ratio:.1f}x the time of pyctcdecode (tuned) at beam {args.beam}")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "audio_s": audio_s,
                                         "inference_s": infer_s, "params": params, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
