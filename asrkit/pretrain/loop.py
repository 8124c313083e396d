"""The pre-training loop: unlabelled audio + a pre-training recipe -> a Wav2Vec2ForPreTraining
folder, on the same machinery as fine-tuning (asrkit.runs: accelerate, batches by total
audio, atomic resumable checkpoints, JSONL log, `restart` that keeps the old run until the
new one's first checkpoint).

    pretrain(options)
      setup: model (random init or a checkpoint, asrkit.pretrain.model), audio, batches
      for each update (world_size x update_freq micro-batches):
          LR (polynomial decay), Gumbel temperature (start * decay**update, floored)
          each micro-batch: crop, masks, distractors -> loss terms (asrkit.pretrain.objective)
          gradients = d/dθ [sum over the update's masked frames] / [its masked frames]
          log; validate (same losses on held-out audio, fixed masks); checkpoint; snapshot
      the last model -> out_dir (save_pretrained) beside its feature extractor

Output folder:

    out_dir/
      config.json, model.safetensors, preprocessor_config.json
                            Wav2Vec2ForPreTraining.from_pretrained(out_dir) loads it;
                            `asrkit finetune --model out_dir` fine-tunes it with a new CTC head
      recipe.yaml           the resolved recipe and the command
      train-log.jsonl       "train" rows per log interval, "valid" rows per validation
      train-summary.json    written last
      checkpoints/last/     resumable state (accelerate's + trainer_state.json)
      snapshots/update-N/   the model every train.snapshot_interval_updates (if set)
      .previous-run/        --restart: the previous run's files, until the new run's first checkpoint
"""

from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from asrkit import runs
from asrkit.audio import SAMPLE_RATE
from asrkit.data.batching import Position, UpdatePlanner, sorted_batches, update_freq
from asrkit.data.collate import samples_at_16k
from asrkit.data.manifest import read_split, total_hours
from asrkit.errors import DataError
from asrkit.masks import MaskSettings
from asrkit.pretrain.data import Cropper, PretrainBatch, Waveforms, usable
from asrkit.pretrain.model import feature_extractor_for, load_pretraining_model
from asrkit.pretrain.objective import PretrainObjective, gumbel_temperature
from asrkit.schedule import PolynomialDecay

log = logging.getLogger(__name__)

_DEV_KEY = 7_919  # seeds the dev set's crops, masks and distractors: the same at every validation


@dataclass(frozen=True)
class PretrainOptions(runs.RunOptions):
    """runs.RunOptions (recipe: an asrkit.config.PretrainRecipe), and what --audio-dir adds."""
    # --audio-dir: manifests_dir is that folder's fresh scan, which becomes this folder (out_dir/
    # manifests, the record of what the run trains on) only once the run trains on it: never
    # for a finished run, one refused, or a restart that fails. None: manifests_dir is the user's.
    record_manifests: Path | None = None


PretrainState = runs.RunState  # pre-training adds nothing to the run's state


@dataclass
class Run(runs.RunFolder):
    options: PretrainOptions
    accelerator: object
    wrapper: torch.nn.Module  # PretrainObjective, prepared (DDP on several processes)
    objective: PretrainObjective
    feature_extractor: object
    optimizer: torch.optim.Optimizer
    cropper: Cropper
    dev: tuple[Cropper, list[list[int]]] | None
    planner: UpdatePlanner
    schedule: PolynomialDecay
    logger: runs.TrainLog
    state: PretrainState = field(default_factory=PretrainState)

    @property
    def model(self):
        return self.objective.model


# ---------------------------------------------------------------- set-up


def _audio(options: PretrainOptions, split: str, model, show: bool, desc: str) -> tuple[Cropper, np.ndarray]:
    """The split's usable utterances as a Cropper, and their lengths for batching."""
    data, m = options.recipe.data, options.recipe.model
    utts, short = usable(read_split(options.manifests_dir, split), data.min_sample_size)
    if show:
        log.info("%s: %d utterances, %.2f h%s", split, len(utts), total_hours(utts),
                 f"; left out {short} shorter than data.min_sample_size ({data.min_sample_size} samples)" if short else "")
    if not utts:
        raise DataError(f"{split}: no utterance of at least data.min_sample_size={data.min_sample_size} samples"
                        f" ({short} shorter; --set data.min_sample_size=N lowers the bar)")
    waves = Waveforms(utts, m.normalize, cache=total_hours(utts) <= data.cache_hours)
    waves.preload(desc, show and options.progress)
    if waves.cache is not None and not any(w is not None for w in waves.cache.values()):
        raise DataError(f"{split}: none of its {len(utts)} audio file(s) can be read ({next(iter(waves.bad))}); "
                        f"nothing to train on")
    frames_of = lambda n: model._get_feat_extract_output_lengths(torch.as_tensor(n)).numpy()  # noqa: E731
    cropper = Cropper(waves, frames_of, MaskSettings.for_pretraining(m), m.num_negatives, data.max_sample_size,
                      data.crop)
    lengths = np.array([min(samples_at_16k(u), data.max_sample_size) for u in utts], dtype=np.int64)
    return cropper, lengths


def build_optimizer(model, cfg) -> torch.optim.Optimizer:
    """fairseq's Adam: decoupled weight decay on every parameter."""
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.adam_betas, eps=cfg.adam_eps, weight_decay=cfg.weight_decay)


def setup(options: PretrainOptions, accelerator) -> Run:
    from accelerate.utils import set_seed

    recipe = options.recipe
    main = accelerator.is_main_process
    set_seed(recipe.train.seed)  # the same initial weights on every process
    model, notes = load_pretraining_model(recipe.model)
    set_seed(recipe.train.seed, device_specific=True)
    if main:
        total = sum(p.numel() for p in model.parameters())
        log.info("model %s: %.1fM parameters, %d x %d codevectors, final_dim %d", recipe.model.name, total / 1e6,
                 model.config.num_codevector_groups, model.config.num_codevectors_per_group,
                 model.config.proj_codevector_dim)
        for note in notes:
            log.warning("recipe setting: %s", note)
    cropper, lengths = _audio(options, recipe.data.train_split, model, main, "loading training audio")
    dev = None
    if recipe.data.dev_split != runs.NO_DEV:
        dev_cropper, dev_lengths = _audio(options, recipe.data.dev_split, model, main, "loading dev audio")
        dev = (dev_cropper, sorted_batches(dev_lengths, recipe.data.valid_max_tokens))
    world = accelerator.num_processes
    freq = update_freq(recipe.data.update_tokens, recipe.data.max_tokens, world)
    planner = UpdatePlanner(lengths, recipe.data.max_tokens, world, freq, recipe.train.seed)
    if main:
        per_update = world * freq * recipe.data.max_tokens
        log.info("batching: <= %d samples (%.0f s) per forward; %d process(es) x update_freq %d = %.0f s per "
                 "update (recipe: %.0f s); %d update(s) per epoch", recipe.data.max_tokens,
                 recipe.data.max_tokens / SAMPLE_RATE, world, freq, per_update / SAMPLE_RATE,
                 recipe.data.update_tokens / SAMPLE_RATE, planner.updates_per_epoch())
    m = recipe.model
    objective = PretrainObjective(model, m.diversity_loss_weight, m.feature_penalty_weight, m.feature_grad_mult,
                                  m.logit_temperature)
    optimizer = build_optimizer(model, recipe.train)
    wrapper, optimizer = accelerator.prepare(objective, optimizer)
    t = recipe.train
    return Run(options, accelerator, wrapper, objective, feature_extractor_for(model, m), optimizer, cropper, dev,
               planner, PolynomialDecay(t.lr, t.warmup_updates, t.max_updates),
               runs.TrainLog(options.out_dir, enabled=main),
               PretrainState(world_size=world, update_freq=freq, train_data=runs.train_data_digest(options)))


# ---------------------------------------------------------------- one update


class _Terms:
    """Sums of the loss terms over micro-batches, for logging (per masked frame)."""

    KEYS = ("contrastive", "diversity", "feature_penalty", "prob_perplexity", "code_perplexity")

    def __init__(self):
        self.sums = dict.fromkeys(self.KEYS, 0.0)
        self.masked = self.correct = self.batches = 0
        self.samples = 0

    def add(self, terms: dict, batch: PretrainBatch) -> None:
        if not batch.weight:
            return
        for key in self.KEYS:
            self.sums[key] += float(terms[key].detach())
        self.masked += int(terms["masked"])
        self.correct += int(terms["correct"])
        self.batches += 1
        self.samples += batch.samples

    def merge(self, other: "_Terms") -> None:
        for key in self.KEYS:
            self.sums[key] += other.sums[key]
        self.masked += other.masked
        self.correct += other.correct
        self.batches += other.batches
        self.samples += other.samples

    def summary(self, acc, weights) -> dict:
        """Per-frame means over all processes (perplexities and per-batch terms: means over batches)."""
        local = torch.tensor([*self.sums.values(), self.masked, self.correct, self.batches, self.samples],
                             dtype=torch.float64, device=acc.device)
        total = (acc.reduce(local, "sum") if acc.num_processes > 1 else local).tolist()
        sums = dict(zip(self.KEYS, total[:len(self.KEYS)]))
        masked, correct, batches, samples = total[len(self.KEYS):]
        per_batch = {k: sums[k] / max(batches, 1) for k in self.KEYS[1:]}
        contrastive = sums["contrastive"] / max(masked, 1)
        loss = contrastive + weights[0] * per_batch["diversity"] + weights[1] * per_batch["feature_penalty"]
        return {"loss": loss, "contrastive": contrastive, **per_batch, "accuracy": correct / max(masked, 1),
                "masked_frames": int(masked), "audio_seconds": round(samples / SAMPLE_RATE, 2)}


class _Window:
    """The "train" row of a log interval: loss terms per masked frame, throughput, and the
    last update's LR, gradient norm and Gumbel temperature."""

    def __init__(self):
        self.terms, self.started, self.last = _Terms(), time.time(), {}

    def add(self, stats: tuple[_Terms, dict]) -> None:
        terms, self.last = stats
        self.terms.merge(terms)

    def row(self, run) -> dict:
        seconds = time.time() - self.started
        row = self.terms.summary(run.accelerator, _weights(run))
        row["audio_s_per_s"] = round(row["audio_seconds"] / seconds, 2) if seconds > 0 else None
        return {**row, **self.last, "skipped_updates": run.state.skipped_updates}


def _update(run: Run, update, batches: list[PretrainBatch]) -> tuple[tuple[_Terms, dict], dict, float]:
    """train_update, as the skeleton's loop takes it: (window stats, progress postfix, audio seconds)."""
    for batch in batches:  # made in a DataLoader worker, whose own count is lost
        run.cropper.waves.bad.update(batch.bad)
    terms, extra = train_update(run, batches)
    audio = extra.pop("samples_all_processes") / SAMPLE_RATE
    postfix = {"loss": f"{terms.sums['contrastive'] / max(terms.masked, 1):.3f}",
               "acc": f"{terms.correct / max(terms.masked, 1):.3f}"}
    return (terms, extra), postfix, audio


def _validation_due(run: Run, after: Position) -> bool:
    cfg, update = run.recipe.train, run.state.update
    return run.dev is not None and (update % cfg.validate_interval_updates == 0 or update == cfg.max_updates)


def train_update(run: Run, batches: list[PretrainBatch]) -> tuple[_Terms, dict]:
    """One optimizer update: gradients of the summed loss over the update's masked frames
    (all processes) divided by their number, fairseq's sample_size normalisation. DDP
    averages over processes, hence the world_size factor. Gradients that are not finite stop
    the run or skip the update as train.nonfinite_grads says (runs.gradients_usable)."""
    acc, st = run.accelerator, run.state
    temperature = gumbel_temperature(st.update, *run.recipe.model.gumbel_temperature)
    run.model.quantizer.temperature = temperature
    lr = runs.set_lr(run, st.update)
    local = torch.tensor([float(sum(b.masked for b in batches)), float(sum(b.samples for b in batches if b.weight))],
                         dtype=torch.float64, device=acc.device)
    masked, samples = (acc.reduce(local, "sum") if acc.num_processes > 1 else local).tolist()
    scale = acc.num_processes / max(masked, 1.0)
    terms = _Terms()
    for k, batch in enumerate(batches):
        batch = batch.to(acc.device)
        with nullcontext() if k == len(batches) - 1 else acc.no_sync(run.wrapper):
            out = run.wrapper(batch.inputs, batch.attention_mask, batch.mask, batch.negatives)
            acc.backward(run.objective.total(out) * (batch.weight * scale))
        terms.add(out, batch)
    clip = run.recipe.train.clip_norm
    gnorm = float(acc.clip_grad_norm_(run.wrapper.parameters(), clip if clip > 0 else float("inf")))
    if runs.gradients_usable(run, gnorm):
        run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    return terms, {"lr": lr, "gnorm": gnorm, "temperature": temperature, "samples_all_processes": samples}


# ---------------------------------------------------------------- data stream


class _Crop:
    """A micro-batch cropped, masked and given distractors, its draws keyed by (seed, *key)
    (picklable, for DataLoader workers)."""

    def __init__(self, cropper: Cropper, seed: int):
        self.cropper, self.seed = cropper, seed

    def __call__(self, mb, key: tuple[int, int, int]) -> PretrainBatch:
        return self.cropper(mb.indices, (self.seed, *key), mb.weight)


def update_stream(run: Run, start: Position):
    """Yield (position after, update, this process's PretrainBatches) per update from `start`.
    Each batch's draws are keyed by (seed, epoch, update, the batch's place in the update), so
    a resumed run makes the very same batches, and N processes draw what one process
    accumulating N batches would (batch j of an update is rank j % N's micro-step j // N)."""
    workers = 0 if run.cropper.waves.cache is not None else run.recipe.data.num_workers
    return runs.update_stream(run.planner, run.accelerator.process_index, run.accelerator.num_processes, start,
                   _Crop(run.cropper, run.recipe.train.seed), workers, seed_workers_by_epoch=False)


# ---------------------------------------------------------------- validation


def evaluate(run: Run) -> dict:
    """The loss terms and contrastive accuracy on the dev split, the model in eval mode
    (argmax codevectors, no dropout) with the same crops, masks and distractors every time."""
    acc = run.accelerator
    cropper, batches = run.dev
    terms = _Terms()
    run.wrapper.eval()
    with torch.no_grad(), acc.autocast():
        for k in range(acc.process_index, len(batches), acc.num_processes):
            batch = cropper(batches[k], (run.recipe.train.seed, _DEV_KEY, k))
            if batch.weight:
                batch = batch.to(acc.device)
                terms.add(run.wrapper(batch.inputs, batch.attention_mask, batch.mask, batch.negatives), batch)
    run.wrapper.train()
    return terms.summary(acc, _weights(run))


def _weights(run: Run) -> tuple[float, float]:
    m = run.recipe.model
    return m.diversity_loss_weight, m.feature_penalty_weight


def validate(run: Run) -> None:
    started = time.time()
    result = evaluate(run)
    if not result["masked_frames"]:
        raise DataError(f"{run.recipe.data.dev_split}: no dev audio could be read "
                        f"({len(run.dev[0].waves.bad)} file(s) skipped); no validation loss to report")
    row = {"kind": "valid", "update": run.state.update, "split": run.recipe.data.dev_split, **result,
           "seconds": round(time.time() - started, 2)}
    run.logger.write(row)
    if run.main:
        log.info("update %d: %s contrastive %.3f, accuracy %.3f, code perplexity %.0f", run.state.update,
                 run.recipe.data.dev_split, result["contrastive"], result["accuracy"], result["code_perplexity"])


# ---------------------------------------------------------------- saving


def save_model(run: Run, folder: Path) -> None:
    """save_pretrained + the feature extractor, into `folder` atomically."""
    runs.save_model(run, folder, run.model, run.feature_extractor)


# ---------------------------------------------------------------- the loop


def train_loop(run: Run) -> str:
    """Updates until max_updates (runs.train_loop); returns "done" or "stopped"."""
    return runs.train_loop(run, PRETRAIN)


def check_audio_seen(run: Run) -> None:
    """A checkpoint (or a restart's first one, which drops the old run) of updates that saw no
    audio at all, every file unreadable, is refused: its loss of 0 would read as a result."""
    if run.state.audio_seconds <= 0:
        raise DataError(f"{run.recipe.data.train_split}: no audio could be read in {run.state.update} update(s) "
                        f"({len(run.cropper.waves.bad)} file(s) skipped); nothing was saved")


def adopt_manifests(run: Run) -> None:
    """--audio-dir: the scanned manifests become out_dir/manifests, now that the run trains on
    them (a resumed run on other files was warned by runs.warn_if_data_changed)."""
    options, record = run.options, run.options.record_manifests
    if run.main and record is not None and Path(options.manifests_dir) != Path(record):
        runs.swap_in(Path(options.manifests_dir), Path(record))


def _on_resume(run: Run, saved: PretrainState) -> None:
    runs.warn_if_data_changed(run, saved)
    adopt_manifests(run)


def warn_if_other_files(options: PretrainOptions) -> None:
    """A finished run asked again with another --audio-dir keeps what it was trained on."""
    if options.record_manifests is not None and _scan_differs(options.manifests_dir, options.record_manifests):
        log.warning("%s was pre-trained on other files (%s, kept); --restart to train on this folder's",
                    options.out_dir, options.record_manifests)


def _scan_differs(new: Path, old: Path) -> bool:
    from asrkit.pretrain.data import FOLDER_TRAIN

    name = f"{FOLDER_TRAIN}.jsonl"
    return not (Path(old) / name).is_file() or (Path(old) / name).read_bytes() != (Path(new) / name).read_bytes()


def finish(run: Run, started: float) -> dict:
    """The last model into out_dir (file by file, atomically), then train-summary.json."""
    final = run.out_dir / "checkpoints" / "final"
    save_model(run, final)
    st = run.state
    summary = {"status": "done", "kind": "pretrain", "updates": st.update, "epochs": st.epoch,
               **runs.totals(st, started),
               "bad_audio_files": len(run.cropper.waves.bad)}  # distinct files (a reason names its file)
    runs.publish(run, final, summary)
    return summary


PRETRAIN = runs.Stage(kind="pre-training", done="pre-trained", desc="pretrain", setup=lambda o, a: setup(o, a),
                      state_type=PretrainState, stream=lambda run, start: update_stream(run, start), update=_update,
                      window=_Window, validation_due=_validation_due, validate=lambda run: validate(run),
                      finish=lambda run, started: finish(run, started), loop=lambda run: train_loop(run),
                      save_model=lambda run, folder: save_model(run, folder), on_start=lambda run: adopt_manifests(run),
                      on_resume=lambda run, saved: _on_resume(run, saved), before_checkpoint=lambda run: check_audio_seen(run),
                      on_finished=lambda options: warn_if_other_files(options))


def pretrain(options: PretrainOptions) -> dict:
    """Pre-train as the recipe says into options.out_dir; resumes, or skips a finished run."""
    return runs.train(options, PRETRAIN)
