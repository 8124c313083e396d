"""Causal Transformer LMs: build a small word-level one from text, and score sentences with
any causal LM (a folder or a hub id), for rescoring N-best lists (asrkit.rescore).

A built model is a folder under lm_dir() that transformers loads by itself
(AutoModelForCausalLM / AutoTokenizer .from_pretrained), plus asrkit's info.json:

    work/lm/<name>/
        config.json, model.safetensors      a GPT2LMHeadModel (transformers), a few layers
        tokenizer.json, tokenizer_config.json   word-level: one id per word of the training
                                            text, <unk> for any other, split on spaces
        info.json       {"kind": "transformer", "unit": "word", "vocabulary", "corpus_lines",
                         "inputs" (path, bytes, sha256), "options", "perplexity", ...}
    work/lm/.<name>.partial/checkpoint.pt   while a build runs: model, optimiser, step (resume)

The text is read exactly as the 4-gram's (asrkit.lm.builder.corpus_lines: the one
normaliser), so the same file with the dev and test sentences left out (the demo's
lm-text.txt) trains both, and their vocabularies are the same words.

Sentence score, natural log, for any causal LM:

    log P(w_1..w_n) = sum over the sentence's tokens t_i of log p(t_i | BOS, t_1..t_{i-1})
                      + log p(EOS | BOS, t_1..t_n)

BOS is the tokenizer's bos_token (else its eos_token, as GPT-2 uses one token for both),
given as context and never scored; EOS (its eos_token) is scored, as KenLM scores </s>.
A tokenizer with neither cannot condition the first token on anything: the sum then starts
at the second token (the first is given, not predicted); it is the same for every
hypothesis of an utterance only when they share that token, so prefer models with a BOS.
Subword tokenizers (BPE, SentencePiece) need nothing more: a word's log-probability is the
sum over its pieces. The hypothesis text (upper case, asrkit's normalised form) is given
as is, or lower-cased (`case`), since models trained on ordinary text rarely saw capitals.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from asrkit import workspace
from asrkit.errors import InputNotFound, LMError, SettingError
from asrkit.io import make_dir, write_json
from asrkit.lm.registry import TOKENIZER_FILES, has_tokenizer

log = logging.getLogger(__name__)

KIND = "transformer"
"""info.json's "kind" for a Transformer LM folder (KenLM folders have none)."""

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"


@dataclass(frozen=True)
class TransformerOptions:
    """The model and training of `build_transformer`; the defaults train on the demo's
    text (37k sentences, 632k words, 11k-word vocabulary) in about a minute on 2 cores."""

    layers: int = 2  # Transformer blocks
    width: int = 128  # embedding and hidden size (the output layer is tied to the embedding)
    heads: int = 4  # attention heads; must divide width
    context: int = 64  # most tokens per training sequence (a longer sentence is cut into pieces)
    steps: int = 200  # optimiser updates (the whole build; a resumed build continues to it)
    batch: int = 32  # sentences per update
    lr: float = 3e-3  # peak AdamW learning rate (linear warm-up, then linear decay to 0)
    warmup: float = 0.1  # fraction of `steps` spent warming up
    dropout: float = 0.1  # residual, embedding and attention dropout
    seed: int = 0  # initialisation and batch order
    checkpoint_every: int = 50  # updates between resume checkpoints

    def check(self) -> None:
        for name in ("layers", "width", "heads", "context", "steps", "batch", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise SettingError(f"`{name}` must be at least 1, got {getattr(self, name)}")
        if self.width % self.heads:
            raise SettingError(f"`heads` {self.heads} must divide `width` {self.width}")
        if self.context < 3:
            raise SettingError("`context` must be at least 3 tokens (BOS, a word, EOS)")
        if not (math.isfinite(self.lr) and self.lr > 0) or not 0 <= self.dropout < 1:
            raise SettingError(f"`lr` must be a positive number and `dropout` in [0, 1); got {self.lr}, {self.dropout}")
        if not 0 <= self.warmup < 1:
            raise SettingError(f"`warmup` {self.warmup} must be a fraction of the steps in [0, 1)")


# --------------------------------------------------------------------------- tokenizer


def word_vocabulary(lines: Iterable[str]) -> list[str]:
    """The special tokens, then every word of `lines`, most frequent first (ties by spelling)."""
    counts = Counter(w for line in lines for w in line.split())
    return [PAD, BOS, EOS, UNK] + sorted(counts, key=lambda w: (-counts[w], w))


def word_tokenizer(vocabulary: Sequence[str]):
    """A transformers fast tokenizer with one id per word, split on spaces, <unk> otherwise."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocabulary)}, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, unk_token=UNK,
                                   pad_token=PAD, model_max_length=1 << 20)


# --------------------------------------------------------------------------- build


def build_transformer(texts: list[str | os.PathLike], name: str = KIND,
                      options: TransformerOptions = TransformerOptions(),
                      out_root: str | os.PathLike | None = None, force: bool = False,
                      progress: bool = True):
    """Train a word-level causal Transformer LM on the text files into <out_root>/<name>/.

    Idempotent (the same inputs by sha256 and options: nothing is redone); resumable (an
    interrupted build continues from <out_root>/.<name>.partial/); the finished folder
    replaces an older one only once it is complete. Returns its asrkit.lm.LanguageModel.
    """
    from asrkit.lm.builder import _inputs_fingerprint, corpus_lines, text_paths
    from asrkit.lm.registry import _from_dir

    options.check()
    workspace.check_name(name, "LM name")
    paths = text_paths(texts)
    root = Path(out_root or workspace.lm_dir())
    out, partial = root / name, root / f".{name}.partial"
    inputs = _inputs_fingerprint(paths)
    recipe = {"inputs": inputs, "options": dataclasses.asdict(options)}
    if not force and _same_build(out / "info.json", recipe):
        log.info("%s: already built from the same text and options", out)
        return _from_dir(out)
    lines = list(corpus_lines(paths))
    if not lines:
        raise LMError(f"no text left after normalisation in {', '.join(map(str, paths))}")
    vocabulary = word_vocabulary(lines)
    tokenizer = word_tokenizer(vocabulary)
    sequences = _sequences(lines, tokenizer, options.context)
    started, cpu_started = time.time(), time.process_time()
    model, final_loss = _train(sequences, len(vocabulary), options, partial, recipe, force, progress)
    info = {"name": name, "kind": KIND, "unit": "word", "source": "built", "case": "keep", "architecture": "GPT2LMHeadModel",
            "corpus_lines": len(lines), "corpus_words": sum(len(s.split()) for s in lines),
            "vocabulary": len(vocabulary) - 4, "parameters": sum(p.numel() for p in model.parameters()),
            "final_train_loss": round(final_loss, 4), "seconds": round(time.time() - started, 1),
            "cpu_seconds": round(time.process_time() - cpu_started, 1), **recipe}
    _publish(model, tokenizer, info, out, partial)
    log.info("%s: %d-layer Transformer LM over %d words from %d lines", out, options.layers,
             info["vocabulary"], len(lines))
    return _from_dir(out)


def register_transformer(model: str, name: str, case: str = "lower", out_root: str | os.PathLike | None = None):
    """Make any causal LM (a transformers folder or a hub id) usable by name: it is loaded once
    to check it (a tokenizer beside it, a causal LM head), and <out_root>/<name>/info.json
    records where it is and how hypotheses are given to it (`case`)."""
    from asrkit.lm.registry import _from_dir

    workspace.check_name(name, "LM name")
    scorer = CausalLMScorer(model, ScorerOptions(case=case))
    source = str(Path(model).resolve()) if Path(model).is_dir() else model
    out = Path(out_root or workspace.lm_dir()) / name
    if (out / "info.json").is_file() and json.loads((out / "info.json").read_text(encoding="utf-8")).get("model") is None:
        raise LMError(f"{out} holds an LM built here; choose another `name` for {model!r}")
    make_dir(out)
    write_json(out / "info.json", {
        "name": name, "kind": KIND, "unit": "word", "source": "registered", "model": source, "case": case,
        "architecture": type(scorer.model).__name__, "vocabulary": len(scorer.tokenizer),
        "parameters": sum(p.numel() for p in scorer.model.parameters())})
    return _from_dir(out)


def _same_build(info_path: Path, recipe: dict) -> bool:
    if not info_path.is_file():
        return False
    try:
        old = json.loads(info_path.read_text(encoding="utf-8"))
    except ValueError:
        return False
    return old.get("kind") == KIND and all(old.get(k) == json.loads(json.dumps(v)) for k, v in recipe.items())


def _sequences(lines: list[str], tokenizer, context: int) -> list[list[int]]:
    """Each sentence as [BOS] + word ids + [EOS], cut into pieces of at most `context` tokens."""
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    out = []
    for ids in tokenizer(lines, add_special_tokens=False)["input_ids"]:
        ids = [bos, *ids, eos]
        out += [ids[i:i + context] for i in range(0, max(len(ids) - 1, 1), context - 1)]
    return [s for s in out if len(s) > 1]


def _gpt2(vocab_size: int, o: TransformerOptions):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=vocab_size, n_positions=o.context, n_embd=o.width, n_layer=o.layers,
                        n_head=o.heads, resid_pdrop=o.dropout, embd_pdrop=o.dropout, attn_pdrop=o.dropout,
                        bos_token_id=1, eos_token_id=2, pad_token_id=0, tie_word_embeddings=True)
    return GPT2LMHeadModel(config)


def _train(sequences: list[list[int]], vocab_size: int, o: TransformerOptions, partial: Path, recipe: dict,
           force: bool, progress: bool):
    """The training loop, checkpointed to `partial` every `checkpoint_every` updates."""
    import torch
    from tqdm import tqdm

    torch.manual_seed(o.seed)
    model = _gpt2(vocab_size, o)
    opt = torch.optim.AdamW(model.parameters(), lr=o.lr, weight_decay=0.01, betas=(0.9, 0.98))
    warmup = int(o.warmup * o.steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / (warmup + 1), max(0.0, (o.steps - s) / max(1, o.steps - warmup))))
    step = 0 if force else _resume(partial, recipe, model, opt, schedule)
    rng = torch.Generator().manual_seed(o.seed + step)  # a resumed build draws new batches, not the first ones again
    model.train()
    bar = tqdm(total=o.steps, initial=step, desc="lm transformer", unit=" upd", disable=not progress)
    loss_value = float("nan")
    while step < o.steps:
        picks = torch.randint(len(sequences), (o.batch,), generator=rng).tolist()
        ids, mask = _pad([sequences[i] for i in picks])
        labels = ids.masked_fill(mask == 0, -100)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        if not torch.isfinite(loss):
            raise LMError(f"Transformer LM training diverged at update {step} (loss {loss.item()}); lower `lr`")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        schedule.step()
        step += 1
        loss_value = loss.item()
        bar.update()
        bar.set_postfix(loss=f"{loss_value:.3f}")
        if step % o.checkpoint_every == 0 and step < o.steps:
            _checkpoint(partial, recipe, model, opt, schedule, step)
    bar.close()
    model.eval()
    return model, loss_value


def _pad(batch: list[list[int]]):
    """(B, T) token ids padded with 0 on the right, and the (B, T) attention mask."""
    import torch

    longest = max(len(s) for s in batch)
    ids = torch.zeros((len(batch), longest), dtype=torch.long)
    mask = torch.zeros((len(batch), longest), dtype=torch.long)
    for b, s in enumerate(batch):
        ids[b, :len(s)] = torch.tensor(s)
        mask[b, :len(s)] = 1
    return ids, mask


def _checkpoint(partial: Path, recipe: dict, model, opt, schedule, step: int) -> None:
    import torch

    from asrkit.io import atomic_path

    make_dir(partial)
    with atomic_path(partial / "checkpoint.pt") as tmp:
        torch.save({"recipe": json.loads(json.dumps(recipe)), "step": step, "model": model.state_dict(),
                    "optimizer": opt.state_dict(), "schedule": schedule.state_dict()}, tmp)


def _resume(partial: Path, recipe: dict, model, opt, schedule) -> int:
    """The update to continue from: a checkpoint of the same build (inputs and options), else 0."""
    import torch

    path = partial / "checkpoint.pt"
    if not path.is_file():
        return 0
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a damaged checkpoint is a restart, not a failure
        log.warning("%s: unreadable (%s); training from the start", path, e)
        return 0
    if state.get("recipe") != json.loads(json.dumps(recipe)):
        log.info("%s: from another text or options; training from the start", path)
        return 0
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    log.info("resuming the Transformer LM build at update %d", state["step"])
    return int(state["step"])


def _publish(model, tokenizer, info: dict, out: Path, partial: Path) -> None:
    """Write the finished model beside `out`, then swap it in: an older model is removed only
    once the new one is complete."""
    staging = out.parent / f".{out.name}.new"
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    write_json(staging / "info.json", info)
    old = out.parent / f".{out.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        os.replace(out, old)
    os.replace(staging, out)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(partial, ignore_errors=True)


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class ScorerOptions:
    case: str = "keep"  # "keep" the upper-case hypothesis text, or "lower" it for models trained on ordinary text
    batch: int = 64  # sentences per forward pass
    threads: int | None = None  # torch threads; None: torch's default (every core)

    def check(self) -> None:
        if self.case not in ("keep", "lower"):
            raise SettingError(f"`lm_case` {self.case!r}: choose 'keep' or 'lower'")
        if self.batch < 1:
            raise SettingError("the LM scoring batch must be at least 1 sentence")


class CausalLMScorer:
    """Sentence log-probabilities (natural log) under a causal LM; see the module doc."""

    def __init__(self, model: str | os.PathLike, options: ScorerOptions = ScorerOptions()):
        options.check()
        self.options = options
        self.source = str(model)
        self.tokenizer, self.model = _load(self.source)
        tok = self.tokenizer
        self.bos = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        self.eos = tok.eos_token_id
        self.pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        self.max_len = int(getattr(self.model.config, "n_positions", 0)
                           or getattr(self.model.config, "max_position_embeddings", 0) or 1024)

    def ids(self, text: str) -> list[int]:
        """The token ids scored for `text`: [BOS] + its tokens + [EOS] (those that exist)."""
        text = text.lower() if self.options.case == "lower" else text
        body = self.tokenizer(text, add_special_tokens=False)["input_ids"] if text else []
        return ([self.bos] if self.bos is not None else []) + list(body) + ([self.eos] if self.eos is not None else [])

    def unspellable(self, words: Iterable[str]) -> list[str]:
        """The words this tokenizer can only write as its unknown token."""
        unk = self.tokenizer.unk_token_id
        if unk is None:
            return []  # byte-level tokenizers spell anything
        text = (lambda w: w.lower()) if self.options.case == "lower" else (lambda w: w)
        words = list(words)
        encoded = self.tokenizer([text(w) for w in words], add_special_tokens=False)["input_ids"]
        return [w for w, ids in zip(words, encoded) if not ids or unk in ids]

    def token_log_probs(self, texts: Sequence[str]) -> list[list[float]]:
        """For each text, the log-probability of each predicted token (all but the first of
        self.ids(text)), in order."""
        import torch

        if self.options.threads:
            torch.set_num_threads(self.options.threads)
        seqs = [self.ids(t) for t in texts]
        out: list[list[float] | None] = [None] * len(seqs)
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))  # similar lengths: less padding
        with torch.inference_mode():
            for start in range(0, len(order), self.options.batch):
                chunk = order[start:start + self.options.batch]
                for i, lp in zip(chunk, self._batch([seqs[i] for i in chunk])):
                    out[i] = lp
        return out  # type: ignore[return-value]

    def score(self, texts: Sequence[str]) -> list[float]:
        """log P(text) for each text (natural log; the sum of token_log_probs)."""
        return [math.fsum(lp) for lp in self.token_log_probs(texts)]

    def _batch(self, seqs: list[list[int]]) -> list[list[float]]:
        import torch

        if any(len(s) > self.max_len for s in seqs):
            return [self._long(s) for s in seqs]
        longest = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), longest), self.pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), longest), dtype=torch.long)
        for b, s in enumerate(seqs):
            ids[b, :len(s)] = torch.tensor(s, dtype=torch.long)
            mask[b, :len(s)] = 1
        logits = self.model(input_ids=ids, attention_mask=mask).logits.float()
        lp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
        return [lp[b, :len(s) - 1].tolist() for b, s in enumerate(seqs)]

    def _long(self, seq: list[int]) -> list[float]:
        """A sequence longer than the model's context, scored in windows: each window after
        the first re-reads up to half a window before it as context and scores what follows."""
        import torch

        out: list[float] = []
        pos = 1  # the next position to predict
        while pos < len(seq):
            start = max(0, pos - self.max_len // 2)
            end = min(len(seq), start + self.max_len)
            ids = torch.tensor([seq[start:end]])
            lp = torch.log_softmax(self.model(input_ids=ids).logits.float()[0, :-1], -1)
            lp = lp.gather(-1, ids[0, 1:, None])[:, 0].tolist()  # lp[j]: position start + j + 1
            out += lp[pos - start - 1:]
            pos = end
        return out


def _load(source: str):
    """Tokenizer and model of a causal LM folder or hub id; one-line errors for what is missing."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(source)
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise LMError(f"{folder}: no config.json: not a transformers model folder")
        if not has_tokenizer(folder):
            raise LMError(f"{folder}: a Transformer LM folder without a tokenizer (none of "
                          f"{', '.join(TOKENIZER_FILES)}); save it beside the model with tokenizer.save_pretrained")
    elif "/" not in source.strip("/") and not source.replace("-", "").replace("_", "").isalnum():
        raise InputNotFound(f"no Transformer LM folder or hub id {source!r}")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # its per-load weight bar would bury asrkit's one-line errors
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source)
    except (OSError, ValueError, KeyError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise LMError(f"cannot load the causal LM {source!r}: {first}") from None
    model.eval()
    return tokenizer, model


# --------------------------------------------------------------------------- perplexity


def perplexity(sentences: Sequence[str], scorer: CausalLMScorer, ngram: str | os.PathLike | None = None) -> dict:
    """Word-level perplexity of `sentences` under a word-level Transformer LM and, given its
    file, a KenLM n-gram, with one OOV rule for both (KenLM's "excluding OOVs"):

    every word and the end of each sentence is predicted from the sentence so far; a word
    outside either model's vocabulary is not predicted by either (it stays in the context,
    as <unk>) and is counted as an OOV. Both scores are natural log; perplexity =
    exp(-sum / predictions).
    """
    vocab = set(scorer.tokenizer.get_vocab())
    kenlm_model = _kenlm(ngram) if ngram is not None else None
    oov = lambda w: w not in vocab or (kenlm_model is not None and w not in kenlm_model)  # noqa: E731
    words = [s.split() for s in sentences if s.strip()]
    if not words:
        raise LMError("no dev sentences to measure perplexity on")
    keep = [[not oov(w) for w in ws] + [True] for ws in words]  # the last: end of sentence
    transformer_lp = scorer.token_log_probs([" ".join(ws) for ws in words])
    n_oov = sum(k.count(False) for k in keep)
    out = {"sentences": len(words), "words": sum(map(len, words)), "oov": n_oov,
           "predictions": sum(k.count(True) for k in keep)}
    if any(len(lp) != len(k) for lp, k in zip(transformer_lp, keep)):
        raise LMError(f"{scorer.source}: not a word-level LM (a word is more than one token); "
                      "word perplexity needs one")
    out["transformer"] = _ppl(transformer_lp, keep)
    if kenlm_model is not None:
        ln10 = math.log(10)
        ngram_lp = [[s * ln10 for s, _, _ in kenlm_model.full_scores(" ".join(ws), bos=True, eos=True)]
                    for ws in words]
        out["ngram"] = _ppl(ngram_lp, keep)
        out["ngram_file"] = str(ngram)
    return out


def _ppl(log_probs: list[list[float]], keep: list[list[bool]]) -> float:
    total = math.fsum(lp for lps, ks in zip(log_probs, keep) for lp, k in zip(lps, ks) if k)
    n = sum(k.count(True) for k in keep)
    return round(math.exp(-total / n), 3)


def _kenlm(path: str | os.PathLike):
    import kenlm

    try:
        return kenlm.Model(str(path))
    except (OSError, RuntimeError) as e:
        raise LMError(f"{path}: KenLM cannot load it ({e})") from None


def dev_sentences(files: Sequence[str | os.PathLike]) -> list[str]:
    """Normalised transcripts of dev files: manifests (.jsonl: their "text") or text files."""
    from asrkit.data.manifest import read_manifest
    from asrkit.lm.builder import corpus_lines
    from asrkit.text import normalize

    out: list[str] = []
    for f in map(Path, files):
        if f.suffix == ".jsonl":
            out += [t for u in read_manifest(f) if (t := normalize(u.text))]
        else:
            out += list(corpus_lines([f]))
    return out


def dev_perplexity(lm, dev: Sequence[str | os.PathLike], ngram: str | None = None,
                   lm_root: str | os.PathLike | None = None) -> dict:
    """perplexity() of a built Transformer LM (asrkit.lm.LanguageModel) on dev transcripts,
    beside the n-gram `ngram` (default: "4gram" under `lm_root` when there is one); the numbers
    are added to its info.json under "perplexity"."""
    from asrkit.lm.registry import resolve

    if ngram is None and (Path(lm_root or workspace.lm_dir()) / "4gram").is_dir():
        ngram = "4gram"
    other = resolve(ngram, lm_root) if ngram else None
    if other is not None and other.kind != "ngram":
        raise LMError(f"`ngram` {ngram!r} is a {other.kind} LM, not a KenLM n-gram")
    result = perplexity(dev_sentences(dev), CausalLMScorer(lm.path), other.path if other else None)
    result["dev"] = [str(d) for d in dev]
    if other is not None:
        result["ngram_name"] = other.name
    write_json(lm.path / "info.json", {**lm.info, "perplexity": result})
    return result
