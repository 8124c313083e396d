"""Decoders over CTC log-probs: greedy, flashlight-text (lexicon and lexicon-free) and
pyctcdecode, all reading the same arrays (usually from the logits cache, asrkit.logits).

Dimension legend: B utterances, T frames, V vocabulary.

    log_probs   a sequence of B float arrays, each (T_b, V): log-softmax outputs of the
                acoustic model (a (B, T, V) array works too, every row being T frames)
    tokens      the V token strings in id order; by default asrkit.vocab.letter_vocab():
                <pad> (the CTC blank), <unk>, | (word delimiter), ', A..Z

Each decoder module has a frozen options dataclass and a Decoder class that loads its LM
once and decodes one utterance at a time (decode_one); make_decoder builds one by name and
`parallel_decode` runs it over a batch on every core (fork). asrkit.decode.setup chooses the
decoder and its options, asrkit.decode.run decodes whole splits.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import multiprocessing
from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from asrkit.errors import DecodeError, SettingError
from asrkit.vocab import BLANK, UNK, WORD_DELIMITER, letter_vocab
from asrkit.workspace import cpu_cores

log = logging.getLogger(__name__)

DECODERS = ("greedy", "flashlight", "lexfree", "pyctcdecode")
"""greedy: best path; flashlight: lexicon-constrained beam search with a word LM (the paper's);
lexfree: flashlight's lexicon-free beam search (letter LM or none); pyctcdecode: its beam search
with a word LM."""


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

    def text(self, ids: Sequence[int]) -> str:
        """Join already collapsed token ids into words: delimiter -> space, specials dropped."""
        skip = {self.blank, self.unk}
        chars = [" " if self.tokens[i] == self.delimiter else self.tokens[i]
                 for i in ids if self.tokens[i] not in skip]
        return " ".join("".join(chars).split())


def check_log_probs(log_probs, vocab: Vocabulary) -> list[np.ndarray]:
    """The batch as a list of (T_b, V) float32 arrays; ValueError when V does not match."""
    if isinstance(log_probs, np.ndarray) and log_probs.ndim == 2:
        raise ValueError("log_probs must be a batch: a list of (T, V) arrays or a (B, T, V) array")
    out = []
    for b, x in enumerate(log_probs):
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 2:
            raise ValueError(f"utterance {b}: log-probs must be (T, V), got shape {x.shape}")
        if x.shape[1] != len(vocab.tokens):
            raise DecodeError(f"utterance {b}: log-probs have V={x.shape[1]} columns but the vocabulary "
                              f"has {len(vocab.tokens)} tokens; the logits do not come from a model "
                              "with this tokenizer")
        out.append(x)
    return out


class Decoder(Protocol):
    def decode_one(self, log_probs: np.ndarray) -> str: ...


# The decoder and batch a forked worker reads: set in the parent just before the pool is
# made, so workers inherit them (LM, trie, arrays) by fork instead of pickling them.
_WORK: tuple[Decoder, list[np.ndarray]] | None = None


def _decode_index(i: int) -> str:
    decoder, batch = _WORK
    return decoder.decode_one(batch[i])


def parallel_decode(decoder: Decoder, batch: list[np.ndarray], workers: int | None = None,
                    progress: bool = False) -> list[str]:
    """decoder.decode_one over the batch on `workers` processes (default: every core).

    Uses fork, so the decoder built in the parent (its LM loaded once) is shared with the
    workers copy-on-write; each worker decodes whole utterances, longest first.
    """
    global _WORK
    workers = min(workers or cpu_cores(), len(batch))
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [decoder.decode_one(x) for x in _progress(batch, progress)]
    order = sorted(range(len(batch)), key=lambda i: -len(batch[i]))  # long ones first: less idle tail
    _WORK = (decoder, batch)
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            texts = list(_progress(pool.imap(_decode_index, order, chunksize=1), progress, len(order)))
    finally:
        _WORK = None
    out = [""] * len(batch)
    for i, t in zip(order, texts):
        out[i] = t
    return out


def _progress(it, enabled: bool, total: int | None = None):
    if not enabled:
        return it
    from tqdm import tqdm

    return tqdm(it, total=total, unit=" utt", desc="decode")


# Weights that must be finite numbers; the other float settings may be infinite (an
# unk_score of -inf means "never", a beam_threshold of inf "no threshold") but never NaN.
FINITE_SETTINGS = ("lm_weight", "word_score", "sil_score", "alpha", "beta")


def check_numbers(options) -> None:
    """No NaN in a decoder's settings: a NaN weight scores every hypothesis NaN, and the run
    would write a WER near 100% over an earlier result as if it were one."""
    for f in dataclasses.fields(options) if dataclasses.is_dataclass(options) else ():
        value = getattr(options, f.name)
        if isinstance(value, float) and (math.isnan(value) or (f.name in FINITE_SETTINGS and math.isinf(value))):
            raise SettingError(f"`{f.name}` is {value}; it must be a finite number")


def make_decoder(name: str, options, vocab: Vocabulary) -> Decoder:
    """The Decoder of the named module with its options (see DECODERS)."""
    check_numbers(options)
    if name == "greedy":
        from asrkit.decode import greedy as module
    elif name == "flashlight":
        from asrkit.decode import flashlight as module
    elif name == "lexfree":
        from asrkit.decode import flashlight as module

        return module.LexiconFreeDecoder(options, vocab)
    elif name == "pyctcdecode":
        from asrkit.decode import pyctcdecode as module
    else:
        raise SettingError(f"unknown decoder {name!r}: choose from {', '.join(DECODERS)}")
    return module.Decoder(options, vocab)


