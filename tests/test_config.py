"""Recipes: the reference values reach the dataclasses, bad keys and values are refused,
overrides are typed, and the resolved recipe round-trips through YAML."""

import pytest
import yaml

from asrkit.config import (Recipe, dump_recipe, load_recipe, recipe_for_split, recipe_from_dict, recipes_dir)
from asrkit.data.batching import update_freq
from asrkit.errors import RecipeError

# The fairseq base_*.yaml values (examples/wav2vec/config/finetuning/ in fairseq):
# split -> (max updates, peak LR, time mask prob, channel mask prob, layerdrop, frozen updates)
REFERENCE = {
    "10min": (13_000, 5e-5, 0.65, 0.25, 0.1, 10_000),
    "1h": (13_000, 5e-5, 0.65, 0.25, 0.1, 10_000),
    "10h": (20_000, 5e-5, 0.65, 0.5, 0.05, 10_000),
    "100h": (80_000, 3e-5, 0.65, 0.5, 0.1, 0),
}


@pytest.mark.parametrize("split", REFERENCE)
def test_base_recipes_carry_the_reference_values(split):
    r = load_recipe(recipe_for_split(split))
    assert (r.train.max_updates, r.train.lr, r.model.mask_time_prob, r.model.mask_feature_prob,
            r.model.layerdrop, r.model.freeze_transformer_updates) == REFERENCE[split]
    assert r.data.train_split == split and r.data.dev_split == "dev-other"
    assert r.model.freeze_feature_encoder is True
    assert (r.model.mask_time_length, r.model.mask_feature_length) == (10, 64)
    assert (r.model.activation_dropout, r.model.hidden_dropout, r.model.attention_dropout,
            r.model.feat_proj_dropout, r.model.final_dropout) == (0.1, 0.0, 0.0, 0.0, 0.0)
    assert r.train.adam_betas == (0.9, 0.98) and r.train.adam_eps == 1e-8
    assert r.train.phase_ratio == (0.1, 0.4, 0.5)
    assert (r.train.init_lr_scale, r.train.final_lr_scale) == (0.01, 0.05)
    # 3.2M samples per GPU, 8 GPU-equivalents per update.
    assert r.data.max_tokens == 3_200_000 and r.data.update_tokens == 8 * 3_200_000


@pytest.mark.parametrize("split", ["10min", "1h", "10h", "100h"])
def test_large_recipes_keep_1600_seconds_per_update(split):
    r = load_recipe(recipe_for_split(split, "large"))
    assert r.data.max_tokens == 1_280_000 and r.data.update_tokens / 16_000 == 1600
    assert r.model.normalize is True and r.train.adam_betas == (0.9, 0.98)


@pytest.mark.parametrize("processes,expected", [(1, 8), (2, 4), (4, 2), (8, 1), (16, 1)])
def test_update_freq_keeps_the_effective_batch(processes, expected):
    r = load_recipe(recipe_for_split("10min"))
    assert update_freq(r.data.update_tokens, r.data.max_tokens, processes) == expected


def test_every_recipe_in_the_folder_loads():
    from asrkit.config import PretrainRecipe

    names = sorted(p.stem for p in recipes_dir().glob("*.yaml"))
    assert {"base_10min", "base_1h", "base_10h", "base_100h", "demo", "pretrain_base", "pretrain_tiny"} <= set(names)
    for name in names:
        kind = PretrainRecipe if name.startswith("pretrain_") else Recipe
        assert isinstance(load_recipe(recipes_dir() / f"{name}.yaml", kind=kind), kind)


def test_override_is_typed():
    r = load_recipe(recipe_for_split("10min"), ["train.lr=3e-5", "data.max_tokens=1600000",
                                                "model.normalize=true", "train.adam_betas=[0.9, 0.99]"])
    assert r.train.lr == 3e-5 and isinstance(r.train.lr, float)
    assert r.data.max_tokens == 1_600_000 and r.model.normalize is True
    assert r.train.adam_betas == (0.9, 0.99)


def test_values_override_without_yaml_parsing():
    r = load_recipe(recipe_for_split("10min"), values={"model.name": "/tmp/a: b", "data.dev_split": "none"})
    assert r.model.name == "/tmp/a: b" and r.data.dev_split == "none"


def test_unknown_key_lists_the_known_ones():
    with pytest.raises(RecipeError) as e:
        recipe_from_dict({"train": {"learning_rate": 1e-4}}, source="x.yaml")
    msg = str(e.value)
    assert "x.yaml" in msg and "train.learning_rate" in msg and "max_updates" in msg and "lr" in msg


def test_unknown_section_and_bad_override():
    with pytest.raises(RecipeError, match="unknown section"):
        recipe_from_dict({"optim": {}})
    with pytest.raises(RecipeError, match="SECTION.KEY=VALUE"):
        load_recipe(recipe_for_split("10min"), ["lr=3e-5"])


@pytest.mark.parametrize("raw,message", [
    ({"train": {"lr": "fast"}}, "train.lr: expected float"),
    ({"train": {"max_updates": 1.5}}, "train.max_updates: expected int"),
    ({"model": {"freeze_feature_encoder": "yes"}}, "expected bool"),
    ({"model": {"mask_time_prob": 1.5}}, r"mask_time_prob must be in \[0.0, 1.0\]"),
    ({"train": {"phase_ratio": [0.5, 0.5, 0.5]}}, "summing to 1"),
    ({"train": {"adam_betas": [0.9]}}, "expected a list of 2"),
    ({"train": {"precision": "fp8"}}, "one of auto, fp32, bf16"),
    ({"train": {"mixed_precision": "no"}}, "train.mixed_precision is now train.precision"),
    ({"data": {"max_tokens": 100}}, "at least 1 s"),
])
def test_bad_values_are_refused(raw, message):
    with pytest.raises(RecipeError, match=message):
        recipe_from_dict(raw)


def test_numbers_written_loosely_are_accepted():
    # An int where a float goes, 3.2e3 for an int, and PyYAML's string for "5e-5" (no dot).
    r = recipe_from_dict({"train": {"lr": 1, "max_updates": 3.2e3, "adam_eps": "1e-8"}})
    assert r.train.lr == 1.0 and r.train.max_updates == 3200 and r.train.adam_eps == 1e-8
    assert isinstance(r.train.lr, float) and isinstance(r.train.max_updates, int)


def test_dump_round_trips(tmp_path):
    r = load_recipe(recipe_for_split("10h"), ["train.lr=2e-5"])
    path = tmp_path / "recipe.yaml"
    path.write_text(dump_recipe(r, "# header"))
    assert load_recipe(path) == r
    assert yaml.safe_load(path.read_text())["train"]["adam_betas"] == [0.9, 0.98]


def test_missing_recipe_lists_the_available_ones():
    with pytest.raises(FileNotFoundError, match="base_10min"):
        recipe_for_split("5min")


@pytest.mark.parametrize("kind_name", ["Recipe", "PretrainRecipe"])
def test_a_learning_rate_no_run_survives_is_refused_by_both_recipes(kind_name):
    """One rule for fine-tuning and pre-training: 1e30 trained NaN weights in one and 5e29 in the other."""
    import asrkit.config as config

    with pytest.raises(RecipeError, match=r"train.lr must be in \(0, 1.0\], got 1e\+30"):
        recipe_from_dict({"train": {"lr": 1e30}}, kind=getattr(config, kind_name))


@pytest.mark.parametrize("model, message", [
    ({"codevectors_per_group": 1}, "codevectors_per_group must be >= 2"),
    ({"num_negatives": 100_000}, r"num_negatives must be in \[1, 1000\]"),
    ({"mask_time_prob": 0.0}, r"mask_time_prob must be in \(0, 1\] for pre-training"),
])
def test_pre_training_values_that_learn_nothing_are_refused(model, message):
    from asrkit.config import PretrainRecipe

    with pytest.raises(RecipeError, match=message):
        recipe_from_dict({"model": model}, kind=PretrainRecipe)
