"""What the pre-trained quantiser's codes mean (the wav2vec 2.0 paper's Appendix D): align a
labelled split with a fine-tuned CTC model (Viterbi over the CTC graph of each transcript),
take the pre-trained model's code (the argmax entry of each codebook) at every 20 ms frame,
and count how codes co-occur with letters. Writes into --out:

    codes.png    P(letter | code) for the most frequent codes (the paper's figure 4)
    codes.md     codes used (joint and per group), purity, mutual information, H(letter)
    codes.json   the same numbers and the figure's codes

Blank frames of the alignment take the letter before them (a letter lasts until the next
is emitted); those before the first letter are "_". The two models must share the 20 ms
frame rate (any wav2vec 2.0 CNN does). Purity and mutual information are plug-in estimates:
with many codes and few frames they read high; compare them on the same split.

    asrkit codes --pretrained work/models/pretrain-tiny --aligner work/models/demo \\
        --manifests work/manifests --split dev-clean --out work/reports/codes
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "how a pre-trained model's quantiser codes co-occur with letters (paper Appendix D)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pretrained", type=Path, required=True,
                        help="a Wav2Vec2ForPreTraining folder (asrkit pretrain's output or a snapshot)")
    parser.add_argument("--aligner", type=Path, required=True,
                        help="a fine-tuned CTC model folder whose log-probs align the transcripts")
    parser.add_argument("--manifests", type=Path, required=True, help="folder of split manifests")
    parser.add_argument("--split", required=True, help="the labelled split to align, e.g. dev-clean")
    parser.add_argument("--out", type=Path, required=True, help="folder for codes.png, codes.md, codes.json")
    parser.add_argument("--max-utterances", type=int, default=0, help="0: every utterance of the split")
    parser.add_argument("--top-codes", type=int, default=50, help="codes shown in the figure (the most frequent)")


def run(args: argparse.Namespace) -> int:
    from asrkit.errors import SettingError
    from asrkit.pretrain.codes import CodesOptions, analyse

    if args.max_utterances < 0 or args.top_codes < 1:
        raise SettingError("--max-utterances must be >= 0 and --top-codes >= 1")
    result = analyse(CodesOptions(pretrained=args.pretrained, aligner=args.aligner, manifests=args.manifests,
                                  split=args.split, out_dir=args.out, max_utterances=args.max_utterances,
                                  top_codes=args.top_codes, progress=not args.no_progress))
    print((args.out / "codes.md").read_text(encoding="utf-8"), end="")
    print(f"\nfigure: {args.out / 'codes.png'} ({len(result['figure_codes'])} codes)")
    return 0
