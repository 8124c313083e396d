"""How much the LM repairs, by how good the acoustic model is: utterances binned by their
greedy CER, with greedy and LM WER per bin. It answers "what greedy CER would a WER target
with this LM need" from one decoded model, without training a better one.

    .venv/bin/python scripts/lm_gain_by_cer.py work/models/demo --lm 4gram

Reads <model>/decode/<split>/{greedy,<lm>}/recogs.jsonl as `asrkit decode` writes them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asrkit.results import Recog, read_recogs
from asrkit.score import score

BINS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, float("inf"))


def paired(model: Path, lm: str) -> list[tuple[Recog, Recog]]:
    """(greedy, LM) recognitions of every utterance decoded both ways."""
    out = []
    for split in sorted(p for p in (model / "decode").iterdir() if p.is_dir()):
        if not ((split / "greedy" / "recogs.jsonl").is_file() and (split / lm / "recogs.jsonl").is_file()):
            continue
        with_lm = {r.id: r for r in read_recogs(split / lm)}
        out += [(r, with_lm[r.id]) for r in read_recogs(split / "greedy") if r.id in with_lm]
    if not out:
        raise SystemExit(f"{model}/decode: no split decoded both greedy and with {lm!r}")
    return out


def table(rows: list[tuple[Recog, Recog]], lm: str) -> str:
    """WER and CER as asrkit.score computes them (normalised), greedy CER binned per utterance."""
    lines = [f"| greedy CER bin | utterances | greedy CER | greedy WER | {lm} WER |", "| --- | ---: | ---: | ---: | ---: |"]
    cers = [score([greedy]).cer for greedy, _ in rows]  # once per utterance, not per bin
    for lo, hi in zip(BINS, BINS[1:]):
        chosen = [r for r, cer in zip(rows, cers) if lo <= cer < hi]
        if not chosen:
            continue
        greedy, with_lm = score([g for g, _ in chosen]), score([w for _, w in chosen])
        lines.append(f"| [{lo:.1f}, {hi:.1f}) | {len(chosen)} | {100 * greedy.cer:.1f} | "
                     f"{100 * greedy.wer:.1f} | {100 * with_lm.wer:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="a model folder with decode/ results")
    parser.add_argument("--lm", default="4gram", help="the LM setting to compare with greedy (default 4gram)")
    args = parser.parse_args()
    print(table(paired(args.model, args.lm), args.lm))


if __name__ == "__main__":
    main()
