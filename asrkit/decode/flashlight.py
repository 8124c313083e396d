"""flashlight-text beam search: the lexicon-constrained decoder with a word KenLM (as in
the wav2vec 2.0 paper, via fairseq/wav2letter) and the lexicon-free one.

The lexicon decoder only emits words of the lexicon (lexicon.txt: "HELLO\\tH E L L O |"),
walking a trie of spellings whose nodes carry the best unigram score below them
("smearing", so the LM guides the search before a word ends). Each hypothesis scores

    acoustic log-prob + lm_weight * LM log-prob + word_score * words + sil_score * "|"s

The lexicon-free decoder asks its LM about each token, so it needs an LM over letters
(`asrkit lm build --unit letter`) or none at all.
flashlight-text 0.0.7's wheels include KenLM; torchaudio's wrapper is not needed.

Its results (DecodeResult: score, emittingModelScore, lmScore, tokens, words) are every
hypothesis alive at the last frame, best first; `tokens` holds T + 2 entries, a start and an
end state around the T frames, so frame t's token is tokens[t + 1] (torchaudio's
ctc_decoder reads them the same way). lmScore is the LM's log10 (KenLM's BaseScore) summed
over the words and the sentence end, unweighted: Scores.lm is it times ln 10.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from asrkit.ctc import Vocabulary, collapse, frame_confidence, timed_words
from asrkit.errors import SettingError
from asrkit.hypotheses import LN10, Hypothesis, NBest, Scores, ranked



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
    hotwords: tuple = ()  # ((word, weight), ...) boosted words, spelled in when not in the lexicon (asrkit.decode.hotwords)

    def check(self) -> None:
        if not self.lexicon:
            raise SettingError("the flashlight lexicon decoder needs a lexicon (lexicon.txt beside the LM)")
        if self.beam < 1 or self.beam_threshold <= 0:
            raise SettingError(f"`beam` ({self.beam}) must be >= 1 and `beam_threshold` ({self.beam_threshold}) > 0")
        if self.hotwords and not self.lm_weight > 0:
            raise SettingError(f"hotwords with the flashlight decoder need `lm_weight` > 0 (it is {self.lm_weight}): "
                               "their boost is added through the LM score, which lm_weight scales")


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
    """The lexicon decoder with its LM and lexicon loaded once; `with_options` reuses them."""

    def __init__(self, options: FlashlightOptions, vocab: Vocabulary, _shared: "_Loaded | None" = None):
        options.check()
        self.options, self.vocab = options, vocab
        fl, _ = _lib()
        self._shared = _shared if _shared is not None else _Loaded(options, vocab)
        self._words = self._shared.words
        self._lm, self._trie, self._boost = self._shared.graph(options.lm_weight)
        V = len(vocab.tokens)
        opts = fl.LexiconDecoderOptions(
            beam_size=options.beam, beam_size_token=options.beam_size_token or V,
            beam_threshold=options.beam_threshold, lm_weight=options.lm_weight,
            word_score=options.word_score, unk_score=options.unk_score, sil_score=options.sil_score,
            log_add=options.log_add, criterion_type=fl.CriterionType.CTC,
        )
        self._decoder = fl.LexiconDecoder(opts, self._trie, self._lm, vocab.delimiter_id, vocab.blank_id,
                                          self._shared.unk, [], False)

    def with_options(self, options: FlashlightOptions) -> "Decoder":
        """A decoder with new weights/beam over the same LM and lexicon (a tuning trial)."""
        if (options.lm, options.lexicon, options.hotwords) != (self.options.lm, self.options.lexicon,
                                                               self.options.hotwords):
            return Decoder(options, self.vocab)
        return Decoder(options, self.vocab, _shared=self._shared)

    @property
    def lm_weight_ln(self) -> float:
        """The weight on Scores.lm (natural log) in a hypothesis' total."""
        return self.options.lm_weight / LN10

    def decode_one(self, log_probs: np.ndarray, frame_seconds: float, nbest: int = 1) -> NBest:
        scored = []
        for r in _results(self._decoder, log_probs):
            words = [self._words.get_entry(w) for w in r.words if w >= 0]
            boosted = sum(self._boost.get(w, 0.0) for w in words)  # log10 the LM score holds for hotwords
            scored.append((_scored(r, " ".join(words), self.options.lm_weight, boosted), r, words))
        return _timed(scored, nbest, log_probs, self.vocab, frame_seconds)


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

    @property
    def lm_weight_ln(self) -> float:
        return self.options.lm_weight / LN10 if self.options.lm else 0.0

    def decode_one(self, log_probs: np.ndarray, frame_seconds: float, nbest: int = 1) -> NBest:
        scored = []
        for r in _results(self._decoder, log_probs):
            text = self.vocab.text(collapse(_path(r, len(log_probs)), self.vocab.blank_id))
            scored.append((_scored(r, text, self.options.lm_weight if self.options.lm else 0.0), r, None))
        return _timed(scored, nbest, log_probs, self.vocab, frame_seconds)


class _Loaded:
    """What a lexicon decoder loads once: the token and word dictionaries, the LM, the
    spellings of the lexicon words the model can emit (and of the hotwords), and the search
    graph (LM and trie) built from them. Hotword boosts are divided by lm_weight, so with
    hotwords the graph is rebuilt (not the LM reloaded) when lm_weight changes."""

    def __init__(self, options: FlashlightOptions, vocab: Vocabulary):
        from asrkit.decode.hotwords import spelled
        from asrkit.errors import LMError
        from asrkit.lm import read_lexicon

        _, fd = _lib()
        self.vocab = vocab
        lexicon = read_lexicon(options.lexicon)
        self.tokens = fd.Dictionary(list(vocab.tokens))
        self.words = fd.Dictionary()
        self.words.add_entry("<unk>")
        self.usable: dict[str, list[list[str]]] = {}
        for word, spellings in lexicon.items():
            # A spelling with a token the model lacks could never be emitted: leave it out.
            ok = [s for s in spellings if all(t in vocab.tokens for t in s)]
            if ok and word != "<unk>":
                self.usable[word] = ok
                self.words.add_entry(word)
        if not self.usable:
            raise LMError(f"{options.lexicon}: no word of the lexicon can be spelled with the model's "
                          f"tokens ({' '.join(vocab.tokens[:8])} ...)")
        self.hot = dict(spelled(options.hotwords, vocab))
        for word in self.hot:  # a word the lexicon lacks is spelled in, letter by letter
            if word not in self.usable:
                self.usable[word] = [list(word) + [vocab.delimiter]]
                self.words.add_entry(word)
        self.words.set_default_index(self.words.get_index("<unk>"))
        self.unk = self.words.get_index("<unk>")
        self.lm = _load_lm(options.lm, self.words)
        self._graph: tuple = (None, None)  # (key, (lm, trie, boost)): the latest graph built

    def graph(self, lm_weight: float) -> tuple:
        """(LM, trie, {hotword: boost in log10}) for this lm_weight."""
        key = lm_weight if self.hot else None
        if self._graph[0] != key or self._graph[1] is None:
            self._graph = (key, self._build(lm_weight))
        return self._graph[1]

    def _build(self, lm_weight: float) -> tuple:
        fl, _ = _lib()
        # The boost, in the LM's log10 units: flashlight multiplies the LM score by lm_weight.
        boost = {word: weight / lm_weight for word, weight in self.hot.items()}
        lm = _boosted(self.lm, {self.words.get_index(w): b for w, b in boost.items()}) if boost else self.lm
        trie = fl.Trie(len(self.vocab.tokens), self.vocab.delimiter_id)
        start = lm.start(False)
        for word, spellings in self.usable.items():
            w = self.words.get_index(word)
            _, score = lm.score(start, w)  # the word's unigram score: what smearing looks ahead with
            for s in spellings:
                trie.insert([self.tokens.get_index(t) for t in s], w, score)
        trie.smear(fl.SmearingMode.MAX)
        return lm, trie, boost


def _boosted(inner, boost: dict[int, float]):
    """`inner` LM with `boost[word index]` (log10) added whenever that word is scored."""
    fl, _ = _lib()

    class BoostedLM(fl.LM):
        def __init__(self):
            fl.LM.__init__(self)
            self.inner, self.boost = inner, boost

        def start(self, start_with_nothing):
            return self.inner.start(start_with_nothing)

        def score(self, state, token):
            state, score = self.inner.score(state, token)
            return state, score + self.boost.get(token, 0.0)

        def finish(self, state):
            return self.inner.finish(state)

    return BoostedLM()


def _results(decoder, log_probs: np.ndarray) -> list:
    """Every flashlight result for one (T, V) matrix, best first (none for zero frames)."""
    x = np.ascontiguousarray(log_probs, dtype=np.float32)
    if len(x) == 0:
        return []
    return list(decoder.decode(x.ctypes.data, x.shape[0], x.shape[1]))


def _path(result, frames: int) -> np.ndarray:
    """The (T,) token of each frame in a result (its tokens without the start and end states)."""
    return np.asarray(result.tokens[1:frames + 1], dtype=np.int64)


def _scored(result, text: str, lm_weight: float, boosted: float = 0.0) -> Hypothesis:
    """A flashlight result as a Hypothesis without its words (they are timed once ranked);
    `boosted` is the hotword boost inside its lmScore (log10), which belongs to `word`."""
    acoustic, total = float(result.emittingModelScore), float(result.score)
    lm10 = float(result.lmScore) - boosted
    # lm_weight multiplies log10 in flashlight's total; the rest (word and sil scores) is `word`.
    return Hypothesis(text, (), Scores(acoustic=acoustic, lm=lm10 * LN10, word=total - acoustic - lm_weight * lm10,
                                       total=total))


def _timed(scored: list, nbest: int, log_probs: np.ndarray, vocab: Vocabulary, frame_seconds: float) -> NBest:
    """The best `nbest` distinct of [(hypothesis without words, result, lexicon words or None)],
    their words timed from their results' paths. A beam holds hundreds of results: only the
    kept ones are timed."""
    top = ranked([h for h, _, _ in scored], nbest)
    if not top:
        return (Hypothesis(""),)
    source = {id(h): (r, names) for h, r, names in scored}
    conf = frame_confidence(log_probs)
    out = []
    for h in top:
        r, names = source[id(h)]
        words = timed_words(log_probs, _path(r, len(log_probs)), vocab, frame_seconds, names, conf) if h.text else ()
        out.append(replace(h, words=words))
    return tuple(out)

