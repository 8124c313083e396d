"""The model pre-training trains: transformers' Wav2Vec2ForPreTraining, from random init
("base", "large" as in the paper, "tiny" for CPUs and tests) or from a checkpoint (a hub id
or folder, e.g. facebook/wav2vec2-base for continued pre-training on in-domain audio)."""

from __future__ import annotations

import logging

import torch

from asrkit.audio import SAMPLE_RATE
from asrkit.errors import ModelError
from asrkit.model import TINY_CONFIGS, load_checkpoint_config, uses_attention_mask

log = logging.getLogger(__name__)

# Random-init architectures: the paper's BASE (transformers' Wav2Vec2Config defaults are
# fairseq's wav2vec2 base) and LARGE (LV-60k: layer-norm CNN with bias, pre-LN transformer,
# final_dim 768), asrkit's tiny BASE-style model (group norm, 4.3M parameters), and a deeper,
# narrower tiny one: 8 layers of 176 against 4 of 256, the same linear-layer FLOPs per frame
# (8 x 176^2 = 4 x 256^2 x 0.95), for benchmarks/pretrain_screens.py.
ARCHITECTURES = {
    "base": {},
    "large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                  feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True),
    "tiny": TINY_CONFIGS["tiny"][1],
    "tiny-deep": dict(TINY_CONFIGS["tiny"][1], hidden_size=176, num_hidden_layers=8, num_attention_heads=4,
                      intermediate_size=704),
}

# Recipe field -> Wav2Vec2Config attribute, set before the modules are built (dropout
# modules take their rate at construction).
_SETTINGS = {"layerdrop": "layerdrop", "hidden_dropout": "hidden_dropout", "attention_dropout": "attention_dropout",
             "activation_dropout": "activation_dropout", "feat_proj_dropout": "feat_proj_dropout",
             "feat_quantizer_dropout": "feat_quantizer_dropout", "num_negatives": "num_negatives",
             "logit_temperature": "contrastive_logits_temperature",
             "diversity_loss_weight": "diversity_loss_weight", "mask_time_prob": "mask_time_prob",
             "mask_time_length": "mask_time_length"}


def _config(model_cfg):
    from transformers import Wav2Vec2Config

    name = model_cfg.name
    if name in ARCHITECTURES:
        dim = model_cfg.final_dim
        return Wav2Vec2Config(**ARCHITECTURES[name], num_codevector_groups=model_cfg.codevector_groups,
                              num_codevectors_per_group=model_cfg.codevectors_per_group,
                              codevector_dim=dim, proj_codevector_dim=dim,
                              architectures=["Wav2Vec2ForPreTraining"])
    config = load_checkpoint_config(name, ARCHITECTURES)
    if config.model_type != "wav2vec2":
        raise ModelError(f"checkpoint {name!r} is a {config.model_type} model; pre-training continues wav2vec2 "
                         f"checkpoints (Wav2Vec2ForPreTraining)")
    return config


def load_pretraining_model(model_cfg):
    """(Wav2Vec2ForPreTraining, notes for the log) with the recipe's settings applied."""
    from transformers import Wav2Vec2ForPreTraining

    config = _config(model_cfg)
    notes = []
    for field, attr in _SETTINGS.items():
        setattr(config, attr, getattr(model_cfg, field))
    # asrkit draws the time masks itself (asrkit.masks); no channel masks in pre-training.
    config.mask_feature_prob = 0.0
    config.apply_spec_augment = True
    if model_cfg.name in ARCHITECTURES:
        return Wav2Vec2ForPreTraining(config), notes
    ours = (model_cfg.codevector_groups, model_cfg.codevectors_per_group, model_cfg.final_dim)
    theirs = (config.num_codevector_groups, config.num_codevectors_per_group, config.proj_codevector_dim)
    if ours != theirs:
        notes.append(f"the checkpoint's quantiser ({theirs[0]} x {theirs[1]} codevectors, final_dim {theirs[2]}) "
                     f"is kept; the recipe's {ours[0]} x {ours[1]}, final_dim {ours[2]} apply to random init only")
    model, info = Wav2Vec2ForPreTraining.from_pretrained(model_cfg.name, config=config, dtype=torch.float32,
                                                         output_loading_info=True)
    fresh = sorted({k.split(".")[0] for k in info["missing_keys"]})
    if fresh:
        notes.append(f"the checkpoint has no weights for {', '.join(fresh)}: initialised at random "
                     f"(a fine-tuned checkpoint keeps no quantiser)")
    return model, notes


def feature_extractor_for(model, model_cfg):
    """The preprocessor saved beside the model: raw 16 kHz audio, normalised as in
    pre-training, attention masks only for layer-norm (LARGE-style) models, as fine-tuning expects."""
    from transformers import Wav2Vec2FeatureExtractor

    return Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=SAMPLE_RATE, padding_value=0.0,
                                    do_normalize=model_cfg.normalize,
                                    return_attention_mask=uses_attention_mask(model.config))
