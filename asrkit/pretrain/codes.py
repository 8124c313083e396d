"""What the quantiser's codes mean (the wav2vec 2.0 paper's Appendix D): for a pre-trained
model and a labelled split aligned by a fine-tuned CTC model, how often each code co-occurs
with each letter.

    fine-tuned model -> CTC log-probs (asrkit.logits cache) -> forced alignment -> letter per frame
    pre-trained model -> CNN -> layer norm -> quantiser logits -> argmax code per group per frame
    counts[code, letter] over all frames -> P(letter | code), codes used per group,
                                            purity, mutual information

Outputs, in the chosen folder:

    codes.json   the numbers below, the counts of the most frequent codes, the settings
    codes.md     a summary table
    codes.png    P(letter | code) for the most frequent codes (the paper's figure 4)

Definitions (frames are the 20 ms frames both models share; "code" is the tuple of the G
groups' entries, as the paper's, or one group's entry for the per-group rows):

    purity       sum over codes of max_letter count(code, letter) / frames: how often the
                 code's most frequent letter is the frame's letter
    MI           sum p(c, l) log2 p(c, l) / (p(c) p(l)), in bits; at most H(letter), reached
                 when the code determines the letter
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from asrkit.errors import DataError, ModelError
from asrkit.model import load_checkpoint_config

log = logging.getLogger(__name__)

SILENCE = "_"  # the label of frames before the first letter (the reader's pause)


@dataclass(frozen=True)
class CodesOptions:
    pretrained: Path  # a Wav2Vec2ForPreTraining folder (asrkit pretrain's output or a snapshot)
    aligner: Path  # a fine-tuned CTC model folder whose log-probs align the transcripts
    manifests: Path  # the folder of split manifests
    split: str  # the labelled split to align, e.g. dev-clean or 10min
    out_dir: Path  # codes.json, codes.md, codes.png go here
    max_utterances: int = 0  # 0: every utterance of the split
    top_codes: int = 50  # codes (the most frequent) shown in the figure
    progress: bool = True


@dataclass
class CodeTable:
    """Co-occurrence counts: counts[code, letter] with codes as G-tuples (rows) and letters
    (columns). counts is int64 (C, L)."""
    codes: list[tuple[int, ...]]
    letters: list[str]
    counts: np.ndarray
    groups: int
    entries: int
    skipped: dict = field(default_factory=dict)  # reason -> utterances left out


# ---------------------------------------------------------------- statistics


def mutual_information(counts: np.ndarray) -> float:
    """MI in bits between the row and column variables of a count matrix."""
    total = counts.sum()
    if total == 0:
        raise DataError("no frames to count")
    p = counts / total
    pr, pc = p.sum(axis=1, keepdims=True), p.sum(axis=0, keepdims=True)
    nz = p > 0
    return float((p[nz] * np.log2(p[nz] / (pr @ pc)[nz])).sum())


def entropy(counts: np.ndarray) -> float:
    """Entropy in bits of a count vector."""
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def purity(counts: np.ndarray) -> float:
    """Frames whose letter is their code's most frequent letter, as a fraction."""
    return float(counts.max(axis=1).sum() / counts.sum())


def per_group(table: CodeTable, group: int) -> np.ndarray:
    """(entries, L) counts of one group's entries against letters."""
    out = np.zeros((table.entries, len(table.letters)), dtype=np.int64)
    for code, row in zip(table.codes, table.counts):
        out[code[group]] += row
    return out


def summary(table: CodeTable) -> dict:
    """The numbers of codes.json: frames, codes used, purity and MI for the joint code and
    for each group, H(letter), and the figure's rows."""
    letter_counts = table.counts.sum(axis=0)
    out = {"frames": int(table.counts.sum()), "letters": table.letters,
           "letter_entropy_bits": entropy(letter_counts), "groups": table.groups, "entries": table.entries,
           "joint": {"codes_used": len(table.codes), "possible": table.entries ** table.groups,
                     "purity": purity(table.counts), "mutual_information_bits": mutual_information(table.counts)},
           "per_group": [], "skipped": table.skipped}
    for g in range(table.groups):
        counts = per_group(table, g)
        used = counts.sum(axis=1) > 0
        out["per_group"].append({"group": g, "codes_used": int(used.sum()), "possible": table.entries,
                                 "purity": purity(counts[used]), "mutual_information_bits": mutual_information(counts),
                                 "perplexity": float(2 ** entropy(counts.sum(axis=1)))})
    return out


def most_frequent(table: CodeTable, n: int) -> tuple[list[tuple[int, ...]], np.ndarray]:
    """The n most frequent codes and their P(letter | code) (n, L), ordered as the paper's
    figure: by most likely letter (in letter order), then by that letter's probability."""
    order = np.argsort(-table.counts.sum(axis=1), kind="stable")[:n]
    probs = table.counts[order] / table.counts[order].sum(axis=1, keepdims=True)
    best = probs.argmax(axis=1)
    arrange = np.lexsort((-probs[np.arange(len(order)), best], best))
    return [table.codes[i] for i in order[arrange]], probs[arrange]


# ---------------------------------------------------------------- counting


def quantiser_codes(model, wave: np.ndarray, normalize: bool) -> np.ndarray:
    """The argmax entry of each codebook at each frame: int64 (T', G), as the quantiser picks
    its targets in evaluation (CNN -> layer norm -> weight_proj -> argmax per group)."""
    import torch

    x = torch.from_numpy(wave).float().unsqueeze(0)
    if normalize:
        x = (x - x.mean()) / torch.sqrt(x.var() + 1e-7)
    with torch.no_grad():
        z = model.wav2vec2.feature_extractor(x).transpose(1, 2)
        normed = model.wav2vec2.feature_projection.layer_norm(z)
        q = model.quantizer
        logits = q.weight_proj(normed[0]).view(-1, q.num_groups, q.num_vars)
    return logits.argmax(dim=-1).numpy()


def count(pairs, letters: list[str], groups: int, entries: int, skipped: dict) -> CodeTable:
    """A CodeTable from (codes (T, G), letter ids (T,)) pairs."""
    joint: dict[tuple[int, ...], np.ndarray] = {}
    for codes, labels in pairs:
        for code, label in zip(map(tuple, codes.tolist()), labels.tolist()):
            row = joint.get(code)
            if row is None:
                row = joint[code] = np.zeros(len(letters), dtype=np.int64)
            row[label] += 1
    if not joint:
        raise DataError(f"no frame was aligned ({', '.join(f'{k}: {v}' for k, v in skipped.items()) or 'no utterance'})")
    keys = sorted(joint)
    return CodeTable(keys, letters, np.stack([joint[k] for k in keys]), groups, entries, skipped)


def aligned_frames(options: CodesOptions, model, normalize: bool, skipped: dict) -> tuple[list, list[str]]:
    """([(codes (T, G), letter column ids (T,)) per utterance], the column names): the
    aligner's tokens, its blank named SILENCE (blank frames take the letter before them).
    Utterances that cannot be aligned are counted in `skipped`."""
    from tqdm import tqdm

    from asrkit.audio import load_audio
    from asrkit.ctc import align, frame_letters
    from asrkit.data.manifest import read_split
    from asrkit.logits import ensure
    from asrkit.vocab import BLANK, letters as spell

    cache = ensure(options.aligner, options.split, options.manifests, progress=options.progress)
    audio = {u.id: u.audio for u in read_split(options.manifests, options.split)}
    ids = {t: i for i, t in enumerate(cache.tokens)}
    blank = ids[BLANK]
    pairs = []
    rows = cache.utterances[:options.max_utterances or None]
    for k, row in enumerate(tqdm(rows, desc="codes", unit="utt", disable=not options.progress)):
        label = [ids.get(c) for c in spell(row["text"])]
        if None in label or not label:
            _skip(skipped, "with letters outside the aligner's vocabulary, or no text")
            continue
        codes = quantiser_codes(model, load_audio(audio[row["id"]]), normalize)
        log_probs = cache[k]
        if abs(len(codes) - len(log_probs)) > 1:
            raise DataError(f"{row['id']}: the pre-trained model gives {len(codes)} frames and the aligner "
                            f"{len(log_probs)}: the two must share a 20 ms frame rate")
        n = min(len(codes), len(log_probs))
        path = align(log_probs[:n], label, blank)
        if path is None:
            _skip(skipped, "too short for their transcripts")
            continue
        pairs.append((codes[:n], frame_letters(path, blank, blank)))
    return pairs, [SILENCE if t == BLANK else t for t in cache.tokens]


def _skip(skipped: dict, why: str) -> None:
    skipped[why] = skipped.get(why, 0) + 1


def load_pretrained(folder: Path):
    """The Wav2Vec2ForPreTraining in `folder`, refused unless its quantiser comes from the
    weights: transformers would build one at random for any wav2vec2 checkpoint and only log it."""
    from transformers import Wav2Vec2ForPreTraining

    config = load_checkpoint_config(str(folder))
    if config.model_type != "wav2vec2":
        raise ModelError(f"{folder} is a {config.model_type} model; the codes are read from a wav2vec2 "
                         "pre-training checkpoint (Wav2Vec2ForPreTraining, as `asrkit pretrain` writes)")
    model, info = Wav2Vec2ForPreTraining.from_pretrained(folder, config=config, output_loading_info=True)
    if any(key.startswith("quantizer.") for key in info["missing_keys"]):
        raise ModelError(f"{folder}: the weights have no quantiser (a fine-tuned checkpoint keeps none); "
                         "pass the pre-trained model, before fine-tuning")
    return model.eval()


def analyse(options: CodesOptions) -> dict:
    """Align, count, and write codes.json, codes.md and codes.png into options.out_dir."""
    from transformers import Wav2Vec2FeatureExtractor

    from asrkit.io import make_dir, write_json, write_text

    model = load_pretrained(options.pretrained)
    try:  # asrkit pretrain saves its preprocessor beside the model; others may not
        normalize = bool(Wav2Vec2FeatureExtractor.from_pretrained(options.pretrained).do_normalize)
    except OSError:
        normalize = False
    skipped: dict = {}
    pairs, letters = aligned_frames(options, model, normalize, skipped)
    table = count(pairs, letters, model.quantizer.num_groups, model.quantizer.num_vars, skipped)
    result = summary(table)
    shown, probs = most_frequent(table, options.top_codes)
    result["figure_codes"] = [list(c) for c in shown]
    result["settings"] = {"pretrained": str(options.pretrained), "aligner": str(options.aligner),
                          "split": options.split, "utterances": len(pairs)}
    out = make_dir(options.out_dir)
    write_json(out / "codes.json", result)
    write_text(out / "codes.md", markdown(result))
    figure(shown, probs, letters, out / "codes.png")
    log.info("codes: %s", (out / "codes.md").read_text().splitlines()[0])
    return result


def markdown(result: dict) -> str:
    """The summary table of codes.md."""
    lines = [f"# Quantiser codes against letters ({result['settings']['split']}, "
             f"{result['frames']} frames, {result['settings']['utterances']} utterances)", "",
             f"H(letter) = {result['letter_entropy_bits']:.2f} bits", "",
             "| codes | used / possible | purity | MI (bits) | MI / H(letter) |", "|---|---:|---:|---:|---:|"]
    h = result["letter_entropy_bits"] or 1.0
    rows = [("joint", result["joint"])] + [(f"group {g['group']}", g) for g in result["per_group"]]
    for name, r in rows:
        lines.append(f"| {name} | {r['codes_used']} / {r['possible']} | {r['purity']:.3f} | "
                     f"{r['mutual_information_bits']:.3f} | {r['mutual_information_bits'] / h:.3f} |")
    if result["skipped"]:
        lines += ["", "Left out: " + "; ".join(f"{v} {k}" for k, v in result["skipped"].items())]
    return "\n".join(lines) + "\n"


def figure(codes: list[tuple[int, ...]], probs: np.ndarray, letters: list[str], path: Path) -> None:
    """P(letter | code) as an image: letters down, codes across (the paper's figure 4)."""
    from matplotlib.figure import Figure

    from asrkit.io import atomic_path

    fig = Figure(figsize=(max(6.0, 0.18 * len(codes) + 2), 0.22 * len(letters) + 1.5), dpi=100,
                 layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(probs.T, aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_yticks(range(len(letters)), letters, fontsize=7)
    ax.set_xticks(range(len(codes)), ["-".join(map(str, c)) for c in codes], rotation=90, fontsize=5)
    ax.set_xlabel(f"the {len(codes)} most frequent codes (group entries)")
    ax.set_ylabel("letter (_: blank / silence)")
    fig.colorbar(image, ax=ax, label="P(letter | code)")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
