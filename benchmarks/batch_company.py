"""Does an utterance's output depend on what it is batched with? Batch 1 vs batches of 16,
with and without attention masks, for a BASE-style (group-norm CNN) and a LARGE-style
(layer-norm CNN) model.

Each utterance of a split is run alone (no padding: the reference) and inside batches of
16, either in manifest order (mixed lengths, much padding) or sorted by length (as asrkit
batches inference), with the attention mask passed or not. Reported per condition, over
the utterances' real frames: mean and max |log-prob difference| from the batch-1 run, the
share of frames whose best token changes, the greedy CER of the batched hypotheses against
the batch-1 ones, and the greedy WER/CER against the references.

    .venv/bin/python benchmarks/batch_company.py --manifest DIR/dev-other.jsonl [--model tiny --model tiny-layernorm]

--model: a fine-tuned model folder (with its processor) or a random-init config name from
asrkit.model.TINY_CONFIGS (a random model's WER says nothing; its output changes do).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from asrkit.config import ModelConfig
from asrkit.audio import load_audio
from asrkit.data.collate import Featurizer
from asrkit.data.manifest import read_manifest
from asrkit.model import TINY_CONFIGS, build_processor_for, load_ctc_model
from asrkit.results import Recog
from asrkit.score import score
from asrkit.vocab import build_tokenizer


def load(name: str, seed: int):
    """(model in eval mode, processor) for a model folder or a TINY_CONFIGS name."""
    if name in TINY_CONFIGS:
        torch.manual_seed(seed)
        cfg = ModelConfig(name=name)
        model, info, _ = load_ctc_model(cfg, build_tokenizer())
        processor = build_processor_for(cfg, info)
    else:
        from transformers import AutoModelForCTC, AutoProcessor

        model, processor = AutoModelForCTC.from_pretrained(name), AutoProcessor.from_pretrained(name)
    return model.eval(), processor


def log_probs(model, inputs: list[np.ndarray], masked: bool) -> list[torch.Tensor]:
    """Each utterance's log-probs (T'_i, V) from one padded forward pass; inputs are
    waveforms (T,) or filterbank frames (T, F), zero-padded in T."""
    lengths = torch.tensor([len(x) for x in inputs])
    batch = torch.zeros(len(inputs), int(lengths.max()), *inputs[0].shape[1:])
    for i, x in enumerate(inputs):
        batch[i, :len(x)] = torch.from_numpy(x)
    mask = (torch.arange(batch.shape[1])[None, :] < lengths[:, None]).long()
    kwargs = {model.main_input_name: batch}
    if masked:
        kwargs["attention_mask"] = mask
    with torch.no_grad():
        out = model(**kwargs).logits.float().log_softmax(-1)
    frames = model._get_feat_extract_output_lengths(lengths).tolist()
    return [out[i, :n] for i, n in enumerate(frames)]


def run_batches(model, inputs, order: list[int], size: int, masked: bool) -> dict[int, torch.Tensor]:
    out = {}
    for start in range(0, len(order), size):
        idx = order[start:start + size]
        for i, lp in zip(idx, log_probs(model, [inputs[i] for i in idx], masked)):
            out[i] = lp
    return out


def greedy(tokenizer, lp: torch.Tensor) -> str:
    return tokenizer.decode(lp.argmax(-1).tolist())


def compare(name, condition, utts, tokenizer, alone, batched) -> str:
    diffs = torch.cat([(batched[i] - alone[i]).abs().flatten() for i in range(len(utts))])
    changed = sum(int((batched[i].argmax(-1) != alone[i].argmax(-1)).sum()) for i in range(len(utts)))
    frames = sum(len(alone[i]) for i in range(len(utts)))
    hyps = [greedy(tokenizer, batched[i]) for i in range(len(utts))]
    refs1 = [greedy(tokenizer, alone[i]) for i in range(len(utts))]
    vs_alone = score([Recog(u.id, u.speaker, u.duration, r or "-", h) for u, r, h in zip(utts, refs1, hyps)])
    vs_ref = score([Recog(u.id, u.speaker, u.duration, u.text, h) for u, h in zip(utts, hyps)])
    return (f"| {name} | {condition} | {diffs.mean():.2e} | {diffs.max():.2e} | {100 * changed / frames:.2f}% "
            f"| {100 * vs_alone.cer:.2f}% | {100 * vs_ref.wer:.1f}% / {100 * vs_ref.cer:.1f}% |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--model", action="append", help="repeatable; default: tiny and tiny-layernorm")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    utts = read_manifest(args.manifest)
    print("| model | batching | mean abs dlogp | max abs dlogp | frames whose argmax changes "
          "| greedy CER vs batch 1 | greedy WER / CER vs reference |")
    print("|---|---|---|---|---|---|---|")
    for name in args.model or ["tiny", "tiny-layernorm"]:
        started = time.time()
        model, processor = load(name, args.seed)
        tokenizer = processor.tokenizer
        featurize = Featurizer(processor.feature_extractor, model.main_input_name == "input_values")
        inputs = [featurize(load_audio(u.audio)) for u in utts]
        alone = run_batches(model, inputs, list(range(len(utts))), 1, masked=False)
        print(compare(name, "batch 1", utts, tokenizer, alone, alone))
        by_length = sorted(range(len(utts)), key=lambda i: -len(inputs[i]))
        for order_name, order in (("manifest order", list(range(len(utts)))), ("sorted by length", by_length)):
            for masked in (False, True):
                batched = run_batches(model, inputs, order, args.batch, masked)
                condition = f"{args.batch}, {order_name}, {'masked' if masked else 'no mask'}"
                print(compare(name, condition, utts, tokenizer, alone, batched))
        print(f"<!-- {name}: {time.time() - started:.0f} s -->")


if __name__ == "__main__":
    main()
