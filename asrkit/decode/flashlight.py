"""flashlight-text beam search: the lexicon-constrained decoder with a word KenLM (as in
the wav2vec 2.0 paper, via fairseq/wav2letter) and the lexicon-free one.

The lexicon decoder only emits words of the lexicon (lexicon.txt: "HELLO\\tH E L L O |"),
walking a trie of spellings whose nodes carry the best unigram score below them
("smearing", so the LM guides the search before a word ends). Each hypothesis scores

    acoustic log-prob + lm_weight * LM log-prob + word_score * words + sil_score * "|"s

The lexicon-free decoder asks its LM about each token, so it needs an LM over letters
(`asrkit lm build --unit letter`) or none at all.
flashlight-text 0.0.7's wheels include KenLM; torchaudio's wrapper is not needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from asrkit.decode import Vocabulary
from asrkit.decode.greedy import collapse
from asrkit.errors import SettingError


@dataclass(frozen=True)
class FlashlightOptions:
    lm: str | None = None  # KenLM file (ARPA or binary) over words; None: no LM
    lexicon: str | None = None  # lexicon.txt; required
    lm_weight: float = 2.0  # weight of the LM log-prob (fairseq's example; tune on dev)
    word_score: float = -1.0  # added per emitted word (insertion bonus/penalty)
    sil_score: float = 0.0  # added per word delimiter "|"
    unk_score: float = -math.inf  # score of out-of-lexicon words; -inf: never emit them
    beam: int = 500  # hypotheses kept per frame (paper: 500 for tuning, 1500 for test)
    beam_threshold: float = 25.0  # drop hypotheses this far below the best
    beam_size_token: int | None = None  # tokens tried per frame; None: all V
    log_add: bool = False  # merge equal hypotheses by log-add (True) or max (False)

    def check(self) -> None:
        if not self.lexicon:
            raise SettingError("the flashlight lexicon decoder needs a lexicon (lexicon.txt beside the LM)")
        if self.beam < 1 or self.beam_threshold <= 0:
            raise SettingError(f"`beam` ({self.beam}) must be >= 1 and `beam_threshold` ({self.beam_threshold}) > 0")


@dataclass(frozen=True)
class LexiconFreeOptions:
    lm: str | None = None  # KenLM over letters ("H E L L O |"); None: no LM
    lm_weight: float = 0.5
    sil_score: float = 0.0  # added per word delimiter "|"
    beam: int = 100
    beam_threshold: float = 25.0
    beam_size_token: int | None = None
    log_add: bool = False

    def check(self) -> None:
        if self.beam < 1 or self.beam_threshold <= 0:
            raise SettingError(f"`beam` ({self.beam}) must be >= 1 and `beam_threshold` ({self.beam_threshold}) > 0")


def _lib():
    from flashlight.lib.text import decoder, dictionary

    return decoder, dictionary


def _load_lm(path: str | None, dictionary):
    fl, _ = _lib()
    if path is None:
        return fl.ZeroLM()
    from flashlight.lib.text.decoder.kenlm import KenLM

    from asrkit.lm import check_fits, check_lm_file

    check_lm_file(path)  # a clear error rather than KenLM's abort on a bad file
    check_fits(path)  # refused before loading when larger than the memory available
    try:
        return KenLM(str(path), dictionary)
    except Exception as e:  # KenLM's own message names the problem
        from asrkit.errors import LMError

        raise LMError(f"{path}: KenLM cannot load this language model ({e})") from None


class Decoder:
    """The lexicon decoder with its LM and trie built once; `with_options` reuses them."""

    def __init__(self, options: FlashlightOptions, vocab: Vocabulary, _shared=None):
        options.check()
        self.options, self.vocab = options, vocab
        fl, _ = _lib()
        if _shared is None:
            _shared = self._build_shared(options, vocab)
        self._shared = _shared
        self._tokens, self._words, self._lm, self._trie, self._unk = _shared
        V = len(vocab.tokens)
        opts = fl.LexiconDecoderOptions(
            beam_size=options.beam, beam_size_token=options.beam_size_token or V,
            beam_threshold=options.beam_threshold, lm_weight=options.lm_weight,
            word_score=options.word_score, unk_score=options.unk_score, sil_score=options.sil_score,
            log_add=options.log_add, criterion_type=fl.CriterionType.CTC,
        )
        self._decoder = fl.LexiconDecoder(opts, self._trie, self._lm, vocab.delimiter_id, vocab.blank_id,
                                          self._unk, [], False)

    @staticmethod
    def _build_shared(options: FlashlightOptions, vocab: Vocabulary):
        from asrkit.errors import LMError
        from asrkit.lm import read_lexicon

        fl, fd = _lib()
        lexicon = read_lexicon(options.lexicon)
        tokens = fd.Dictionary(list(vocab.tokens))
        words = fd.Dictionary()
        words.add_entry("<unk>")
        usable = {}
        for word, spellings in lexicon.items():
            # A spelling with a token the model lacks could never be emitted: leave it out.
            ok = [s for s in spellings if all(t in vocab.tokens for t in s)]
            if ok and word != "<unk>":
                usable[word] = ok
                words.add_entry(word)
        if not usable:
            raise LMError(f"{options.lexicon}: no word of the lexicon can be spelled with the model's "
                          f"tokens ({' '.join(vocab.tokens[:8])} ...)")
        words.set_default_index(words.get_index("<unk>"))
        lm = _load_lm(options.lm, words)
        trie = fl.Trie(len(vocab.tokens), vocab.delimiter_id)
        start = lm.start(False)
        for word, spellings in usable.items():
            w = words.get_index(word)
            _, score = lm.score(start, w)
            for s in spellings:
                trie.insert([tokens.get_index(t) for t in s], w, score)
        trie.smear(fl.SmearingMode.MAX)
        return tokens, words, lm, trie, words.get_index("<unk>")

    def with_options(self, options: FlashlightOptions) -> "Decoder":
        """A decoder with new weights/beam over the same LM, lexicon and trie."""
        if (options.lm, options.lexicon) != (self.options.lm, self.options.lexicon):
            return Decoder(options, self.vocab)
        return Decoder(options, self.vocab, _shared=self._shared)

    def decode_one(self, log_probs: np.ndarray) -> str:
        best = _best(self._decoder, log_probs)
        return "" if best is None else " ".join(self._words.get_entry(w) for w in best.words if w >= 0)


class LexiconFreeDecoder:
    """flashlight's lexicon-free beam search; the LM (if any) is over letter tokens."""

    def __init__(self, options: LexiconFreeOptions, vocab: Vocabulary, _shared=None):
        options.check()
        self.options, self.vocab = options, vocab
        fl, fd = _lib()
        if _shared is None:
            tokens = fd.Dictionary(list(vocab.tokens))
            if vocab.unk in vocab.tokens:
                tokens.set_default_index(vocab.index(vocab.unk))
            _shared = (tokens, _load_lm(options.lm, tokens))
        self._shared = _shared
        V = len(vocab.tokens)
        opts = fl.LexiconFreeDecoderOptions(
            beam_size=options.beam, beam_size_token=options.beam_size_token or V,
            beam_threshold=options.beam_threshold, lm_weight=options.lm_weight,
            sil_score=options.sil_score, log_add=options.log_add, criterion_type=fl.CriterionType.CTC,
        )
        self._decoder = fl.LexiconFreeDecoder(opts, _shared[1], vocab.delimiter_id, vocab.blank_id, [])

    def with_options(self, options: LexiconFreeOptions) -> "LexiconFreeDecoder":
        if options.lm != self.options.lm:
            return LexiconFreeDecoder(options, self.vocab)
        return LexiconFreeDecoder(options, self.vocab, _shared=self._shared)

    def decode_one(self, log_probs: np.ndarray) -> str:
        best = _best(self._decoder, log_probs)
        return "" if best is None else self.vocab.text(collapse(np.asarray(best.tokens), self.vocab.blank_id))


def _best(decoder, log_probs: np.ndarray):
    """The best flashlight result for one (T, V) matrix, or None when there is none."""
    x = np.ascontiguousarray(log_probs, dtype=np.float32)
    if len(x) == 0:
        return None
    results = decoder.decode(x.ctypes.data, x.shape[0], x.shape[1])
    return results[0] if results else None

