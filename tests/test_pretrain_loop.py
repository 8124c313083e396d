"""The pre-training loop's semantics across micro-batches, pinned by what the model sees:
the loss is normalised once per update (by all its masked frames, fairseq's sample size),
the Gumbel temperature advances once per update, and the recipe's dropout and layerdrop
settings are the ones the trained modules use."""

from __future__ import annotations

import pytest
import torch

from asrkit.config import PretrainRecipe, recipe_from_dict
from asrkit.pretrain import PretrainOptions, objective, pretrain
from asrkit.pretrain.objective import PretrainObjective, gumbel_temperature
from speech_fixtures import make_manifests, noise_utterances

# Two forwards of at most 3 s per update; utterances of 0.6-2.9 s make forwards of different
# sizes (one long utterance, or two or three short ones cropped to the shortest), so the
# micro-batches of an update hold different numbers of masked frames.
DURATIONS = [2.9, 0.6, 1.4, 0.7, 2.2, 1.3, 0.9, 2.6, 1.1, 0.8, 1.9, 1.0]


@pytest.fixture(scope="module")
def noise(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrain-loop")
    return make_manifests(root, {"train": noise_utterances(root / "audio", DURATIONS, seed=3)})


def recipe(model: dict | None = None, train: dict | None = None) -> PretrainRecipe:
    raw = {"model": {"name": "tiny", "num_negatives": 5, "mask_time_length": 3, "mask_time_prob": 0.4,
                     **(model or {})},
           "data": {"train_split": "train", "dev_split": "none", "max_tokens": 48_000, "update_tokens": 96_000,
                    "max_sample_size": 48_000, "min_sample_size": 8_000, "num_workers": 0},
           # fp32: the references below recompute the loss outside autocast
           "train": {"max_updates": 3, "warmup_updates": 1, "lr": 1e-3, "log_interval_updates": 1,
                     "checkpoint_interval_updates": 100, "precision": "fp32", **(train or {})}}
    return recipe_from_dict(raw, kind=PretrainRecipe)


def test_gradients_are_the_summed_loss_over_the_update_divided_by_its_masked_frames(noise, tmp_path, monkeypatch,
                                                                                    one_torch_thread):
    """At the first optimizer step, the gradients equal those of [the loss summed over both
    micro-batches' masked frames] / [their number], recomputed from the same inputs and
    random draws; normalising each micro-batch by its own masked frames would weight the
    smaller one up."""
    calls, checked = [], []
    forward = PretrainObjective.forward

    def recording_forward(self, *args):
        calls.append((self, torch.get_rng_state(), args))
        return forward(self, *args)

    step = torch.optim.AdamW.step

    def checking_step(self, *args, **kwargs):
        if not checked:
            checked.append(_reference_check(forward, calls))
        return step(self, *args, **kwargs)

    monkeypatch.setattr(PretrainObjective, "forward", recording_forward)
    monkeypatch.setattr(torch.optim.AdamW, "step", checking_step)
    pretrain(PretrainOptions(recipe(train={"max_updates": 1}), tmp_path / "run", noise, progress=False))
    masked, loop_grads, reference_grads = checked[0]
    assert len(masked) == 2 and masked[0] != masked[1]  # the test needs unequal micro-batches
    assert loop_grads.keys() == reference_grads.keys()
    for name, ref in reference_grads.items():
        scale = float(ref.abs().max()) + 1e-12
        assert float((loop_grads[name] - ref).abs().max()) <= 1e-4 * scale + 1e-10, name


def _reference_check(forward, calls):
    """(masked frames per micro-batch, the loop's gradients, the reference gradients): the
    micro-batches of `calls` (objective, RNG state, inputs) again, through `forward`."""
    wrapper = calls[0][0]
    params = dict(wrapper.model.named_parameters())
    loop_grads = {n: p.grad.clone() for n, p in params.items() if p.grad is not None}
    for p in params.values():
        p.grad = None
    total, masked = 0.0, []
    for _, rng, args in calls:
        torch.set_rng_state(rng)  # the same dropout, layerdrop and Gumbel draws
        terms = forward(wrapper, *args)
        total = total + wrapper.total(terms)
        masked.append(int(terms["masked"]))
    (total / sum(masked)).backward()
    reference = {n: p.grad.clone() for n, p in params.items() if p.grad is not None}
    for n, p in params.items():  # the loop's gradients back, for its own step
        p.grad = loop_grads.get(n)
    return masked, loop_grads, reference


def test_the_gumbel_temperature_advances_once_per_update_not_per_micro_batch(noise, tmp_path, monkeypatch,
                                                                             one_torch_thread):
    seen = []
    quantize = objective.quantize

    def recording_quantize(quantizer, features):
        if quantizer.training:
            seen.append(quantizer.temperature)
        return quantize(quantizer, features)

    monkeypatch.setattr(objective, "quantize", recording_quantize)
    schedule = (2.0, 0.1, 0.5)  # halves every update: each update's temperature differs
    pretrain(PretrainOptions(recipe(model={"gumbel_temperature": list(schedule)}), tmp_path / "run", noise,
                             progress=False))
    expected = [gumbel_temperature(u, *schedule) for u in range(3)]
    assert len(seen) == 6  # 3 updates x 2 micro-batches
    assert seen == pytest.approx([t for t in expected for _ in range(2)])


DROPOUTS = {"hidden_dropout": 0.11, "attention_dropout": 0.12, "activation_dropout": 0.13,
            "feat_proj_dropout": 0.14, "feat_quantizer_dropout": 0.15}


def test_dropout_settings_reach_the_modules_that_train(noise, tmp_path, monkeypatch, one_torch_thread):
    """Distinct rates per setting, read back from the modules of the model the loop trains
    (dropout modules take their rate when they are built), which is in training mode."""
    models = []
    forward = PretrainObjective.forward

    def recording_forward(self, *args):
        models.append((self.model, self.model.training))
        return forward(self, *args)

    monkeypatch.setattr(PretrainObjective, "forward", recording_forward)
    pretrain(PretrainOptions(recipe(model={**DROPOUTS, "layerdrop": 0.16}, train={"max_updates": 1}),
                             tmp_path / "run", noise, progress=False))
    model, training = models[0]
    assert training
    w2v = model.wav2vec2
    layer = w2v.encoder.layers[0]
    assert layer.dropout.p == pytest.approx(DROPOUTS["hidden_dropout"])
    assert layer.feed_forward.output_dropout.p == pytest.approx(DROPOUTS["hidden_dropout"])
    assert w2v.encoder.dropout.p == pytest.approx(DROPOUTS["hidden_dropout"])
    assert layer.attention.dropout == pytest.approx(DROPOUTS["attention_dropout"])
    assert layer.feed_forward.intermediate_dropout.p == pytest.approx(DROPOUTS["activation_dropout"])
    assert w2v.feature_projection.dropout.p == pytest.approx(DROPOUTS["feat_proj_dropout"])
    assert model.dropout_features.p == pytest.approx(DROPOUTS["feat_quantizer_dropout"])
    assert w2v.encoder.config.layerdrop == pytest.approx(0.16)


@pytest.mark.parametrize("layerdrop, layers_change", [(1.0, False), (0.0, True)])
def test_layerdrop_skips_transformer_layers_in_training(noise, tmp_path, monkeypatch, one_torch_thread, layerdrop,
                                                        layers_change):
    """layerdrop 1 skips every transformer layer in every training forward, so their weights
    get no gradient and the optimizer leaves them as they were; with 0 they train."""
    models = []
    forward = PretrainObjective.forward

    def recording_forward(self, *args):
        if not models:
            models.append((self.model, {n: p.detach().clone() for n, p in self.model.named_parameters()}))
        return forward(self, *args)

    monkeypatch.setattr(PretrainObjective, "forward", recording_forward)
    pretrain(PretrainOptions(recipe(model={"layerdrop": layerdrop}, train={"max_updates": 2}), tmp_path / "run",
                             noise, progress=False))
    model, before = models[0]
    after = dict(model.named_parameters())
    layers = [n for n in before if n.startswith("wav2vec2.encoder.layers.")]
    changed = [n for n in layers if not torch.equal(before[n], after[n].detach())]
    assert bool(changed) == layers_change
    assert not torch.equal(before["project_q.weight"], after["project_q.weight"].detach())  # the rest trains


def test_a_carried_run_exports_to_a_model_folder_without_its_corpus(noise, tmp_path, one_torch_thread):
    """scripts/carry_run.py export: the carried weights in the recipe's model, loadable by
    from_pretrained, equal to the run's own to fp16 precision; the manifests are not read."""
    import subprocess
    import sys
    from pathlib import Path

    from safetensors.torch import load_file
    from transformers import Wav2Vec2ForPreTraining

    pretrain(PretrainOptions(recipe(model={"codevectors_per_group": 32}, train={"max_updates": 2,
                                    "checkpoint_interval_updates": 2}), tmp_path / "run", noise, progress=False))
    script = Path(__file__).resolve().parent.parent / "scripts" / "carry_run.py"
    for args in (["pack", tmp_path / "run", tmp_path / "carried"], ["export", tmp_path / "carried", tmp_path / "model"]):
        subprocess.run([sys.executable, str(script), *map(str, args)], check=True, capture_output=True)
    model = Wav2Vec2ForPreTraining.from_pretrained(tmp_path / "model")
    assert model.config.num_codevectors_per_group == 32
    run_weights = load_file(tmp_path / "run" / "checkpoints" / "last" / "model.safetensors")
    exported = model.state_dict()
    assert len(exported) == len(run_weights)
    for name, value in run_weights.items():
        torch.testing.assert_close(exported[name[len("model."):]], value.float(), rtol=2e-3, atol=1e-6)
    assert (tmp_path / "model" / "preprocessor_config.json").exists()


@pytest.mark.parametrize("flags, expected", [(["avx512_bf16"], "bf16"), ([], "fp32")])
def test_pretraining_chooses_its_precision_by_the_machine_as_fine_tuning_does(noise, tmp_path, monkeypatch, flags,
                                                                              expected, one_torch_thread):
    """Pre-training's default train.precision is fine-tuning's "auto": bf16 autocast on a CPU
    with native bf16 that measures it faster (faked here), fp32 on one without."""
    from asrkit import precision

    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda *args: flags)
    monkeypatch.setattr(precision, "bf16_probe_gain", lambda *args: 3.0)
    default = PretrainRecipe().train.precision
    pretrain(PretrainOptions(recipe(train={"max_updates": 1, "precision": default}), tmp_path / "run", noise,
                             progress=False))
    header = (tmp_path / "run" / "recipe.yaml").read_text().splitlines()
    assert f"# precision: {expected}" in header
