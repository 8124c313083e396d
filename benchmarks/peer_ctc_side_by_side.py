"""asrkit fine-tuning against transformers' CTC example (run_speech_recognition_ctc.py), side by
side on the same model, data and threads, in one run, the conditions taking turns.

Conditions (each run once per round, the order rotated every round so that a shared machine's
load hits them alike):
    peer-fp32   the example through the peer harness (../shared/peers/hf-ctc/run.sh), fp32
    peer-bf16   the same with the example's own --bf16 (the Trainer autocasts on CPU too)
    asrkit      `asrkit finetune`, train.precision auto (bf16 where the CPU has it) and the
                frozen-CNN feature cache, the transformer frozen for the first half
    asrkit-fp32-nocache   the same in fp32 without the cache (shows where the gain comes from)

Same model: the harness's tiny random-init Wav2Vec2ForPreTraining (make_model.py, seed 0;
both sides add a fresh CTC head). Same data: the synthesised 10-minute fold (train) of an
`asrkit synth` corpus, which the harness reads as LibriSpeech train-* folders. Same threads:
OMP_NUM_THREADS for both. Same work: the example takes --steps batches of 8 utterances
(group_by_length); asrkit takes --steps updates of at most 40 s of padded audio (about 8
utterances; batches close at multiples of 8 as fairseq's do).

Measured: audio seconds per wall second of the training loop. The example's is the harness's
(unpadded audio / the Trainer's train_runtime); asrkit's is summed from its train-log windows
(audio / window wall time, data loading included), per phase (transformer frozen: only the CTC
head trains; unfrozen) and over the whole run. The example trains everything from step 1, so
its one number is set against each asrkit phase.

The example script is not part of asrkit: fetch it yourself (transformers repository,
examples/pytorch/speech-recognition/run_speech_recognition_ctc.py) and keep it outside the
project; the harness copies and patches it in its own output folder.

    .venv/bin/python benchmarks/peer_ctc_side_by_side.py --corpus work/corpus \\
        --script /tmp/peer/run_speech_recognition_ctc.py --peer-python /tmp/peer/venv/bin/python \\
        --harness ../shared/peers/hf-ctc --out /tmp/side-by-side --rounds 2 --steps 60
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEER_FOLDERS = {"train-clean": "librispeech_finetuning/1h/0/clean", "train-other": "librispeech_finetuning/1h/0/other",
                "dev-other": "LibriSpeech/dev-other"}


def peer_corpus(corpus: Path, out: Path) -> Path:
    """A LibriSpeech-layout view of the synth corpus for the harness: train-* = the 10-minute fold."""
    view = out / "peer-corpus"
    view.mkdir(parents=True, exist_ok=True)
    for name, source in PEER_FOLDERS.items():
        link = view / name
        if not link.exists():
            link.symlink_to((corpus / source).resolve())
    return view


def run_peer(args, view: Path, out: Path, extra: list[str]) -> dict:
    # The WER metric (asrkit/metrics/wer) imports asrkit's normaliser: the peer's python must find it.
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "HF_CTC_SCRIPT": str(args.script), "HF_CTC_PYTHON": str(args.peer_python),
           "HF_CTC_WER": str(args.wer_metric), "PYTHONPATH": path}
    done = subprocess.run(["bash", str(args.harness / "run.sh"), str(view), str(out), str(args.steps), *extra],
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if done.returncode != 0:
        raise SystemExit(f"the example failed (exit {done.returncode}): its log is {out / 'train.log'}")
    report = json.loads((out / "report.json").read_text())
    return {"whole": report["audio_s_per_s"], "step_loop": report["audio_s_per_s_step_loop"],
            "padding": report.get("padding_fraction")}


def run_asrkit(args, model: Path, manifests: Path, out: Path, precision: str, cache: bool) -> dict:
    sets = {"model.name": str(model), "model.freeze_transformer_updates": args.steps // 2,
            "data.train_split": "10min", "data.dev_split": "none", "data.max_tokens": 640_000,
            "data.update_tokens": 640_000, "data.feature_cache": str(cache).lower(),
            "train.max_updates": args.steps, "train.precision": precision,
            "train.log_interval_updates": args.steps // 6, "train.checkpoint_interval_updates": args.steps,
            "train.validate_start": "false"}
    command = [sys.executable, "-m", "asrkit", "finetune", "--recipe", "demo", "--manifests", str(manifests),
               "--out", str(out), "--no-progress", *[a for k, v in sets.items() for a in ("--set", f"{k}={v}")]]
    with open(out.with_suffix(".log"), "w") as log:
        subprocess.run(command, check=True, stdout=log, stderr=log, env={**os.environ, "PYTHONPATH": str(ROOT)})
    rows = [json.loads(line) for line in (out / "train-log.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r["kind"] == "train"]
    result = {}
    for phase, keep in (("frozen", lambda r: r["frozen"]), ("unfrozen", lambda r: not r["frozen"]),
                        ("whole", lambda r: True)):
        chosen = [r for r in rows if keep(r)]
        audio = sum(r["audio_seconds"] for r in chosen)
        seconds = sum(r["audio_seconds"] / r["audio_s_per_s"] for r in chosen)
        result[phase] = audio / seconds if seconds else None
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, required=True, help="an `asrkit synth` corpus (its 10min fold trains)")
    ap.add_argument("--script", type=Path, required=True, help="run_speech_recognition_ctc.py, kept outside asrkit")
    ap.add_argument("--peer-python", type=Path, required=True, help="python with datasets 3.x able to decode audio")
    ap.add_argument("--harness", type=Path, required=True, help="the peer harness folder (hf-ctc)")
    ap.add_argument("--wer-metric", type=Path, default=ROOT / "asrkit" / "metrics" / "wer")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--conditions", default="peer-fp32,asrkit,peer-bf16,asrkit-fp32-nocache")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    view = peer_corpus(args.corpus, args.out)
    manifests = args.out / "manifests"
    subprocess.run([sys.executable, "-m", "asrkit", "prepare", "--data-root", str(args.corpus), "--out", str(manifests),
                    "--split", "10min"], check=True, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
    model = args.out / "tiny_w2v2"
    if not model.is_dir():
        subprocess.run([str(args.peer_python), str(args.harness / "make_model.py"), str(model)], check=True,
                       stdout=subprocess.DEVNULL)
    conditions = args.conditions.split(",")
    results: dict[str, list[dict]] = {c: [] for c in conditions}
    print(f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; {args.steps} steps per run")
    for r in range(args.rounds):
        order = conditions[r % len(conditions):] + conditions[:r % len(conditions)]
        for c in order:
            out = args.out / f"round{r}-{c}"
            started = time.time()
            if c.startswith("peer"):
                res = run_peer(args, view, out, ["--bf16"] if c == "peer-bf16" else [])
            else:
                res = run_asrkit(args, model, manifests, out, "fp32" if "fp32" in c else "auto", "nocache" not in c)
            results[c].append(res)
            print(f"round {r} {c:22s} " + " ".join(f"{k} {v:.1f}" for k, v in res.items() if isinstance(v, float))
                  + f"  ({time.time() - started:.0f} s)", flush=True)
    report(results, args)


def report(results: dict[str, list[dict]], args) -> None:
    print("\naudio-s/s per round (asrkit: frozen / unfrozen / whole; the example: whole)")
    for c, runs in results.items():
        print(f"  {c:22s} " + " | ".join(" / ".join(f"{r[k]:.1f}" for k in ("frozen", "unfrozen", "whole") if k in r)
                                         if "frozen" in r else f"{r['whole']:.1f}" for r in runs))
    print("\nratios, same round (asrkit phase / the example's whole run):")
    for mine in (c for c in results if c.startswith("asrkit")):
        for peer in (c for c in results if c.startswith("peer")):
            per_round = [{k: a[k] / p["whole"] for k in ("frozen", "unfrozen", "whole")}
                         for a, p in zip(results[mine], results[peer])]
            text = " | ".join(" / ".join(f"{x[k]:.2f}" for k in ("frozen", "unfrozen", "whole")) for x in per_round)
            print(f"  {mine} vs {peer}: {text}")
    (args.out / "side-by-side.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
