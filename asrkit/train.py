"""The fine-tuning loop: a recipe (asrkit.config) + a checkpoint -> a fine-tuned CTC model.

Written out on accelerate, one function per step of the loop (icefall/nanoGPT style):

    finetune(options)
      setup: Accelerator (bf16 on GPU, fp32 on CPU), model + processor (asrkit.model),
             training data filtered and batched by total audio (asrkit.data.batching)
      for each update (a group of world_size x update_freq batches):
          lr from the tri-stage schedule; transformer frozen or not
          forward/backward per micro-batch, CTC summed per utterance in fp32
          Adam step with gradients = sum of CTC over the update / its number of sentences
          log; validate (greedy WER/CER on the dev split) -> keep the best; checkpoint
      the best model by train.select_by (dev WER or CER) -> out_dir, beside its processor, recipe.yaml, train-log.jsonl

Output folder:

    out_dir/
      config.json, model.safetensors, preprocessor_config.json, vocab.json, ...
                            the best checkpoint by train.select_by (the last one without a dev split);
                            transformers.pipeline("automatic-speech-recognition", model=out_dir) runs it
      recipe.yaml           the resolved recipe (all keys) and the command
      train-log.jsonl       one line per log interval ("train") and per validation ("valid")
      train-summary.json    written last: updates, best dev WER, wall time, throughput
      checkpoints/last/     resumable state: accelerate's (model, optimizer, RNG) + trainer_state.json
      checkpoints/best/     the best model so far (HF format)
      .previous-run/        --restart: the previous run's files, until the new run's first checkpoint

Running the same command again continues from checkpoints/last (optimizer, schedule
position, sampler position and RNG state) or, when training finished, does nothing.
--restart checks the splits and loads the model before it moves anything of the old run.
A NaN or infinite loss or gradient stops the run; non-finite weights are never saved.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from asrkit.config import Recipe, dump_recipe, recipe_to_dict
from asrkit.data.batching import (Position, Update, UpdatePlanner, sentences_in, sorted_batches,
                                  update_freq)
from asrkit.data.audio import SAMPLE_RATE
from asrkit.data.collate import (Batch, Collator, Featurizer, SpeechDataset, encode_text, input_length,
                                 samples_at_16k)
from asrkit.data.manifest import Utterance, read_split, split_manifests, total_hours
from asrkit.decode import Vocabulary
from asrkit.decode.greedy import best_path
from asrkit.errors import DataError, InputNotFound, TrainError
from asrkit.io import damaged_file, read_jsonl, write_json, write_jsonl, write_text
from asrkit.model import (CTCTrainer, Masking, build_processor_for, count_parameters, load_ctc_model,
                          output_lengths, transformer_frozen, transformer_parameters)
from asrkit.schedule import schedule_from_recipe
from asrkit.vocab import ctc_min_frames

log = logging.getLogger(__name__)

NO_DEV = "none"


@dataclass(frozen=True)
class FinetuneOptions:
    recipe: Recipe
    out_dir: Path
    manifests_dir: Path
    command: str = ""  # the command line, recorded in recipe.yaml
    restart: bool = False  # start over; the old run waits in out_dir/.previous-run until the first checkpoint
    progress: bool = True  # tqdm progress bar
    # Tests: stop right after the checkpoint at this update, as if killed there.
    stop_after_updates: int | None = None


@dataclass
class TrainState:
    """What a checkpoint adds to accelerate's state (trainer_state.json)."""
    update: int = 0  # updates done
    epoch: int = 0  # sampler position: epoch ...
    epoch_update: int = 0  # ... and updates already taken from it
    best_wer: float | None = None  # dev WER and CER of the kept model
    best_cer: float | None = None  # (train.select_by says which of the two picks it)
    best_update: int | None = None
    start_wer: float | None = None  # dev WER and CER of the starting checkpoint, before any
    start_cer: float | None = None  # update (only when it brings its own CTC head)
    audio_seconds: float = 0.0  # training audio processed, all processes
    train_seconds: float = 0.0  # wall time spent in updates
    world_size: int = 1
    update_freq: int = 1
    train_data: str | None = None  # sha256 of the training manifest(s) at the last checkpoint


@dataclass
class Run:
    """Everything the loop functions share, built once by setup()."""
    options: FinetuneOptions
    accelerator: object
    wrapper: torch.nn.Module  # CTCTrainer, prepared (DDP on several processes)
    model: torch.nn.Module  # the HF model inside it
    processor: object
    optimizer: torch.optim.Optimizer
    train_set: SpeechDataset
    dev_set: SpeechDataset | None
    collator: Collator
    planner: UpdatePlanner
    lengths: np.ndarray  # training utterance lengths in 16 kHz samples
    schedule: object
    logger: "TrainLog"
    state: TrainState = field(default_factory=TrainState)
    head: str = "fresh"  # ModelInfo.head: "kept" when the starting checkpoint's CTC head is used

    @property
    def recipe(self) -> Recipe:
        return self.options.recipe

    @property
    def out_dir(self) -> Path:
        return self.options.out_dir

    @property
    def main(self) -> bool:
        return self.accelerator.is_main_process


# ---------------------------------------------------------------- set-up


def make_accelerator(train_cfg):
    """bf16 on GPU, fp32 on CPU (bf16 is ~30x slower on this kind of CPU); unused parameters
    allowed in DDP, since the frozen transformer and layerdrop leave some without gradients."""
    from accelerate import Accelerator, DistributedDataParallelKwargs

    precision = train_cfg.mixed_precision
    if precision == "auto":
        precision = "bf16" if torch.cuda.is_available() else "no"
    accelerator = Accelerator(mixed_precision=precision,
                              kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched > 1 and accelerator.num_processes == 1:
        # `accelerate launch --multi_gpu` on a machine without GPUs starts independent
        # processes that would all write the same output folder.
        raise TrainError(f"launched as {launched} processes but accelerate sees 1 (no GPU?): "
                         f"on CPU, set ACCELERATE_USE_CPU=true for distributed training")
    return accelerator


def filter_trainable(utts: list[Utterance], model, vocab: dict, waveform_input: bool,
                     max_tokens: int) -> tuple[list[Utterance], dict[str, int]]:
    """Leave out utterances CTC cannot learn from, with counts per reason: an empty transcript,
    a label longer than the frames (+ blanks between repeats), or audio over max_tokens."""
    samples = [samples_at_16k(u) for u in utts]
    inputs = torch.tensor([input_length(s, waveform_input) for s in samples], dtype=torch.long)
    frames = output_lengths(model, inputs.clamp(min=1)).tolist()
    keep, dropped = [], {"empty transcript": 0, "label longer than its frames": 0, "longer than max_tokens": 0}
    for utt, n, t in zip(utts, samples, frames):
        labels = encode_text(utt.text, vocab)
        if len(labels) == 0:
            dropped["empty transcript"] += 1
        elif n > max_tokens:
            dropped["longer than max_tokens"] += 1
        elif ctc_min_frames(labels) > t:
            dropped["label longer than its frames"] += 1
        else:
            keep.append(utt)
    return keep, {k: v for k, v in dropped.items() if v}


def make_dataset(utts: list[Utterance], processor, waveform_input: bool, cache_hours: float,
                 desc: str, show: bool) -> SpeechDataset:
    featurize = Featurizer(processor.feature_extractor, waveform_input)
    cache = total_hours(utts) <= cache_hours
    dataset = SpeechDataset(utts, featurize, processor.tokenizer.get_vocab(), cache=cache)
    dataset.preload(desc=desc, disable=not show)
    return dataset


def build_optimizer(model, train_cfg) -> torch.optim.Optimizer:
    """Adam (fairseq's, i.e. decoupled weight decay, 0 by default) with two groups: the
    encoder at lr x transformer_lr_scale and the CTC head at lr. Parameters without a
    gradient in an update (frozen transformer, layerdrop) are skipped by the step, or step
    with a zero gradient as in fairseq (train.adam_missing_grads)."""
    body, head = transformer_parameters(model)
    groups = [{"params": body, "lr_scale": train_cfg.transformer_lr_scale, "name": "encoder"},
              {"params": head, "lr_scale": 1.0, "name": "ctc_head"}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=train_cfg.lr, betas=train_cfg.adam_betas,
                             eps=train_cfg.adam_eps, weight_decay=train_cfg.weight_decay)


def setup(options: FinetuneOptions, accelerator=None) -> Run:
    """Model, processor, data and optimizer for a recipe, on `accelerator` (made if None)."""
    from accelerate.utils import set_seed

    from asrkit.vocab import build_tokenizer

    recipe = options.recipe
    accelerator = accelerator or make_accelerator(recipe.train)
    main = accelerator.is_main_process
    set_seed(recipe.train.seed)  # the same initial weights on every process
    tokenizer = build_tokenizer()
    model, info, notes = load_ctc_model(recipe.model, tokenizer)
    processor = build_processor_for(recipe.model, info)
    set_seed(recipe.train.seed, device_specific=True)  # different masks per process
    if main:
        describe_model(model, info, notes, recipe)
    train_set, lengths = load_train_set(options, model, processor, info, main)
    dev_set = load_dev_set(options, processor, info, main)
    world = accelerator.num_processes
    freq = update_freq(recipe.data.update_tokens, recipe.data.max_tokens, world)
    planner = UpdatePlanner(lengths, recipe.data.max_tokens, world, freq, recipe.train.seed,
                            recipe.data.batch_size_multiple)
    if main:
        describe_batching(recipe, lengths, planner, world, freq)
    optimizer = build_optimizer(model, recipe.train)
    wrapper, optimizer = accelerator.prepare(CTCTrainer(model, Masking.from_recipe(recipe.model)), optimizer)
    logger = TrainLog(options.out_dir, enabled=main)
    return Run(options, accelerator, wrapper, model, processor, optimizer, train_set, dev_set,
               Collator(info.attention_mask), planner, lengths, schedule_from_recipe(recipe.train), logger,
               TrainState(world_size=world, update_freq=freq, train_data=train_data_digest(options)), info.head)


def load_train_set(options, model, processor, info, show: bool) -> tuple[SpeechDataset, np.ndarray]:
    recipe = options.recipe
    utts = read_split(options.manifests_dir, recipe.data.train_split)
    kept, dropped = filter_trainable(utts, model, processor.tokenizer.get_vocab(), info.waveform_input,
                                     recipe.data.max_tokens)
    if show:
        log.info("train split %s: %d utterances, %.2f h", recipe.data.train_split, len(utts), total_hours(utts))
        for reason, n in dropped.items():
            log.warning("left out %d training utterance(s): %s", n, reason)
    if not kept:
        raise DataError(f"no trainable utterances in {recipe.data.train_split} ({dropped})")
    dataset = make_dataset(kept, processor, info.waveform_input, recipe.data.cache_hours,
                           f"loading {recipe.data.train_split}", show and options.progress)
    return dataset, np.array([samples_at_16k(u) for u in kept], dtype=np.int64)


def load_dev_set(options, processor, info, show: bool) -> SpeechDataset | None:
    split = options.recipe.data.dev_split
    if split == NO_DEV:
        if show:
            log.warning("no dev split (data.dev_split: none): no validation, the last model is kept")
        return None
    for path in split_manifests(options.manifests_dir, split):
        if not path.is_file():
            raise InputNotFound(f"no dev manifest {path}: run `asrkit prepare`, or set `dev_split` to none "
                                f"to train without validation")
    utts = read_split(options.manifests_dir, split)
    return make_dataset(utts, processor, info.waveform_input, options.recipe.data.cache_hours,
                        f"loading {split}", show and options.progress)


def describe_model(model, info, notes: list[str], recipe: Recipe) -> None:
    total, trainable = count_parameters(model)
    log.info("model %s: %s, %.1fM parameters (%.1fM can train), CTC head %s (%d outputs)",
             recipe.model.name, info.family, total / 1e6, trainable / 1e6, info.head, model.config.vocab_size)
    log.info("model style: %s", info.style)
    log.info("masking (%s): time p=%g span %d, channel p=%g span %d; layerdrop %g; transformer frozen for "
             "the first %d updates", recipe.model.masks, recipe.model.mask_time_prob, recipe.model.mask_time_length,
             recipe.model.mask_feature_prob, recipe.model.mask_feature_length, recipe.model.layerdrop,
             recipe.model.freeze_transformer_updates)
    for note in notes:
        log.warning("recipe setting: %s", note)


def describe_batching(recipe: Recipe, lengths: np.ndarray, planner: UpdatePlanner, world: int, freq: int) -> None:
    batches = sum(1 for update in planner.epoch(0) for rank in update for mb in rank if not mb.dummy)
    effective = world * freq * recipe.data.max_tokens
    per_epoch = planner.updates_per_epoch()
    log.info("batching: %d utterances (%.0f s) in %d batches of <= %d samples (%.0f s) per device, closed at "
             "multiples of %d utterances; %d process(es) x update_freq %d = %d samples (%.0f s) per update at "
             "most (recipe: %d), %.0f s of audio on average; %d update(s) per epoch", len(lengths),
             lengths.sum() / SAMPLE_RATE, batches, recipe.data.max_tokens, recipe.data.max_tokens / SAMPLE_RATE,
             recipe.data.batch_size_multiple, world, freq, effective, effective / SAMPLE_RATE,
             recipe.data.update_tokens, lengths.sum() / SAMPLE_RATE / per_epoch, per_epoch)


# ---------------------------------------------------------------- one update


def ctc_loss_sum(logits: torch.Tensor, frame_lengths: torch.Tensor, labels: torch.Tensor,
                 label_lengths: torch.Tensor, blank: int = 0) -> torch.Tensor:
    """Sum over the batch of each utterance's CTC loss (nats), computed in fp32 even under
    autocast; an impossible alignment counts 0 (zero_infinity) instead of inf/NaN.

    logits (B, T', V), frame_lengths (B,), labels (B, L) padded with -100, label_lengths (B,).
    """
    log_probs = logits.float().log_softmax(dim=-1).transpose(0, 1)  # (T', B, V)
    targets = labels[labels >= 0]  # row-major: the utterances' labels concatenated
    return F.ctc_loss(log_probs, targets, frame_lengths.clamp(max=logits.shape[1]), label_lengths,
                      blank=blank, reduction="sum", zero_infinity=True)


def microbatch_loss(run: Run, batch: Batch, frozen: bool) -> torch.Tensor:
    """CTC loss summed over one micro-batch (weight 0 for dummies)."""
    logits = run.wrapper(batch.inputs, batch.attention_mask, frozen=frozen, input_lengths=batch.input_lengths)
    frames = output_lengths(run.model, batch.input_lengths)
    loss = ctc_loss_sum(logits, frames, batch.labels, batch.label_lengths, run.model.config.pad_token_id)
    return loss * batch.weight


def set_lr(run: Run, update: int) -> float:
    lr = run.schedule(update)
    for group in run.optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
    return lr


def zero_missing_grads(optimizer: torch.optim.Optimizer) -> None:
    """A zero gradient for every parameter that got none, so that Adam steps all of them
    with one shared step count, as fairseq's fp16 optimizer (train.adam_missing_grads)."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            if p.grad is None:
                p.grad = torch.zeros_like(p)


def train_update(run: Run, update: Update, batches: list[Batch]) -> dict:
    """One optimizer update from this process's micro-batches of `update`.

    Gradients = d/dθ [sum of CTC over every utterance of the update, on all processes] /
    [number of those utterances]: fairseq's sentence_avg. DDP averages over processes, hence
    the world_size factor; gradients are synchronised only on the last micro-batch.
    """
    acc = run.accelerator
    frozen = transformer_frozen(run.state.update, run.recipe.model)
    lr = set_lr(run, run.state.update)
    scale = acc.num_processes / sentences_in(update)
    loss_sum, chars = 0.0, 0
    poisoned: list[str] = []  # utterances of micro-batches whose loss is NaN or infinite
    for k, batch in enumerate(batches):
        batch = batch.to(acc.device)
        sync = k == len(batches) - 1
        with nullcontext() if sync else acc.no_sync(run.wrapper):
            loss = microbatch_loss(run, batch, frozen)
            if not bool(torch.isfinite(loss)):
                poisoned += batch.ids
            acc.backward(loss * scale)
        loss_sum += loss.item()
        chars += int(batch.label_lengths.sum()) if batch.weight else 0
    clip = run.recipe.train.clip_norm
    gnorm = acc.clip_grad_norm_(run.wrapper.parameters(), clip if clip > 0 else float("inf"))
    check_finite(run, gnorm, poisoned, [i for b in batches for i in b.ids])
    if run.recipe.train.adam_missing_grads == "fairseq":
        zero_missing_grads(run.optimizer)
    run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    real = [mb for rank in update for mb in rank if not mb.dummy]
    samples = int(sum(run.lengths[i] for mb in real for i in mb.indices))
    return {"loss_sum": loss_sum, "sentences": sum(b.size for b in batches if b.weight), "chars": chars,
            "lr": lr, "gnorm": float(gnorm), "frozen": frozen, "audio_seconds": samples / SAMPLE_RATE}


def check_finite(run: Run, gnorm: torch.Tensor, poisoned: list[str], ids: list[str]) -> None:
    """Stop before the step of an update whose loss or gradient is NaN or infinite, naming
    the utterances (those whose loss was, else the update's): one such step makes every
    weight NaN, and the run would still end "fine-tuned" (fairseq likewise raises
    FloatingPointError on a non-finite gradient norm). A NaN loss on one process makes the
    synchronised gradient norm NaN on all of them, so under DDP every process stops here."""
    if bool(torch.isfinite(gnorm)) and not poisoned:
        return
    what = "CTC loss is not finite" if poisoned else f"gradient norm is {float(gnorm)}"
    shown = poisoned or ids
    shown = ", ".join(shown[:8]) + (f" and {len(shown) - 8} more" if len(shown) > 8 else "")
    raise TrainError(f"{what} at update {run.state.update + 1}, on utterance(s) {shown}: "
                     f"check their audio and the recipe's train.lr and train.adam_eps; nothing of this "
                     f"update was saved (the last checkpoint is in {run.out_dir / 'checkpoints'})")


def check_weights(run: Run, folder: Path) -> None:
    """A model with NaN or infinite weights is never saved as the best or the final one."""
    model = run.accelerator.unwrap_model(run.wrapper).model
    bad = [name for name, p in model.named_parameters() if not bool(torch.isfinite(p).all())]
    if bad:
        raise TrainError(f"after update {run.state.update} {len(bad)} weight tensor(s) hold NaN or "
                         f"infinite values ({', '.join(bad[:3])}); not saving them to {folder}")


# ---------------------------------------------------------------- data stream


def _identity(x):
    return x


class _MicroBatchSet(torch.utils.data.Dataset):
    """Micro-batches as a map-style dataset, so DataLoader workers can read and collate ahead."""

    def __init__(self, dataset: SpeechDataset, collator: Collator, microbatches):
        self.dataset, self.collator, self.microbatches = dataset, collator, microbatches

    def __len__(self):
        return len(self.microbatches)

    def __getitem__(self, k):
        mb = self.microbatches[k]
        return self.collator([self.dataset[i] for i in mb.indices], weight=mb.weight)


def update_stream(run: Run, start: Position):
    """Yield (position after, update, this process's Batches) from `start`, epoch by epoch.
    Cached data is collated in the loop; data read from disk goes through DataLoader workers."""
    rank = run.accelerator.process_index
    workers = 0 if run.train_set.cache is not None else run.recipe.data.num_workers
    epoch, index = start.epoch, start.update
    while True:
        updates = run.planner.epoch(epoch)[index:]
        mine = [mb for update in updates for mb in update[rank]]
        items = _MicroBatchSet(run.train_set, run.collator, mine)
        if workers:
            items = torch.utils.data.DataLoader(items, batch_size=None, num_workers=workers,
                                                collate_fn=_identity, prefetch_factor=4,
                                                generator=torch.Generator().manual_seed(epoch))
        batches = iter(items)
        for i, update in enumerate(updates, start=index):
            after = Position(epoch, i + 1) if i + 1 < index + len(updates) else Position(epoch + 1, 0)
            yield after, update, [next(batches) for _ in update[rank]]
        epoch, index = epoch + 1, 0


# ---------------------------------------------------------------- validation


def greedy_decode(vocab: Vocabulary, logits: torch.Tensor, frames: torch.Tensor) -> list[str]:
    """Best path (asrkit.decode.greedy) over each utterance's real frames; logits (B, T, V)."""
    ids = logits.argmax(dim=-1).cpu().numpy()
    return [best_path(ids[b, :int(frames[b])], vocab) for b in range(ids.shape[0])]


def evaluate(run: Run):
    """Greedy WER/CER on the dev split, each process decoding its share of the batches."""
    from accelerate.utils import gather_object

    from asrkit.inference import model_tokens
    from asrkit.results import Recog
    from asrkit.score import score

    acc, model, dataset = run.accelerator, run.model, run.dev_set
    vocab = Vocabulary.of(model_tokens(run.processor))
    lengths = [samples_at_16k(u) for u in dataset.utterances]
    batches = sorted_batches(lengths, run.recipe.data.valid_max_tokens)[acc.process_index::acc.num_processes]
    recogs = []
    model.eval()
    with torch.no_grad(), acc.autocast():
        for indices in batches:
            batch = run.collator([dataset[i] for i in indices]).to(acc.device)
            kwargs = {model.main_input_name: batch.inputs, "attention_mask": batch.attention_mask}
            logits = model(**{k: v for k, v in kwargs.items() if v is not None}).logits
            hyps = greedy_decode(vocab, logits, output_lengths(model, batch.input_lengths))
            for i, hyp in zip(indices, hyps):
                u = dataset.utterances[i]
                recogs.append(Recog(u.id, u.speaker, u.duration, u.text, hyp))
    model.train()
    recogs = gather_object(recogs) if acc.num_processes > 1 else recogs
    return score(recogs)


def validate_start(run: Run) -> None:
    """Dev WER and CER of the model as fine-tuning starts it (train.validate_start; by
    default only when the checkpoint's own CTC head is kept), so that the log and
    train-summary.json show what fine-tuning gained. Not a candidate for the kept model."""
    wanted = run.recipe.train.validate_start
    if run.dev_set is None or not (run.head == "kept" if wanted is None else wanted):
        return
    started = time.time()
    result = evaluate(run)
    run.state.start_wer, run.state.start_cer = result.wer, result.cer
    run.logger.write(_valid_row(run, result, time.time() - started, start=True))
    if run.main:
        log.info("start (CTC head %s): %s WER %.2f%% CER %.2f%%", run.head, run.recipe.data.dev_split,
                 100 * result.wer, 100 * result.cer)


def validate(run: Run) -> None:
    """Dev WER and CER now; a new best by train.select_by is saved (HF format) and followed
    by a checkpoint."""
    started = time.time()
    result = evaluate(run)
    st = run.state
    metric = run.recipe.train.select_by
    best = getattr(st, f"best_{metric}")
    improved = best is None or getattr(result, metric) < best
    if improved:
        st.best_wer, st.best_cer, st.best_update = result.wer, result.cer, st.update
    run.logger.write(_valid_row(run, result, time.time() - started, best_wer=st.best_wer, best_cer=st.best_cer))
    if run.main:
        log.info("update %d: %s WER %.2f%% CER %.2f%% (best %s %.2f%% at update %d)", st.update,
                 run.recipe.data.dev_split, 100 * result.wer, 100 * result.cer, metric.upper(),
                 100 * getattr(st, f"best_{metric}"), st.best_update)
    if improved:
        save_model(run, run.out_dir / "checkpoints" / "best")
        save_checkpoint(run)


def _valid_row(run: Run, result, seconds: float, **extra) -> dict:
    """The train-log row of one dev evaluation at the current update."""
    return {"kind": "valid", "update": run.state.update, "split": run.recipe.data.dev_split,
            "wer": result.wer, "cer": result.cer, **extra, "utterances": result.utterances,
            "seconds": round(seconds, 2)}


# ---------------------------------------------------------------- checkpoints


def _swap_in(tmp: Path, final: Path) -> None:
    """Replace the folder `final` by `tmp` with renames only: a reader sees the old or the new."""
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def save_model(run: Run, folder: Path) -> None:
    """Model + processor in HF format (save_pretrained), written atomically."""
    check_weights(run, folder)
    run.accelerator.wait_for_everyone()
    if run.main:
        tmp = folder.with_name(f".{folder.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        run.accelerator.unwrap_model(run.wrapper).model.save_pretrained(tmp)
        run.processor.save_pretrained(str(tmp))
        _swap_in(tmp, folder)
    run.accelerator.wait_for_everyone()


def save_checkpoint(run: Run) -> None:
    """accelerate state (model, optimizer, RNG of every process) + TrainState, atomically."""
    acc = run.accelerator
    folder = run.out_dir / "checkpoints" / "last"
    tmp = folder.with_name(".last.tmp")
    if run.main:
        shutil.rmtree(tmp, ignore_errors=True)
    acc.wait_for_everyone()
    tmp.mkdir(parents=True, exist_ok=True)
    acc.save_state(str(tmp))
    acc.wait_for_everyone()
    if run.main:
        write_json(tmp / "trainer_state.json", dataclasses.asdict(run.state))
        _swap_in(tmp, folder)
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


def load_checkpoint(run: Run, folder: Path) -> TrainState:
    """TrainState and accelerate state from `folder`, else from an older checkpoint beside it."""
    candidates = [folder] + [Path(run.out_dir) / "checkpoints" / n for n in (".last.old",)
                             if Path(run.out_dir) / "checkpoints" / n != folder]
    errors = []
    for candidate in (c for c in candidates if c.is_dir()):
        try:
            check_checkpoint_files(candidate)
            saved = TrainState(**json.loads((candidate / "trainer_state.json").read_text()))
            run.accelerator.load_state(str(candidate))
        except (TrainError, TypeError, OSError) as e:
            errors.append(str(e))
            continue
        for error in errors:
            log.warning("%s; resuming from the previous checkpoint %s", error, candidate)
        return saved
    raise TrainError(f"cannot resume from {folder}: {'; '.join(errors)}. Set `restart` to start over "
                     f"(the damaged run is kept aside until the new one's first checkpoint)")


def train_data_digest(options: FinetuneOptions) -> str:
    """sha256 of the training manifests' bytes, so that a resumed run can tell they changed."""
    h = hashlib.sha256()
    for path in split_manifests(options.manifests_dir, options.recipe.data.train_split):
        h.update(path.read_bytes())
    return h.hexdigest()


def warn_if_data_changed(run: Run, saved: TrainState) -> None:
    """The recipe is checked on resume (check_same_recipe); the data it names is not the same
    thing: a re-prepared or edited manifest silently changes what the rest of the run sees."""
    if saved.train_data is not None and saved.train_data != run.state.train_data and run.main:
        log.warning("the training manifest(s) %s changed since the checkpoint at update %d: the run goes on "
                    "with the new data (its batches from this point on follow the new manifest); pass "
                    "--restart to train on it from the start",
                    ", ".join(map(str, split_manifests(run.options.manifests_dir, run.recipe.data.train_split))),
                    saved.update)
    saved.train_data = run.state.train_data


def resume(run: Run, folder: Path) -> None:
    saved = load_checkpoint(run, folder)
    warn_if_data_changed(run, saved)
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


# ---------------------------------------------------------------- logs


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


class LogWindow:
    """Training statistics since the last log line."""

    def __init__(self):
        self.rows: list[dict] = []
        self.started = time.time()

    def add(self, stats: dict) -> None:
        self.rows.append(stats)

    def summary(self, acc) -> dict:
        local = torch.tensor([sum(r["loss_sum"] for r in self.rows), sum(r["sentences"] for r in self.rows),
                              sum(r["chars"] for r in self.rows)], dtype=torch.float64, device=acc.device)
        loss, sentences, chars = (acc.reduce(local, "sum") if acc.num_processes > 1 else local).tolist()
        seconds = time.time() - self.started
        audio = sum(r["audio_seconds"] for r in self.rows)
        last = self.rows[-1]
        return {"loss": loss / max(sentences, 1), "loss_per_char": loss / max(chars, 1), "lr": last["lr"],
                "gnorm": last["gnorm"], "frozen": last["frozen"], "audio_seconds": round(audio, 2),
                "audio_s_per_s": round(audio / seconds, 2) if seconds > 0 else None}


# ---------------------------------------------------------------- the loop


def train_loop(run: Run) -> str:
    """Updates until max_updates; returns "done" or "stopped" (options.stop_after_updates)."""
    from tqdm import tqdm

    cfg, st = run.recipe.train, run.state
    bar = tqdm(total=cfg.max_updates, initial=st.update, unit="upd", desc="finetune", dynamic_ncols=True,
               disable=not (run.main and run.options.progress))
    window = LogWindow()
    stream = update_stream(run, Position(st.epoch, st.epoch_update))
    while st.update < cfg.max_updates:
        after, update, batches = next(stream)
        started = time.time()
        stats = train_update(run, update, batches)
        st.update += 1
        st.epoch, st.epoch_update = after.epoch, after.update
        st.audio_seconds += stats["audio_seconds"]
        st.train_seconds += time.time() - started
        window.add(stats)
        bar.update(1)
        bar.set_postfix(loss=f"{stats['loss_sum'] / max(stats['sentences'], 1):.3g}", lr=f"{stats['lr']:.2e}",
                        audio_s_per_s=f"{st.audio_seconds / max(st.train_seconds, 1e-9):.1f}", refresh=False)
        if st.update % cfg.log_interval_updates == 0 or st.update == cfg.max_updates:
            run.logger.write({"kind": "train", "update": st.update, "epoch": st.epoch, **window.summary(run.accelerator)})
            window = LogWindow()
        if run.dev_set is not None and validation_due(cfg, st.update, st.epoch if after.update == 0 else None):
            validate(run)
        if st.update % cfg.checkpoint_interval_updates == 0 or st.update == cfg.max_updates \
                or st.update == run.options.stop_after_updates:
            save_checkpoint(run)
        if st.update == run.options.stop_after_updates:
            bar.close()
            return "stopped"
    bar.close()
    return "done"


def validation_due(train_cfg, update: int, epoch_ended: int | None = None) -> bool:
    """fairseq's validate_and_save rule (see TrainConfig) after `update` updates;
    `epoch_ended` is the number of epochs completed when this update ended one, else None."""
    cfg = train_cfg
    if update < cfg.validate_after_updates:
        return False

    def every(n: int, k: int) -> bool:
        return n > 0 and k % n == 0

    mid_epoch_save = epoch_ended is None and every(cfg.save_interval_updates, update)
    epoch_due = epoch_ended is not None and every(cfg.validate_interval_epochs, epoch_ended)
    return update == cfg.max_updates or mid_epoch_save or epoch_due or every(cfg.validate_interval_updates, update)


def write_recipe(options: FinetuneOptions, run_info: dict) -> None:
    header = "\n".join([
        "# Resolved recipe of this fine-tuning run (every key, defaults included).",
        f"# command: {options.command}" if options.command else "#",
        *(f"# {k}: {v}" for k, v in run_info.items()),
    ])
    write_text(options.out_dir / "recipe.yaml", dump_recipe(options.recipe, header))


def check_same_recipe(options: FinetuneOptions) -> None:
    """A resumed run must use the recipe it started with."""
    import yaml

    path = options.out_dir / "recipe.yaml"
    saved = yaml.safe_load(path.read_text(encoding="utf-8"))
    current = recipe_to_dict(options.recipe)
    diffs = [f"{s}.{k}: {saved.get(s, {}).get(k)!r} -> {v!r}" for s, section in current.items()
             for k, v in section.items() if saved.get(s, {}).get(k) != v]
    if diffs:
        raise TrainError(f"{options.out_dir} holds a run with another recipe ({'; '.join(diffs)}); "
                         f"use the same recipe to resume, or `restart` to start over")


def finish(run: Run, status_started: float) -> dict:
    """The final model (best by train.select_by on dev, else the last) into out_dir, then
    train-summary.json."""
    best = run.out_dir / "checkpoints" / "best"
    if run.dev_set is None or not best.is_dir():
        save_model(run, best)
    if run.main:
        for item in sorted(best.iterdir()):
            if item.is_file():
                tmp = run.out_dir / f".{item.name}.tmp"
                shutil.copyfile(item, tmp)
                os.replace(tmp, run.out_dir / item.name)
    st = run.state
    summary = {"status": "done", "updates": st.update, "epochs": st.epoch, "best_wer": st.best_wer,
               "best_cer": st.best_cer, "best_update": st.best_update if run.dev_set is not None else st.update,
               "start_wer": st.start_wer, "start_cer": st.start_cer,
               "dev_split": run.recipe.data.dev_split, "audio_seconds": round(st.audio_seconds, 1),
               "train_seconds": round(st.train_seconds, 1),
               "audio_s_per_s": round(st.audio_seconds / st.train_seconds, 2) if st.train_seconds else None,
               "wall_seconds_this_session": round(time.time() - status_started, 1),
               "processes": st.world_size, "update_freq": st.update_freq}
    if run.main:
        write_json(run.out_dir / "train-summary.json", summary)
    run.accelerator.wait_for_everyone()
    return summary


RUN_FILES = ("checkpoints", "train-log.jsonl", "train-summary.json", "recipe.yaml", "tensorboard")
PREVIOUS = ".previous-run"  # --restart keeps the old run's RUN_FILES here until the first checkpoint


def check_splits(options: FinetuneOptions) -> None:
    """The training and dev manifests exist and hold utterances: checked before --restart
    moves anything, so that a typo in a split name costs nothing."""
    read_split(options.manifests_dir, options.recipe.data.train_split)
    if options.recipe.data.dev_split != NO_DEV:
        read_split(options.manifests_dir, options.recipe.data.dev_split)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def set_aside(out: Path) -> None:
    """--restart: move the previous run's files into out/.previous-run (the fine-tuned model
    files stay where they are until the new run replaces them at its end)."""
    aside = out / PREVIOUS
    if aside.is_dir() and find_checkpoint(out) is not None:
        shutil.rmtree(aside)  # the run that set it aside got its checkpoint; it is now the old run
    present = [name for name in RUN_FILES if (out / name).exists()]
    if aside.is_dir():
        # An earlier --restart stopped before its first checkpoint: what it left is no run;
        # the run worth keeping is the one already aside.
        for name in present:
            _remove(out / name)
        return
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
    for name in RUN_FILES:
        if (aside / name).exists():
            _remove(out / name)
            os.replace(aside / name, out / name)
    shutil.rmtree(aside)
    log.info("restored the previous run in %s", out)


def drop_previous(out: Path) -> None:
    """The new run has a checkpoint of its own: the set-aside one is no longer needed."""
    shutil.rmtree(Path(out) / PREVIOUS, ignore_errors=True)


def finetune(options: FinetuneOptions) -> dict:
    """Fine-tune as the recipe says into options.out_dir; resumes or skips a finished run."""
    started = time.time()
    out = Path(options.out_dir)
    accelerator = make_accelerator(options.recipe.train)
    if options.restart:
        check_splits(options)
        if accelerator.is_main_process and out.exists():
            set_aside(out)
    elif accelerator.is_main_process and (out / PREVIOUS).is_dir() and find_checkpoint(out) is None:
        # A --restart stopped before its first checkpoint: the set-aside run is still the run.
        restore_previous(out)
    accelerator.wait_for_everyone()
    checkpoint = find_checkpoint(out)
    if checkpoint is not None and (out / "recipe.yaml").is_file():
        check_same_recipe(options)
        if (out / "train-summary.json").is_file():
            log.info("%s: already fine-tuned with this recipe (train-summary.json); --restart to redo", out)
            return json.loads((out / "train-summary.json").read_text())
    try:
        run = setup(options, accelerator)
    except BaseException:
        # A model that does not load (or any other set-up failure) must not cost the old run.
        if options.restart and accelerator.is_main_process:
            restore_previous(out)
        raise
    if checkpoint is not None:
        resume(run, checkpoint)
    elif run.main:
        out.mkdir(parents=True, exist_ok=True)
        write_recipe(options, {"processes": run.state.world_size, "update_freq": run.state.update_freq,
                               "updates_per_epoch": run.planner.updates_per_epoch(),
                               "python": sys.version.split()[0], "torch": torch.__version__})
        run.logger.write({"kind": "start", "update": 0, "recipe": recipe_to_dict(options.recipe)})
    if checkpoint is None:
        validate_start(run)
    run.accelerator.wait_for_everyone()
    status = train_loop(run)
    if status == "stopped":
        return {"status": "stopped", "updates": run.state.update}
    return finish(run, started)
