"""Training throughput: length-bucketed max_tokens batches (asrkit's, as fairseq) against
fixed-size random batches of the same utterances, measured in the same run.

Both conditions train the same model with the same step as asrkit.train (CTCTrainer, CTC
summed in fp32, Adam; CNN frozen, masking and layerdrop of the base_10min recipe) on the
same utterances; the fixed-size batches hold the mean number of utterances of the bucketed
ones, so both see the same audio in the same number of steps. On CPU the conditions take
turns step by step (a shared machine's load changes hit them alike); on CUDA they run one
after the other so that each gets its own peak memory. Reported per condition:
padding fraction of the input tensors, audio seconds per wall second, and on CUDA the peak
memory (torch.cuda.max_memory_allocated).

Utterance lengths come from a manifest (--manifest, real audio is read) or are drawn like
LibriSpeech's training utterances (normal, mean 12.7 s, sd 3.5 s, clipped to 1.5-24.5 s) with
random-noise audio: throughput does not depend on what is said.

    .venv/bin/python benchmarks/train_throughput.py                      # tiny model, CPU
    .venv/bin/python benchmarks/train_throughput.py --device cuda --config base --steps 20
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from asrkit.config import ModelConfig
from asrkit.data.batching import fixed_size_batches, length_bucketed_batches, padding_fraction
from asrkit.data.collate import Collator, Example
from asrkit.model import CTCTrainer, count_parameters, freeze_for_recipe, load_ctc_model
from asrkit.train import ctc_loss_sum
from asrkit.vocab import build_tokenizer

SR = 16_000


def synthetic_lengths(n: int, seed: int) -> np.ndarray:
    seconds = np.clip(np.random.default_rng(seed).normal(12.7, 3.5, n), 1.5, 24.5)
    return (seconds * SR).astype(np.int64)


class Utterances:
    """Examples by index: real audio from a manifest, or noise of the drawn lengths."""

    def __init__(self, lengths: np.ndarray, manifest: str | None, seed: int):
        self.lengths, self.seed = lengths, seed
        self.utts = None
        if manifest:
            from asrkit.data.manifest import read_manifest

            self.utts = read_manifest(manifest)

    def __getitem__(self, i: int) -> Example:
        rng = np.random.default_rng([self.seed, i])
        if self.utts is not None:
            from asrkit.audio import load_audio

            wave = load_audio(self.utts[i].audio)
        else:
            wave = (0.1 * rng.standard_normal(int(self.lengths[i]))).astype(np.float32)
        n_labels = max(1, int(len(wave) / SR * 14))  # ~14 characters per second of speech
        return Example(str(i), wave, rng.integers(2, 30, n_labels), len(wave))


def build_model(name: str, device: str):
    """(model, whether batches carry attention masks), with the base_10min recipe's settings."""
    recipe = ModelConfig(name=name, freeze_transformer_updates=0)
    if name != "base":
        model, info, _ = load_ctc_model(recipe, build_tokenizer())
        return model.to(device).train(), info.attention_mask
    # Wav2Vec2Config() defaults are the BASE architecture (95M parameters, group norm: no masks).
    from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

    config = Wav2Vec2Config(vocab_size=30, pad_token_id=0, mask_time_prob=0.65, mask_feature_prob=0.25,
                            mask_feature_length=64, layerdrop=0.1, activation_dropout=0.1, hidden_dropout=0.0,
                            attention_dropout=0.0, feat_proj_dropout=0.0, final_dropout=0.0,
                            ctc_zero_infinity=True)
    model = Wav2Vec2ForCTC(config)
    freeze_for_recipe(model, recipe)
    return model.to(device).train(), False


class Condition:
    """One batching scheme: its own copy of the model and optimizer, timed step by step."""

    def __init__(self, model, batches, data, collator, device, autocast_dtype, warmup: int):
        self.model, self.batches, self.data, self.collator = model, batches, data, collator
        self.device, self.dtype, self.warmup = device, autocast_dtype, warmup
        self.wrapper = CTCTrainer(model)
        self.opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5,
                                     betas=(0.9, 0.98), eps=1e-8, weight_decay=0.0)
        self.audio = self.wall = 0.0

    def step(self, k: int) -> None:
        batch = self.collator([self.data[i] for i in self.batches[k]]).to(self.device)
        if self.device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        with torch.autocast(device_type=self.device, dtype=self.dtype, enabled=self.dtype is not None):
            logits = self.wrapper(batch.inputs, batch.attention_mask)
        frames = self.model._get_feat_extract_output_lengths(batch.input_lengths)
        loss = ctc_loss_sum(logits, frames, batch.labels, batch.label_lengths) / batch.size
        loss.backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        if self.device == "cuda":
            torch.cuda.synchronize()
        if k >= self.warmup:  # the first steps pay for allocation and kernel choice
            self.wall += time.perf_counter() - started
            self.audio += float(batch.samples.sum()) / SR

    def result(self) -> dict:
        return {"audio_s": self.audio, "wall_s": self.wall,
                "audio_s_per_s": self.audio / self.wall if self.wall else float("nan")}


def run_interleaved(conditions: dict[str, Condition], steps: int) -> dict:
    """CPU: step k of every condition, then step k+1, so that a change in the machine's load
    (a shared machine) hits all conditions alike."""
    for k in range(steps):
        for c in conditions.values():
            c.step(k)
    return {name: c.result() for name, c in conditions.items()}


def run_sequential(conditions: dict[str, Condition], steps: int) -> dict:
    """CUDA: one condition after the other, each with its own peak-memory figure."""
    rows = {}
    for name, c in conditions.items():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        for k in range(steps):
            c.step(k)
        rows[name] = {**c.result(), "peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30}
    return rows


def copy_model(model, state: dict):
    import copy

    twin = copy.deepcopy(model)
    twin.load_state_dict(state)
    return twin


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="tiny", help="tiny, tiny-layernorm, tiny-w2v-bert, or base (95M)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--max-tokens", type=int, default=None,
                   help="samples per batch (default: 3,200,000 = 200 s, the recipe's)")
    p.add_argument("--utterances", type=int, default=None, help="utterances (default: enough for --steps)")
    p.add_argument("--steps", type=int, default=8, help="batches per condition (after sorting/shuffling)")
    p.add_argument("--warmup", type=int, default=2, help="steps left out of the timing, per condition")
    p.add_argument("--manifest", default=None, help="read lengths and audio from this manifest instead")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--memory-safe-baseline", action="store_true",
                   help="also time fixed-size batches sized so that the longest utterances still fit "
                        "max_tokens (what a fixed batch size must be to never exceed the memory budget)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    max_tokens = args.max_tokens or 3_200_000
    if args.manifest:
        from asrkit.data.collate import samples_at_16k
        from asrkit.data.manifest import read_manifest

        lengths = np.array([samples_at_16k(u) for u in read_manifest(args.manifest)])
    else:
        n = args.utterances or int((args.steps + args.warmup) * max_tokens / (12.7 * SR) * 1.3) + 8
        lengths = synthetic_lengths(n, args.seed)
    lengths = lengths[lengths <= max_tokens]
    data = Utterances(lengths, args.manifest, args.seed)

    bucketed = length_bucketed_batches(lengths, max_tokens, seed=args.seed, epoch=0)
    per_batch = len(lengths) / len(bucketed)
    fixed = fixed_size_batches(len(lengths), max(1, round(per_batch)), seed=args.seed, epoch=0)
    conditions = [("fixed-size random (mean size)", fixed)]
    if args.memory_safe_baseline:
        safe = max(1, int(max_tokens // lengths.max()))
        conditions.append((f"fixed-size random ({safe}: longest fit)",
                           fixed_size_batches(len(lengths), safe, seed=args.seed, epoch=0)))
    conditions.append(("length-bucketed max_tokens", bucketed))
    steps = min(args.steps + args.warmup, len(bucketed), len(fixed))

    model, attention_mask = build_model(args.config, args.device)
    total, trainable = count_parameters(model)
    dtype = torch.bfloat16 if args.device == "cuda" else None
    print(f"model {args.config}: {total / 1e6:.1f}M parameters ({trainable / 1e6:.1f}M train), device "
          f"{args.device}{' bf16' if dtype else ' fp32'}, torch threads {torch.get_num_threads()}")
    print(f"data: {len(lengths)} utterances, {lengths.sum() / SR / 3600:.2f} h, mean {lengths.mean() / SR:.1f} s; "
          f"max_tokens {max_tokens} ({max_tokens / SR:.0f} s); {steps - args.warmup} timed steps per condition "
          f"after {args.warmup} warm-up")
    collator = Collator(attention_mask)
    # Every condition starts from the same weights, in a model of its own.
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}
    runs = {}
    for n, (name, batches) in enumerate(conditions):
        copy = model if n == 0 else copy_model(model, initial)
        runs[name] = Condition(copy, batches[:steps], data, collator, args.device, dtype, args.warmup)
    rows = (run_sequential if args.device == "cuda" else run_interleaved)(runs, steps)
    for name, batches in conditions:
        rows[name]["padding"] = padding_fraction(batches[:steps], lengths)
        rows[name]["utts_per_batch"] = np.mean([len(b) for b in batches[:steps]])

    print(f"\n| batching | utts/batch | padding | audio s | wall s | audio-s/s |"
          + (" peak GiB |" if args.device == "cuda" else ""))
    print("|---|---|---|---|---|---|" + ("---|" if args.device == "cuda" else ""))
    for name, r in rows.items():
        print(f"| {name} | {r['utts_per_batch']:.1f} | {100 * r['padding']:.1f}% | {r['audio_s']:.0f} | "
              f"{r['wall_s']:.1f} | {r['audio_s_per_s']:.1f} |"
              + (f" {r['peak_mem_gib']:.1f} |" if args.device == "cuda" else ""))
    a = rows["length-bucketed max_tokens"]
    print()
    for name, b in rows.items():
        if b is not a:
            print(f"bucketed / {name}: {a['audio_s_per_s'] / b['audio_s_per_s']:.2f}x audio-s/s (goal >= 1.5x); "
                  f"padding bound {(1 - a['padding']) / (1 - b['padding']):.2f}x")
    print(f"bucketed padding {100 * a['padding']:.1f}% (goal < 10%)")


if __name__ == "__main__":
    main()
