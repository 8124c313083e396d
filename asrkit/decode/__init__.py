"""Decoders over CTC log-probs: greedy, flashlight-text (lexicon and lexicon-free) and
pyctcdecode, all reading the same arrays (usually from the logits cache, asrkit.logits).

Dimension legend: B utterances, T frames, V vocabulary.

    log_probs   a sequence of B float arrays, each (T_b, V): log-softmax outputs of the
                acoustic model (a (B, T, V) array works too, every row being T frames)
    tokens      the V token strings in id order; by default asrkit.vocab.letter_vocab():
                <pad> (the CTC blank), <unk>, | (word delimiter), ', A..Z

Each decoder module has a frozen options dataclass and a Decoder class that loads its LM
once and decodes one utterance at a time (decode_one -> NBest, asrkit.hypotheses: distinct
hypotheses, best first, with timed words, confidences and scores); make_decoder builds one
by name, asrkit.decode.parallel runs it over a batch on every core (fork).
asrkit.decode.setup chooses the decoder and its options, asrkit.decode.run decodes whole
splits. The vocabulary, collapse rule and frame times are CTC facts (asrkit.ctc).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Protocol

import numpy as np

from asrkit.ctc import Vocabulary
from asrkit.decode.parallel import check_log_probs, parallel_decode
from asrkit.errors import SettingError
from asrkit.hypotheses import NBest

__all__ = ["DECODERS", "Decoder", "Vocabulary", "check_log_probs", "check_nbest", "check_numbers",
           "make_decoder", "parallel_decode"]

DECODERS = ("greedy", "flashlight", "lexfree", "pyctcdecode")
"""greedy: best path; flashlight: lexicon-constrained beam search with a word LM (the paper's);
lexfree: flashlight's lexicon-free beam search (letter LM or none); pyctcdecode: its beam search
with a word LM."""


class Decoder(Protocol):
    vocab: Vocabulary

    def decode_one(self, log_probs: np.ndarray, frame_seconds: float, nbest: int = 1) -> NBest:
        """(T, V) log-probs -> up to `nbest` distinct hypotheses, best first; word times in
        seconds from the frame duration `frame_seconds` (asrkit.ctc)."""
        ...


def check_nbest(nbest: int) -> int:
    """`nbest` as an int >= 1; SettingError otherwise."""
    if isinstance(nbest, bool) or not isinstance(nbest, int) or nbest < 1:
        raise SettingError(f"`nbest` is {nbest!r}; it must be a whole number >= 1 (1: the best hypothesis only)")
    return nbest


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


