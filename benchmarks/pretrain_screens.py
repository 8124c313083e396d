r"""Pre-training screens judged by what matters: short `asrkit pretrain --recipe tiny` runs
(2,000 updates by default, every schedule scaled to the run's length), each fine-tuned on the
demo's 10-minute split with recipes/demo_pretrained.yaml and scored by the kept model's
dev-other CER, in one table with the baseline (the tiny recipe itself, scaled the same way).
Beside it, each kept model's greedy test-other CER: the kept model is dev-other's best
checkpoint, so its dev-other CER is biased low, and test-other (37 utterances against 32)
doubles the audio a difference rests on.

    # everything, one screen after another (resumable: rerun the same command)
    nice -n 10 env OMP_NUM_THREADS=2 .venv/bin/python benchmarks/pretrain_screens.py run --work work/screens
    # the winners' long run: their changes together, scored with two fine-tuning seeds
    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/pretrain_screens.py run --work work/screens \
        --combine codebook-2x64 wide-voices --updates 8000
    # or two runners, one thread each, on different screens (results.json is merged under a lock)
    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/pretrain_screens.py run --work work/screens --only audio-x2
    .venv/bin/python benchmarks/pretrain_screens.py status --work work/screens
    # carry what is in progress to the next machine in git, and bring it back there
    .venv/bin/python benchmarks/pretrain_screens.py pack   --work work/screens checkpoints/screens
    .venv/bin/python benchmarks/pretrain_screens.py unpack --work work/screens checkpoints/screens

Why fine-tuned CER: contrastive accuracy rose from 14.6% to 22.7% between updates 2,000 and
8,000 of the tiny run while fine-tuned CER moved 63.2 -> 61.9, and a 4x-LR pilot had higher
accuracy and worse CER (BENCHMARKS.md, "Pre-training").

Schedules scaled to U updates, as recipes/pretrain_tiny.yaml scales BASE's to 8,000: warm-up
6.25% of U; the Gumbel temperature 2 -> 0.5 at 70% of U; validation 4 times; a checkpoint
every 50 updates. Seeds: fine-tuning seed 1 always (the recipe's own); seed 2 too when seed 1
is within --close points of the baseline's CER (default 5: two fine-tuning seeds of one
pre-trained model differed by 0.1, 2.4 and 4.7 points in the first screens).

Resuming: a screen whose fine-tuned CERs are known (WORK/results.json, or the carried
results.json) is not redone; a pre-training run resumes from its checkpoint (asrkit pretrain
resumes by itself), and so does a fine-tuning run. `pack` writes every unfinished run's last
checkpoint as a portable one (fp16 weights and trainer state, no Adam moments; ~8 MB each),
results.json and the table (status.md) into DEST; `unpack` puts them back under WORK.

Corpora (made by `run` when missing, except the wide-voice one, which takes ~30 CPU-minutes:
make it beforehand with the command in WIDE_CORPUS, or that screen waits):
  pretrain   the tiny recipe's 8 h corpus (recipes/pretrain_tiny.yaml's synth command)
  wide       ~24 h of the pre-training voice pool widened (asrkit synth --voices wide)
  demo       the demo corpus (6 folds), whose 10min split fine-tunes and whose dev-other scores
"""

from __future__ import annotations

import argparse
import fcntl
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

PRETRAIN_SYNTH = dict(purpose="pretrain", folds=0, train_clean_100_minutes=300, train_other_500_minutes=180,
                      dev_minutes=5, test_minutes=0, seed=1)
WIDE_SYNTH = dict(PRETRAIN_SYNTH, train_clean_100_minutes=900, train_other_500_minutes=540, voices="wide")
WIDE_CORPUS = ("asrkit synth --purpose pretrain --voices wide --out WORK/wide-corpus --folds 0 "
               "--train-clean-100-minutes 900 --train-other-500-minutes 540 --dev-minutes 5 --test-minutes 0 --seed 1")
DEMO_SYNTH = dict(folds=6)  # benchmarks/pretrain_claim.py's corpus: the same 10min and dev-other
TRAIN = "train-clean-100+train-other-500"
SCREENS_UPDATES = 2000
CLOSE = 5.0  # points from the baseline's mean CER within which a screen gets a second fine-tuning seed


@dataclass(frozen=True)
class Screen:
    name: str
    what: str  # one line for the table
    corpus: str = "pretrain"  # "pretrain" or "wide"
    sets: tuple[str, ...] = ()  # recipe overrides (after the scaled schedule)
    with_labelled_audio: bool = False  # the 10min split's audio joins the pre-training audio
    combines: tuple[str, ...] = ()  # a combination of screens (--combine): their names
    updates: int | None = None  # pre-training updates; None: --updates


SCREENS = (
    Screen("baseline", "recipes/pretrain_tiny.yaml, schedules scaled"),
    Screen("codebook-2x64", "2 x 64 codevectors (the run used ~41 per group by update 1,750)",
           sets=("model.codevectors_per_group=64",)),
    Screen("with-10min", "+ the labelled 10 minutes' audio (transcripts unread), as Libri-light",
           with_labelled_audio=True),
    Screen("deep-narrow", "8 layers of 176 (tiny: 4 of 256): the same linear FLOPs per frame",
           sets=("model.name=tiny-deep",)),
    Screen("wide-voices", "~24 h of the widened voice pool (espeak-ng voices x variants, "
           "continuous rate/pitch)", corpus="wide"),
    Screen("audio-x2", "80 s per update (2 x 40 s forwards), LR 7.5e-4 (x1.5)",
           sets=("data.update_tokens=1280000", "train.lr=7.5e-4")),
    Screen("bf16", "the baseline under bf16 autocast (1.27-1.35x per step on this CPU; its early accuracy differs)",
           sets=("train.precision=bf16",)),
)


def combine(names: list[str], updates: int) -> Screen:
    """One screen with the changes of the named screens together, pre-trained for `updates`
    (the winners' long run): the wide corpus if one of them uses it, every recipe override
    (two screens setting one key differently cannot combine)."""
    chosen = [next(s for s in SCREENS if s.name == name) for name in names]
    sets: dict[str, str] = {}
    for screen in chosen:
        for item in screen.sets:
            key, value = item.split("=", 1)
            if sets.get(key, value) != value:
                raise SystemExit(f"--combine: {screen.name} sets {key}={value}, another screen {key}={sets[key]}")
            sets[key] = value
    corpora = {s.corpus for s in chosen}
    name = "+".join(names) + ("" if updates == SCREENS_UPDATES else f"@{updates}")
    return Screen(name, " + ".join(s.name for s in chosen) + f", {updates} updates",
                  corpus="wide" if "wide" in corpora else "pretrain",
                  sets=tuple(f"{k}={v}" for k, v in sets.items()),
                  with_labelled_audio=any(s.with_labelled_audio for s in chosen),
                  combines=tuple(names), updates=updates)


def all_screens(work: Path) -> list[Screen]:
    """SCREENS, then the combinations WORK has results for."""
    combos = [combine(e["combines"], e["updates"]) for e in read_results(work).values() if e.get("combines")]
    return [*SCREENS, *combos]


def scaled_schedule(updates: int) -> tuple[str, ...]:
    """pretrain_tiny.yaml's schedule shapes at `updates`: warm-up 6.25%, Gumbel 2 -> 0.5 at 70%;
    fp32, as every screen before pre-training's precision became "auto" (the bf16 screen sets bf16)."""
    decay = 0.25 ** (1 / (0.7 * updates))
    return ("train.precision=fp32", f"train.max_updates={updates}",
            f"train.warmup_updates={max(1, round(updates / 16))}", f"model.gumbel_temperature=[2.0, 0.5, {decay:.10f}]",
            f"train.validate_interval_updates={max(1, updates // 4)}", "train.checkpoint_interval_updates=50",
            "train.snapshot_interval_updates=0", "train.log_interval_updates=50")


# ---------------------------------------------------------------- corpora


def _manifests(corpus: Path, out: Path) -> Path:
    from asrkit.data.prepare import PrepareOptions, prepare

    if not (out / "dev-other.jsonl").exists():
        _, reports = prepare(PrepareOptions(data_root=corpus, out_dir=out, progress=False))
        failed = [f"{r.split}: {r.error}" for r in reports if r.error]
        if failed:
            raise SystemExit("; ".join(failed))
    return out


def corpus_manifests(work: Path, name: str) -> Path | None:
    """The manifests folder of a corpus, made when missing (None: the wide corpus is not made yet)."""
    from asrkit.data.synth import SynthOptions, synthesize

    if name == "wide":
        report = work / "wide-corpus" / "synth-report.json"  # written first with "complete": false
        done = report.exists() and json.loads(report.read_text()).get("complete") is True
        return _manifests(work / "wide-corpus", work / "wide-manifests") if done else None
    synth = {"pretrain": PRETRAIN_SYNTH, "demo": DEMO_SYNTH}[name]
    synthesize(SynthOptions(root=work / f"{name}-corpus", jobs=1, **synth), progress=False)
    return _manifests(work / f"{name}-corpus", work / f"{name}-manifests")


def with_labelled(work: Path, pretrain: Path, demo: Path) -> Path:
    """A manifests folder with the pre-training splits and the demo's 10min split (read as
    audio only: pre-training never reads a transcript)."""
    out = work / "with-10min-manifests"
    out.mkdir(parents=True, exist_ok=True)
    for src in [*pretrain.glob("*.jsonl"), demo / "10min.jsonl"]:
        if not (out / src.name).exists():
            shutil.copyfile(src, out / src.name)
    return out


# ---------------------------------------------------------------- one screen


def pretrain_run(work: Path, screen: Screen, updates: int, manifests: Path) -> Path:
    """Pre-train the screen's model (resumes from its checkpoint); its output folder."""
    from asrkit.config import PretrainRecipe, load_recipe, recipes_dir
    from asrkit.pretrain import PretrainOptions, pretrain

    sets = list(scaled_schedule(screen.updates or updates)) + list(screen.sets)
    if screen.with_labelled_audio:
        sets.append(f"data.train_split={TRAIN}+10min")
    recipe = load_recipe(recipes_dir() / "pretrain_tiny.yaml", sets, kind=PretrainRecipe)
    out = work / screen.name / "pretrain"
    command = " ".join(["asrkit pretrain --recipe tiny", "--manifests", str(manifests), "--out", str(out),
                        *(f"--set '{s}'" for s in sets)])
    pretrain(PretrainOptions(recipe, out, manifests, command=command, progress=False))
    return out


def finetune_cer(work: Path, screen: Screen, pretrained: Path, demo: Path, seed: int) -> float:
    """Fine-tune with recipes/demo_pretrained.yaml (train.seed=seed); the kept dev-other CER (%)."""
    from asrkit.config import load_recipe, recipes_dir
    from asrkit.train import FinetuneOptions, finetune

    recipe = load_recipe(recipes_dir() / "demo_pretrained.yaml", [f"train.seed={seed}"],
                         {"model.name": str(pretrained)})
    out = work / screen.name / f"finetune-seed{seed}"
    summary = finetune(FinetuneOptions(recipe=recipe, out_dir=out, manifests_dir=demo, progress=False))
    if not math.isfinite(summary["best_cer"]):
        raise SystemExit(f"{out}: the kept CER is not finite")
    return 100 * summary["best_cer"]


def heldout_cer(run: Path, demo: Path) -> float | None:
    """Greedy test-other CER (%) of a fine-tuning run's kept model, on a split that model
    selection never saw (the kept model is dev-other's best, so its dev-other CER is biased
    low); None when the run's folder is not here (its CER came carried in results.json)."""
    from asrkit.decode.run import decode_splits
    from asrkit.decode.setup import setup_decoder

    if not (run / "train-summary.json").exists():
        return None
    summary, = decode_splits(run, ["test-other"], demo, setup_decoder(run), progress=False)
    return 100 * summary.cer


def last_rows(run: Path) -> dict:
    """The last train and valid rows of a run's train-log.jsonl ({} when it has none)."""
    rows = {}
    log = run / "train-log.jsonl"
    if log.exists():
        for line in log.read_text().splitlines():
            row = json.loads(line)
            rows[row["kind"]] = row
    return rows


def checkpoint_update(run: Path) -> int:
    """The update of a run's last checkpoint (0 when it has none)."""
    from asrkit.runs import find_checkpoint

    checkpoint = find_checkpoint(run) if run.exists() else None
    state = checkpoint / "trainer_state.json" if checkpoint is not None else None
    return json.loads(state.read_text())["update"] if state is not None and state.exists() else 0


def pretrain_numbers(run: Path) -> dict:
    rows = last_rows(run)
    valid, train = rows.get("valid", {}), rows.get("train", {})
    summary = json.loads((run / "train-summary.json").read_text()) if (run / "train-summary.json").exists() else {}
    updates = max(train.get("update", 0), checkpoint_update(run))
    return {"updates": updates, "dev_accuracy": valid.get("accuracy"),
            "code_perplexity": valid.get("code_perplexity"), "valid_update": valid.get("update"),
            "train_hours": summary.get("train_seconds", 0) / 3600 if summary else None}


# ---------------------------------------------------------------- results


def read_results(work: Path) -> dict:
    path = work / "results.json"
    return json.loads(path.read_text()) if path.exists() else {}


def write_results(work: Path, results: dict) -> None:
    from asrkit.io import write_json

    write_json(work / "results.json", results)  # atomic


def save_entry(work: Path, name: str, entry: dict) -> dict:
    """Merge one screen's entry into results.json under an exclusive lock, so that runners
    given different screens (--only) can share WORK; the merged results."""
    with open(work / "results.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = read_results(work)
        results[name] = entry
        write_results(work, results)
    return results


def seeds_needed(results: dict, name: str, close: float) -> list[int]:
    """Seed 1; seed 2 too when seed 1 is within `close` points of the baseline's mean (always
    for the baseline and for a combination, the long run that decides)."""
    entry = results.get(name, {})
    cers = entry.get("cer", {})
    base = results.get("baseline", {}).get("cer", {})
    if name == "baseline" or entry.get("combines"):
        return [1, 2]
    if "1" not in cers:
        return [1]
    if base and abs(cers["1"] - _mean(base)) < close:
        return [1, 2]
    return [1]


def run_screen(work: Path, screen: Screen, args, demo: Path) -> str:
    """Pre-train, then fine-tune the seeds it needs; 'done', or why it waits."""
    manifests = corpus_manifests(work, screen.corpus)
    if manifests is None:
        return f"waiting for the {screen.corpus} corpus ({WIDE_CORPUS})"
    if screen.with_labelled_audio:
        manifests = with_labelled(work, manifests, demo)
    entry = read_results(work).get(screen.name, {"cer": {}})
    if screen.combines:  # known before its long pre-training, so that `pack` carries it
        entry.update(combines=list(screen.combines), updates=screen.updates)
        save_entry(work, screen.name, entry)
    pretrained = pretrain_run(work, screen, args.updates, manifests)
    entry["pretrain"] = pretrain_numbers(pretrained)
    results = save_entry(work, screen.name, entry)
    while True:
        todo = [s for s in seeds_needed(results, screen.name, args.close) if str(s) not in entry["cer"]]
        if not todo:
            break
        entry["cer"][str(todo[0])] = finetune_cer(work, screen, pretrained, demo, todo[0])
        results = save_entry(work, screen.name, entry)
    heldout = entry.setdefault("test_other", {})
    for seed in entry["cer"]:
        if seed not in heldout:
            cer = heldout_cer(work / screen.name / f"finetune-seed{seed}", demo)
            if cer is not None:
                heldout[seed] = cer
                save_entry(work, screen.name, entry)
    return "done"


# ---------------------------------------------------------------- the table


def _fmt(value, spec: str) -> str:
    if value is None:
        return "-"
    return format(round(value, int(spec[-2])) + 0.0, spec)  # + 0.0: no "-0.0" for a rounded-away difference


def _mean(values: dict) -> float | None:
    return sum(values.values()) / len(values) if values else None


def table(work: Path, updates: int) -> str:
    """One Markdown row per screen: pre-training state, dev accuracy, codebook use, and the
    fine-tuned dev-other CER per seed, their mean and the difference to the baseline's mean."""
    results = read_results(work)
    base_mean = _mean(results.get("baseline", {}).get("cer", {}))
    base_test = _mean(results.get("baseline", {}).get("test_other", {}))
    lines = ["| screen | what changes | pre-training (updates) | dev acc. | code ppl | CER seed 1 | CER seed 2 | "
             "CER mean | vs baseline | test-other CER (mean) | vs baseline |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for screen in all_screens(work):
        entry = results.get(screen.name, {})
        run = work / screen.name / "pretrain"
        numbers = pretrain_numbers(run) if run.exists() else entry.get("pretrain", {})
        done = (run / "train-summary.json").exists() or bool(entry.get("cer"))
        state = f"{numbers.get('updates', 0)}/{screen.updates or updates}" + ("" if done else " (running or queued)")
        cer = entry.get("cer", {})
        mean = _mean(cer)
        delta = None if mean is None or base_mean is None else mean - base_mean
        test = _mean(entry.get("test_other", {}))
        test_delta = None if test is None or base_test is None else test - base_test
        lines.append(f"| {screen.name} | {screen.what} | {state} | {_fmt(numbers.get('dev_accuracy'), '.3f')} | "
                     f"{_fmt(numbers.get('code_perplexity'), '.0f')} | {_fmt(cer.get('1'), '.1f')} | "
                     f"{_fmt(cer.get('2'), '.1f')} | {_fmt(mean, '.1f')} | {_fmt(delta, '+.1f')} | "
                     f"{_fmt(test, '.1f')} | {_fmt(test_delta, '+.1f')} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- carrying across machines


def pack(work: Path, dest: Path, close: float = CLOSE) -> None:
    """Into dest, for every screen not finished: its runs' last checkpoints as portable ones
    (a finished pre-training run too, so that its fine-tuning need not pre-train again; not a
    finished fine-tuning run, whose CER is in results.json); then results.json and status.md.
    A finished screen's carried runs are removed from dest: results.json holds what it measured."""
    import carry_run
    from asrkit.runs import find_checkpoint

    dest.mkdir(parents=True, exist_ok=True)
    results = read_results(work)
    for screen in all_screens(work):
        cers = results.get(screen.name, {}).get("cer", {})
        if cers and all(str(s) in cers for s in seeds_needed(results, screen.name, close)):
            shutil.rmtree(dest / screen.name, ignore_errors=True)  # its CERs are in results.json
            continue
        for run in sorted((work / screen.name).glob("*")) if (work / screen.name).exists() else []:
            finished_finetune = run.name.startswith("finetune") and (run / "train-summary.json").exists()
            if finished_finetune or find_checkpoint(run) is None:
                continue
            target = dest / screen.name / run.name
            if target.exists():
                shutil.rmtree(target)
            carry_run.pack(run, target)
    if (work / "results.json").exists():
        shutil.copyfile(work / "results.json", dest / "results.json")
    (dest / "status.md").write_text(table(work, SCREENS_UPDATES), encoding="utf-8")


def unpack(work: Path, src: Path) -> None:
    """Carried runs into WORK (a run that already has a checkpoint here is left alone) and
    carried results merged under the ones here."""
    import carry_run
    from asrkit.runs import find_checkpoint

    for carried in sorted(src.glob("*/*/checkpoint")):
        run = work / carried.parent.parent.name / carried.parent.name
        if find_checkpoint(run) is None:
            carry_run.unpack(carried.parent, run)
    if (src / "results.json").exists():
        results = json.loads((src / "results.json").read_text())
        results.update(read_results(work))
        write_results(work, results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["run", "status", "pack", "unpack"])
    ap.add_argument("carried", nargs="?", type=Path, help="pack/unpack: the folder in git (checkpoints/screens)")
    ap.add_argument("--work", type=Path, default=Path("work/screens"))
    ap.add_argument("--only", nargs="+", choices=[s.name for s in SCREENS], help="run these screens (in this order)")
    ap.add_argument("--combine", nargs="+", choices=[s.name for s in SCREENS],
                    help="run one screen with these screens' changes together, for --updates (the winners' "
                         "long run, e.g. --combine codebook-2x64 wide-voices --updates 8000)")
    ap.add_argument("--updates", type=int, default=SCREENS_UPDATES, help="pre-training updates per screen")
    ap.add_argument("--close", type=float, default=CLOSE, help="points from the baseline that call for a second seed")
    args = ap.parse_intermixed_args()  # the folder may follow --work
    args.work.mkdir(parents=True, exist_ok=True)
    if args.only and args.combine:
        ap.error("--only runs screens, --combine one combination of them: give one of the two")
    if args.action in ("pack", "unpack") and args.carried is None:
        ap.error(f"{args.action} needs the carried folder (e.g. checkpoints/screens)")
    if args.action == "pack":
        return pack(args.work, args.carried, args.close)
    if args.action == "unpack":
        return unpack(args.work, args.carried)
    screens_updates = SCREENS_UPDATES if args.combine else args.updates  # a combination carries its own
    if args.action == "run":
        demo = corpus_manifests(args.work, "demo")
        if args.combine:
            chosen = [combine(args.combine, args.updates)]
        else:
            chosen = [s for name in args.only for s in SCREENS if s.name == name] if args.only else list(SCREENS)
        while chosen:  # a screen waiting for its corpus is tried again after the others
            waiting = []
            for screen in chosen:
                status = run_screen(args.work, screen, args, demo)
                print(f"[{screen.name}] {status}", flush=True)
                (args.work / "status.md").write_text(table(args.work, screens_updates), encoding="utf-8")
                if status != "done":
                    waiting.append(screen)
            if waiting:
                time.sleep(300)
            chosen = waiting
    print(table(args.work, screens_updates), end="")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
