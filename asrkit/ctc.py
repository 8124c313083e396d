"""CTC facts every stage shares: the output vocabulary, the collapse rule, how output frames
map to time, the fewest frames a label needs, and how sure the model was of a word.

Dimension legend: T frames, V vocabulary (token ids, blank included).

Frames and time. A CTC model emits one frame per `samples_per_frame` input samples:

    wav2vec 2.0 / HuBERT / data2vec (raw waveform in): the product of the conv strides,
        config.inputs_to_logits_ratio = 320 samples = 20 ms at 16 kHz
    w2v-BERT 2.0 (log-mel filterbanks in): the feature extractor's hop (160 samples = 10 ms)
        x its frame stacking `stride` (2) = 320 samples = 20 ms, x adapter_stride **
        num_adapter_layers when the model has an adapter (asrkit's embedded starting
        checkpoint has none: 20 ms per frame)

Frame t covers [t, t + 1) * seconds_per_frame from the start of the input (a window of a
long file adds the window's own start, asrkit.inference). A word spans the frames of its
first to its last letter: it starts at its first frame's start and ends at its last frame's
end, as transformers' Wav2Vec2CTCTokenizer word offsets do.

Confidence. A word's confidence is the lowest confidence of the frames that emit its
letters (blank frames are left out, as NeMo's exclude_blank), each frame's confidence being
one of NeMo's entropy measures: the Gibbs (Shannon) entropy of the frame's distribution,
exponentially normalised so that a one-hot frame scores 1 and a uniform one 0
(Laptev & Ginsburg, "Fast Entropy-Based Methods of Word-Level Confidence Estimation for
End-to-End ASR", 2022: entropy separates right from wrong better than the maximum
probability, which is overconfident; the minimum over a word's frames catches one doubtful
letter that a mean would hide). NeMo's default is Tsallis entropy of order 1/3, which ranks
words about as well but puts a near-certain frame (p = 0.9998, the other 29 tokens at
e^-12 each) at 0.45, a poor reading for a user who thresholds at 0.5; Gibbs puts it at 0.998.
Measured on 514 greedy words of 60 synthetic sentences (the embedded checkpoint, 48% of the
words right; the audio of benchmarks/hotwords.py): AUROC (right vs wrong) 0.85 for Gibbs-min,
0.86 Tsallis-min, 0.82 max-probability-min; below 0.5 Gibbs-min flags 294 words of which 73%
are wrong (22% wrong above), while Tsallis-min puts 497 of the 514 below 0.5.
frame_confidence takes alpha for comparing the two.
Entropy says how sure the model was, not of what: where a beam decoder's LM chose a letter
the acoustics did not prefer, that frame counts the letter's own probability instead when
lower, so a word the LM forced is not called certain. The result lies in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from asrkit.audio import SAMPLE_RATE
from asrkit.errors import DecodeError
from asrkit.hypotheses import Word
from asrkit.vocab import BLANK, UNK, WORD_DELIMITER, letter_vocab

FBANK_WINDOW = 400  # samples per log-mel filterbank frame (25 ms), w2v-BERT's feature extractor
FBANK_HOP = 160  # samples between filterbank frames (10 ms)
ENTROPY_ALPHA = 1.0  # Gibbs entropy (frame_confidence); NeMo's default is Tsallis with 1/3


# --------------------------------------------------------------------------- vocabulary


@dataclass(frozen=True)
class Vocabulary:
    """The V output tokens of a CTC model, and which of them are special."""

    tokens: tuple[str, ...]
    blank: str = BLANK
    delimiter: str = WORD_DELIMITER
    unk: str = UNK

    def __post_init__(self):
        for role, t in (("blank", self.blank), ("word delimiter", self.delimiter)):
            if t not in self.tokens:
                raise DecodeError(f"the vocabulary has no {role} token {t!r}: tokens are {list(self.tokens)[:8]}...")
        if len(set(self.tokens)) != len(self.tokens):
            raise DecodeError("the vocabulary lists a token twice")

    @classmethod
    def letters(cls) -> "Vocabulary":
        vocab = letter_vocab()
        return cls(tuple(sorted(vocab, key=vocab.get)))

    @classmethod
    def of(cls, tokens: Sequence[str] | None) -> "Vocabulary":
        return cls.letters() if tokens is None else cls(tuple(tokens))

    def index(self, token: str) -> int:
        return self.tokens.index(token)

    @property
    def blank_id(self) -> int:
        return self.index(self.blank)

    @property
    def delimiter_id(self) -> int:
        return self.index(self.delimiter)

    @property
    def letters_set(self) -> frozenset[str]:
        """The tokens that spell words (not blank, delimiter or unk)."""
        return frozenset(self.tokens) - {self.blank, self.delimiter, self.unk}

    def text(self, ids: Sequence[int]) -> str:
        """Join already collapsed token ids into words: delimiter -> space, specials dropped."""
        skip = {self.blank, self.unk}
        chars = [" " if self.tokens[i] == self.delimiter else self.tokens[i]
                 for i in ids if self.tokens[i] not in skip]
        return " ".join("".join(chars).split())


def collapse(best: np.ndarray, blank: int) -> list[int]:
    """CTC collapse of a frame-wise id sequence: merge runs, then drop blanks."""
    if len(best) == 0:
        return []
    best = np.asarray(best)
    keep = np.ones(len(best), dtype=bool)
    keep[1:] = best[1:] != best[:-1]
    return [int(i) for i in best[keep] if i != blank]


def ctc_min_frames(label: Sequence) -> int:
    """Fewest frames a CTC alignment of `label` (tokens or ids) needs: one per token, and a
    blank between each repeated pair. letters("HELLO WORLD") needs 11 + 1 (the LL) = 12."""
    return len(label) + sum(1 for a, b in zip(label[:-1], label[1:]) if a == b)


# --------------------------------------------------------------------------- frames and time


def samples_per_frame(config, feature_extractor=None) -> int:
    """Input samples per output frame of a CTC model (see the module doc).

    `config` is the model's transformers config; `feature_extractor` its processor's, needed
    for models that read filterbank frames (w2v-BERT): their stride comes from it.
    """
    if getattr(config, "model_type", "") == "wav2vec2-bert":
        # transformers' config says feature_projection_input_dim * 2, which is 320 only because
        # 80 mel bins x stride 2 happens to equal the 160-sample hop; the hop x stride is the fact.
        ratio = FBANK_HOP * int(getattr(feature_extractor, "stride", 2) or 2)
    else:  # the product of the conv strides (transformers' inputs_to_logits_ratio)
        ratio = int(math.prod(getattr(config, "conv_stride", (5, 2, 2, 2, 2, 2, 2))))
    if getattr(config, "add_adapter", False):  # each adapter layer strides the frames again
        ratio *= int(config.adapter_stride) ** int(config.num_adapter_layers)
    return ratio


def seconds_per_frame(config, feature_extractor=None, sample_rate: int = SAMPLE_RATE) -> float:
    """Seconds of audio per output frame: 0.02 for the wav2vec 2.0 family at 16 kHz."""
    return samples_per_frame(config, feature_extractor) / sample_rate


def frame_start(frame: int, frame_seconds: float) -> float:
    """Seconds from the start of the input to the start of `frame`."""
    return frame * frame_seconds


def frame_end(frame: int, frame_seconds: float) -> float:
    """Seconds from the start of the input to the end of `frame`."""
    return (frame + 1) * frame_seconds


def frame_at(seconds: float, frame_seconds: float) -> int:
    """The frame that holds the instant `seconds`."""
    return int(math.floor(seconds / frame_seconds + 1e-9))


# --------------------------------------------------------------------------- words in a path


@dataclass(frozen=True)
class WordSpan:
    """One word of a frame-wise token path: its letters and the frames that emit them."""

    word: str
    first: int  # first frame of its first letter
    last: int  # last frame of its last letter (inclusive)
    frames: tuple[int, ...]  # every frame that emits one of its letters (blank frames excluded)


def word_spans(path: Sequence[int], vocab: Vocabulary) -> list[WordSpan]:
    """The words of a (T,) frame-wise token path (greedy's argmax or a beam decoder's alignment).

    A word is a run of letters between delimiters; blanks and <unk> join nothing and split
    nothing, so the words are those of vocab.text(collapse(path)).
    """
    letters = vocab.letters_set
    out: list[WordSpan] = []
    chars: list[str] = []
    frames: list[int] = []
    prev = None
    for t, tok in enumerate(int(i) for i in path):
        name = vocab.tokens[tok]
        if name == vocab.delimiter:
            if chars:
                out.append(WordSpan("".join(chars), frames[0], frames[-1], tuple(frames)))
            chars, frames = [], []
        elif name in letters:
            if tok != prev:
                chars.append(name)
            frames.append(t)
        prev = tok
    if chars:
        out.append(WordSpan("".join(chars), frames[0], frames[-1], tuple(frames)))
    return out


# --------------------------------------------------------------------------- confidence


def frame_confidence(log_probs: np.ndarray, alpha: float = ENTROPY_ALPHA) -> np.ndarray:
    """(T, V) log-probs -> (T,) confidence in [0, 1]: one minus the frame's entropy, exponentially
    normalised (module doc): (exp(-H) - exp(-H_max)) / (1 - exp(-H_max)), H_max being the
    entropy of the uniform distribution over V.

    alpha = 1 is Gibbs (Shannon) entropy, where exp(-H_max) = 1 / V; another alpha is Tsallis
    entropy of that order (NeMo's default is 1/3), for comparing the two.
    """
    x = np.asarray(log_probs, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"log-probs must be (T, V) with V >= 2, got shape {x.shape}")
    v = x.shape[1]
    if alpha == 1.0:
        neg_h = (np.exp(x) * x).sum(axis=1)  # -H, Gibbs
        floor = 1.0 / v
    else:
        neg_h = (1.0 - np.exp(alpha * x).sum(axis=1)) / (1.0 - alpha)  # -H, Tsallis
        floor = math.exp((1.0 - v ** (1.0 - alpha)) / (1.0 - alpha))
    return np.clip((np.exp(neg_h) - floor) / (1.0 - floor), 0.0, 1.0)


def word_confidence(log_probs: np.ndarray, path: Sequence[int], frames: Sequence[int],
                    frame_conf: np.ndarray | None = None) -> float:
    """The confidence of a word emitted on `frames` by the frame-wise token `path` (module doc):
    the minimum over those frames of the frame's confidence, or of the probability of the
    path's token where that is lower (a letter the acoustics did not prefer)."""
    if not len(frames):
        return 0.0
    idx = np.asarray(frames, dtype=np.int64)
    conf = frame_conf[idx] if frame_conf is not None else frame_confidence(log_probs[idx])
    chosen = np.exp(np.asarray(log_probs, dtype=np.float64)[idx, np.asarray(path)[idx]])
    return float(np.clip(np.minimum(conf, chosen).min(), 0.0, 1.0))


def timed_words(log_probs: np.ndarray, path: Sequence[int], vocab: Vocabulary, frame_seconds: float,
                names: Sequence[str] | None = None, frame_conf: np.ndarray | None = None) -> tuple[Word, ...]:
    """The words of a frame-wise path with their times and confidences.

    `names` replaces the spelled words when a decoder has its own word strings (a lexicon's),
    one per spelled word; otherwise the spelling is the word. `frame_conf` is
    frame_confidence(log_probs) when already computed (several hypotheses of one utterance).
    """
    spans = word_spans(path, vocab)
    if names is not None and len(names) != len(spans):
        names = None  # the decoder's words do not line up with the spelling: keep the spelling
    conf = frame_conf if frame_conf is not None or not spans else frame_confidence(log_probs)
    return tuple(Word(names[i] if names is not None else s.word, frame_start(s.first, frame_seconds),
                      frame_end(s.last, frame_seconds), word_confidence(log_probs, path, s.frames, conf))
                 for i, s in enumerate(spans))


def align(log_probs: np.ndarray, label: Sequence[int], blank: int) -> np.ndarray | None:
    """The most likely CTC alignment (Viterbi) of `label` to (T, V) log-probs: the (T,) token
    of each frame, or None when T is shorter than the label needs (ctc_min_frames) or no
    path has a finite score.

    Used where a decoder reports a word's frame span but not which frames spell which letter
    (pyctcdecode), so that its confidence reads the frames of the letters it chose.
    """
    x = np.asarray(log_probs, dtype=np.float64)
    label = [int(i) for i in label]
    T = len(x)
    if not label or T < ctc_min_frames(label):
        return None
    states = [blank]
    for tok in label:
        states += [tok, blank]
    S = len(states)
    ids = np.asarray(states)
    # A state may come from itself, the one before, or two before when it is a letter that
    # differs from the letter two states back (a repeat needs the blank between).
    skip = np.zeros(S, dtype=bool)
    skip[2:] = (ids[2:] != blank) & (ids[2:] != ids[:-2])
    score = np.full(S, -np.inf)
    score[:2] = x[0, ids[:2]]
    back = np.zeros((T, S), dtype=np.int8)
    for t in range(1, T):
        stay, step, jump = score, np.r_[-np.inf, score[:-1]], np.r_[-np.inf, -np.inf, score[:-2]]
        jump = np.where(skip, jump, -np.inf)
        best = np.stack([stay, step, jump])
        back[t] = best.argmax(axis=0)
        score = best.max(axis=0) + x[t, ids]
    s = S - 1 if score[S - 1] >= score[S - 2] else S - 2
    if not np.isfinite(score[s]):
        return None  # every path crosses a log-prob of -inf
    path = np.empty(T, dtype=np.int64)
    for t in range(T - 1, -1, -1):
        path[t] = ids[s]
        s -= int(back[t, s])  # a Python int: int8 arithmetic would overflow past 127 states
    return path


def frame_letters(path: np.ndarray, blank: int, silence: int) -> np.ndarray:
    """Each frame's letter when a letter lasts from the frame the path emits it to the frame
    the next one is emitted (CTC paths emit a letter on few frames and sit on blank between):
    blank frames take the letter before them; blank frames before the first letter get
    `silence`."""
    out = np.empty_like(path)
    current = silence
    for t, token in enumerate(path):
        if token != blank:
            current = token
        out[t] = current
    return out
