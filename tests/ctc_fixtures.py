"""Fixtures for decoder, LM and logits tests: peaky log-prob matrices spelled from text,
hand-written ARPA files, and a tiny random-init CTC model saved with its processor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from asrkit.ctc import Vocabulary

VOCAB = Vocabulary.letters()
V = len(VOCAB.tokens)
BLANK = VOCAB.blank_id
FLOOR = -12.0  # log-prob of every token a frame does not spell


def frames(text: str, repeat: int = 2) -> list[int]:
    """Token ids per frame spelling `text`: blank, then each letter `repeat` times and a blank,
    words separated by "|" (as a CTC model's best path looks)."""
    ids = [BLANK]
    for i, word in enumerate(text.split()):
        if i:
            ids += [VOCAB.delimiter_id] * repeat + [BLANK]
        for ch in word:
            ids += [VOCAB.index(ch)] * repeat + [BLANK]
    return ids


def peaky(text: str, repeat: int = 2) -> np.ndarray:
    """(T, V) log-probs, each frame near certain of the token `frames(text)` gives it."""
    ids = frames(text, repeat)
    x = np.full((len(ids), V), FLOOR, dtype=np.float32)
    x[np.arange(len(ids)), ids] = 0.0
    return normalise(x)


def normalise(x: np.ndarray) -> np.ndarray:
    """Log-softmax along V."""
    x = x - x.max(axis=1, keepdims=True)
    return (x - np.log(np.exp(x).sum(axis=1, keepdims=True))).astype(np.float32)


def ambiguous(text: str, position: int, letters: dict[str, float], repeat: int = 2) -> np.ndarray:
    """Like peaky(text), but the frames of character `position` of the text (spaces
    counted) share probability among `letters` ({letter: probability})."""
    x = peaky(text, repeat)
    ids = frames(text, repeat)
    # Frame index of each character: 1 + (repeat + 1) per preceding character.
    start = 1 + position * (repeat + 1)
    for t in range(start, start + repeat):
        assert ids[t] == VOCAB.index(text[position]) or text[position] == " "
        row = np.full(V, 1e-6)
        for letter, p in letters.items():
            row[VOCAB.index(letter)] = p
        x[t] = np.log(row / row.sum())
    return x


def write_arpa(path: Path, unigrams: dict[str, float], bigrams: dict[tuple[str, str], float] = None) -> Path:
    """An ARPA file with the given log10 probabilities (backoff -0.3 for every unigram).

    KenLM wants at least a bigram model: without `bigrams`, "<s> w" gets w's unigram
    probability, so the bigrams change nothing."""
    uni = {"<s>": -99.0, "</s>": -1.0, "<unk>": -3.0, **unigrams}
    bigrams = bigrams or {("<s>", w): p for w, p in unigrams.items()}
    lines = ["\\data\\", f"ngram 1={len(uni)}", f"ngram 2={len(bigrams)}", "", "\\1-grams:"]
    for w, p in uni.items():
        lines.append(f"{p}\t{w}\t-0.3" if w != "</s>" else f"{p}\t{w}")
    lines += ["", "\\2-grams:"]
    lines += [f"{p}\t{a} {b}" for (a, b), p in bigrams.items()]
    lines += ["", "\\end\\", ""]
    path.write_text("\n".join(lines))
    return path


def write_lexicon(path: Path, words) -> Path:
    path.write_text("".join(f"{w}\t{' '.join(w)} |\n" for w in words))
    return path


def kenlm_tools_available() -> bool:
    from asrkit.errors import LMError
    from asrkit.lm import kenlm_tool

    try:
        kenlm_tool("lmplz")
        kenlm_tool("build_binary")
        return True
    except LMError:
        return False


needs_kenlm = pytest.mark.skipif(not kenlm_tools_available(),
                                 reason="KenLM's lmplz/build_binary not built (run lm/build_kenlm.sh)")


def tiny_model(out: Path, vocab_size: int | None = None, return_attention_mask: bool = True) -> Path:
    """Save a 2-layer random-init Wav2Vec2ForCTC (a few hundred k parameters) and the letter
    processor into `out`. vocab_size defaults to len(tokenizer)."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

    from asrkit.vocab import build_processor

    torch.manual_seed(0)
    processor = build_processor(return_attention_mask=return_attention_mask)
    config = Wav2Vec2Config(
        vocab_size=vocab_size or len(processor.tokenizer), hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, conv_dim=(16, 16, 16, 16, 16, 16, 16),
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, pad_token_id=0,
        feat_extract_norm="layer", do_stable_layer_norm=True,
    )
    Wav2Vec2ForCTC(config).save_pretrained(str(out))
    processor.save_pretrained(str(out))
    return out


def noisy(text: str, rng: np.random.Generator, sigma: float = 1.5, peak: float = 5.0,
          repeat: int = 2) -> np.ndarray:
    """Peaky-but-noisy log-probs: the spelled token scores `peak`, every token gets
    N(0, sigma) noise, then log-softmax. Larger sigma, more letter errors for greedy."""
    ids = frames(text, repeat)
    x = rng.normal(0.0, sigma, size=(len(ids), V)).astype(np.float32)
    x[np.arange(len(ids)), ids] += peak
    return normalise(x)


def write_cache(model_dir: Path, split: str, texts: list[str], arrays: list[np.ndarray]):
    """A logits cache for `texts` holding `arrays`, as `asrkit logits` would write it."""
    from asrkit import logits
    from asrkit.data.manifest import Utterance

    utts = [Utterance(id=f"1-1-{i:04d}", audio="/dev/null", samples=len(a) * 320, sample_rate=16000,
                      speaker=str(1 + i % 3), chapter="1", text=t) for i, (t, a) in enumerate(zip(texts, arrays))]
    per_utt = {i: [a] for i, a in enumerate(arrays)}
    return logits._write(logits.cache_dir(model_dir, split), utts, list(range(len(utts))), per_utt,
                         list(VOCAB.tokens), 0.02, "test", 1.0, str(model_dir), "", [])


SUBJECTS = ("THE CAT", "THE DOG", "A BIRD", "MY FRIEND", "THE OLD MAN")
VERBS = ("SAW", "FOUND", "LIKES", "CHASED")
OBJECTS = ("THE BALL", "A MOUSE", "THE RED HOUSE", "HER BOOK")
SENTENCES = tuple(f"{s} {v} {o}" for s in SUBJECTS for v in VERBS for o in OBJECTS)
"""80 sentences of a tiny grammar: LM corpora and dev sets for the end-to-end tests."""


def spy_on_forward_passes(monkeypatch) -> list[tuple[int, int]]:
    """(batch, samples) of every forward pass of models loaded from now on."""
    from asrkit import inference

    seen = []
    real = inference.load_model

    def spy(*a, **k):
        model, processor = real(*a, **k)
        model.register_forward_pre_hook(lambda m, args, kwargs: seen.append(tuple(kwargs["input_values"].shape)),
                                        with_kwargs=True)
        return model, processor

    monkeypatch.setattr(inference, "load_model", spy)
    return seen


FRAME_SECONDS = 0.02  # wav2vec 2.0's frame: what write_cache records


def decode_with(name: str, log_probs, options=None, vocab=None, workers: int = 1) -> list[str]:
    """Transcripts (best hypotheses' texts) of a batch by the named decoder, as decode_split runs it."""
    return [n[0].text for n in nbest_with(name, log_probs, options, vocab, workers)]


def nbest_with(name: str, log_probs, options=None, vocab=None, workers: int = 1, nbest: int = 1,
               frame_seconds: float = FRAME_SECONDS) -> list:
    """N-best lists of a batch by the named decoder, as decode_split makes and runs it."""
    from asrkit.ctc import Vocabulary
    from asrkit.decode import check_log_probs, make_decoder, parallel_decode
    from asrkit.decode.greedy import GreedyOptions

    vocab = vocab or Vocabulary.letters()
    decoder = make_decoder(name, options if options is not None else GreedyOptions(), vocab)
    return parallel_decode(decoder, check_log_probs(log_probs, vocab), workers, frame_seconds=frame_seconds,
                           nbest=nbest)

