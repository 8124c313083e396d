"""Run the acoustic model over splits once and cache its log-probs for decoding.

Writes <model>/logits/<split>/{log_probs.npy,index.json}. A cache whose manifest and model
did not change is kept; `asrkit decode` and `asrkit tune-lm` run this step themselves when
the cache is missing. Audio longer than --chunk-seconds runs in overlapping windows.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asrkit import workspace

HELP = "run the acoustic model once per split and cache its log-probs"


def add_common(parser: argparse.ArgumentParser, manifests: bool = True) -> None:
    """--model/--manifests and the chunking options, shared with decode, tune-lm and
    transcribe (which reads files, not manifests: manifests=False)."""
    parser.add_argument("--model", required=True, help="model folder (or a name under "
                                                       f"{workspace.models_dir()})")
    if manifests:
        parser.add_argument("--manifests", type=Path, default=None,
                            help=f"folder of <split>.jsonl manifests (default: {workspace.manifests_dir()})")
    g = parser.add_argument_group("acoustic model")
    g.add_argument("--chunk-seconds", type=float, default=30.0, help="longer audio runs in windows of this length")
    g.add_argument("--stride-seconds", type=float, default=5.0, help="context per side of each window")
    g.add_argument("--batch-seconds", type=float, default=160.0, help="padded audio per forward pass")
    g.add_argument("--device", default="auto", help="cpu, cuda or auto")


def splits_of(values: list[str]) -> list[str]:
    return [s.strip() for v in values for s in v.split(",") if s.strip()]


def logits_options(args):
    from asrkit.inference import LogitsOptions

    return LogitsOptions(chunk_seconds=args.chunk_seconds, stride_seconds=args.stride_seconds,
                         batch_seconds=args.batch_seconds, device=args.device)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common(parser)
    parser.add_argument("--split", action="append", required=True, metavar="NAME",
                        help="split(s), comma-separated or repeated, e.g. dev-other,test-other")
    parser.add_argument("--force", action="store_true", help="recompute even when the cache is up to date")


def run(args: argparse.Namespace) -> int:
    from asrkit import logits

    model_dir = workspace.resolve_model(args.model)
    manifests = args.manifests or workspace.manifests_dir()
    options = logits_options(args)
    for split in splits_of(args.split):
        manifest = Path(manifests) / f"{split}.jsonl"
        cache = logits.compute(model_dir, manifest, split, options, force=args.force, progress=not args.no_progress)
        print(f"{split}: {len(cache)} utterances, {cache.audio_seconds / 3600:.2f} h, "
              f"inference {cache.index['inference_seconds']:.1f} s -> {cache.folder}")
    return 0


def output_folder(args: argparse.Namespace) -> Path:
    """The model folder, where the cache goes."""
    return workspace.resolve_model(args.model)
