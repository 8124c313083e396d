"""A training run on accelerate: its folder, checkpoints, log and data stream, shared by the
fine-tuning loop (asrkit.train) and the pre-training loop (asrkit.pretrain.loop).

A run's folder (each loop's module docstring lists the files it adds):

    out_dir/
      recipe.yaml           the resolved recipe (every key) under a header: command, processes, versions
      train-log.jsonl       one JSON object per line: "start", "train" per log interval, "valid"
      train-summary.json    written last; its presence means the run is finished
      checkpoints/last/     resumable state: accelerate's (model, optimizer, RNG) + trainer_state.json
      .previous-run/        `restart`: the previous run (its model too), until the new run's first checkpoint

Running the same command again continues from checkpoints/last, falling back to the one
before it when a file of the last is damaged. `restart` checks the splits before it moves
anything and puts the old run back when set-up fails. Folders are replaced by renames only,
and a model with non-finite weights is never saved.

The skeleton: one entry function, train(options, stage), and one loop, train_loop(run,
stage), with its cadence after every update: a "train" log row, validation, a snapshot, a
checkpoint. A Stage says what fine-tuning (asrkit.train) or pre-training
(asrkit.pretrain.loop) adds: set-up, the update itself (objective and batches), the log
window (metrics), when to validate and how, and the end. A loop's Run (a dataclass with
RunFolder as its base) holds at least: options (a RunOptions), accelerator, planner,
schedule, optimizer, logger (a TrainLog) and state (a RunState subclass: trainer_state.json).
An update whose loss or gradient is not finite stops the run or is skipped, as
train.nonfinite_grads says (gradients_usable; "stop" by default).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from asrkit.config import dump_recipe, recipe_to_dict
from asrkit.data.batching import MicroBatch, Position, UpdatePlanner
from asrkit.data.manifest import read_split, split_manifests
from asrkit.errors import TrainError
from asrkit.io import damaged_file, disk_errors, read_jsonl, write_json, write_jsonl, write_text

log = logging.getLogger(__name__)

NO_DEV = "none"  # data.dev_split: train without validation

RUN_FILES = ("checkpoints", "snapshots", "train-log.jsonl", "train-summary.json", "recipe.yaml", "tensorboard")
PREVIOUS = ".previous-run"  # `restart` keeps the old run's RUN_FILES here until the first checkpoint


@dataclass(frozen=True)
class RunOptions:
    """What a training command asks for: the same for fine-tuning and pre-training."""
    recipe: object  # asrkit.config.Recipe (fine-tuning) or PretrainRecipe
    out_dir: Path
    manifests_dir: Path
    command: str = ""  # the command line, recorded in recipe.yaml
    restart: bool = False  # start over; the old run waits in out_dir/.previous-run until the first checkpoint
    progress: bool = True  # tqdm progress bar
    # Tests: stop right after the checkpoint at this update, as if killed there.
    stop_after_updates: int | None = None


@dataclass
class RunState:
    """What a checkpoint adds to accelerate's state (trainer_state.json); each loop's state
    class adds its own fields."""
    update: int = 0  # updates done
    epoch: int = 0  # sampler position: epoch ...
    epoch_update: int = 0  # ... and updates already taken from it
    audio_seconds: float = 0.0  # training audio processed, all processes
    train_seconds: float = 0.0  # wall time spent in updates
    skipped_updates: int = 0  # updates left out for a non-finite gradient (train.nonfinite_grads: skip)
    train_data: str | None = None  # sha256 of the training manifest(s) at the last checkpoint (train_data_digest)
    world_size: int = 1
    update_freq: int = 1


class RunFolder:
    """What every loop's Run gives the functions here; a dataclass subclass adds the fields."""

    options: object
    accelerator: object

    @property
    def recipe(self):
        return self.options.recipe

    @property
    def out_dir(self) -> Path:
        return self.options.out_dir

    @property
    def main(self) -> bool:
        return self.accelerator.is_main_process


# ---------------------------------------------------------------- set-up


def make_accelerator(train_cfg):
    """An Accelerator computing in train.precision as resolved for this machine
    (asrkit.precision; the choice is logged), with unused parameters allowed in DDP, since
    the frozen transformer and layerdrop leave some without gradients."""
    from accelerate import Accelerator, DistributedDataParallelKwargs
    from accelerate.state import AcceleratorState

    from asrkit import precision

    chosen, why = precision.resolve(train_cfg.precision)
    mixed = precision.accelerate_name(chosen)
    if AcceleratorState._shared_state.get("_mixed_precision", mixed) != mixed:
        # A second run in the same process (tests, benchmarks) with another precision:
        # accelerate keeps one per process and refuses a change without this reset.
        AcceleratorState._reset_state()
    accelerator = Accelerator(mixed_precision=mixed,
                              kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched > 1 and accelerator.num_processes == 1:
        # `accelerate launch --multi_gpu` on a machine without GPUs starts independent
        # processes that would all write the same output folder.
        raise TrainError(f"launched as {launched} processes but accelerate sees 1 (no GPU?): "
                         f"on CPU, set ACCELERATE_USE_CPU=true for distributed training")
    if accelerator.is_main_process:
        log.info("precision: %s (%s)", chosen, why)
    return accelerator


def run_precision(accelerator) -> str:
    """"bf16" or "fp32": what the run computes in (recipe.yaml's header records it)."""
    return "bf16" if accelerator.mixed_precision == "bf16" else "fp32"


def check_splits(options) -> None:
    """The training and dev manifests exist and hold utterances: checked before `restart`
    moves anything, so that a typo in a split name costs nothing."""
    read_split(options.manifests_dir, options.recipe.data.train_split)
    if options.recipe.data.dev_split != NO_DEV:
        read_split(options.manifests_dir, options.recipe.data.dev_split)


def open_folder(options, accelerator) -> Path | None:
    """The checkpoint to resume from in options.out_dir, or None for a new run. With
    `restart` the splits are checked and the old run set aside; without it, a set-aside run
    whose restart stopped before its first checkpoint is put back (it is still the run).
    A folder holding a run of another recipe is an error."""
    out = Path(options.out_dir)
    main = accelerator.is_main_process
    if options.restart:
        check_splits(options)
        if main and out.exists():
            set_aside(out, keep=(Path(options.manifests_dir),))
    elif main and (out / PREVIOUS).is_dir() and find_checkpoint(out) is None:
        restore_previous(out)
    accelerator.wait_for_everyone()
    checkpoint = find_checkpoint(out)
    if checkpoint is not None and (out / "recipe.yaml").is_file():
        check_same_recipe(options)
    return checkpoint


def finished_summary(out_dir: Path, checkpoint: Path | None, done: str) -> dict | None:
    """train-summary.json of a run finished in out_dir with this recipe (see open_folder), else
    None; says the folder is `done` ("fine-tuned") already."""
    out = Path(out_dir)
    path = out / "train-summary.json"
    if checkpoint is None or not (out / "recipe.yaml").is_file() or not path.is_file():
        return None
    log.info("%s: already %s with this recipe (train-summary.json); --restart to redo", out, done)
    return json.loads(path.read_text())


def set_up_or_restore(setup: Callable, options, accelerator):
    """setup(options, accelerator); when it fails (a model that does not load, say) a run
    that `restart` set aside is put back, so that the failure does not cost it."""
    try:
        return setup(options, accelerator)
    except BaseException:
        if options.restart and accelerator.is_main_process:
            restore_previous(Path(options.out_dir))
        raise


def write_start(run: RunFolder, kind: str) -> None:
    """A new run's recipe.yaml and the "start" row of its log (by the main process)."""
    if not run.main:
        return
    run.out_dir.mkdir(parents=True, exist_ok=True)
    write_recipe(run.options, kind, {"processes": run.state.world_size, "update_freq": run.state.update_freq,
                                     "updates_per_epoch": run.planner.updates_per_epoch(),
                                     "precision": run_precision(run.accelerator),
                                     "python": sys.version.split()[0], "torch": torch.__version__})
    run.logger.write({"kind": "start", "update": 0, "recipe": recipe_to_dict(run.recipe)})


def write_recipe(options, kind: str, run_info: dict) -> None:
    """recipe.yaml: the resolved recipe under a header naming the `kind` of run ("fine-tuning")."""
    header = "\n".join([
        f"# Resolved recipe of this {kind} run (every key, defaults included).",
        f"# command: {options.command}" if options.command else "#",
        *(f"# {k}: {v}" for k, v in run_info.items()),
    ])
    write_text(options.out_dir / "recipe.yaml", dump_recipe(options.recipe, header))


def check_same_recipe(options) -> None:
    """A resumed run must use the recipe it started with."""
    import yaml

    path = options.out_dir / "recipe.yaml"
    saved = yaml.safe_load(path.read_text(encoding="utf-8"))
    current = recipe_to_dict(options.recipe)
    # A key the saved recipe lacks (added to asrkit since) counts as its default value.
    defaults = recipe_to_dict(type(options.recipe)())
    diffs = [f"{s}.{k}: {saved.get(s, {}).get(k, defaults[s][k])!r} -> {v!r}" for s, section in current.items()
             for k, v in section.items() if saved.get(s, {}).get(k, defaults[s][k]) != v]
    if diffs:
        raise TrainError(f"{options.out_dir} holds a run with another recipe ({'; '.join(diffs)}); "
                         f"use the same recipe to resume, or `restart` to start over")


def train_data_digest(options) -> str:
    """sha256 of the training manifests' bytes (a loop's state.train_data), so that a resumed
    run can tell they changed."""
    import hashlib

    h = hashlib.sha256()
    for path in split_manifests(options.manifests_dir, options.recipe.data.train_split):
        h.update(path.read_bytes())
    return h.hexdigest()


def warn_if_data_changed(run: RunFolder, saved) -> None:
    """The recipe is checked on resume (check_same_recipe); the data it names is not the same
    thing: a re-prepared or edited manifest (or, in pre-training, another --audio-dir) silently
    changes what the rest of the run sees. Fine-tuning and pre-training both warn here."""
    if saved.train_data is not None and saved.train_data != run.state.train_data and run.main:
        log.warning("the training manifest(s) %s changed since the checkpoint at update %d: the run goes on "
                    "with the new data (its batches from this point on follow the new manifest); pass "
                    "--restart to train on it from the start",
                    ", ".join(map(str, split_manifests(run.options.manifests_dir, run.recipe.data.train_split))),
                    saved.update)
    saved.train_data = run.state.train_data


def gradients_usable(run: RunFolder, gnorm: float, poisoned: list[str] = (), ids: list[str] = (),
                     loss: str = "loss") -> bool:
    """Whether this update's step may be taken: its gradient norm is finite and no loss was
    NaN or infinite (`poisoned`: the utterances of batches whose loss was not). Otherwise
    train.nonfinite_grads decides: "skip" leaves the step out (counted), "stop" raises,
    naming the utterances (those whose loss was not finite, else the update's). One such step
    would make every weight NaN. A NaN loss on one process makes the synchronised gradient
    norm NaN on all of them, so under DDP every process decides alike."""
    if math.isfinite(gnorm) and not poisoned:
        return True
    what = f"{loss} is not finite" if poisoned else f"gradient norm is {gnorm}"
    shown = list(poisoned or ids)
    where = (", on utterance(s) " + ", ".join(shown[:8]) + (f" and {len(shown) - 8} more" if len(shown) > 8 else "")
             if shown else "")
    st = run.state
    if run.recipe.train.nonfinite_grads == "skip":
        st.skipped_updates += 1
        log.warning("update %d: %s%s: update skipped (%d so far; train.nonfinite_grads: skip)", st.update + 1, what,
                    where, st.skipped_updates)
        return False
    raise TrainError(f"{what} at update {st.update + 1}{where}: check the audio and the recipe's train.lr and "
                     f"train.adam_eps (train.nonfinite_grads: skip leaves such updates out); nothing of this "
                     f"update was saved (the last checkpoint is in {run.out_dir / 'checkpoints'})")


def set_lr(run: RunFolder, update: int) -> float:
    """The schedule's LR at `update` into every parameter group (times its lr_scale, if any)."""
    lr = run.schedule(update)
    for group in run.optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
    return lr


# ---------------------------------------------------------------- the skeleton


@dataclass(frozen=True)
class Stage:
    """What one kind of run (fine-tuning, pre-training) adds to the skeleton below: its set-up,
    its update, its log window, its validation and its end. Everything else -- the folder,
    resume, the loop's cadence (log, validate, snapshot, checkpoint) -- is shared."""
    kind: str  # "fine-tuning": recipe.yaml's header
    done: str  # "fine-tuned": the log line of a run finished already
    desc: str  # the progress bar's label
    setup: Callable  # (options, accelerator) -> Run
    state_type: type  # the Run's state class (a RunState)
    stream: Callable  # (run, Position) -> iterator of (position after, update, this process's batches)
    update: Callable  # (run, update, batches) -> (window stats, progress-bar postfix, audio seconds, all processes)
    window: Callable  # () -> a log window: .add(window stats); .row(run) -> the "train" row's values
    validation_due: Callable  # (run, position after the update) -> bool
    validate: Callable  # (run) -> None
    finish: Callable  # (run, time the command started) -> train-summary.json's dict
    loop: Callable  # (run) -> "done" | "stopped": train_loop(run, this stage), through the module's name
    on_start: Callable | None = None  # (run): a new run, after its "start" row
    on_resume: Callable | None = None  # (run, saved state): before the saved state becomes the run's
    save_model: Callable | None = None  # (run, folder): snapshots (train.snapshot_interval_updates)
    before_checkpoint: Callable | None = None  # (run): a last check; raising keeps the checkpoint unwritten
    on_finished: Callable | None = None  # (options): the run was finished already


def train(options: RunOptions, stage: Stage) -> dict:
    """Train as options.recipe says into options.out_dir; resumes from its last checkpoint, or
    returns the summary of a run finished already."""
    started = time.time()
    accelerator = make_accelerator(options.recipe.train)
    checkpoint = open_folder(options, accelerator)
    summary = finished_summary(Path(options.out_dir), checkpoint, stage.done)
    if summary is not None:
        if stage.on_finished is not None:
            stage.on_finished(options)
        return summary
    run = set_up_or_restore(stage.setup, options, accelerator)
    if checkpoint is not None:
        saved = load_checkpoint(run, checkpoint, stage.state_type)
        if stage.on_resume is not None:
            stage.on_resume(run, saved)
        continue_from(run, saved, checkpoint)
    else:
        write_start(run, stage.kind)
        if stage.on_start is not None:
            stage.on_start(run)
    run.accelerator.wait_for_everyone()
    if stage.loop(run) == "stopped":
        return {"status": "stopped", "updates": run.state.update}
    return stage.finish(run, started)


def train_loop(run: RunFolder, stage: Stage) -> str:
    """Updates until train.max_updates, each followed by the cadence: a "train" row every
    train.log_interval_updates (and at the end), validation when stage.validation_due says,
    a snapshot every train.snapshot_interval_updates (where the recipe has it), a checkpoint
    (checkpoint_due). Returns "done", or "stopped" at options.stop_after_updates."""
    from tqdm import tqdm

    cfg, st = run.recipe.train, run.state
    bar = tqdm(total=cfg.max_updates, initial=st.update, unit="upd", desc=stage.desc, dynamic_ncols=True,
               disable=not (run.main and run.options.progress))
    window = stage.window()
    stream = stage.stream(run, Position(st.epoch, st.epoch_update))
    while st.update < cfg.max_updates:
        after, update, batches = next(stream)
        started = time.time()
        stats, postfix, audio_seconds = stage.update(run, update, batches)
        st.update += 1
        st.epoch, st.epoch_update = after.epoch, after.update
        st.audio_seconds += audio_seconds
        st.train_seconds += time.time() - started
        window.add(stats)
        bar.update(1)
        bar.set_postfix(**postfix, refresh=False)
        if st.update % cfg.log_interval_updates == 0 or st.update == cfg.max_updates:
            run.logger.write({"kind": "train", "update": st.update, "epoch": st.epoch, **window.row(run)})
            window = stage.window()
        if stage.validation_due(run, after):
            stage.validate(run)
        snapshots = getattr(cfg, "snapshot_interval_updates", 0)
        if snapshots and st.update % snapshots == 0:
            stage.save_model(run, run.out_dir / "snapshots" / f"update-{st.update}")
        if checkpoint_due(run):
            if stage.before_checkpoint is not None:
                stage.before_checkpoint(run)
            save_checkpoint(run)
        if st.update == run.options.stop_after_updates:
            bar.close()
            return "stopped"
    bar.close()
    return "done"


# ---------------------------------------------------------------- restart


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _run_entries(out: Path, keep: tuple[Path, ...] = ()) -> list[str]:
    """What `restart` sets aside: every entry of out_dir (the model files, its decode results
    and model card, the run's files) but asrkit's hidden working files and the folders in `keep`
    (the manifests the new run reads). The old model must not stay beside the new run's
    recipe and log, where `finetune --model` and the report would take it for the new one."""
    kept = {os.path.realpath(p) for p in keep}
    return sorted(name for name in os.listdir(out)
                  if not name.startswith(".") and os.path.realpath(out / name) not in kept)


def set_aside(out: Path, keep: tuple[Path, ...] = ()) -> None:
    """`restart`: move the previous run (every entry of out_dir but those `keep` names) into
    out/.previous-run."""
    aside = out / PREVIOUS
    if aside.is_dir() and find_checkpoint(out) is not None:
        shutil.rmtree(aside)  # the run that set it aside got its checkpoint; it is now the old run
    if aside.is_dir():
        # An earlier restart stopped before its first checkpoint: what it left is no run;
        # the run worth keeping is the one already aside.
        for name in RUN_FILES:
            if (out / name).exists():
                _remove(out / name)
        return
    present = _run_entries(out, keep)
    if not present:
        return
    staging = out / f"{PREVIOUS}.tmp"
    staging.mkdir(exist_ok=True)
    for name in present:
        os.replace(out / name, staging / name)
    os.replace(staging, aside)
    log.info("--restart: the previous run is in %s until the new one writes its first checkpoint", aside)


def restore_previous(out: Path) -> None:
    """Put a set-aside run back, when the restart failed before its first checkpoint."""
    aside = out / PREVIOUS
    if not aside.is_dir():
        return
    for name in sorted(os.listdir(aside)):
        _remove(out / name)
        os.replace(aside / name, out / name)
    shutil.rmtree(aside)
    log.info("restored the previous run in %s", out)


def drop_previous(out: Path) -> None:
    """The new run has a checkpoint of its own: the set-aside one is no longer needed."""
    shutil.rmtree(Path(out) / PREVIOUS, ignore_errors=True)


# ---------------------------------------------------------------- checkpoints and models


def swap_in(tmp: Path, final: Path) -> None:
    """Replace the folder `final` by `tmp` with renames only: a reader sees the old or the new."""
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def check_weights(model, update: int, folder: Path) -> None:
    """A model with NaN or infinite weights is never saved as a result."""
    bad = [name for name, p in model.named_parameters() if not bool(torch.isfinite(p).all())]
    if bad:
        raise TrainError(f"after update {update} {len(bad)} weight tensor(s) hold NaN or "
                         f"infinite values ({', '.join(bad[:3])}); not saving them to {folder}")


def save_model(run: RunFolder, folder: Path, model, *companions) -> None:
    """`model` (save_pretrained) and its companions (processor, feature extractor) into
    `folder` atomically. Every process checks the weights, so that all of them stop together."""
    check_weights(model, run.state.update, folder)
    run.accelerator.wait_for_everyone()
    if run.main:
        tmp = folder.with_name(f".{folder.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        with disk_errors(tmp):
            model.save_pretrained(tmp)
            for companion in companions:
                companion.save_pretrained(str(tmp))
        swap_in(tmp, folder)
    run.accelerator.wait_for_everyone()


def publish(run: RunFolder, folder: Path, summary: dict) -> None:
    """The files of the model in `folder` into out_dir (each replaced atomically), then
    train-summary.json, which marks the run finished."""
    if run.main:
        for item in sorted(folder.iterdir()):
            if item.is_file():
                tmp = run.out_dir / f".{item.name}.tmp"
                shutil.copyfile(item, tmp)
                os.replace(tmp, run.out_dir / item.name)
        write_json(run.out_dir / "train-summary.json", summary)
    run.accelerator.wait_for_everyone()


def totals(state, started: float) -> dict:
    """train-summary.json's account of the work: audio, time, throughput, processes."""
    st = state
    return {"audio_seconds": round(st.audio_seconds, 1), "train_seconds": round(st.train_seconds, 1),
            "audio_s_per_s": round(st.audio_seconds / st.train_seconds, 2) if st.train_seconds else None,
            "wall_seconds_this_session": round(time.time() - started, 1), "processes": st.world_size,
            "update_freq": st.update_freq, "skipped_updates": st.skipped_updates}


def checkpoint_due(run: RunFolder) -> bool:
    """After this update: every train.checkpoint_interval_updates, at the end, and where a test stops."""
    update, cfg = run.state.update, run.recipe.train
    return update % cfg.checkpoint_interval_updates == 0 or update == cfg.max_updates \
        or update == run.options.stop_after_updates


def save_checkpoint(run: RunFolder) -> None:
    """accelerate state (model, optimizer, RNG of every process) + run.state, atomically."""
    acc = run.accelerator
    folder = run.out_dir / "checkpoints" / "last"
    tmp = folder.with_name(".last.tmp")
    if run.main:
        shutil.rmtree(tmp, ignore_errors=True)
    acc.wait_for_everyone()
    tmp.mkdir(parents=True, exist_ok=True)
    with disk_errors(tmp):
        acc.save_state(str(tmp))
    acc.wait_for_everyone()
    if run.main:
        write_json(tmp / "trainer_state.json", dataclasses.asdict(run.state))
        swap_in(tmp, folder)
        drop_previous(run.out_dir)
    acc.wait_for_everyone()


def find_checkpoint(out_dir: Path) -> Path | None:
    """checkpoints/last, or the previous one if a swap was interrupted between its renames."""
    for name in ("last", ".last.old"):
        folder = Path(out_dir) / "checkpoints" / name
        if (folder / "trainer_state.json").is_file():
            return folder
    return None


def check_checkpoint_files(folder: Path) -> None:
    """Name the file when one of a checkpoint's is damaged (truncated by a full disk, say)."""
    damaged = damaged_file(folder)
    if damaged:
        raise TrainError(f"{damaged[0]}: damaged or truncated ({damaged[1]})")


# A portable checkpoint holds the weights (fp16) and trainer_state.json but not the
# optimizer's moments or RNG states: 4x smaller, so that a long run can be carried to another
# machine in git and continued there (pack_portable). Resuming from one restarts Adam's
# moments; the update count, schedules and data position carry on.
PORTABLE_MARK = "portable-checkpoint"


def pack_portable(folder: Path, target: Path) -> None:
    """Write `folder`'s checkpoint (checkpoints/last) as a portable one in `target`, atomically."""
    from safetensors.torch import load_file, save_file

    check_checkpoint_files(folder)
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    weights = {k: (v.half() if v.is_floating_point() else v) for k, v in load_file(folder / "model.safetensors").items()}
    save_file(weights, tmp / "model.safetensors")
    shutil.copyfile(folder / "trainer_state.json", tmp / "trainer_state.json")
    (tmp / PORTABLE_MARK).write_text("weights (fp16) and trainer state only; Adam's moments restart on resume\n")
    swap_in(tmp, target)


def _load_portable(run: RunFolder, folder: Path) -> None:
    from safetensors.torch import load_file

    model = run.accelerator.unwrap_model(run.wrapper)
    missing, unexpected = model.load_state_dict(load_file(folder / "model.safetensors"), strict=False)
    if missing or unexpected:
        raise TrainError(f"{folder / 'model.safetensors'}: does not fit this run's model "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    log.warning("%s is a portable checkpoint (no optimizer state): Adam's moments start afresh", folder)


def load_checkpoint(run: RunFolder, folder: Path, state_type: type):
    """The saved state (a state_type) and accelerate state from `folder`, else from an older
    checkpoint beside it. A portable checkpoint (pack_portable) gives the weights and state."""
    candidates = [folder] + [Path(run.out_dir) / "checkpoints" / n for n in (".last.old",)
                             if Path(run.out_dir) / "checkpoints" / n != folder]
    errors = []
    for candidate in (c for c in candidates if c.is_dir()):
        try:
            check_checkpoint_files(candidate)
            saved = state_type(**json.loads((candidate / "trainer_state.json").read_text()))
            if (candidate / PORTABLE_MARK).is_file():
                _load_portable(run, candidate)
            else:
                run.accelerator.load_state(str(candidate))
        except (TrainError, TypeError, OSError) as e:
            errors.append(str(e))
            continue
        for error in errors:
            log.warning("%s; resuming from the previous checkpoint %s", error, candidate)
        return saved
    raise TrainError(f"cannot resume from {folder}: {'; '.join(errors)}. Set `restart` to start over "
                     f"(the damaged run is kept aside until the new one's first checkpoint)")


def continue_from(run: RunFolder, saved, folder: Path) -> None:
    """Make `saved` (from `folder`) the run's state; the log loses what came after it."""
    if (saved.world_size, saved.update_freq) != (run.state.world_size, run.state.update_freq):
        # Another number of processes: the batch order differs, so start the next epoch afresh.
        log.warning("resuming with %d process(es) x update_freq %d (checkpoint: %d x %d): the data order "
                    "restarts at epoch %d", run.state.world_size, run.state.update_freq, saved.world_size,
                    saved.update_freq, saved.epoch + 1)
        saved.epoch, saved.epoch_update = saved.epoch + 1, 0
        saved.world_size, saved.update_freq = run.state.world_size, run.state.update_freq
    run.state = saved
    run.logger.truncate_after(saved.update)
    if run.main:
        log.info("resumed from %s at update %d (epoch %d)", folder, saved.update, saved.epoch)


# ---------------------------------------------------------------- log


class TrainLog:
    """train-log.jsonl (appended line by line) and TensorBoard when it is installed."""

    def __init__(self, out_dir: Path, enabled: bool):
        self.path = Path(out_dir) / "train-log.jsonl"
        self.enabled = enabled
        self.tb = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(Path(out_dir) / "tensorboard"))
            except ImportError:
                pass

    def write(self, row: dict) -> None:
        if not self.enabled:
            return
        row = {"time": round(time.time(), 3), **row}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        if self.tb is not None:
            for key, value in row.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and key not in ("update", "time"):
                    self.tb.add_scalar(f"{row['kind']}/{key}", value, row["update"])
            self.tb.flush()

    def truncate_after(self, update: int) -> None:
        """Drop rows a killed run wrote after its last checkpoint (they will be written again)."""
        if self.enabled and self.path.is_file():
            write_jsonl(self.path, [r for r in read_jsonl(self.path) if r.get("update", 0) <= update])


# ---------------------------------------------------------------- data stream


def _identity(x):
    return x


class _MicroBatches(torch.utils.data.Dataset):
    """(MicroBatch, key) pairs as a map-style dataset, so DataLoader workers can make batches ahead."""

    def __init__(self, make_batch: Callable, items: list[tuple[MicroBatch, tuple[int, int, int]]]):
        self.make_batch, self.items = make_batch, items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, k):
        return self.make_batch(*self.items[k])


def update_stream(planner: UpdatePlanner, rank: int, world: int, start: Position,
                  make_batch: Callable[[MicroBatch, tuple[int, int, int]], object], workers: int,
                  seed_workers_by_epoch: bool):
    """Yield (position after, update, this process's batches) per update from `start`, epoch
    by epoch. Each batch is make_batch(micro-batch, key), key = (epoch, update index, j *
    world + rank) for this rank's j-th micro-batch of the update: batch j of an update is
    rank j % world's micro-step j // world, so N processes can draw what one process
    accumulating N batches would. With workers > 0 batches are made ahead in DataLoader
    workers, whose seeds come from a generator seeded by the epoch when
    seed_workers_by_epoch, else (as DataLoader does) from torch's global RNG."""
    epoch, index = start.epoch, start.update
    while True:
        updates = planner.epoch(epoch)[index:]
        items = [(mb, (epoch, i, j * world + rank))
                 for i, update in enumerate(updates, start=index) for j, mb in enumerate(update[rank])]
        source = _MicroBatches(make_batch, items)
        if workers:
            generator = torch.Generator().manual_seed(epoch) if seed_workers_by_epoch else None
            source = torch.utils.data.DataLoader(source, batch_size=None, num_workers=workers,
                                                 collate_fn=_identity, prefetch_factor=4, generator=generator)
        batches = iter(source)
        for i, update in enumerate(updates, start=index):
            after = Position(epoch, i + 1) if i + 1 < index + len(updates) else Position(epoch + 1, 0)
            yield after, update, [next(batches) for _ in update[rank]]
        epoch, index = epoch + 1, 0
