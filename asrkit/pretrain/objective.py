"""The wav2vec 2.0 pre-training objective with fairseq's semantics, on the modules of
transformers' Wav2Vec2ForPreTraining (so its checkpoints load with from_pretrained).

    waveform (B, T) -> CNN -> features z (B, C, T')          feature penalty: mean(z^2)
        (the CNN's gradient x feature_grad_mult)
    z -> layer norm -> projection -> masked frames replaced by the mask embedding
      -> Transformer -> context c (B, T', H) -> project_hid   predictions x, masked frames only
    layer norm(z) at the masked frames -> Gumbel-softmax quantiser (G codebooks x V entries)
      -> project_q                                             targets y (N, D)
    logits = cos(x, [y, K distractors from the same utterance's masked frames]) / kappa

Losses, per masked frame (fairseq's wav2vec criterion divides by the number of masked
frames, N; transformers' forward returns sums):

    contrastive   cross-entropy of the true target among the K + 1 candidates
    diversity     (G*V - prob_perplexity) / (G*V), weighted by diversity_loss_weight
    feature pen.  mean(z^2), weighted by feature_penalty_weight

Dimensions: B utterances, T samples, T' frames (20 ms), C CNN channels, H hidden size,
D final_dim, N masked frames in the batch, K distractors, G x V codebook entries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# A distractor equal to the target gets this logit instead of its similarity (fairseq's
# value: a finite "minus infinity", so that a row of such distractors still has a loss).
_NEG_IS_POS_LOGIT = -float(2 ** 30)


def gumbel_temperature(update: int, start: float, end: float, decay: float) -> float:
    """fairseq's latent_temp schedule: max(start * decay**update, end)."""
    return max(start * decay ** update, end)


def sample_negatives(mask: np.ndarray, num_negatives: int, rng: np.random.Generator) -> np.ndarray:
    """Distractors for every masked frame, drawn uniformly from the other masked frames of the
    same utterance (fairseq sample_negatives, n_negatives; never the frame itself, never a
    padded or unmasked frame).

    mask: bool (B, T'), True = masked. Returns int64 (N, K): indices into the N masked frames
    taken in row-major order (the order of features[mask]). A row with a single masked frame
    has no other frame to draw from: its distractor is itself, which the loss then ignores
    (a distractor equal to the target gets a minus-infinity logit).
    """
    counts = mask.sum(axis=1)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rows = []
    for n, offset in zip(counts.tolist(), offsets.tolist()):
        if n == 0:
            continue
        if n == 1:
            rows.append(np.full((1, num_negatives), offset, dtype=np.int64))
            continue
        own = np.arange(n)[:, None]
        draw = rng.integers(0, n - 1, size=(n, num_negatives))
        draw[draw >= own] += 1  # skip the frame itself, keeping the others equally likely
        rows.append(draw + offset)
    if not rows:
        return np.zeros((0, num_negatives), dtype=np.int64)
    return np.concatenate(rows).astype(np.int64)


def _no_autocast(like: torch.Tensor):
    """A context where autocast is off on `like`'s device (matmuls there run in the inputs' dtype)."""
    return torch.autocast(device_type=like.device.type, enabled=False)


class _GradMultiply(torch.autograd.Function):
    """Identity forward; the gradient times `scale` (fairseq GradMultiply)."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.new(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.scale, None


@dataclass
class Quantized:
    vectors: torch.Tensor  # (N, codevector_dim): the chosen entry of each codebook, concatenated
    codes: torch.Tensor  # (N, G) int64: the entry chosen in each codebook (the Gumbel sample in training)
    prob_perplexity: torch.Tensor  # of the softmax averaged over frames, summed over groups
    code_perplexity: torch.Tensor  # of the argmax choices, summed over groups


def gumbel_choices(quantizer, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The quantiser's choices for (N, C) features: (one-hot choices (N * G, V), hard Gumbel
    samples at quantizer.temperature in training and the argmax in evaluation; the perplexity
    of the softmax averaged over frames; that of the argmax choices), as fairseq's
    GumbelVectorQuantizer computes them (perplexities summed over groups)."""
    n = features.shape[0]
    groups, entries = quantizer.num_groups, quantizer.num_vars
    logits = quantizer.weight_proj(features).view(n * groups, entries)
    choice = logits.argmax(dim=-1)
    hard = torch.zeros_like(logits).scatter_(-1, choice.view(-1, 1), 1.0)
    if quantizer.training:
        probs = F.gumbel_softmax(logits.float(), tau=quantizer.temperature, hard=True).type_as(logits)
    else:
        probs = hard
    soft = torch.softmax(logits.view(n, groups, entries).float(), dim=-1).mean(dim=0)
    prob_ppl = torch.exp(-torch.sum(soft * torch.log(soft + 1e-7), dim=-1)).sum()
    used = hard.view(n, groups, entries).float().mean(dim=0)
    code_ppl = torch.exp(-torch.sum(used * torch.log(used + 1e-7), dim=-1)).sum()
    return probs, prob_ppl, code_ppl


def quantize(quantizer, features: torch.Tensor) -> Quantized:
    """Gumbel-softmax quantisation of (N, C) features with transformers'
    Wav2Vec2GumbelVectorQuantizer weights, as fairseq's GumbelVectorQuantizer computes it:
    hard Gumbel samples at quantizer.temperature in training, the argmax in evaluation;
    both perplexities over these N frames.

    The codevectors are picked by an einsum of the (straight-through) one-hot choices with
    the codebooks, (N, G, V) x (G, V, d) -> (N, G, d): the same numbers and gradients as
    fairseq's broadcast product (N, G*V, d) summed over V, without making that tensor
    (for 2 x 320 entries it was a third of a CPU step)."""
    n = features.shape[0]
    groups, entries = quantizer.num_groups, quantizer.num_vars
    probs, prob_ppl, code_ppl = gumbel_choices(quantizer, features)
    codebooks = quantizer.codevectors.view(groups, entries, -1)
    with _no_autocast(features):  # exact fp32 codevectors, as fairseq's broadcast product promotes to
        vectors = torch.einsum("ngv,gvd->ngd", probs.view(n, groups, entries).float(), codebooks.float())
    codes = probs.detach().view(n, groups, entries).argmax(dim=-1)
    return Quantized(vectors.reshape(n, -1), codes, prob_ppl, code_ppl)


def contrastive_logits(predictions: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor,
                       temperature: float, codes: torch.Tensor | None = None) -> torch.Tensor:
    """(N, K + 1) logits: cosine similarity of each prediction (N, D) with its target (N, D)
    in column 0 and its distractors targets[negatives] (N, K) after it, over temperature.
    A distractor identical to the target gets a minus-infinity logit, as in fairseq; with
    `codes` (N, G), "identical" is read off the code indices (the same entry in every
    codebook gives the same target vector), else off the vectors.

    Computed as one (N, N) matrix of cosines between unit-length predictions and targets,
    then a gather of each row's target and distractor columns: the same numbers as the
    cosine over an (N, K + 1, D) gather of the candidates (fairseq's), at a fraction of
    the memory traffic (N x D + N x N instead of N x (K + 1) x D)."""
    eps = 1e-8  # torch.cosine_similarity's: norms below it are clamped
    p = predictions.float()
    t = targets.float()
    p = p / p.norm(dim=-1, keepdim=True).clamp_min(eps)
    t = t / t.norm(dim=-1, keepdim=True).clamp_min(eps)
    with _no_autocast(p):  # cosines in fp32 under bf16/fp16 autocast too, as fairseq's compute_preds
        cosines = p @ t.T
    own = torch.arange(len(p), device=p.device).unsqueeze(1)
    logits = cosines.gather(1, torch.cat([own, negatives], dim=1)) / temperature
    if codes is not None:
        same = (codes[negatives] == codes.unsqueeze(1)).all(dim=-1)
    else:
        same = (targets[negatives] == targets.unsqueeze(1)).all(dim=-1)
    if same.any():
        logits[:, 1:] = logits[:, 1:].masked_fill(same, _NEG_IS_POS_LOGIT)
    return logits


def correct_count(logits: torch.Tensor) -> int:
    """Masked frames whose true target scores highest (fairseq's 'correct': argmax at 0, not
    counting rows where every candidate ties, whose argmin is 0 too)."""
    if logits.numel() == 0:
        return 0
    best = logits.argmax(dim=-1) == 0
    flat = logits.argmin(dim=-1) == 0
    return int((best & ~flat).sum())


class PretrainObjective(nn.Module):
    """Wraps Wav2Vec2ForPreTraining so that one forward call (the one DDP sees) returns the
    loss terms of a batch.

    forward(inputs (B, T), attention_mask (B, T) or None, mask (B, T') bool, negatives (N, K))
      -> dict of 0-dim tensors: contrastive (sum over masked frames), diversity and
         feature_penalty (per-frame terms), prob/code perplexity, masked (N), correct.
    """

    def __init__(self, model, diversity_loss_weight: float, feature_penalty_weight: float,
                 feature_grad_mult: float, logit_temperature: float):
        super().__init__()
        self.model = model
        self.diversity_loss_weight = diversity_loss_weight
        self.feature_penalty_weight = feature_penalty_weight
        self.feature_grad_mult = feature_grad_mult
        self.logit_temperature = logit_temperature

    def features(self, inputs: torch.Tensor) -> torch.Tensor:
        """CNN output (B, C, T'), its gradient scaled by feature_grad_mult (0: no gradient)."""
        cnn = self.model.wav2vec2.feature_extractor
        if self.feature_grad_mult == 0:
            with torch.no_grad():
                return cnn(inputs)
        z = cnn(inputs)
        return _GradMultiply.apply(z, self.feature_grad_mult) if self.feature_grad_mult != 1 else z

    def forward(self, inputs: torch.Tensor, attention_mask: torch.Tensor | None, mask: torch.Tensor,
                negatives: torch.Tensor) -> dict:
        model, w2v = self.model, self.model.wav2vec2
        z = self.features(inputs)
        feature_penalty = z.float().pow(2).mean()
        z = z.transpose(1, 2)
        frame_mask = None
        if attention_mask is not None:
            frame_mask = w2v._get_feature_vector_attention_mask(z.shape[1], attention_mask, add_adapter=False)
        hidden, normed = w2v.feature_projection(z)
        hidden = w2v._mask_hidden_states(hidden, mask_time_indices=mask, attention_mask=frame_mask)
        context = w2v.encoder(hidden, attention_mask=frame_mask).last_hidden_state
        predictions = model.project_hid(context[mask])
        quantized = quantize(model.quantizer, model.dropout_features(normed)[mask])
        targets = model.project_q(quantized.vectors.to(model.project_q.weight.dtype))
        logits = contrastive_logits(predictions, targets, negatives, self.logit_temperature, quantized.codes)
        contrastive = F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=logits.device),
                                      reduction="sum")
        entries = model.quantizer.num_groups * model.quantizer.num_vars
        diversity = (entries - quantized.prob_perplexity) / entries
        return {"contrastive": contrastive, "diversity": diversity, "feature_penalty": feature_penalty,
                "prob_perplexity": quantized.prob_perplexity.detach(),
                "code_perplexity": quantized.code_perplexity.detach(),
                "masked": torch.tensor(len(logits), device=logits.device),
                "correct": torch.tensor(correct_count(logits.detach()), device=logits.device)}

    def total(self, terms: dict) -> torch.Tensor:
        """The loss to differentiate, summed over masked frames: contrastive + N x (weighted
        diversity + weighted feature penalty), as fairseq's criterion scales its extra losses
        by the sample size; the caller divides by the update's masked frames."""
        n = terms["masked"].to(terms["contrastive"].dtype)
        extra = self.diversity_loss_weight * terms["diversity"] + self.feature_penalty_weight * terms["feature_penalty"]
        return terms["contrastive"] + n * extra
