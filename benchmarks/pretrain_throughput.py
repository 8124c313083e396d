"""Pre-training throughput: asrkit's step (batches by total audio, every utterance cropped to
the batch's shortest, fairseq masks and distractors, asrkit.pretrain.objective) against
transformers' pre-training example's step (random batches of the same mean size padded to
the longest, _compute_mask_indices, _sample_negative_indices, Wav2Vec2ForPreTraining.forward),
and against asrkit's step with the objective written as fairseq writes it (the broadcast
codevector product and the (N, K + 1, D) cosine gather; the reference kept in
tests/test_pretrain_objective.py), measured in the same run on the same model and audio.
The two asrkit steps see the very same batches, so their ratio is the objective's speed-up.

On CPU each condition runs in a process of its own, the conditions taking turns for
--rounds rounds, so a shared machine's load hits them alike. (Taking turns step by step in
one process skews the ratios: whichever runs first in a round runs up to 15% slower, as
memory the others gave back is faulted in again, and the old objective, the most
memory-hungry, runs slower beside the others than alone: x2.55-2.99 there against x1.9-2.1
in separate processes.) On CUDA
they run one after the other (bf16 autocast) so each gets its own peak memory. Reported per
condition: audio seconds the model saw per wall second (real audio only: padding is not
counted, cropped-away audio is not counted), padding fraction, and on CUDA the peak memory
and the model FLOP utilisation (FLOPs of one step counted by torch's FlopCounterMode,
against --peak-tflops).

Utterance lengths are drawn like LibriSpeech's (normal, mean 12.7 s, sd 3.5 s, clipped to
2-15.6 s) with random-noise audio: throughput does not depend on what is said.

    .venv/bin/python benchmarks/pretrain_throughput.py --threads 2             # tiny, CPU, 40 s batches
    .venv/bin/python benchmarks/pretrain_throughput.py --threads 1 --bf16-too  # + the step under bf16 autocast
    python3 benchmarks/pretrain_throughput.py --device cuda --config base --max-tokens 1400000 --steps 20
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from asrkit.config import PretrainModelConfig
from asrkit.data.batching import length_bucketed_batches
from asrkit.masks import compute_mask_indices
from asrkit.pretrain.model import load_pretraining_model
from asrkit.pretrain.objective import PretrainObjective, sample_negatives
from train_throughput import synthetic_lengths  # (benchmarks/, the script's own folder)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

SR = 16_000


def lengths(n: int, seed: int) -> np.ndarray:
    """train_throughput's LibriSpeech-like lengths, within the pre-training recipes' bounds
    (data.min_sample_size 2 s, data.max_sample_size 15.6 s)."""
    return np.clip(synthetic_lengths(n, seed), 32_000, 250_000)


class Condition:
    """One way of making batches and computing the loss, timed step by step."""

    def __init__(self, name, model, batches, make_step, device, dtype, warmup: int):
        self.name, self.model, self.batches, self.make_step = name, model, batches, make_step
        self.device, self.dtype, self.warmup = device, dtype, warmup
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
        self.seconds = self.audio = self.padded = self.real = 0.0
        self.flops = None

    def step(self, k: int) -> None:
        inputs, real_samples, loss_fn = self.make_step(self.batches[k % len(self.batches)], k)
        sync = torch.cuda.synchronize if self.device == "cuda" else (lambda: None)
        sync()
        start = time.perf_counter()
        with torch.autocast(self.device, dtype=self.dtype, enabled=self.dtype is not None):
            loss = loss_fn()
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        sync()
        if k >= self.warmup:
            self.seconds += time.perf_counter() - start
            self.audio += real_samples / SR
            self.padded += inputs.numel()
            self.real += real_samples

    def count_flops(self) -> None:
        from torch.utils.flop_counter import FlopCounterMode

        inputs, real, loss_fn = self.make_step(self.batches[0], 0)
        with FlopCounterMode(display=False) as counter:
            with torch.autocast(self.device, dtype=self.dtype, enabled=self.dtype is not None):
                loss = loss_fn()
            loss.backward()
        self.optimizer.zero_grad(set_to_none=True)
        self.flops = counter.get_total_flops() / (real / SR)  # per second of audio

    def result(self) -> dict:
        return {"audio_s_per_s": self.audio / self.seconds, "padding": 1 - self.real / max(self.padded, 1)}


class _ReferenceObjective(PretrainObjective):
    """asrkit's objective with fairseq's formulation of the quantiser and the logits."""

    def forward(self, *args):
        from asrkit.pretrain import objective
        from test_pretrain_objective import reference_logits, reference_quantize

        fast = objective.quantize, objective.contrastive_logits
        objective.quantize, objective.contrastive_logits = reference_quantize, reference_logits
        try:
            return super().forward(*args)
        finally:
            objective.quantize, objective.contrastive_logits = fast


def asrkit_condition(model, lens, max_tokens, device, seed, reference: bool = False):
    """Length-bucketed batches, crop to the shortest, asrkit's masks and objective (`reference`:
    fairseq's formulation of it)."""
    objective = (_ReferenceObjective if reference else PretrainObjective)(model, 0.1, 10.0, 0.1, 0.1).to(device)
    batches = length_bucketed_batches(lens, max_tokens, seed, 0)

    def make(batch, k):
        rng = np.random.default_rng([seed, k])
        size = int(min(lens[i] for i in batch))
        inputs = torch.from_numpy(rng.standard_normal((len(batch), size), dtype=np.float32)).to(device)
        frames = int(model._get_feat_extract_output_lengths(torch.tensor(size)))
        mask = compute_mask_indices((len(batch), frames), None, 0.65, 10, min_masks=2, rng=rng)
        negatives = torch.from_numpy(sample_negatives(mask, model.config.num_negatives, rng)).to(device)
        mask = torch.from_numpy(mask).to(device)
        return inputs, len(batch) * size, lambda: objective.total(objective(inputs, None, mask, negatives)) / mask.sum()
    return batches, make


def objective_timing(model, masked: int, steps: int, seed: int) -> dict:
    """Seconds per forward + backward of the part of the objective that changed, the
    quantiser and the logits over `masked` frames (100 distractors each), asrkit's against
    fairseq's formulation, alternating call by call."""
    from asrkit.pretrain import objective
    from test_pretrain_objective import reference_logits, reference_quantize

    rng = np.random.default_rng(seed)
    features = torch.randn(masked, model.config.conv_dim[-1], requires_grad=True)
    predictions = torch.randn(masked, model.config.proj_codevector_dim, requires_grad=True)
    negatives = torch.from_numpy(rng.integers(0, masked, size=(masked, model.config.num_negatives)))
    forms = {"asrkit": (objective.quantize, objective.contrastive_logits),
             "fairseq's form": (reference_quantize, reference_logits)}
    seconds = dict.fromkeys(forms, 0.0)
    for k in range(steps + 1):
        for name, (quantize, logits_of) in forms.items():
            start = time.perf_counter()
            q = quantize(model.quantizer, features)
            targets = model.project_q(q.vectors)
            logits = logits_of(predictions, targets, negatives, 0.1, q.codes)
            torch.nn.functional.cross_entropy(logits, torch.zeros(masked, dtype=torch.long)).backward()
            if k:  # the first call of each warms up
                seconds[name] += (time.perf_counter() - start) / steps
    model.zero_grad(set_to_none=True)
    return seconds


def hf_condition(model, lens, mean_size, device, seed):
    """transformers' example: random batches padded to the longest, its helpers, model.forward."""
    from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices, _sample_negative_indices

    order = np.random.default_rng(seed).permutation(len(lens))
    batches = [order[i:i + mean_size].tolist() for i in range(0, len(order) - mean_size + 1, mean_size)]
    needs_mask = model.config.feat_extract_norm == "layer"

    def make(batch, k):
        rng = np.random.default_rng([seed, k])
        size = int(max(lens[i] for i in batch))
        inputs = np.zeros((len(batch), size), dtype=np.float32)
        attention = np.zeros((len(batch), size), dtype=np.int64)
        for b, i in enumerate(batch):
            inputs[b, :lens[i]] = rng.standard_normal(lens[i], dtype=np.float32)
            attention[b, :lens[i]] = 1
        attention_t = torch.from_numpy(attention)
        frames = int(model._get_feat_extract_output_lengths(torch.tensor(size)))
        frame_mask = model._get_feature_vector_attention_mask(frames, attention_t)
        mask = _compute_mask_indices((len(batch), frames), 0.65, 10, attention_mask=frame_mask, min_masks=2)
        negatives = _sample_negative_indices((len(batch), frames), model.config.num_negatives, mask)
        inputs_t = torch.from_numpy(inputs).to(device)
        mask_t, neg_t = torch.from_numpy(mask).to(device), torch.from_numpy(negatives).to(device)
        am = attention_t.to(device) if needs_mask else None
        real = int(sum(lens[i] for i in batch))
        return inputs_t, real, lambda: model(inputs_t, attention_mask=am, mask_time_indices=mask_t,
                                             sampled_negative_indices=neg_t).loss / mask_t.sum()
    return batches, make


SUMS = ("seconds", "audio", "padded", "real")  # a Condition's running totals, what a separate process reports


def separate_process(name: str) -> dict:
    """This script, run again with the same arguments for one condition alone: its sums."""
    done = subprocess.run([sys.executable, *sys.argv, "--condition", name], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"the {name!r} condition failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--config", default="tiny", choices=["tiny", "base", "large"])
    p.add_argument("--max-tokens", type=int, default=640_000, help="samples per asrkit batch (BASE: 1,400,000)")
    p.add_argument("--utterances", type=int, default=400)
    p.add_argument("--steps", type=int, default=10, help="timed steps per condition (per round on CPU)")
    p.add_argument("--rounds", type=int, default=2, help="CPU: turns each condition's process takes")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak of the GPU (H100/H200 SXM: 989)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bf16-too", action="store_true",
                   help="CPU: one more condition, asrkit's step under bf16 autocast (train.precision: bf16)")
    p.add_argument("--objective-frames", type=int, default=1000,
                   help="CPU: masked frames for the objective-only timing (a 40 s batch masks ~1,000)")
    p.add_argument("--condition", help=argparse.SUPPRESS)  # CPU: run this one alone, print its sums as JSON
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model, _ = load_pretraining_model(PretrainModelConfig(name=args.config))
    model.to(args.device).train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    lens = lengths(args.utterances, args.seed)
    dtype = torch.bfloat16 if args.device == "cuda" else None
    ours, make_ours = asrkit_condition(model, lens, args.max_tokens, args.device, args.seed)
    _, make_before = asrkit_condition(model, lens, args.max_tokens, args.device, args.seed, reference=True)
    mean_size = max(1, round(np.mean([len(b) for b in ours])))
    theirs, make_theirs = hf_condition(model, lens, mean_size, args.device, args.seed)
    conditions = {"asrkit": Condition("asrkit", model, ours, make_ours, args.device, dtype, args.warmup),
                  "transformers example": Condition("hf", model, theirs, make_theirs, args.device, dtype, args.warmup)}
    if args.device == "cpu":  # the reference lives in tests/ (pytest), which the GPU machine may not have
        conditions["asrkit, fairseq's form"] = Condition("before", model, ours, make_before, args.device, dtype,
                                                         args.warmup)
        if args.bf16_too:
            conditions["asrkit, bf16 autocast"] = Condition("bf16", model, ours, make_ours, args.device,
                                                            torch.bfloat16, args.warmup)
    total = args.steps + args.warmup
    results = {}
    if args.condition:
        c = conditions[args.condition]
        for k in range(total):
            c.step(k)
        print(json.dumps({k: getattr(c, k) for k in SUMS}))
        return
    if args.device == "cpu":
        names = list(conditions)
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                for k, value in separate_process(name).items():
                    setattr(conditions[name], k, getattr(conditions[name], k) + value)
        results = {name: c.result() for name, c in conditions.items()}
    else:
        for name, c in conditions.items():
            model.load_state_dict(state)
            torch.cuda.reset_peak_memory_stats()
            for k in range(total):
                c.step(k)
            c.count_flops()
            results[name] = {**c.result(), "peak_gib": torch.cuda.max_memory_allocated() / 2 ** 30,
                             "mfu": c.flops * c.result()["audio_s_per_s"] / (args.peak_tflops * 1e12)}
    params = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"{args.config} ({params:.1f}M parameters) on {args.device}, asrkit batches <= {args.max_tokens} samples "
          f"({args.max_tokens / SR:.0f} s), transformers example batches of {mean_size} utterances, "
          f"{args.steps} timed steps each" + (f" per round, {args.rounds} rounds" if args.device == "cpu" else ""))
    base = results["transformers example"]["audio_s_per_s"]
    before = results.get("asrkit, fairseq's form", results["asrkit"])["audio_s_per_s"]
    print(f"  {'':22s} {'audio-s/s':>18s}  {'padding':>13s}  vs transformers  vs fairseq's form")
    for name, r in results.items():
        extra = (f", peak {r['peak_gib']:.1f} GiB, MFU {100 * r['mfu']:.1f}%" if "peak_gib" in r else "")
        print(f"  {name:22s} {r['audio_s_per_s']:8.1f} audio-s/s  padding {100 * r['padding']:5.1f}%  "
              f"x{r['audio_s_per_s'] / base:.2f}  x{r['audio_s_per_s'] / before:.2f}{extra}")
    if args.device == "cpu":
        model.load_state_dict(state)
        model.quantizer.temperature = 2.0
        timing = objective_timing(model, args.objective_frames, args.steps, args.seed)
        fast, old = timing["asrkit"], timing["fairseq's form"]
        print(f"quantiser + logits alone ({args.objective_frames} masked frames, forward + backward): "
              f"asrkit {fast:.3f} s, fairseq's form {old:.3f} s: x{old / fast:.1f}")


if __name__ == "__main__":
    main()
