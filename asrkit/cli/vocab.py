"""Write the letter vocabulary as a Hugging Face processor (tokenizer + feature extractor).

The folder it writes loads with Wav2Vec2Processor.from_pretrained(DIR). Token ids:
<pad>=0 (the CTC blank), <unk>=1, |=2 (word delimiter), '=3, A..Z=4..29.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "write the letter vocabulary as a saved Wav2Vec2Processor"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="folder to save the processor in")
    parser.add_argument("--no-attention-mask", action="store_true",
                        help="for base-style (group norm) models, trained without attention masks")


def run(args: argparse.Namespace) -> int:
    from asrkit.io import make_dir
    from asrkit.vocab import save_processor

    processor = save_processor(make_dir(args.out), return_attention_mask=not args.no_attention_mask)
    print(f"wrote a processor with {len(processor.tokenizer)} tokens to {args.out}")
    return 0


def output_folder(args: argparse.Namespace) -> Path:
    """The processor's folder."""
    return Path(args.out)
