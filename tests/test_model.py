"""Checkpoint loading for CTC fine-tuning: heads, vocabularies, families, recipe settings,
freezing, and the base/large attention-mask convention. Tiny random models only."""

import json
import logging

import pytest
import torch

from asrkit.config import ModelConfig
from asrkit.errors import ModelError, RecipeError
from asrkit.masks import MaskSettings
from asrkit.model import (CTCTrainer, TINY_CONFIGS, build_processor_for, count_parameters,
                          load_ctc_model, output_lengths, transformer_frozen, uses_attention_mask)
from asrkit.vocab import build_tokenizer, letter_vocab

torch.set_num_threads(1)

SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
             conv_dim=(16,) * 7, num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=4)


def cfg(name, **kw):
    return ModelConfig(name=str(name), **kw)


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


@pytest.fixture(scope="module")
def pretraining_ckpt(tmp_path_factory):
    """A Wav2Vec2ForPreTraining checkpoint (the architecture of facebook/wav2vec2-base)."""
    from transformers import Wav2Vec2Config, Wav2Vec2ForPreTraining

    folder = tmp_path_factory.mktemp("pretrain")
    torch.manual_seed(0)
    model = Wav2Vec2ForPreTraining(Wav2Vec2Config(**SMALL, codevector_dim=16, proj_codevector_dim=16))
    model.save_pretrained(folder)
    return folder, model


@pytest.mark.parametrize("name,family,low,high", [("tiny", "wav2vec2", 3e6, 5e6),
                                                  ("tiny-layernorm", "wav2vec2", 3e6, 5e6),
                                                  ("tiny-w2v-bert", "wav2vec2-bert", 4e6, 7e6)])
def test_tiny_configs(name, family, low, high, tokenizer):
    model, info, _ = load_ctc_model(cfg(name), tokenizer)
    total, _ = count_parameters(model)
    assert low < total < high and info.family == family and info.head == "fresh"
    assert model.lm_head.out_features == len(tokenizer) == 30


def test_pretraining_checkpoint_gets_a_fresh_head(pretraining_ckpt, tokenizer):
    folder, pretrained = pretraining_ckpt
    model, info, _ = load_ctc_model(cfg(folder), tokenizer)
    assert info.head == "fresh" and model.lm_head.out_features == 30
    q = model.wav2vec2.encoder.layers[0].attention.q_proj.weight
    assert torch.equal(q, pretrained.wav2vec2.encoder.layers[0].attention.q_proj.weight)
    assert type(model).__name__ == "Wav2Vec2ForCTC" and model.config.pad_token_id == 0


@pytest.mark.parametrize("new_head, head", [(False, "kept"), (True, "re-initialised")])
def test_ctc_checkpoint_keeps_its_head_when_the_vocabulary_matches_unless_new_head(
        pretraining_ckpt, tokenizer, tmp_path, new_head, head):
    # model.new_head starts a CTC checkpoint as the paper's fine-tuning starts: its encoder,
    # and a new output layer.
    folder, _ = pretraining_ckpt
    model, _, _ = load_ctc_model(cfg(folder), tokenizer)
    torch.nn.init.constant_(model.lm_head.bias, 0.5)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(str(tmp_path))
    again, info, _ = load_ctc_model(cfg(tmp_path, new_head=new_head), tokenizer)
    assert info.head == head
    assert torch.all(again.lm_head.bias == (0 if new_head else 0.5))
    q = again.wav2vec2.encoder.layers[0].attention.q_proj.weight
    assert torch.equal(q, model.wav2vec2.encoder.layers[0].attention.q_proj.weight)


def test_an_fp16_checkpoint_loads_as_fp32_for_training(pretraining_ckpt, tokenizer, tmp_path):
    # The embedded starting checkpoint is stored as fp16 to halve its size.
    folder, _ = pretraining_ckpt
    model, _, _ = load_ctc_model(cfg(folder), tokenizer)
    model.half().save_pretrained(tmp_path)
    tokenizer.save_pretrained(str(tmp_path))
    again, info, _ = load_ctc_model(cfg(tmp_path), tokenizer)
    assert info.head == "kept"
    assert {p.dtype for p in again.parameters()} == {torch.float32}
    assert torch.equal(again.lm_head.weight, model.lm_head.weight.float())


def test_ctc_checkpoint_with_another_vocabulary_gets_a_new_head(pretraining_ckpt, tokenizer, tmp_path, caplog):
    folder, _ = pretraining_ckpt
    model, _, _ = load_ctc_model(cfg(folder), tokenizer)
    torch.nn.init.constant_(model.lm_head.bias, 0.5)
    model.save_pretrained(tmp_path)
    other = dict(letter_vocab())
    other["A"], other["B"] = other["B"], other["A"]  # same size, different ids
    (tmp_path / "vocab.json").write_text(json.dumps(other))
    with caplog.at_level(logging.WARNING):
        again, info, _ = load_ctc_model(cfg(tmp_path), tokenizer)
    assert info.head == "re-initialised" and "differs from ours" in caplog.text
    assert not torch.all(again.lm_head.bias == 0.5)
    (tmp_path / "vocab.json").unlink()  # no vocabulary to compare with: also re-initialised
    assert load_ctc_model(cfg(tmp_path), tokenizer)[1].head == "re-initialised"


def test_recipe_settings_reach_the_model_config(tokenizer):
    model, _, _ = load_ctc_model(cfg("tiny", mask_time_prob=0.65, mask_feature_prob=0.25, layerdrop=0.05,
                                     activation_dropout=0.1), tokenizer)
    c = model.config
    assert (c.mask_time_prob, c.mask_time_length, c.mask_feature_prob, c.mask_feature_length) == (0.65, 10, 0.25, 64)
    assert (c.layerdrop, c.activation_dropout, c.hidden_dropout) == (0.05, 0.1, 0.0)
    assert c.ctc_zero_infinity is True and c.apply_spec_augment is True
    # Dropout modules are built from the config, so the values must be there before init.
    assert model.wav2vec2.encoder.layers[0].feed_forward.intermediate_dropout.p == 0.1


def test_feature_encoder_frozen_unless_the_recipe_says_otherwise(tokenizer, caplog):
    model, _, notes = load_ctc_model(cfg("tiny"), tokenizer)
    assert not any(p.requires_grad for p in model.wav2vec2.feature_extractor.parameters())
    assert all(p.requires_grad for p in model.wav2vec2.encoder.parameters()) and notes == []
    with caplog.at_level(logging.WARNING):
        model, _, notes = load_ctc_model(cfg("tiny", freeze_feature_encoder=False), tokenizer)
    assert all(p.requires_grad for p in model.wav2vec2.feature_extractor.parameters())
    assert "CNN feature encoder trains" in caplog.text and notes


def test_settings_that_do_not_apply_are_reported(tokenizer):
    _, info, notes = load_ctc_model(cfg("tiny-w2v-bert"), tokenizer)
    assert info.input_name == "input_features" and info.attention_mask
    assert any("no CNN feature encoder" in n and "freeze_feature_encoder" in n for n in notes)


def test_attention_masks_always_as_fairseq_or_by_transformers_convention(tokenizer):
    from transformers import Wav2Vec2Config

    group, layer = Wav2Vec2Config(feat_extract_norm="group"), Wav2Vec2Config(feat_extract_norm="layer")
    assert uses_attention_mask(group) and uses_attention_mask(layer)  # "always", the default
    assert not uses_attention_mask(group, "transformers") and uses_attention_mask(layer, "transformers")
    for setting, base_masked in (("always", True), ("transformers", False)):
        base = build_processor_for(cfg("tiny"), load_ctc_model(cfg("tiny", attention_mask=setting), tokenizer)[1])
        large = build_processor_for(cfg("tiny-layernorm"),
                                    load_ctc_model(cfg("tiny-layernorm", attention_mask=setting), tokenizer)[1])
        assert base.feature_extractor.return_attention_mask is base_masked
        assert large.feature_extractor.return_attention_mask is True
    assert TINY_CONFIGS["tiny"][1]["feat_extract_norm"] == "group"


def encoder_inputs(model, run):
    """What the encoder receives during run(): (hidden states (B, T', C), attention mask)."""
    seen = []
    handle = model.base_model.encoder.register_forward_pre_hook(
        lambda m, args, kwargs: seen.append((args[0].detach().clone(), kwargs.get("attention_mask"))),
        with_kwargs=True)
    try:
        run()
    finally:
        handle.remove()
    return seen[0]


def test_fairseq_masks_reach_the_encoder_input(tokenizer):
    c = cfg("tiny", mask_time_prob=0.65, mask_time_length=10, mask_feature_prob=0.25, mask_feature_length=64,
            layerdrop=0.0)
    model, _, _ = load_ctc_model(c, tokenizer)
    wrapper = CTCTrainer(model, MaskSettings.for_finetuning(c)).train()
    lengths = torch.tensor([48_000, 32_000, 40_000])
    x = torch.randn(3, 48_000) * (torch.arange(48_000)[None, :] < lengths[:, None])
    mask = (torch.arange(48_000)[None, :] < lengths[:, None]).long()
    torch.manual_seed(3)
    hidden, _ = encoder_inputs(model, lambda: wrapper(x, mask, input_lengths=lengths))
    frames = output_lengths(model, lengths)
    embed = model.wav2vec2.masked_spec_embed.detach()
    zero_channels = (hidden == 0).all(dim=1)  # (B, C): channels masked over every frame
    time_masked = torch.stack([(hidden[b][:, ~zero] == embed[~zero]).all(dim=-1)  # (B, T')
                               for b, zero in enumerate(zero_channels)])
    counts = time_masked.sum(dim=1)
    assert len(set(counts.tolist())) == 1 and counts[0] >= 2 * 10 - 10  # same count per row
    for b, n in enumerate(frames.tolist()):
        assert not time_masked[b, n:].any()  # padding is never masked
    assert len(set(zero_channels.sum(dim=1).tolist())) == 1 and zero_channels.sum() > 0
    assert model.config.apply_spec_augment  # the model's own masking is back on afterwards


def test_fairseq_masks_only_in_training_and_transformers_masks_on_request(tokenizer):
    c = cfg("tiny", layerdrop=0.0)
    model, _, _ = load_ctc_model(c, tokenizer)
    x, lengths = torch.randn(2, 16_000), torch.tensor([16_000, 16_000])
    wrapper = CTCTrainer(model, MaskSettings.for_finetuning(c)).eval()
    hidden, _ = encoder_inputs(model, lambda: wrapper(x, input_lengths=lengths))
    assert not (hidden == model.wav2vec2.masked_spec_embed.detach()).all(dim=-1).any()
    assert MaskSettings.for_finetuning(cfg("tiny", masks="transformers")) is None
    with pytest.raises(ValueError, match="input_lengths"):
        wrapper.train()(x)


def test_log_probs_do_not_depend_on_batch_company_with_attention_masks(tokenizer):
    """A layer-norm model with attention masks gives an utterance the same log-probs alone
    and padded beside a longer one. (A group-norm CNN normalises over the padded length, so
    BASE-style models differ even with masks: see BENCHMARKS.md, padding masks.)"""
    torch.manual_seed(0)
    model, info, _ = load_ctc_model(cfg("tiny-layernorm"), tokenizer)
    model.eval()
    a, b = torch.randn(1, 24_000) * 0.1, torch.randn(1, 40_000) * 0.1
    x = torch.zeros(2, 40_000)
    x[0, :24_000], x[1] = a[0], b[0]
    mask = torch.ones(2, 40_000, dtype=torch.long)
    mask[0, 24_000:] = 0
    with torch.no_grad():
        alone = model(a).logits.log_softmax(-1)[0]
        masked = model(x, attention_mask=mask).logits.log_softmax(-1)[0, :len(alone)]
        unmasked = model(x).logits.log_softmax(-1)[0, :len(alone)]
    assert info.attention_mask
    assert torch.allclose(masked, alone, atol=1e-4)
    assert not torch.allclose(unmasked, alone, atol=1e-2)  # the test can fail: padding does leak without


def test_transformer_frozen_for_the_first_updates():
    c = cfg("tiny", freeze_transformer_updates=10_000)
    assert transformer_frozen(0, c) and transformer_frozen(9_999, c) and not transformer_frozen(10_000, c)
    assert not transformer_frozen(0, cfg("tiny", freeze_transformer_updates=0))


def test_frozen_forward_gives_gradients_to_the_head_only(tokenizer):
    model, _, _ = load_ctc_model(cfg("tiny", mask_time_prob=0.0, mask_feature_prob=0.0, layerdrop=0.0), tokenizer)
    wrapper = CTCTrainer(model)
    x = torch.randn(2, 8_000)
    wrapper(x, frozen=True).sum().backward()
    assert model.lm_head.weight.grad is not None
    assert all(p.grad is None for p in model.wav2vec2.parameters())
    model.zero_grad(set_to_none=True)
    wrapper(x, frozen=False).sum().backward()
    assert model.wav2vec2.encoder.layers[0].attention.q_proj.weight.grad is not None
    assert all(p.grad is None for p in model.wav2vec2.feature_extractor.parameters())  # CNN: never


def attention_block(layer):
    """A layer's self-attention: w2v-BERT's `self_attn` or the wav2vec2 family's `attention`."""
    return layer.self_attn if hasattr(layer, "self_attn") else layer.attention


def attention_outputs(model) -> list:
    """Each encoder layer's self-attention output projection, whatever the family calls it."""
    blocks = [attention_block(layer) for layer in model.base_model.encoder.layers]
    return [b.linear_out if hasattr(b, "linear_out") else b.out_proj for b in blocks]


@pytest.mark.parametrize("name", ["tiny-w2v-bert", "tiny"])
def test_attention_off_leaves_the_attention_blocks_adding_nothing(tokenizer, tmp_path, name):
    quiet = dict(mask_time_prob=0.0, mask_feature_prob=0.0, layerdrop=0.0, activation_dropout=0.0)
    model, _, notes = load_ctc_model(cfg(name, attention_off=True, **quiet), tokenizer)
    assert any("self-attention switched off in 4 layers" in n for n in notes)
    x = torch.randn(1, 20, 160) if name == "tiny-w2v-bert" else torch.randn(1, 8_000)
    CTCTrainer(model)(x).sum().backward()
    layers = model.base_model.encoder.layers
    assert len(layers) == 4
    for layer, out in zip(layers, attention_outputs(model)):
        assert not out.weight.requires_grad and not out.weight.any()
        assert all(p.grad is None or not p.grad.any() for p in attention_block(layer).parameters())  # q/k/v
    assert getattr(layers[0], "ffn1", getattr(layers[0], "feed_forward", None)).intermediate_dense.weight.grad.any()
    # Saved and fine-tuned with attention on: it starts from zero and trains.
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    again, _, _ = load_ctc_model(cfg(tmp_path), tokenizer)
    out = attention_outputs(again)[0]
    assert out.weight.requires_grad and not out.weight.any()


def test_output_lengths_are_20ms_frames(tokenizer):
    model, _, _ = load_ctc_model(cfg("tiny"), tokenizer)
    # BASE's CNN: 400-sample receptive field, 320-sample stride.
    assert output_lengths(model, torch.tensor([16_000, 400, 720])).tolist() == [49, 1, 2]
    with torch.no_grad():
        assert model(torch.zeros(1, 16_000)).logits.shape[1] == 49


@pytest.mark.parametrize("name", ["folder", "asrkit-test-nobody/no-such-model"])
def test_unreachable_checkpoint_is_a_clear_error(name, tokenizer, tmp_path, monkeypatch):
    """One line (transformers' own message spans several), saying what the name was taken for."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no network call, with or without a network
    name = str(tmp_path / "nowhere") if name == "folder" else name
    with pytest.raises(ModelError, match="cannot load checkpoint .* as a hub id") as caught:
        load_ctc_model(cfg(name), tokenizer)
    assert "\n" not in str(caught.value) and ".." not in str(caught.value)


@pytest.mark.parametrize("family", ["hubert", "wavlm", "data2vec-audio", "wav2vec2-conformer"])
def test_other_families_load_from_a_base_model_checkpoint(family, tokenizer, tmp_path):
    """HuBERT, WavLM, data2vec-audio, wav2vec2-conformer: a base-model checkpoint (no head)
    gets a CTC head and trains through CTCTrainer with the recipe's settings."""
    from transformers import AutoConfig, AutoModel

    small = dict(SMALL)
    if family == "data2vec-audio":
        small.pop("num_conv_pos_embeddings"), small.pop("num_conv_pos_embedding_groups")
        small["num_conv_pos_embedding_layers"] = 1
    config = AutoConfig.for_model(family, **small)
    torch.manual_seed(0)
    AutoModel.from_config(config).save_pretrained(tmp_path)
    model, info, notes = load_ctc_model(cfg(tmp_path, mask_time_prob=0.65, mask_time_length=2), tokenizer)
    assert info.family == family and info.head == "fresh" and notes == []
    assert type(model).__name__.endswith("ForCTC") and model.config.mask_time_prob == 0.65
    assert not any(p.requires_grad for p in model.base_model.feature_extractor.parameters())
    CTCTrainer(model)(torch.randn(2, 4_000)).sum().backward()
    assert model.lm_head.weight.grad is not None


def test_a_new_ctc_head_starts_as_fairseqs(tokenizer):
    """fairseq's Linear: Xavier-uniform weights (std sqrt(2 / (fan_in + fan_out)), bounded by
    sqrt(3) x that), zero bias; not transformers' normal(0, 0.02)."""
    model, info, _ = load_ctc_model(ModelConfig(name="tiny"), tokenizer)
    w = model.lm_head.weight.detach()
    std = (2 / (w.shape[0] + w.shape[1])) ** 0.5
    assert info.head == "fresh" and float(w.std()) == pytest.approx(std, rel=0.1)
    assert float(w.abs().max()) <= 3 ** 0.5 * std + 1e-6 and not model.lm_head.bias.any()


def test_head_init_transformers_is_normal_0_02_and_a_bad_name_is_refused(tokenizer):
    model, _, _ = load_ctc_model(ModelConfig(name="tiny", head_init="transformers"), tokenizer)
    w = model.lm_head.weight.detach()
    assert float(w.std()) == pytest.approx(0.02, rel=0.15) and not model.lm_head.bias.any()
    with pytest.raises(RecipeError, match="model.head_init"):
        ModelConfig(head_init="xavier")
