"""The fine-tuning loop: a recipe (asrkit.config) + a checkpoint -> a fine-tuned CTC model.

Written out on accelerate, one function per step of the loop (icefall/nanoGPT style), on the
machinery it shares with pre-training (asrkit.runs: the run's folder, checkpoints, log,
restart and data stream):

    finetune(options)
      setup: Accelerator (train.precision: bf16 autocast where the machine has it, asrkit.precision),
             model + processor (asrkit.model),
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
--restart checks the splits before it moves anything of the old run, and puts the old run
back when the model does not load.
A NaN or infinite loss or gradient stops the run (train.nonfinite_grads: skip leaves that
update out instead); non-finite weights are never saved.
"""

from __future__ import annotations

import logging
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from asrkit import feature_cache, runs
from asrkit.config import Recipe
from asrkit.data.batching import (Position, Update, UpdatePlanner, sentences_in, sorted_batches,
                                  update_freq)
from asrkit.audio import SAMPLE_RATE, audio_info
from asrkit.ctc import Vocabulary, ctc_min_frames
from asrkit.data.collate import (Batch, Collator, Featurizer, SpeechDataset, encode_text, input_length,
                                 samples_at_16k)
from asrkit.data.manifest import Utterance, read_split, split_manifests, total_hours
from asrkit.decode.greedy import best_path
from asrkit.errors import AudioError, DataError, InputNotFound
from asrkit.feature_cache import FeatureCache
from asrkit.masks import MaskSettings
from asrkit.model import (CTCTrainer, build_processor_for, count_parameters, load_ctc_model,
                          output_lengths, transformer_frozen, transformer_parameters)
from asrkit.schedule import schedule_from_recipe

log = logging.getLogger(__name__)


FinetuneOptions = runs.RunOptions  # recipe: an asrkit.config.Recipe


@dataclass
class TrainState(runs.RunState):
    """What fine-tuning adds to the run's state (trainer_state.json)."""
    best_wer: float | None = None  # dev WER and CER of the kept model
    best_cer: float | None = None  # (train.select_by says which of the two picks it)
    best_update: int | None = None
    start_wer: float | None = None  # dev WER and CER of the starting checkpoint, before any
    start_cer: float | None = None  # update (only when it brings its own CTC head)


@dataclass
class Run(runs.RunFolder):
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
    logger: runs.TrainLog
    state: TrainState = field(default_factory=TrainState)
    head: str = "fresh"  # ModelInfo.head: "kept" when the starting checkpoint's CTC head is used

    @property
    def wrapper_module(self) -> CTCTrainer:
        """The CTCTrainer itself (unwrapped from DDP)."""
        return self.accelerator.unwrap_model(self.wrapper)


# ---------------------------------------------------------------- set-up


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
                 split: str, show: bool, progress: bool) -> SpeechDataset:
    """The split's dataset, loaded once when it is small (cache_hours). Utterances whose audio
    cannot be read are left out and reported with a count: decoded in full for a cached split,
    by their headers for a larger one (read again at every pass)."""
    featurize = Featurizer(processor.feature_extractor, waveform_input)
    cache = total_hours(utts) <= cache_hours
    if not cache:
        utts, unreadable = readable_headers(utts)
    dataset = SpeechDataset(utts, featurize, processor.tokenizer.get_vocab(), cache=cache)
    if cache:
        unreadable = dataset.preload(desc=f"loading {split}", disable=not (show and progress))
    if unreadable and show:
        log.warning("left out %d utterance(s) of %s: unreadable audio, e.g. %s", len(unreadable), split,
                    unreadable[0])
    if len(dataset) == 0:
        raise DataError(f"no utterance of {split} could be read ({unreadable[0]})" if unreadable
                        else f"the split {split} has no utterances")
    return dataset


def readable_headers(utts: list[Utterance]) -> tuple[list[Utterance], list[str]]:
    """(utterances whose audio header reads, an error per one that does not)."""
    kept, errors = [], []
    for utt in utts:
        try:
            audio_info(utt.audio)
        except AudioError as e:
            errors.append(str(e))
            continue
        kept.append(utt)
    return kept, errors


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
    accelerator = accelerator or runs.make_accelerator(recipe.train)
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
    cache = make_feature_cache(options, model, planner, lengths, runs.run_precision(accelerator), main)
    wrapper, optimizer = accelerator.prepare(CTCTrainer(model, MaskSettings.for_finetuning(recipe.model), cache),
                                             optimizer)
    logger = runs.TrainLog(options.out_dir, enabled=main)
    return Run(options, accelerator, wrapper, model, processor, optimizer, train_set, dev_set,
               Collator(info.attention_mask), planner, lengths, schedule_from_recipe(recipe.train), logger,
               TrainState(world_size=world, update_freq=freq, train_data=runs.train_data_digest(options)), info.head)


def make_feature_cache(options, model, planner: UpdatePlanner, lengths: np.ndarray, precision: str,
                       show: bool) -> FeatureCache | None:
    """The frozen CNN's feature cache (data.feature_cache), its cost logged first; None when
    it is off or cannot apply (no CNN, a CNN that trains), with why."""
    data = options.recipe.data
    why = "data.feature_cache: false" if not data.feature_cache else feature_cache.why_not(model)
    if why is not None:
        if show:
            log.info("no feature cache: %s", why)
        return None
    folder = Path(options.out_dir) / feature_cache.FOLDER
    if show:
        batches = [mb.indices for update in planner.epoch(0) for rank in update for mb in rank if not mb.dummy]
        padded = sum(len(b) * int(lengths[b[0]]) for b in batches) / SAMPLE_RATE
        log.info(feature_cache.describe_cost(model, padded, 2 if precision == "bf16" else 4,
                                             data.feature_cache_memory_mb, data.feature_cache_disk_mb, folder))
    return FeatureCache(feature_cache.cnn_of(model), folder, data.feature_cache_memory_mb, data.feature_cache_disk_mb)


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
                           recipe.data.train_split, show, options.progress)
    return dataset, np.array([samples_at_16k(u) for u in dataset.utterances], dtype=np.int64)


def load_dev_set(options, processor, info, show: bool) -> SpeechDataset | None:
    split = options.recipe.data.dev_split
    if split == runs.NO_DEV:
        if show:
            log.warning("no dev split (data.dev_split: none): no validation, the last model is kept")
        return None
    for path in split_manifests(options.manifests_dir, split):
        if not path.is_file():
            raise InputNotFound(f"no dev manifest {path}: run `asrkit prepare`, or set `dev_split` to none "
                                f"to train without validation")
    utts = read_split(options.manifests_dir, split)
    return make_dataset(utts, processor, info.waveform_input, options.recipe.data.cache_hours, split, show,
                        options.progress)


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
    lr = runs.set_lr(run, run.state.update)
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
    if runs.gradients_usable(run, float(gnorm), poisoned, [i for b in batches for i in b.ids], "CTC loss"):
        if run.recipe.train.adam_missing_grads == "fairseq":
            zero_missing_grads(run.optimizer)
        run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    real = [mb for rank in update for mb in rank if not mb.dummy]
    samples = int(sum(run.lengths[i] for mb in real for i in mb.indices))
    return {"loss_sum": loss_sum, "sentences": sum(b.size for b in batches if b.weight), "chars": chars,
            "lr": lr, "gnorm": float(gnorm), "frozen": frozen, "audio_seconds": samples / SAMPLE_RATE}


# ---------------------------------------------------------------- data stream


class _Collate:
    """A micro-batch's utterances collated into a Batch (picklable, for DataLoader workers)."""

    def __init__(self, dataset: SpeechDataset, collator: Collator):
        self.dataset, self.collator = dataset, collator

    def __call__(self, mb, key) -> Batch:
        return self.collator([self.dataset[i] for i in mb.indices], weight=mb.weight)


def update_stream(run: Run, start: Position):
    """Yield (position after, update, this process's Batches) from `start`, epoch by epoch.
    Cached data is collated in the loop; data read from disk goes through DataLoader workers."""
    workers = 0 if run.train_set.cache is not None else run.recipe.data.num_workers
    return runs.update_stream(run.planner, run.accelerator.process_index, run.accelerator.num_processes, start,
                   _Collate(run.train_set, run.collator), workers, seed_workers_by_epoch=True)


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
        runs.save_checkpoint(run)


def _valid_row(run: Run, result, seconds: float, **extra) -> dict:
    """The train-log row of one dev evaluation at the current update."""
    return {"kind": "valid", "update": run.state.update, "split": run.recipe.data.dev_split,
            "wer": result.wer, "cer": result.cer, **extra, "utterances": result.utterances,
            "seconds": round(seconds, 2)}


# ---------------------------------------------------------------- checkpoints


def save_model(run: Run, folder: Path) -> None:
    """Model + processor in HF format (save_pretrained), written atomically."""
    runs.save_model(run, folder, run.accelerator.unwrap_model(run.wrapper).model, run.processor)




# ---------------------------------------------------------------- logs


class LogWindow:
    """Training statistics since the last log line."""

    def __init__(self):
        self.rows: list[dict] = []
        self.started = time.time()

    def add(self, stats: dict) -> None:
        self.rows.append(stats)

    def row(self, run) -> dict:
        """The "train" row's values over the window, summed over processes."""
        acc = run.accelerator
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


def _update(run: Run, update: Update, batches: list[Batch]) -> tuple[dict, dict, float]:
    """train_update, as the skeleton's loop takes it: (window stats, progress postfix, audio seconds)."""
    stats = train_update(run, update, batches)
    st = run.state
    postfix = {"loss": f"{stats['loss_sum'] / max(stats['sentences'], 1):.3g}", "lr": f"{stats['lr']:.2e}",
               "audio_s_per_s": f"{st.audio_seconds / max(st.train_seconds, 1e-9):.1f}"}
    return stats, postfix, stats["audio_seconds"]


def _validation_due(run: Run, after: Position) -> bool:
    """fairseq's rule (validation_due) after this update; after.update == 0: it ended an epoch."""
    st = run.state
    epoch_ended = st.epoch if after.update == 0 else None
    return run.dev_set is not None and validation_due(run.recipe.train, st.update, epoch_ended)


def train_loop(run: Run) -> str:
    """Updates until max_updates (runs.train_loop); returns "done" or "stopped" (options.stop_after_updates)."""
    return runs.train_loop(run, FINETUNE)


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


def finish(run: Run, status_started: float) -> dict:
    """The final model (best by train.select_by on dev, else the last) into out_dir, then
    train-summary.json."""
    best = run.out_dir / "checkpoints" / "best"
    if run.dev_set is None or not best.is_dir():
        save_model(run, best)
    st = run.state
    summary = {"status": "done", "updates": st.update, "epochs": st.epoch, "best_wer": st.best_wer,
               "best_cer": st.best_cer, "best_update": st.best_update if run.dev_set is not None else st.update,
               "start_wer": st.start_wer, "start_cer": st.start_cer,
               "dev_split": run.recipe.data.dev_split, **runs.totals(st, status_started)}
    if run.wrapper_module.feature_cache is not None:
        summary["feature_cache"] = run.wrapper_module.feature_cache.stats()
    runs.publish(run, best, summary)
    if run.main:
        shutil.rmtree(run.out_dir / feature_cache.FOLDER, ignore_errors=True)  # a training-time artifact
    return summary


FINETUNE = runs.Stage(kind="fine-tuning", done="fine-tuned", desc="finetune", setup=lambda o, a: setup(o, a),
                      state_type=TrainState, stream=lambda run, start: update_stream(run, start), update=_update,
                      window=lambda: LogWindow(), validation_due=_validation_due, validate=lambda run: validate(run),
                      finish=lambda run, started: finish(run, started), loop=lambda run: train_loop(run),
                      on_start=lambda run: validate_start(run),
                      on_resume=runs.warn_if_data_changed,
                      save_model=lambda run, folder: save_model(run, folder))


def finetune(options: FinetuneOptions) -> dict:
    """Fine-tune as the recipe says into options.out_dir; resumes or skips a finished run."""
    return runs.train(options, FINETUNE)
