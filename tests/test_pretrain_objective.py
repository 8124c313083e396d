"""asrkit.pretrain.objective's fast formulation (an einsum over the one-hot codes; one (N, N)
cosine matrix then a gather; "distractor equals target" read off the code indices) against
the formulation it replaced, fairseq's own (a broadcast (N, G*V, d) product summed over the
entries; the cosine over an (N, K + 1, D) gather of the candidates; equality of the target
vectors), on the same draws: the same loss terms and the same gradients. The reference lives
here, not in the package."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from asrkit.config import PretrainModelConfig
from asrkit.masks import compute_mask_indices
from asrkit.pretrain import objective
from asrkit.pretrain.model import load_pretraining_model
from asrkit.pretrain.objective import PretrainObjective, Quantized, contrastive_logits, gumbel_choices, sample_negatives


def reference_quantize(quantizer, features: torch.Tensor) -> Quantized:
    """The quantiser as fairseq's GumbelVectorQuantizer writes it (asrkit's before the einsum)."""
    n = features.shape[0]
    groups, entries = quantizer.num_groups, quantizer.num_vars
    probs, prob_ppl, code_ppl = gumbel_choices(quantizer, features)  # the part both forms share
    vectors = (probs.view(n, groups * entries, 1) * quantizer.codevectors).view(n, groups, entries, -1)
    return Quantized(vectors.sum(dim=-2).view(n, -1), None, prob_ppl, code_ppl)


def reference_logits(predictions, targets, negatives, temperature, codes=None):
    """fairseq's compute_preds: cosine over the gathered candidates, equality of the vectors."""
    distractors = targets[negatives]
    candidates = torch.cat([targets.unsqueeze(1), distractors], dim=1)
    logits = torch.cosine_similarity(predictions.float().unsqueeze(1), candidates.float(), dim=-1) / temperature
    same = (distractors == targets.unsqueeze(1)).all(dim=-1)
    if same.any():
        logits[:, 1:] = logits[:, 1:].masked_fill(same, -float(2 ** 30))
    return logits


def _draws(model, seed: int, batch: int = 3, seconds: float = 2.0):
    rng = np.random.default_rng(seed)
    size = int(16_000 * seconds)
    inputs = torch.from_numpy(rng.standard_normal((batch, size), dtype=np.float32))
    frames = int(model._get_feat_extract_output_lengths(torch.tensor(size)))
    mask = compute_mask_indices((batch, frames), None, 0.65, 10, min_masks=2, rng=rng)
    negatives = torch.from_numpy(sample_negatives(mask, model.config.num_negatives, rng))
    return inputs, torch.from_numpy(mask), negatives


def _loss_and_grads(model, draws, seed: int):
    model.zero_grad(set_to_none=True)
    wrapper = PretrainObjective(model, 0.1, 10.0, 0.1, 0.1)
    torch.manual_seed(seed)  # the same dropout, layerdrop and Gumbel draws for both formulations
    terms = wrapper(*draws[:1], None, *draws[1:])
    loss = wrapper.total(terms) / terms["masked"]
    loss.backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return {k: float(v.detach()) for k, v in terms.items()}, float(loss.detach()), grads


@pytest.mark.parametrize("groups, entries, training", [(2, 320, True), (2, 4, True), (2, 4, False)])
def test_fast_objective_equals_the_reference_on_the_same_draws(monkeypatch, groups, entries, training):
    """2 x 4 codes make many distractors share their target's codes, so the -inf path is
    exercised; training mode draws Gumbel noise and dropout (the same seed for both)."""
    torch.manual_seed(0)
    model, _ = load_pretraining_model(PretrainModelConfig(name="tiny", codevector_groups=groups,
                                                          codevectors_per_group=entries, layerdrop=0.05))
    model.train(training)
    model.quantizer.temperature = 1.5
    draws = _draws(model, seed=1)
    fast = _loss_and_grads(model, draws, seed=2)
    monkeypatch.setattr(objective, "quantize", reference_quantize)
    monkeypatch.setattr(objective, "contrastive_logits", reference_logits)
    reference = _loss_and_grads(model, draws, seed=2)
    for key in ("contrastive", "diversity", "feature_penalty", "prob_perplexity", "code_perplexity", "masked",
                "correct"):
        assert fast[0][key] == pytest.approx(reference[0][key], rel=1e-5, abs=1e-6), key
    assert fast[1] == pytest.approx(reference[1], rel=1e-5)
    assert fast[2].keys() == reference[2].keys()
    for name, grad in reference[2].items():
        scale = float(grad.abs().max()) + 1e-12
        assert float((fast[2][name] - grad).abs().max()) <= 1e-4 * scale + 1e-9, name


def test_distractors_sharing_the_targets_codes_are_ignored():
    """With codes, 'equal to the target' is the same entry in every codebook; a distractor
    that differs in one codebook keeps its cosine."""
    rng = np.random.default_rng(0)
    preds, targets = torch.tensor(rng.standard_normal((3, 4))), torch.tensor(rng.standard_normal((3, 4)))
    codes = torch.tensor([[1, 2], [1, 3], [1, 2]])  # frames 0 and 2 share both codes; 1 differs in one
    negatives = torch.tensor([[1, 2], [0, 2], [0, 1]])
    logits = contrastive_logits(preds, targets, negatives, 0.1, codes)
    cos = torch.cosine_similarity(preds.unsqueeze(1), targets[torch.cat([torch.arange(3).unsqueeze(1), negatives], 1)],
                                  dim=-1) / 0.1
    expected = cos.clone()
    expected[0, 2] = expected[2, 1] = -(2.0 ** 30)
    torch.testing.assert_close(logits, expected.float(), rtol=1e-5, atol=1e-5)


def test_under_bf16_autocast_codevectors_and_cosines_stay_in_fp32():
    """Autocast would run the einsum and the (N, N) matmul in bf16; fairseq's broadcast product
    promotes to fp32 and its cosines are fp32, so the fast form keeps both out of autocast."""
    torch.manual_seed(0)
    model, _ = load_pretraining_model(PretrainModelConfig(name="tiny"))
    model.eval()
    features, predictions = torch.randn(40, 128), torch.randn(40, 256)
    negatives = torch.randint(0, 40, (40, 10))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fast, reference = objective.quantize(model.quantizer, features), reference_quantize(model.quantizer, features)
        targets = fast.vectors @ torch.randn(fast.vectors.shape[1], 256)  # any fp32 targets
        logits = contrastive_logits(predictions, targets.float(), negatives, 0.1, fast.codes)
    assert fast.vectors.dtype == torch.float32 and torch.equal(fast.vectors, reference.vectors)
    expected = reference_logits(predictions, targets.float(), negatives, 0.1)
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-4)
