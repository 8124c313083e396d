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
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from asrkit.errors import InputNotFound, RecipeError

MIXED_PRECISION = ("auto", "no", "bf16", "fp16")


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

    def __post_init__(self):
        for name in ("mask_time_prob", "mask_feature_prob", "layerdrop", "activation_dropout",
                     "attention_dropout", "hidden_dropout", "feat_proj_dropout", "final_dropout"):
            _check_range(f"model.{name}", getattr(self, name), 0.0, 1.0)
        for name in ("mask_time_length", "mask_feature_length"):
            if getattr(self, name) < 1:
                raise RecipeError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.freeze_transformer_updates < 0:
            raise RecipeError("model.freeze_transformer_updates must be >= 0")


@dataclass(frozen=True)
class DataConfig:
    train_split: str = "10min"  # manifest name under the manifests folder; "a+b" joins several
    dev_split: str = "dev-other"  # validation split (fairseq valid_subset: dev_other)
    # Audio samples per device per forward pass, padding included (fairseq max_tokens;
    # 3.2M samples = 200 s at 16 kHz).
    max_tokens: int = 3_200_000
    # Audio samples per update over all devices and accumulation steps: the recipe's
    # effective batch. update_freq = round(update_tokens / (max_tokens * processes)), so fewer
    # devices accumulate more (the paper: 8 GPUs x 3.2M = 25.6M samples, ~1,600 s).
    update_tokens: int = 25_600_000
    # Splits up to this many hours are decoded once and kept in memory; larger ones are
    # read from disk by num_workers loader processes.
    cache_hours: float = 2.0
    num_workers: int = 2
    # Validation batches hold at most this many samples (padding included).
    valid_max_tokens: int = 3_200_000

    def __post_init__(self):
        if self.max_tokens < 16_000:
            raise RecipeError(f"data.max_tokens is {self.max_tokens} samples; it must hold at least 1 s (16000)")
        if self.update_tokens < 1 or self.valid_max_tokens < 16_000:
            raise RecipeError("data.update_tokens and data.valid_max_tokens must be positive (>= 16000 for the latter)")
        if self.num_workers < 0 or self.cache_hours < 0:
            raise RecipeError("data.num_workers and data.cache_hours must be >= 0")


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
    validate_after_updates: int = 10_000  # no validation before this update
    validate_interval_updates: int = 1_000  # then every N updates, and at the end
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
    mixed_precision: str = "auto"  # auto: bf16 on GPU, fp32 on CPU (bf16 is ~30x slower there)

    def __post_init__(self):
        if self.max_updates < 1:
            raise RecipeError("train.max_updates must be >= 1")
        if self.lr <= 0:
            raise RecipeError(f"train.lr must be > 0, got {self.lr}")
        if len(self.phase_ratio) != 3 or abs(sum(self.phase_ratio) - 1.0) > 1e-6 or min(self.phase_ratio) < 0:
            raise RecipeError(f"train.phase_ratio must be 3 non-negative fractions summing to 1, got {self.phase_ratio}")
        _check_range("train.init_lr_scale", self.init_lr_scale, 0.0, 1.0)
        _check_range("train.final_lr_scale", self.final_lr_scale, 1e-12, 1.0)
        for b in self.adam_betas:
            _check_range("train.adam_betas", b, 0.0, 0.999999)
        for name in ("validate_interval_updates", "checkpoint_interval_updates", "log_interval_updates"):
            if getattr(self, name) < 1:
                raise RecipeError(f"train.{name} must be >= 1")
        if self.select_by not in ("wer", "cer"):
            raise RecipeError(f"train.select_by must be wer or cer, got {self.select_by!r}")
        if self.mixed_precision not in MIXED_PRECISION:
            raise RecipeError(f"train.mixed_precision must be one of {', '.join(MIXED_PRECISION)}, "
                             f"got {self.mixed_precision!r}")


@dataclass(frozen=True)
class Recipe:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


SECTIONS = {f.name: f.type for f in dataclasses.fields(Recipe)}
_SECTION_CLASSES = {"model": ModelConfig, "data": DataConfig, "train": TrainConfig}


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
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            # PyYAML reads 5e-5 (no dot) as a string; accept it as the number it means.
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        raise TypeError(f"{where}: unsupported field type {tp}")
    raise RecipeError(f"{where}: expected {tp.__name__}, got {value!r}")


def _build_section(name: str, values: dict, source: str):
    cls = _SECTION_CLASSES[name]
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(values) - set(hints))
    if unknown:
        raise RecipeError(f"{source}: unknown key(s) {', '.join(f'{name}.{k}' for k in unknown)}; "
                         f"known keys in {name}: {', '.join(hints)}")
    typed = {k: _coerce(v, hints[k], f"{source}: {name}.{k}") for k, v in values.items()}
    try:
        return cls(**typed)
    except RecipeError as e:
        raise RecipeError(f"{source}: {e}") from None


def recipe_from_dict(raw: dict, source: str = "recipe") -> Recipe:
    """Build a Recipe from nested dicts, rejecting unknown sections and keys."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise RecipeError(f"{source}: a recipe is a mapping with sections {', '.join(SECTIONS)}")
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise RecipeError(f"{source}: unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    sections = {}
    for name in SECTIONS:
        values = raw.get(name) or {}
        if not isinstance(values, dict):
            raise RecipeError(f"{source}: section {name} must be a mapping of keys to values")
        sections[name] = _build_section(name, values, source)
    return Recipe(**sections)


def recipe_to_dict(recipe: Recipe) -> dict:
    """Nested plain dicts (tuples as lists), ready for YAML or JSON."""
    def plain(v):
        return list(v) if isinstance(v, tuple) else v
    return {name: {k: plain(v) for k, v in dataclasses.asdict(getattr(recipe, name)).items()}
            for name in SECTIONS}


def parse_override(text: str) -> tuple[str, str, object]:
    """"train.lr=3e-5" -> ("train", "lr", "3e-5" parsed as YAML)."""
    key, sep, value = text.partition("=")
    section, dot, name = key.strip().partition(".")
    if not sep or not dot or not name:
        raise RecipeError(f"--set {text!r}: expected SECTION.KEY=VALUE, e.g. train.lr=3e-5")
    if section not in SECTIONS:
        raise RecipeError(f"--set {text!r}: unknown section {section!r}; known: {', '.join(SECTIONS)}")
    return section, name, yaml.safe_load(value) if value.strip() else ""


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """A copy of the raw recipe dict with `section.key=value` overrides applied."""
    out = {k: dict(v or {}) for k, v in (raw or {}).items()}
    for text in overrides:
        section, name, value = parse_override(text)
        out.setdefault(section, {})[name] = value
    return out


def load_recipe(path: str | Path, overrides: list[str] = (), values: dict[str, object] | None = None) -> Recipe:
    """Read a YAML recipe, apply `section.key=value` overrides (YAML-typed) and then `values`
    ({"model.name": "facebook/wav2vec2-base"}, taken as they are), and check every value."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFound(f"no recipe at {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise RecipeError(f"{path}: not valid YAML ({e})") from None
    raw = apply_overrides(raw, list(overrides))
    for key, value in (values or {}).items():
        section, _, name = key.partition(".")
        if section not in SECTIONS:
            raise RecipeError(f"unknown recipe section in {key!r}; known: {', '.join(SECTIONS)}")
        raw.setdefault(section, {})[name] = value
    return recipe_from_dict(raw, source=str(path))


class _RecipeDumper(yaml.SafeDumper):
    """Sections as blocks, lists ([0.9, 0.98]) on one line."""


_RecipeDumper.add_representer(list, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))


def dump_recipe(recipe: Recipe, header: str = "") -> str:
    """The resolved recipe as YAML (every key, defaults included)."""
    text = yaml.dump(recipe_to_dict(recipe), Dumper=_RecipeDumper, sort_keys=False)
    return (header.rstrip() + "\n" if header else "") + text


def recipes_dir() -> Path:
    """recipes/ at the project root (beside the asrkit package), else ./recipes."""
    here = Path(__file__).resolve().parent.parent / "recipes"
    return here if here.is_dir() else Path("recipes")


def recipe_for_split(split: str, size: str = "base") -> Path:
    """recipes/<size>_<split>.yaml, or an error listing the recipes there are."""
    path = recipes_dir() / f"{size}_{split}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in recipes_dir().glob("*.yaml"))
        raise InputNotFound(f"no recipe {path} for split {split!r}; recipes: {', '.join(known) or 'none'}")
    return path
