"""Fine-tuning recipes: YAML files read into typed, frozen dataclasses.

A recipe has three sections, each a dataclass below:

    model:  the starting checkpoint and the settings the recipe puts on it
            (freezing, masking, layerdrop, dropouts)
    data:   training and validation splits, batching by total audio per device
    train:  updates, Adam, the tri-stage LR schedule, validation, checkpoints, logging

Unknown keys are rejected with the list of known ones; values are checked against the
field types (an int where a float is expected is fine, a string is not).
`--set section.key=value` overrides are parsed as YAML values and typed the same way.
The fairseq names of the settings are given in the field comments, so that a recipe can
be compared with examples/wav2vec/config/finetuning/*.yaml line by line.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from asrkit.errors import InputNotFound, RecipeError

NONFINITE_GRADS = ("stop", "skip")  # train.nonfinite_grads
PRECISIONS = ("auto", "fp32", "bf16")  # train.precision (asrkit.precision)
# Keys renamed since earlier versions: the old name gets an error naming the new one.
RENAMED_KEYS = {"train.mixed_precision": "train.precision (auto, fp32 or bf16; \"no\" is now fp32)"}
MASKS = ("fairseq", "transformers")
ATTENTION_MASKS = ("always", "transformers")
HEAD_INITS = ("fairseq", "transformers")


@dataclass(frozen=True)
class ModelConfig:
    # Hub id (facebook/wav2vec2-base), local folder, or a random-init config from
    # asrkit.model.TINY_CONFIGS ("tiny", "tiny-layernorm", "tiny-w2v-bert").
    name: str = "facebook/wav2vec2-base"
    # The CNN feature encoder never trains in the paper (fairseq feature_grad_mult: 0.0).
    # false is only for training a checkpoint from scratch.
    freeze_feature_encoder: bool = True
    # Only the CTC output layer trains for the first N updates (fairseq freeze_finetune_updates).
    freeze_transformer_updates: int = 10_000
    # Time masks: each frame starts a span with this probability, spans of mask_time_length
    # frames (fairseq mask_prob / mask_length; same meaning in transformers).
    mask_time_prob: float = 0.65
    mask_time_length: int = 10
    # Channel masks (fairseq mask_channel_prob / mask_channel_length = transformers mask_feature_*).
    mask_feature_prob: float = 0.25
    mask_feature_length: int = 64
    layerdrop: float = 0.1  # probability of skipping a whole transformer layer
    activation_dropout: float = 0.1  # inside the feed-forward blocks
    attention_dropout: float = 0.0
    hidden_dropout: float = 0.0  # fairseq "dropout" in the fine-tuned model
    feat_proj_dropout: float = 0.0  # fairseq dropout_input
    final_dropout: float = 0.0  # before the CTC output layer (fairseq final_dropout)
    # Switch every self-attention block off: its output projection is zeroed and frozen, so the
    # layers keep only their feed-forward (and conformer convolution) paths. Not a paper
    # setting: for training a small checkpoint from scratch with CTC, where attention kept the
    # model in the blank phase on a CPU budget (BENCHMARKS.md). A checkpoint trained this way
    # and fine-tuned with attention_off: false starts with its attention zero-initialised.
    attention_off: bool = False
    # Start from the checkpoint's encoder only: a new CTC output layer even when the
    # checkpoint has one for our vocabulary, as the paper's fine-tuning starts (its
    # pretrained models have no output layer). train.validate_start: true scores that start.
    new_head: bool = False
    # Zero-mean unit-variance audio per utterance (fairseq task.normalize: false for BASE,
    # true for LARGE). null: the checkpoint's own preprocessor setting, else true.
    normalize: bool | None = None
    # How training draws its masks. "fairseq" (the paper): asrkit.masks, as fairseq
    # fine-tuning does: at least 2 time spans per utterance, padding never masked, and every
    # row cut to the batch's fewest masked frames (require_same_masks), channels likewise.
    # "transformers": the model's own _compute_mask_indices, which keeps each row's count
    # and so masks ~10% more frames and ~25% more channels at the same probabilities.
    masks: str = "fairseq"
    # Padding masks. "always" (fairseq): every model gets an attention mask in training,
    # validation and inference, so padded frames are never attended to. "transformers": none
    # for group-norm (BASE-style) models, transformers' convention for their checkpoints.
    attention_mask: str = "always"
    # A new CTC output layer's initial weights. "fairseq" (the paper): Xavier-uniform, std
    # sqrt(2 / (hidden + vocabulary)), 0.05 for BASE. "transformers": normal(0, 0.02).
    head_init: str = "fairseq"

    def __post_init__(self):
        for name in ("mask_time_prob", "mask_feature_prob", "layerdrop", "activation_dropout",
                     "attention_dropout", "hidden_dropout", "feat_proj_dropout", "final_dropout"):
            _check_range(f"model.{name}", getattr(self, name), 0.0, 1.0)
        for name in ("mask_time_length", "mask_feature_length"):
            if getattr(self, name) < 1:
                raise RecipeError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.freeze_transformer_updates < 0:
            raise RecipeError("model.freeze_transformer_updates must be >= 0")
        if self.masks not in MASKS:
            raise RecipeError(f"model.masks must be one of {', '.join(MASKS)}, got {self.masks!r}")
        if self.attention_mask not in ATTENTION_MASKS:
            raise RecipeError(f"model.attention_mask must be one of {', '.join(ATTENTION_MASKS)}, "
                              f"got {self.attention_mask!r}")
        if self.head_init not in HEAD_INITS:
            raise RecipeError(f"model.head_init must be one of {', '.join(HEAD_INITS)}, got {self.head_init!r}")


@dataclass(frozen=True)
class DataConfig:
    train_split: str = "10min"  # manifest name under the manifests folder; "a+b" joins several
    dev_split: str = "dev-other"  # validation split (fairseq valid_subset: dev_other)
    # Audio samples per device per forward pass, padding included (fairseq max_tokens;
    # 3.2M samples = 200 s at 16 kHz).
    max_tokens: int = 3_200_000
    # Audio samples per update over all devices and accumulation steps, padding included: the
    # recipe's effective batch. update_freq = round(update_tokens / (max_tokens * processes)),
    # so fewer devices accumulate more (the paper: 8 GPU-batches x 3.2M = 25.6M samples, at
    # most 1,600 s; ~1,100 s of LibriSpeech audio once batches close at multiples of 8).
    update_tokens: int = 25_600_000
    # Splits up to this many hours are decoded once and kept in memory; larger ones are
    # read from disk by num_workers loader processes.
    cache_hours: float = 2.0
    num_workers: int = 2
    # Validation batches hold at most this many samples (padding included).
    valid_max_tokens: int = 3_200_000
    # A training batch of more utterances than this closes at a multiple of it (fairseq
    # dataset.required_batch_size_multiple, 8 by default): a 3.2M-sample batch of LibriSpeech
    # utterances holds 8 or 16 of them, not the 14-15 that fit. 1: fill every batch.
    batch_size_multiple: int = 8
    # The frozen CNN's output for each training batch, computed once and reused
    # (asrkit.feature_cache): training is the same, each update skips the CNN (12-18% of a
    # CPU step). Used when the CNN is frozen and the model has one (not w2v-BERT 2.0);
    # false: the CNN runs every time.
    feature_cache: bool = True
    # Where it is kept: up to this many MB in memory (BASE in fp32: 512 channels x 50 frames
    # x 4 bytes = 100 KB per second of audio, 360 MB per hour), then up to this many on disk
    # under <out_dir>/feature-cache (removed when the run ends); batches past both limits are
    # recomputed each time. 0 turns a tier off.
    feature_cache_memory_mb: float = 4096.0
    feature_cache_disk_mb: float = 20_000.0

    def __post_init__(self):
        if self.max_tokens < 16_000:
            raise RecipeError(f"data.max_tokens is {self.max_tokens} samples; it must hold at least 1 s (16000)")
        if self.update_tokens < 1 or self.valid_max_tokens < 16_000:
            raise RecipeError("data.update_tokens and data.valid_max_tokens must be positive (>= 16000 for the latter)")
        if self.num_workers < 0 or self.cache_hours < 0:
            raise RecipeError("data.num_workers and data.cache_hours must be >= 0")
        if self.feature_cache_memory_mb < 0 or self.feature_cache_disk_mb < 0:
            raise RecipeError("data.feature_cache_memory_mb and data.feature_cache_disk_mb must be >= 0")
        if self.batch_size_multiple < 1:
            raise RecipeError(f"data.batch_size_multiple must be >= 1, got {self.batch_size_multiple}")


@dataclass(frozen=True)
class TrainConfig:
    max_updates: int = 13_000  # fairseq max_update
    lr: float = 5e-5  # peak learning rate
    # The transformer's LR = lr x this (the CTC head always gets lr); 1.0 in the paper.
    transformer_lr_scale: float = 1.0
    adam_betas: tuple[float, float] = (0.9, 0.98)
    adam_eps: float = 1e-8
    weight_decay: float = 0.0
    # Tri-stage schedule (fairseq tri_stage): linear warm-up from init_lr_scale x lr,
    # hold at lr, exponential decay to final_lr_scale x lr; fractions of max_updates.
    phase_ratio: tuple[float, float, float] = (0.1, 0.4, 0.5)
    init_lr_scale: float = 0.01
    final_lr_scale: float = 0.05
    clip_norm: float = 0.0  # 0: no clipping (fairseq default)
    # Parameters that get no gradient in an update (the frozen transformer, a layer skipped
    # by layerdrop). "torch": Adam skips them, so each keeps its own step count and its bias
    # correction starts afresh when the transformer unfreezes. "fairseq": they step with a
    # zero gradient, as in fairseq's fp16 optimizer over flattened parameters: one shared
    # step count (no bias correction after unfreezing: steps 5-50 move up to 1.5x further)
    # and momentum that carries a skipped layer on. The paper recipes use "fairseq": on a
    # short run it trained faster right after unfreezing (BENCHMARKS.md).
    adam_missing_grads: str = "torch"
    # Validation follows fairseq's rule: from validate_after_updates on, at every multiple of
    # validate_interval_updates, at the end of every validate_interval_epochs-th epoch, at
    # every multiple of save_interval_updates that does not end an epoch (fairseq validates
    # at its mid-epoch saves), and after the last update. 0 switches a rule off.
    validate_after_updates: int = 10_000  # fairseq dataset.validate_after_updates
    validate_interval_updates: int = 1_000  # fairseq dataset.validate_interval_updates
    validate_interval_epochs: int = 0  # fairseq dataset.validate_interval
    save_interval_updates: int = 0  # fairseq checkpoint.save_interval_updates
    # Score the model on dev before update 1, to show what fine-tuning gained. null: only when
    # the checkpoint's CTC head is kept (a new head starts near 100% CER, and a pass over a
    # full dev set costs minutes).
    validate_start: bool | None = None
    checkpoint_interval_updates: int = 50  # resumable state every N updates (fairseq save_interval_updates)
    log_interval_updates: int = 200
    # Which dev metric picks the kept model. "cer" for training from scratch, where WER stays
    # above 100% (insertions) long after CER starts falling, so best-by-WER keeps an early model.
    select_by: str = "wer"
    seed: int = 1
    # fp32, or bf16 autocast with fp32 master weights. auto: bf16 on a GPU that has it, and on
    # a CPU with native bf16 instructions (avx512_bf16/amx_bf16) where a probe measures it
    # faster; fp32 otherwise (emulated bf16 is far slower). The choice is logged (asrkit.precision).
    precision: str = "auto"
    # An update whose loss or gradient is NaN or infinite: "stop" (the run ends with an error
    # naming the utterances; nothing of that update is saved) or "skip" (the step is left out and
    # counted in skipped_updates). stop, as fairseq's fp32/bf16 training raises
    # FloatingPointError; fairseq skips only fp16 loss-scale overflows, which asrkit never has.
    nonfinite_grads: str = "stop"

    def __post_init__(self):
        _check_optimisation(self)
        _check_range("train.transformer_lr_scale", self.transformer_lr_scale, 0.0, 1e3)
        if len(self.phase_ratio) != 3 or abs(sum(self.phase_ratio) - 1.0) > 1e-6 or min(self.phase_ratio) < 0:
            raise RecipeError(f"train.phase_ratio must be 3 non-negative fractions summing to 1, got {self.phase_ratio}")
        _check_range("train.init_lr_scale", self.init_lr_scale, 0.0, 1.0)
        _check_range("train.final_lr_scale", self.final_lr_scale, 1e-12, 1.0)
        for name in ("checkpoint_interval_updates", "log_interval_updates"):
            if getattr(self, name) < 1:
                raise RecipeError(f"train.{name} must be >= 1")
        for name in ("validate_after_updates", "validate_interval_updates", "validate_interval_epochs",
                     "save_interval_updates"):
            if getattr(self, name) < 0:
                raise RecipeError(f"train.{name} must be >= 0 (0: off)")
        if self.adam_missing_grads not in ("torch", "fairseq"):
            raise RecipeError(f"train.adam_missing_grads must be torch or fairseq, got {self.adam_missing_grads!r}")
        if self.select_by not in ("wer", "cer"):
            raise RecipeError(f"train.select_by must be wer or cer, got {self.select_by!r}")


@dataclass(frozen=True)
class Recipe:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


SECTIONS = {f.name: f.type for f in dataclasses.fields(Recipe)}


def _section_classes(kind: type) -> dict[str, type]:
    """{"model": ModelConfig, ...} for a recipe class (Recipe or PretrainRecipe)."""
    return typing.get_type_hints(kind)


MAX_LR = 1.0


def _check_optimisation(train) -> None:
    """The checks fine-tuning's and pre-training's `train` sections share (same keys, same meaning)."""
    if train.max_updates < 1:
        raise RecipeError("train.max_updates must be >= 1")
    # Adam moves each weight by about lr per update: a peak above MAX_LR (recipes use 1e-5 to
    # 5e-3) sends the weights to NaN or 1e29, whichever loop runs it.
    if not 0 < train.lr <= MAX_LR:
        raise RecipeError(f"train.lr must be in (0, {MAX_LR}], got {train.lr}")
    for b in train.adam_betas:
        _check_range("train.adam_betas", b, 0.0, 0.999999)
    _check_range("train.adam_eps", train.adam_eps, 1e-12, 1.0)
    _check_range("train.weight_decay", train.weight_decay, 0.0, 1.0)
    _check_range("train.clip_norm", train.clip_norm, 0.0, 1e9)
    if train.nonfinite_grads not in NONFINITE_GRADS:
        raise RecipeError(f"train.nonfinite_grads must be stop or skip, got {train.nonfinite_grads!r}")
    if train.precision not in PRECISIONS:
        raise RecipeError(f"train.precision must be one of {', '.join(PRECISIONS)}, got {train.precision!r}")


def _check_range(name: str, value: float, lo: float, hi: float) -> None:
    if not lo <= value <= hi:
        raise RecipeError(f"{name} must be in [{lo}, {hi}], got {value}")


def _coerce(value, tp, where: str):
    """`value` checked against the annotation `tp`; ints pass as floats, lists as tuples."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except RecipeError as e:
                errors.append(str(e))
        raise RecipeError(errors[0] if len(errors) == 1 else f"{where}: {value!r} fits none of {tp}")
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise RecipeError(f"{where}: expected a list of {len(args)} values, got {value!r}")
        return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)  # 3.2e6 written for readability
    elif tp is float:
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            # PyYAML reads 5e-5 (no dot) as a string; accept it as the number it means.
            try:
                number = float(value)
            except ValueError:
                pass
        if number is not None:
            # .nan / .inf pass every "x > 0" check and then train a model of NaN weights.
            if not math.isfinite(number):
                raise RecipeError(f"{where}: expected a finite number, got {value!r}")
            return number
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        raise TypeError(f"{where}: unsupported field type {tp}")
    raise RecipeError(f"{where}: expected {tp.__name__}, got {value!r}")


def _build_section(cls: type, name: str, values: dict, source: str):
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(values) - set(hints))
    renamed = [f"{name}.{k} is now {RENAMED_KEYS[f'{name}.{k}']}" for k in unknown if f"{name}.{k}" in RENAMED_KEYS]
    if renamed:
        raise RecipeError(f"{source}: {'; '.join(renamed)}")
    if unknown:
        raise RecipeError(f"{source}: unknown key(s) {', '.join(f'{name}.{k}' for k in unknown)}; "
                          f"known keys in {name}: {', '.join(hints)}")
    typed = {k: _coerce(v, hints[k], f"{source}: {name}.{k}") for k, v in values.items()}
    try:
        return cls(**typed)
    except RecipeError as e:
        raise RecipeError(f"{source}: {e}") from None


def recipe_from_dict(raw: dict, source: str = "recipe", kind: type = None):
    """Build a Recipe (or another recipe class, `kind`) from nested dicts, rejecting unknown
    sections and keys."""
    kind = kind or Recipe
    classes = _section_classes(kind)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise RecipeError(f"{source}: a recipe is a mapping with sections {', '.join(classes)}")
    unknown = sorted(set(raw) - set(classes))
    if unknown:
        raise RecipeError(f"{source}: unknown section(s) {', '.join(unknown)}; known: {', '.join(classes)}")
    sections = {}
    for name, cls in classes.items():
        values = raw.get(name) or {}
        if not isinstance(values, dict):
            raise RecipeError(f"{source}: section {name} must be a mapping of keys to values")
        sections[name] = _build_section(cls, name, values, source)
    return kind(**sections)


def recipe_to_dict(recipe) -> dict:
    """Nested plain dicts (tuples as lists), ready for YAML or JSON."""
    def plain(v):
        return list(v) if isinstance(v, tuple) else v
    return {f.name: {k: plain(v) for k, v in dataclasses.asdict(getattr(recipe, f.name)).items()}
            for f in dataclasses.fields(recipe)}


def parse_override(text: str) -> tuple[str, str, object]:
    """"train.lr=3e-5" -> ("train", "lr", "3e-5" parsed as YAML)."""
    key, sep, value = text.partition("=")
    section, dot, name = key.strip().partition(".")
    if not sep or not dot or not name:
        raise RecipeError(f"`overrides` {text!r}: expected SECTION.KEY=VALUE, e.g. train.lr=3e-5")
    if section not in SECTIONS:
        raise RecipeError(f"`overrides` {text!r}: unknown section {section!r}; known: {', '.join(SECTIONS)}")
    return section, name, yaml.safe_load(value) if value.strip() else ""


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """A copy of the raw recipe dict with `section.key=value` overrides applied."""
    # A section that is not a mapping is left for recipe_from_dict to name.
    out = {k: dict(v) if isinstance(v, dict) else (v if v is not None else {}) for k, v in (raw or {}).items()}
    for text in overrides:
        section, name, value = parse_override(text)
        out.setdefault(section, {})[name] = value
    return out


def load_recipe(path: str | Path, overrides: list[str] = (), values: dict[str, object] | None = None,
                kind: type = None):
    """Read a YAML recipe, apply `section.key=value` overrides (YAML-typed) and then `values`
    ({"model.name": "facebook/wav2vec2-base"}, taken as they are), and check every value.
    `kind`: the recipe class (Recipe for fine-tuning, PretrainRecipe for pre-training)."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFound(f"no recipe at {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise RecipeError(f"{path}: not valid YAML ({e})") from None
    if raw is None:
        # An empty file would silently be every default, which is not what anyone wrote.
        raise RecipeError(f"{path}: the recipe is empty; a recipe maps sections to settings "
                          f"(see recipes/demo.yaml)")
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: a recipe maps sections to settings (see recipes/demo.yaml), "
                          f"not a YAML {type(raw).__name__}")
    raw = apply_overrides(raw, list(overrides))
    for key, value in (values or {}).items():
        section, _, name = key.partition(".")
        if section not in SECTIONS:
            raise RecipeError(f"unknown recipe section in {key!r}; known: {', '.join(SECTIONS)}")
        raw.setdefault(section, {})[name] = value
    return recipe_from_dict(raw, source=str(path), kind=kind)


class _RecipeDumper(yaml.SafeDumper):
    """Sections as blocks, lists ([0.9, 0.98]) on one line."""


_RecipeDumper.add_representer(list, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))


def dump_recipe(recipe, header: str = "") -> str:
    """The resolved recipe as YAML (every key, defaults included)."""
    text = yaml.dump(recipe_to_dict(recipe), Dumper=_RecipeDumper, sort_keys=False)
    return (header.rstrip() + "\n" if header else "") + text


def recipes_dir() -> Path:
    """The shipped recipes: asrkit/recipes/ in an installed package (setup.py copies them
    there), else recipes/ at the top of the checkout, their readable source. Never the
    current folder: a command means the same recipe from anywhere."""
    package = Path(__file__).resolve().parent
    installed = package / "recipes"
    return installed if installed.is_dir() else package.parent / "recipes"


def find_recipe(name_or_path: str | Path) -> Path:
    """A recipe file given as a path, or as the name of a shipped one ("base_10min")."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = recipes_dir() / f"{path.name.removesuffix('.yaml')}.yaml"
    if path.parent == Path(".") and shipped.is_file():
        return shipped
    known = sorted(p.stem for p in recipes_dir().glob("*.yaml"))
    raise InputNotFound(f"no recipe file {path}, nor a shipped recipe of that name; shipped: {', '.join(known) or 'none'}")


def recipe_for_split(split: str, size: str = "base") -> Path:
    """recipes/<size>_<split>.yaml, or an error listing the recipes there are."""
    path = recipes_dir() / f"{size}_{split}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in recipes_dir().glob("*.yaml"))
        raise InputNotFound(f"no recipe {path} for split {split!r}; recipes: {', '.join(known) or 'none'}")
    return path


# ---------------------------------------------------------------- pre-training recipes
# The same three sections and, where a setting means the same thing, the same key names as
# fine-tuning (data.train_split, data.max_tokens, train.max_updates, train.lr, ...). The
# fairseq names are in the comments, to compare with
# examples/wav2vec/config/pretraining/wav2vec2_base_librispeech.yaml.


MAX_NEGATIVES = 1000  # the paper uses 100


@dataclass(frozen=True)
class PretrainModelConfig:
    # A checkpoint to continue from (hub id or folder: its quantiser is kept when it has one),
    # or a random-init architecture: "base", "large" (the paper's) or "tiny" (asrkit.model).
    name: str = "base"
    # Time masks as fairseq draws them for pre-training (asrkit.masks): spans of
    # mask_time_length frames starting with probability mask_time_prob, at least
    # mask_min_masks spans, every row of a batch cut to the same number of masked frames.
    mask_time_prob: float = 0.65
    mask_time_length: int = 10
    mask_min_masks: int = 2
    require_same_masks: bool = True
    num_negatives: int = 100  # distractors per masked frame, from the same utterance (n_negatives)
    logit_temperature: float = 0.1  # cosine similarities are divided by this (logit_temp)
    # Gumbel softmax temperature: max(start * decay**update, end) (fairseq latent_temp).
    gumbel_temperature: tuple[float, float, float] = (2.0, 0.5, 0.999995)
    diversity_loss_weight: float = 0.1  # loss_weights[0]
    feature_penalty_weight: float = 10.0  # loss_weights[1]: mean squared CNN output
    # The CNN's gradient is scaled by this (0 freezes it; fairseq feature_grad_mult).
    feature_grad_mult: float = 0.1
    layerdrop: float = 0.05  # encoder_layerdrop
    hidden_dropout: float = 0.1  # dropout
    attention_dropout: float = 0.1
    activation_dropout: float = 0.0
    feat_proj_dropout: float = 0.1  # dropout_input
    feat_quantizer_dropout: float = 0.1  # dropout_features
    # Random-init models only (a checkpoint keeps its own): codebooks and the dimension of
    # the space where predictions meet targets (fairseq latent_groups, latent_vars, final_dim).
    codevector_groups: int = 2
    codevectors_per_group: int = 320
    final_dim: int = 256
    # Zero-mean unit-variance audio per utterance (fairseq task.normalize: false for BASE).
    normalize: bool = False

    def __post_init__(self):
        for name in ("layerdrop", "hidden_dropout", "attention_dropout",
                     "activation_dropout", "feat_proj_dropout", "feat_quantizer_dropout"):
            _check_range(f"model.{name}", getattr(self, name), 0.0, 1.0)
        if not 0 < self.mask_time_prob <= 1:  # no masked frame: nothing to predict, no loss
            raise RecipeError(f"model.mask_time_prob must be in (0, 1] for pre-training, got {self.mask_time_prob}")
        for name in ("mask_time_length", "codevector_groups", "final_dim"):
            if getattr(self, name) < 1:
                raise RecipeError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        # One codevector per group quantises every frame to the same vector: accuracy 1.0, nothing learnt.
        if self.codevectors_per_group < 2:
            raise RecipeError(f"model.codevectors_per_group must be >= 2, got {self.codevectors_per_group}")
        # Distractors come from the utterance's own masked frames (a few hundred at most); the
        # (frames x num_negatives x final_dim) logits of 1e5 would take gigabytes for nothing.
        if not 1 <= self.num_negatives <= MAX_NEGATIVES:
            raise RecipeError(f"model.num_negatives must be in [1, {MAX_NEGATIVES}], got {self.num_negatives}")
        if self.mask_min_masks < 0:
            raise RecipeError("model.mask_min_masks must be >= 0")
        start, end, decay = self.gumbel_temperature
        if not (start >= end > 0 and 0 < decay <= 1):
            raise RecipeError(f"model.gumbel_temperature must be [start, end, decay] with start >= end > 0 "
                             f"and 0 < decay <= 1, got {list(self.gumbel_temperature)}")
        _check_range("model.logit_temperature", self.logit_temperature, 1e-6, 100.0)
        _check_range("model.feature_grad_mult", self.feature_grad_mult, 0.0, 1.0)
        for name in ("diversity_loss_weight", "feature_penalty_weight"):
            _check_range(f"model.{name}", getattr(self, name), 0.0, 1e6)


@dataclass(frozen=True)
class PretrainDataConfig:
    # Manifests under --manifests (their text is never read); "a+b" joins several.
    train_split: str = "train-clean-100+train-clean-360+train-other-500"
    dev_split: str = "dev-other"  # held-out audio scored on the same losses; "none" for no validation
    max_tokens: int = 1_400_000  # audio samples per device per forward pass (max_tokens)
    # Samples per update over all devices and accumulation steps (64 GPUs x 1.4M in the paper).
    update_tokens: int = 89_600_000
    # Utterances are cut to at most max_sample_size samples and those under min_sample_size
    # are left out (counted in the log), as fairseq's task.max_sample_size / min_sample_size.
    max_sample_size: int = 250_000
    min_sample_size: int = 32_000
    # true: every utterance of a batch is cropped to the batch's shortest at a random offset,
    # so nothing is padded (fairseq BASE pre-training, task.pad false); false: pad, with a
    # padding mask that masks and distractors never touch.
    crop: bool = True
    cache_hours: float = 2.0  # splits up to this size are decoded once and kept in memory
    num_workers: int = 2
    valid_max_tokens: int = 1_400_000

    def __post_init__(self):
        if self.max_tokens < 16_000 or self.valid_max_tokens < 16_000:
            raise RecipeError("data.max_tokens and data.valid_max_tokens must hold at least 1 s (16000 samples)")
        if self.update_tokens < 1:
            raise RecipeError("data.update_tokens must be positive")
        if not 0 < self.min_sample_size <= self.max_sample_size <= self.max_tokens:
            raise RecipeError(f"need 0 < data.min_sample_size ({self.min_sample_size}) <= data.max_sample_size "
                             f"({self.max_sample_size}) <= data.max_tokens ({self.max_tokens})")
        if self.num_workers < 0 or self.cache_hours < 0:
            raise RecipeError("data.num_workers and data.cache_hours must be >= 0")


@dataclass(frozen=True)
class PretrainTrainConfig:
    max_updates: int = 400_000  # max_update
    lr: float = 5e-4  # peak learning rate
    # fairseq polynomial_decay (power 1, end 0): linear warm-up from 0 over warmup_updates,
    # then linear decay to 0 at max_updates.
    warmup_updates: int = 32_000
    adam_betas: tuple[float, float] = (0.9, 0.98)
    adam_eps: float = 1e-6
    weight_decay: float = 0.01
    clip_norm: float = 0.0  # 0: no clipping (fairseq default)
    validate_interval_updates: int = 10_000  # dev losses every N updates, and at the end
    checkpoint_interval_updates: int = 25_000  # save_interval_updates
    # Keep a copy of the model every N updates (0: none), to fine-tune points of the run.
    snapshot_interval_updates: int = 0
    log_interval_updates: int = 200
    seed: int = 1
    # As fine-tuning's: bf16 autocast where the machine has native bf16 (fairseq pre-trains in
    # fp16 on GPUs). Judged by what matters: the tiny model pre-trained 2,000 updates in bf16
    # fine-tuned to no worse a CER than in fp32, though its contrastive accuracy differs
    # (BENCHMARKS.md, "Pre-training", the bf16 screen).
    precision: str = "auto"
    nonfinite_grads: str = "stop"  # as fine-tuning's

    def __post_init__(self):
        _check_optimisation(self)
        if not 0 <= self.warmup_updates <= self.max_updates:
            raise RecipeError(f"train.warmup_updates must be in [0, train.max_updates ({self.max_updates})], got "
                              f"{self.warmup_updates}: a shorter run needs a shorter warm-up too "
                              f"(--set train.warmup_updates=N)")
        for name in ("validate_interval_updates", "checkpoint_interval_updates", "log_interval_updates"):
            if getattr(self, name) < 1:
                raise RecipeError(f"train.{name} must be >= 1")
        if self.snapshot_interval_updates < 0:
            raise RecipeError("train.snapshot_interval_updates must be >= 0")


@dataclass(frozen=True)
class PretrainRecipe:
    model: PretrainModelConfig = field(default_factory=PretrainModelConfig)
    data: PretrainDataConfig = field(default_factory=PretrainDataConfig)
    train: PretrainTrainConfig = field(default_factory=PretrainTrainConfig)
