"""Every setting of the paper recipes against fairseq's examples/wav2vec/config/finetuning/*.yaml
(and fairseq's defaults where a config leaves a setting out). recipes/README.md lists the
same values with the fairseq key each one comes from."""

import pytest

from asrkit.config import load_recipe, recipes_dir

# fairseq defaults the configs rely on (fairseq/models/wav2vec/wav2vec2_asr.py Wav2Vec2AsrConfig,
# fairseq/dataclass/configs.py, the tri_stage scheduler and Adam).
DEFAULTS = {
    "model.freeze_feature_encoder": True,  # feature_grad_mult: 0.0 in every config
    "model.mask_time_length": 10,  # mask_length
    "model.mask_feature_length": 64,  # mask_channel_length
    "model.masks": "fairseq",  # require_same_masks: true (default), min_masks 2 for time
    "model.attention_mask": "always",  # the labelled audio dataset pads and passes padding_mask
    "model.activation_dropout": 0.1,
    "model.attention_dropout": 0.0,
    "model.hidden_dropout": 0.0,  # dropout
    "model.feat_proj_dropout": 0.0,  # dropout_input
    "model.final_dropout": 0.0,
    "data.dev_split": "dev-other",  # valid_subset: dev_other
    "data.batch_size_multiple": 8,  # dataset.required_batch_size_multiple
    "train.adam_betas": (0.9, 0.98),
    "train.adam_eps": 1e-8,
    "train.adam_missing_grads": "fairseq",  # fp16 optimizer over flattened parameters: one step count
    "train.weight_decay": 0.0,
    "train.clip_norm": 0.0,
    "train.phase_ratio": (0.1, 0.4, 0.5),
    "train.init_lr_scale": 0.01,
    "train.final_lr_scale": 0.05,
    "train.select_by": "wer",  # best_checkpoint_metric: wer
    "train.validate_interval_updates": 0,  # dataset.validate_interval_updates
}

BASE = {"model.normalize": False, "data.max_tokens": 3_200_000}
LARGE = {"model.normalize": True, "data.max_tokens": 1_280_000}


def fairseq(common, *, gpus, freq, max_update, lr, mask_prob, mask_channel_prob, layerdrop, freeze,
            validate_after=0, validate_interval=1, save_interval_updates=0):
    """A recipe's expected values from its fairseq config's own keys."""
    return {**DEFAULTS, **common,
            "data.update_tokens": gpus * freq * common["data.max_tokens"],
            "train.max_updates": max_update, "train.lr": lr, "model.mask_time_prob": mask_prob,
            "model.mask_feature_prob": mask_channel_prob, "model.layerdrop": layerdrop,
            "model.freeze_transformer_updates": freeze, "train.validate_after_updates": validate_after,
            "train.validate_interval_epochs": validate_interval,
            "train.save_interval_updates": save_interval_updates}


FAIRSEQ = {
    "base_10min": fairseq(BASE, gpus=2, freq=4, max_update=13_000, lr=5e-5, mask_prob=0.65, mask_channel_prob=0.25,
                          layerdrop=0.1, freeze=10_000, validate_after=10_000, validate_interval=1_000,
                          save_interval_updates=50),  # base_10m.yaml
    "base_1h": fairseq(BASE, gpus=2, freq=4, max_update=13_000, lr=5e-5, mask_prob=0.65, mask_channel_prob=0.25,
                       layerdrop=0.1, freeze=10_000, validate_after=10_000, validate_interval=1_000,
                       save_interval_updates=1_000),
    "base_10h": fairseq(BASE, gpus=2, freq=4, max_update=20_000, lr=5e-5, mask_prob=0.65, mask_channel_prob=0.5,
                        layerdrop=0.05, freeze=10_000, validate_after=10_000, validate_interval=50,
                        save_interval_updates=10_000),
    "base_100h": fairseq(BASE, gpus=2, freq=4, max_update=80_000, lr=3e-5, mask_prob=0.65, mask_channel_prob=0.5,
                         layerdrop=0.1, freeze=0),
    "base_960h": fairseq(BASE, gpus=8, freq=1, max_update=320_000, lr=1e-4, mask_prob=0.5, mask_channel_prob=0.1,
                         layerdrop=0.1, freeze=0),
    "large_10min": fairseq(LARGE, gpus=4, freq=5, max_update=13_000, lr=1e-4, mask_prob=0.65,
                           mask_channel_prob=0.25, layerdrop=0.1, freeze=10_000, validate_after=10_000,
                           validate_interval=1_000, save_interval_updates=50),  # vox_10m.yaml
    "large_1h": fairseq(LARGE, gpus=4, freq=5, max_update=13_000, lr=3e-4, mask_prob=0.75, mask_channel_prob=0.25,
                        layerdrop=0.1, freeze=10_000, validate_after=10_000, validate_interval=1_000,
                        save_interval_updates=50),
    "large_10h": fairseq(LARGE, gpus=4, freq=5, max_update=20_000, lr=1e-4, mask_prob=0.75, mask_channel_prob=0.25,
                         layerdrop=0.1, freeze=10_000, validate_after=10_000, validate_interval=50,
                         save_interval_updates=10_000),
    "large_100h": fairseq(LARGE, gpus=4, freq=5, max_update=80_000, lr=3e-5, mask_prob=0.5, mask_channel_prob=0.5,
                          layerdrop=0.1, freeze=10_000),
    "large_960h": fairseq(LARGE, gpus=24, freq=1, max_update=320_000, lr=3e-5, mask_prob=0.5,
                          mask_channel_prob=0.25, layerdrop=0.1, freeze=10_000),
}


def recipe_values(name: str) -> dict:
    recipe = load_recipe(recipes_dir() / f"{name}.yaml")
    return {key: getattr(getattr(recipe, key.split(".")[0]), key.split(".")[1]) for key in FAIRSEQ[name]}


@pytest.mark.parametrize("name", FAIRSEQ)
def test_recipe_equals_its_fairseq_config(name):
    got = recipe_values(name)
    assert {k: v for k, v in got.items() if v != FAIRSEQ[name][k]} == {}


def test_every_paper_recipe_is_pinned():
    paper = {p.stem for p in recipes_dir().glob("*.yaml") if p.stem.startswith(("base_", "large_"))}
    assert paper == set(FAIRSEQ)


@pytest.mark.parametrize("name", ["base_960h", "large_960h"])
def test_960h_recipes_join_the_three_librispeech_training_splits(name):
    recipe = load_recipe(recipes_dir() / f"{name}.yaml")
    assert recipe.data.train_split.split("+") == ["train-clean-100", "train-clean-360", "train-other-500"]
