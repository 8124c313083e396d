"""How much the LM repairs, by how good the acoustic model is: utterances binned by their
greedy CER, with greedy and LM WER per bin. It answers "what greedy CER would a WER target
with this LM need" from one decoded model, without training a better one.

    .venv/bin/python scripts/lm_gain_by_cer.py work/models/demo --lm 4gram

Reads <model>/decode/<split>/{greedy,<lm>}/recogs.jsonl as `asrkit decode` writes them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jiwer

BINS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, float("inf"))


def read_recogs(path: Path) -> dict[str, dict]:
    with open(path, encoding="utf-8") as f:
        return {row["id"]: row for row in map(json.loads, f)}


def paired(model: Path, lm: str) -> list[tuple[str, str, str]]:
    """(reference, greedy hypothesis, LM hypothesis) for every utterance decoded both ways."""
    out = []
    for split in sorted(p for p in (model / "decode").iterdir() if p.is_dir()):
        if not ((split / "greedy" / "recogs.jsonl").is_file() and (split / lm / "recogs.jsonl").is_file()):
            continue
        greedy, with_lm = read_recogs(split / "greedy" / "recogs.jsonl"), read_recogs(split / lm / "recogs.jsonl")
        out += [(row["ref"], row["hyp"], with_lm[uid]["hyp"]) for uid, row in greedy.items() if uid in with_lm]
    if not out:
        raise SystemExit(f"{model}/decode: no split decoded both greedy and with {lm!r}")
    return out


def table(rows: list[tuple[str, str, str]], lm: str) -> str:
    lines = [f"| greedy CER bin | utterances | greedy CER | greedy WER | {lm} WER |", "| --- | ---: | ---: | ---: | ---: |"]
    cers = [jiwer.cer(ref, greedy) for ref, greedy, _ in rows]  # once per utterance, not per bin
    for lo, hi in zip(BINS, BINS[1:]):
        chosen = [r for r, cer in zip(rows, cers) if lo <= cer < hi]
        if not chosen:
            continue
        refs, greedy, with_lm = (list(column) for column in zip(*chosen))
        lines.append(f"| [{lo:.1f}, {hi:.1f}) | {len(chosen)} | {100 * jiwer.cer(refs, greedy):.1f} | "
                     f"{100 * jiwer.wer(refs, greedy):.1f} | {100 * jiwer.wer(refs, with_lm):.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="a model folder with decode/ results")
    parser.add_argument("--lm", default="4gram", help="the LM setting to compare with greedy (default 4gram)")
    args = parser.parse_args()
    print(table(paired(args.model, args.lm), args.lm))


if __name__ == "__main__":
    main()
