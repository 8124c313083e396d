"""Load a checkpoint for CTC fine-tuning and put a recipe's model settings on it.

Any AutoModelForCTC family works: wav2vec2, HuBERT, WavLM, data2vec-audio, wav2vec2-conformer
(raw 16 kHz waveform in, a CNN feature encoder) and w2v-BERT 2.0 (Wav2Vec2BertForCTC: 80-dim
log-mel filterbanks stacked in pairs, from SeamlessM4TFeatureExtractor, no CNN).

    pre-training checkpoint (Wav2Vec2ForPreTraining, Wav2Vec2Model, HubertModel, ...)
        -> the encoder's weights + a fresh CTC head of len(tokenizer) outputs
    CTC checkpoint (Wav2Vec2ForCTC, ...)
        -> keeps its head when its vocabulary (vocab.json beside it) is ours;
           otherwise the head is re-initialised, with a warning
    "tiny", "tiny-layernorm", "tiny-w2v-bert"
        -> random-init models of 4-6M parameters, for tests and the demo

Padding masks: fairseq fine-tuning passes a padding mask to the encoder for every model,
BASE (group norm) included, so padded frames are zeroed and never attended to; asrkit does
the same (model.attention_mask: always), in training, validation and the saved processor.
transformers' convention for group-norm checkpoints is no attention mask (transformers issue
21534: they were pre-trained on unpadded crops), available as model.attention_mask:
transformers. Inference passes the mask too, decided by measurement (benchmarks/
batch_company.py; the numbers are in BENCHMARKS.md, "Padding masks"): batched, a layer-norm
model's log-probs equal its batch-1 ones with the mask and change the best token of some
frames without it; a group-norm CNN normalises over the padded length, so a BASE-style
model's output moves with its batch either way, a little less with the mask. Length-sorted
batches (as asrkit forms them) keep that small; batch 1 is exact.

Training masks: with model.masks: fairseq (the paper's recipes), CTCTrainer draws time and
channel masks with asrkit.masks as fairseq's Wav2Vec2Model.apply_mask does and applies them
to the encoder's input; with "transformers" the model draws its own.
"""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from asrkit.errors import ModelError
from asrkit.io import damaged_file
from asrkit.masks import MaskSettings

log = logging.getLogger(__name__)

# Random-init configurations. "tiny" follows the BASE architecture (group norm in the first
# conv layer, post-LN transformer, no attention mask) at 1/25 of its size; the CNN keeps
# BASE's kernels and strides (320 samples = 20 ms per frame) with fewer channels.
_TINY_TRANSFORMER = dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024)
TINY_CONFIGS = {
    "tiny": ("wav2vec2", dict(_TINY_TRANSFORMER, conv_dim=(32, 64, 128, 128, 128, 128, 128),
                              num_conv_pos_embeddings=64, num_conv_pos_embedding_groups=16,
                              feat_extract_norm="group", do_stable_layer_norm=False, conv_bias=False)),
    "tiny-layernorm": ("wav2vec2", dict(_TINY_TRANSFORMER, conv_dim=(32, 64, 128, 128, 128, 128, 128),
                                        num_conv_pos_embeddings=64, num_conv_pos_embedding_groups=16,
                                        feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True)),
    "tiny-w2v-bert": ("wav2vec2-bert", dict(_TINY_TRANSFORMER, conv_depthwise_kernel_size=15)),
}

# Recipe field -> model config attribute (same names in every family that has them).
_CONFIG_SETTINGS = ("mask_time_prob", "mask_time_length", "mask_feature_prob", "mask_feature_length",
                    "layerdrop", "activation_dropout", "attention_dropout", "hidden_dropout",
                    "feat_proj_dropout", "final_dropout")


@dataclass(frozen=True)
class ModelInfo:
    family: str  # config.model_type: wav2vec2, hubert, wavlm, data2vec-audio, wav2vec2-bert, ...
    input_name: str  # "input_values" (B, T samples) or "input_features" (B, T frames, 160)
    attention_mask: bool  # whether batches pass an attention mask (see the module docstring)
    style: str  # a line for the log: "base-style (group norm, no attention mask)", ...
    head: str  # "kept", "fresh" or "re-initialised"

    @property
    def waveform_input(self) -> bool:
        return self.input_name == "input_values"


def uses_attention_mask(config, setting: str = "always") -> bool:
    """Whether batches carry an attention mask (model.attention_mask): always as fairseq, or
    with "transformers" all but group-norm (BASE-style) feature encoders."""
    return setting == "always" or getattr(config, "feat_extract_norm", "layer") != "group"


def _style(config, attention_mask: bool) -> str:
    if config.model_type == "wav2vec2-bert":
        return "filterbank input (log-mel, no CNN), attention masks"
    norm = "group" if getattr(config, "feat_extract_norm", "layer") == "group" else "layer"
    kind = "base" if norm == "group" else "large"
    masks = "attention masks" if attention_mask else "no attention mask: batches of similar length"
    return f"{kind}-style ({norm} norm feature encoder, {masks})"


def _checkpoint_file(name: str, filename: str) -> str | None:
    """Path of `filename` in a local folder or hub repo, None when it is not there."""
    if Path(name).is_dir():
        path = Path(name) / filename
        return str(path) if path.is_file() else None
    from transformers.utils import cached_file

    return cached_file(name, filename, _raise_exceptions_for_missing_entries=False,
                       _raise_exceptions_for_connection_errors=False)


def checkpoint_vocab(name: str) -> dict[str, int] | None:
    """The vocabulary saved beside a checkpoint (vocab.json), if it has one."""
    path = _checkpoint_file(name, "vocab.json")
    if path is None:
        return None
    vocab = json.loads(Path(path).read_text(encoding="utf-8"))
    return vocab if all(isinstance(v, int) for v in vocab.values()) else None  # per-language vocabs: no match


def checkpoint_normalize(name: str) -> bool | None:
    """The checkpoint's own do_normalize (preprocessor_config.json), if it has one."""
    path = _checkpoint_file(name, "preprocessor_config.json")
    if path is None:
        return None
    return json.loads(Path(path).read_text(encoding="utf-8")).get("do_normalize")


def apply_recipe_settings(config, model_cfg) -> list[str]:
    """Set masking, layerdrop and dropouts on a model config; returns notes on settings the
    family lacks (reported in the log, never silently dropped)."""
    notes = []
    for name in _CONFIG_SETTINGS:
        value = getattr(model_cfg, name)
        if hasattr(config, name):
            setattr(config, name, value)
        elif value:
            notes.append(f"model.{name}={value} does not apply to {config.model_type}: ignored")
    config.apply_spec_augment = model_cfg.mask_time_prob > 0 or model_cfg.mask_feature_prob > 0
    config.ctc_zero_infinity = True
    # Our own loss sums over utterances; "sum" makes the model's built-in loss (used by
    # others, e.g. transformers' Trainer) agree with it.
    config.ctc_loss_reduction = "sum"
    return notes


def _tiny_config(name: str, vocab_size: int):
    from transformers import Wav2Vec2BertConfig, Wav2Vec2Config

    family, kwargs = TINY_CONFIGS[name]
    cls = Wav2Vec2BertConfig if family == "wav2vec2-bert" else Wav2Vec2Config
    return cls(vocab_size=vocab_size, pad_token_id=0, bos_token_id=None, eos_token_id=None,
               architectures=[cls.__name__.replace("Config", "ForCTC")], **kwargs)


WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                "pytorch_model.bin.index.json")


def check_checkpoint_folder(name: str) -> None:
    """A local checkpoint folder (what `--model` names, for fine-tuning or pre-training) holds a
    readable config.json and weights; otherwise a ModelError says which and why, before
    transformers' own errors (a traceback about a missing attribute, or a hub lookup of a path).
    A hub id (no such local path) is left to transformers."""
    path = Path(name)
    if not path.exists():
        return
    if not path.is_dir():
        raise ModelError(f"checkpoint {name!r} is a file; give the folder that holds config.json and the weights")
    if not (path / "config.json").is_file():
        if (path / "checkpoints" / "last").is_dir() or (path / "recipe.yaml").is_file():
            raise ModelError(f"{path} is a run that has not finished: its model (config.json and weights) is "
                             f"written at its end. Run its command again to finish it, or use one of its "
                             f"snapshots/update-N folders")
        what = "is an empty folder" if not any(path.iterdir()) else "has no config.json"
        raise ModelError(f"checkpoint folder {path} {what}: give a folder written by save_pretrained "
                         f"(config.json and model.safetensors), a hub id, or a built-in name")
    if not any((path / f).is_file() for f in WEIGHT_FILES):
        raise ModelError(f"checkpoint folder {path} has config.json but no weights ({', '.join(WEIGHT_FILES[:2])})")
    damaged = damaged_file(path)
    if damaged:
        raise ModelError(f"{damaged[0]}: damaged or truncated ({damaged[1]})")


def load_checkpoint_config(name: str, built_in=()):
    """The config of checkpoint `name` (a local folder or a hub id), or a one-line ModelError
    that says which of the two it was taken for and names the `built_in` alternatives."""
    from transformers import AutoConfig

    check_checkpoint_folder(name)
    try:
        return AutoConfig.from_pretrained(name)
    except OSError as e:
        where = "local folder" if Path(name).exists() else "hub id (no local folder of that name)"
        why = " ".join(str(e).split()).rstrip(".")  # transformers' message spans lines
        names = f", or one of {', '.join(built_in)}" if built_in else ""
        raise ModelError(f"cannot load checkpoint {name!r} as a {where}: {why}. Give a folder with config.json "
                         f"or a reachable hub id{names}") from None


def _head_decision(name: str, config, tokenizer) -> str:
    """'fresh' (no CTC head), 'kept' (same vocabulary) or 're-initialised' (another one)."""
    archs = config.architectures or []
    if not any(a.endswith("ForCTC") for a in archs):
        return "fresh"
    ours = tokenizer.get_vocab()
    theirs = checkpoint_vocab(name)
    if theirs == ours:
        return "kept"
    why = ("it has no vocab.json to compare" if theirs is None
           else f"its vocabulary ({len(theirs)} tokens) differs from ours ({len(ours)})")
    log.warning("CTC checkpoint %s: re-initialising the output layer because %s", name, why)
    return "re-initialised"


def load_ctc_model(model_cfg, tokenizer):
    """(model, ModelInfo, notes) for fine-tuning, the recipe's settings applied.

    `model_cfg` is asrkit.config.ModelConfig; the CTC head has len(tokenizer) outputs with
    blank = pad = id 0. The feature encoder is frozen as the recipe says (see freeze_for_recipe).
    """
    from transformers import AutoModelForCTC

    name = model_cfg.name
    vocab_size = len(tokenizer)
    if name in TINY_CONFIGS:
        config = _tiny_config(name, vocab_size)
        head = "fresh"
    else:
        config = load_checkpoint_config(name, TINY_CONFIGS)
        if not hasattr(config, "model_type") or config.model_type not in _ctc_families():
            raise ModelError(f"checkpoint {name!r} is a {getattr(config, 'model_type', '?')} model; "
                             f"asrkit fine-tunes AutoModelForCTC families: {', '.join(sorted(_ctc_families()))}")
        head = _head_decision(name, config, tokenizer)
        if head == "kept" and model_cfg.new_head:
            head = "re-initialised"
            log.info("model.new_head: re-initialising the CTC output layer of %s", name)
    notes = apply_recipe_settings(config, model_cfg)
    config.vocab_size = vocab_size
    config.pad_token_id = tokenizer.pad_token_id
    if name in TINY_CONFIGS:
        model = AutoModelForCTC.from_config(config)
    else:
        # fp32 weights whatever the file holds (the embedded checkpoint is stored as fp16);
        # accelerate's autocast gives bf16 on GPU.
        try:
            model = AutoModelForCTC.from_pretrained(name, config=config, ignore_mismatched_sizes=True,
                                                    dtype=torch.float32)
        except Exception:
            damaged = damaged_file(name) if Path(name).is_dir() else None
            if damaged:
                raise ModelError(f"{damaged[0]}: damaged or truncated ({damaged[1]})") from None
            raise
    if head != "kept":
        reset_head(model, model_cfg.head_init)
    config.architectures = [type(model).__name__]
    masked = uses_attention_mask(config, model_cfg.attention_mask)
    info = ModelInfo(family=config.model_type, input_name=model.main_input_name,
                     attention_mask=masked, style=_style(config, masked), head=head)
    notes += freeze_for_recipe(model, model_cfg)
    if model_cfg.attention_off:
        notes.append(f"self-attention switched off in {switch_attention_off(model)} layers "
                     f"(model.attention_off: output projections zero and frozen)")
    return model, info, notes


def reset_head(model, how: str = "fairseq") -> None:
    """A new CTC output layer (model.head_init): "fairseq" initialises it as wav2vec2_asr.py's
    Linear (Xavier-uniform weights, zero bias; std sqrt(2 / (768 + 32)) = 0.05 for BASE), so
    that a fresh head starts as the paper's did; "transformers" as transformers does,
    normal(0, 0.02), zero bias."""
    with torch.no_grad():
        if how == "fairseq":
            torch.nn.init.xavier_uniform_(model.lm_head.weight)
        else:
            model.lm_head.weight.normal_(0.0, 0.02)
        model.lm_head.bias.zero_()


def _ctc_families() -> set[str]:
    from transformers.models.auto.modeling_auto import MODEL_FOR_CTC_MAPPING_NAMES

    return set(MODEL_FOR_CTC_MAPPING_NAMES)


def has_feature_encoder(model) -> bool:
    return hasattr(model, "freeze_feature_encoder")


def freeze_for_recipe(model, model_cfg) -> list[str]:
    """Freeze the CNN feature encoder as the recipe says; returns notes for the log."""
    if not has_feature_encoder(model):
        return [f"{model.config.model_type} has no CNN feature encoder (filterbank input): "
                f"model.freeze_feature_encoder={model_cfg.freeze_feature_encoder} does not apply"]
    if model_cfg.freeze_feature_encoder:
        model.freeze_feature_encoder()
        return []
    log.warning("model.freeze_feature_encoder is false: the CNN feature encoder trains, unlike the "
                "wav2vec 2.0 recipes (meant for training a checkpoint from scratch)")
    return ["the CNN feature encoder trains (model.freeze_feature_encoder: false)"]


# Output projections of the self-attention blocks, by family: wav2vec2/HuBERT/WavLM/data2vec
# ("...attention.out_proj") and w2v-BERT 2.0 / conformer ("...self_attn.linear_out").
_ATTENTION_OUTPUTS = ("attention.out_proj", "self_attn.linear_out")


def switch_attention_off(model) -> int:
    """Zero and freeze every self-attention output projection (model.attention_off); returns
    how many blocks were switched off. With its output at zero an attention block adds
    nothing to the residual stream and its query/key/value weights get no gradient."""
    outputs = [m for name, m in model.named_modules() if name.endswith(_ATTENTION_OUTPUTS)]
    if not outputs:
        raise ModelError(f"model.attention_off: {type(model).__name__} has no self-attention output "
                         f"projection named like {' or '.join(_ATTENTION_OUTPUTS)}")
    with torch.no_grad():
        for m in outputs:
            for p in m.parameters():
                p.zero_()
                p.requires_grad_(False)
    return len(outputs)


def transformer_frozen(update: int, model_cfg) -> bool:
    """Whether update number `update` (0-based) trains only the CTC head."""
    return update < model_cfg.freeze_transformer_updates


def count_parameters(model) -> tuple[int, int]:
    """(all parameters, parameters that can train)."""
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


class CTCTrainer(nn.Module):
    """Wraps an XForCTC model for training: the encoder runs without gradients while the
    transformer is frozen (only the CTC head trains, as fairseq's freeze_finetune_updates),
    and the logits come back without the model's own loss, which asrkit computes in fp32.
    With `masking` (fairseq masks), training forward passes draw time and channel masks with
    asrkit.masks and put them on the encoder's input in place of the model's own.

    forward(inputs, attention_mask, frozen, input_lengths) -> logits (B, T', V); T' = frames
    (20 ms each); input_lengths (B,) is needed for fairseq masks.
    """

    def __init__(self, model, masking: MaskSettings | None = None, feature_cache=None):
        super().__init__()
        for attr in ("lm_head", "dropout"):
            if not isinstance(getattr(model, attr, None), nn.Module):
                raise ModelError(f"{type(model).__name__} has no {attr}: not a supported CTC model")
        self.model = model
        self.input_name = model.main_input_name
        self.masking = masking if masking is not None and masking.any else None
        # asrkit.feature_cache.FeatureCache: training forward passes take the frozen CNN's
        # output from it (validation and inference run the CNN).
        self.feature_cache = feature_cache

    def forward(self, inputs: torch.Tensor, attention_mask: torch.Tensor | None = None,
                frozen: bool = False, input_lengths: torch.Tensor | None = None) -> torch.Tensor:
        kwargs = {self.input_name: inputs}
        if attention_mask is not None:
            kwargs["attention_mask"] = attention_mask
        own_masks = self.masking is not None and self.training
        if own_masks and input_lengths is None:
            raise ValueError("CTCTrainer with fairseq masks needs input_lengths")
        # Still in train mode while frozen: masking, layerdrop and dropout apply as in fairseq.
        cached = self.feature_cache is not None and self.training
        with torch.no_grad() if frozen else nullcontext(), self._cached_cnn(inputs) if cached else nullcontext():
            with self._fairseq_masks(input_lengths) if own_masks else nullcontext():
                hidden = self.model.base_model(**kwargs).last_hidden_state
        return self.model.lm_head(self.model.dropout(hidden))

    @contextmanager
    def _cached_cnn(self, inputs: torch.Tensor):
        """The CNN's output for `inputs` from the feature cache (computed there on a miss);
        for this forward pass the CNN returns it instead of running. Everything after the
        CNN (projection, masks, positional convolution, transformer) runs as always."""
        cnn = self.model.base_model.feature_extractor
        features = self.feature_cache.features(cnn, inputs)
        cnn.forward = lambda *args, **kwargs: features
        try:
            yield
        finally:
            del cnn.forward

    @contextmanager
    def _fairseq_masks(self, input_lengths: torch.Tensor):
        """The model's own masking off (apply_spec_augment) and ours applied to the encoder's
        input, where transformers' _mask_hidden_states would put it: time masks first (the
        learned mask embedding), then channel masks (zeros), as fairseq's apply_mask."""
        base = self.model.base_model
        frames = _frames_before_adapter(self.model, input_lengths)
        # Seeded from torch's generator, so that a resumed run (accelerate restores it) draws
        # the same masks.
        rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,))))

        def apply(module, args, kwargs):
            hidden = args[0] if args else kwargs["hidden_states"]
            time, channel = self.masking.draw(frames.cpu().numpy(), hidden.shape[1], hidden.shape[2], rng)
            if time is not None:
                mask = torch.from_numpy(time).to(hidden.device)[..., None]
                hidden = torch.where(mask, base.masked_spec_embed.to(hidden.dtype), hidden)
            if channel is not None:
                hidden = hidden.masked_fill(torch.from_numpy(channel).to(hidden.device)[:, None, :], 0.0)
            return ((hidden, *args[1:]), kwargs) if args else (args, {**kwargs, "hidden_states": hidden})

        saved = getattr(base.config, "apply_spec_augment", True)
        base.config.apply_spec_augment = False
        # prepend: the masks belong to the encoder's input, before any other hook sees it.
        handle = base.encoder.register_forward_pre_hook(apply, with_kwargs=True, prepend=True)
        try:
            yield
        finally:
            handle.remove()
            base.config.apply_spec_augment = saved


def _frames_before_adapter(model, input_lengths: torch.Tensor) -> torch.Tensor:
    """Real encoder frames per utterance (the CNN's output, before any adapter)."""
    try:
        return model._get_feat_extract_output_lengths(input_lengths, add_adapter=False).to(torch.long)
    except TypeError:  # families without adapters take no add_adapter argument
        return model._get_feat_extract_output_lengths(input_lengths).to(torch.long)


def output_lengths(model, input_lengths: torch.Tensor) -> torch.Tensor:
    """Frames of logits for inputs of `input_lengths` (samples, or filterbank frames)."""
    return model._get_feat_extract_output_lengths(input_lengths).to(torch.long)


def transformer_parameters(model) -> tuple[list, list]:
    """(encoder parameters that train, CTC head parameters), for per-group learning rates."""
    head = list(model.lm_head.parameters())
    head_ids = {id(p) for p in head}
    body = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    return body, head


def build_processor_for(model_cfg, info: ModelInfo):
    """The processor saved beside the fine-tuned model: our letter tokenizer plus the feature
    extractor the family needs (raw audio with the family's attention-mask convention, or
    SeamlessM4T log-mel filterbanks for w2v-BERT)."""
    from asrkit.vocab import build_processor, build_tokenizer

    if not info.waveform_input:
        from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertProcessor

        fe = SeamlessM4TFeatureExtractor()
        if model_cfg.name not in TINY_CONFIGS and _checkpoint_file(model_cfg.name, "preprocessor_config.json"):
            fe = SeamlessM4TFeatureExtractor.from_pretrained(model_cfg.name)
        return Wav2Vec2BertProcessor(feature_extractor=fe, tokenizer=build_tokenizer())
    normalize = model_cfg.normalize
    if normalize is None and model_cfg.name not in TINY_CONFIGS:
        normalize = checkpoint_normalize(model_cfg.name)
    # The saved processor decides whether inference (asrkit logits, transformers' pipeline)
    # passes attention masks: as in training, since a mask never made an utterance's output
    # depend more on its batch and removed that dependence for layer-norm models (module doc).
    return build_processor(return_attention_mask=info.attention_mask,
                           do_normalize=True if normalize is None else normalize)
