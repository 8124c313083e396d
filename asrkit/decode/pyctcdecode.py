"""pyctcdecode beam search with a word KenLM.

pyctcdecode scores a hypothesis as acoustic log-prob + alpha * LM log-prob (natural log)
+ beta * words, with partial words checked against a trie of unigrams. Its alpha/beta are
not on the scale of flashlight's lm_weight/word_score: tune each on dev, never copy one
into the other. pyctcdecode needs the unigram list beside a binary LM (it cannot read the
words from one), which `asrkit lm build/download` writes as unigrams.txt.

pyctcdecode 0.5.0 pins numpy<2 but runs on numpy 2 (scripts/setup.sh installs it
without its pins). Its own pool only works with fork; asrkit.decode.parallel_decode forks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np

from asrkit.ctc import Vocabulary, align, frame_confidence, frame_end, frame_start, word_confidence
from asrkit.errors import SettingError
from asrkit.hypotheses import LN10, Hypothesis, NBest, Scores, Word, ranked


UNK_LABEL = "\u2047"  # what pyctcdecode prints for <unk>; dropped from transcripts


@dataclass(frozen=True)
class PyctcdecodeOptions:
    lm: str | None = None  # KenLM file (ARPA or binary); None: beam search without an LM
    unigrams: str | None = None  # unigrams.txt (one word per line); needed with a binary LM
    alpha: float = 0.5  # LM weight (pyctcdecode's default; tune on dev)
    beta: float = 1.5  # word insertion bonus (pyctcdecode's default)
    beam: int = 100  # beam width
    beam_prune_logp: float = -10.0  # drop beams this far below the best
    token_min_logp: float = -5.0  # ignore tokens less likely than this in a frame
    unk_score_offset: float = -10.0  # added for words outside the unigram list
    hotwords: tuple = ()  # ((word, weight), ...) boosted words; pyctcdecode takes one weight for all

    def check(self) -> None:
        if self.beam < 1:
            raise SettingError(f"`beam` {self.beam}: must be >= 1")
        if len({w for _, w in self.hotwords}) > 1:
            raise SettingError("pyctcdecode takes one weight for all hotwords: give them the same :WEIGHT "
                               f"(got {', '.join(f'{h}:{w:g}' for h, w in self.hotwords)})")


def labels(vocab: Vocabulary) -> list[str]:
    """pyctcdecode's labels: "" for the blank, " " for the word delimiter."""
    out = []
    for t in vocab.tokens:
        out.append("" if t == vocab.blank else " " if t == vocab.delimiter else UNK_LABEL if t == vocab.unk else t)
    return out


SPELLING_SAMPLE = 5000  # words of the LM looked at by check_spelling


def check_spelling(words: list[str], vocab: Vocabulary, source) -> None:
    """The LM's words must be spelt with the model's letters. An LM in lower case under a model
    with upper-case letters (or the reverse) matches no word: WER near 100%, and pyctcdecode
    only logs it (its logger is quieted here)."""
    from asrkit.errors import LMError

    letters = {t for t in vocab.tokens if len(t) == 1}
    sample = [w for w in words[:SPELLING_SAMPLE] if not (w.startswith("<") and w.endswith(">"))]
    spelt = sum(all(c in letters for c in w) for w in sample)
    if sample and spelt < len(sample) / 2:
        cases = {"upper": str.isupper, "lower": str.islower}
        lm_case = next((name for name, test in cases.items() if sum(map(test, sample)) > len(sample) / 2), None)
        model_case = next((name for name, test in cases.items() if any(test(t) for t in letters)), None)
        hint = f" (the LM is in {lm_case} case, the model's letters in {model_case})" if lm_case != model_case else ""
        raise LMError(f"{source}: only {spelt} of {len(sample)} words are spelt with the model's letters "
                      f"{''.join(sorted(letters))}{hint}, so decoding would miss nearly every word; "
                      f"build the LM with `asrkit lm build`, which normalises its text to the model's letters")


def arpa_unigrams(path, limit: int = SPELLING_SAMPLE) -> list[str]:
    """The first `limit` words of an ARPA file's 1-gram section (plain or gzipped)."""
    import gzip

    with open(path, "rb") as f:
        opener = gzip.open if f.read(2) == b"\x1f\x8b" else open
    words, inside = [], False
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("\\"):
                if inside:
                    break
                inside = line.strip() == "\\1-grams:"
            elif inside and line.strip():
                fields = line.split("\t")
                if len(fields) >= 2:
                    words.append(fields[1].strip())
                if len(words) >= limit:
                    break
    return words


class Decoder:
    def __init__(self, options: PyctcdecodeOptions, vocab: Vocabulary, _built=None):
        options.check()
        self.options, self.vocab = options, vocab
        from asrkit.decode.hotwords import spelled

        self._hotwords = spelled(options.hotwords, vocab)
        self._decoder = _built or self._build(options, vocab)
        self._decoder.reset_params(alpha=options.alpha, beta=options.beta,
                                   unk_score_offset=options.unk_score_offset)

    @staticmethod
    def _build(options: PyctcdecodeOptions, vocab: Vocabulary):
        from pyctcdecode import build_ctcdecoder

        from asrkit.errors import LMError
        from asrkit.lm import check_fits, check_lm_file, read_words

        unigrams = None
        if options.lm is not None:
            kind = check_lm_file(options.lm)
            check_fits(options.lm)
            if options.unigrams:
                unigrams = read_words(options.unigrams)
                check_spelling(unigrams, vocab, options.unigrams)
            elif kind == "binary":
                raise LMError(f"{options.lm}: pyctcdecode needs a unigram list beside a binary LM "
                              "(unigrams.txt, written by `asrkit lm build`)")
            else:
                check_spelling(arpa_unigrams(options.lm), vocab, options.lm)
        # pyctcdecode logs warnings about label/unigram conventions on every build; ours are
        # deliberate (no BPE, upper case on both sides).
        logging.getLogger("pyctcdecode").setLevel(logging.ERROR)
        try:
            return build_ctcdecoder(labels(vocab), kenlm_model_path=options.lm, unigrams=unigrams,
                                    alpha=options.alpha, beta=options.beta,
                                    unk_score_offset=options.unk_score_offset)
        except (OSError, RuntimeError) as e:
            raise LMError(f"{options.lm}: pyctcdecode cannot load this language model ({e})") from None

    def with_options(self, options: PyctcdecodeOptions) -> "Decoder":
        """New alpha/beta/beam over the same loaded LM."""
        if (options.lm, options.unigrams) != (self.options.lm, self.options.unigrams):
            return Decoder(options, self.vocab)
        return Decoder(options, self.vocab, _built=self._decoder)

    @property
    def lm_weight_ln(self) -> float:
        """The weight on Scores.lm (natural log) in a hypothesis' total: alpha, or 0 without an LM."""
        return self.options.alpha if self.options.lm else 0.0

    def decode_one(self, log_probs: np.ndarray, frame_seconds: float, nbest: int = 1) -> NBest:
        """Up to `nbest` of pyctcdecode's final beams (decode_beams), best first."""
        if len(log_probs) == 0:
            return (Hypothesis(""),)
        o = self.options
        x = np.asarray(log_probs, dtype=np.float32)
        hot = {}
        if self._hotwords:
            hot = {"hotwords": [w for w, _ in self._hotwords], "hotword_weight": self._hotwords[0][1]}
        beams = self._decoder.decode_beams(x, beam_width=o.beam, beam_prune_logp=o.beam_prune_logp,
                                           token_min_logp=o.token_min_logp, **hot)
        scored = {}
        for _, _, word_frames, acoustic, total in beams:
            spans = [(raw.replace(UNK_LABEL, ""), first, end) for raw, (first, end) in word_frames]
            spans = [s for s in spans if s[0] and s[2] > s[1]]
            h = Hypothesis(" ".join(w for w, _, _ in spans), (), Scores(acoustic=float(acoustic), total=float(total)))
            scored[id(h)] = (h, spans)
        top = ranked([h for h, _ in scored.values()], nbest)
        if not top:
            return (Hypothesis(""),)
        # Only the kept beams (of up to `beam`) are timed and LM-scored.
        conf = frame_confidence(x)
        return tuple(self._finish(h, scored[id(h)][1], x, conf, frame_seconds) for h in top)

    def _finish(self, h: Hypothesis, spans, x: np.ndarray, conf: np.ndarray, frame_seconds: float) -> Hypothesis:
        """A ranked beam with its words ((word, first frame, end frame exclusive)) timed and its
        LM and word terms filled in."""
        words = tuple(Word(w, frame_start(first, frame_seconds), frame_end(end - 1, frame_seconds),
                           self._confidence(x, conf, w, first, end)) for w, first, end in spans)
        lm = self._lm_score(h.text)
        s = h.scores
        return replace(h, words=words, scores=replace(s, lm=lm, word=s.total - s.acoustic - self.lm_weight_ln * lm))

    def _confidence(self, x: np.ndarray, conf: np.ndarray, word: str, first: int, end: int) -> float:
        """asrkit.ctc's word confidence over the frames that spell `word` inside its span."""
        label = [self.vocab.index(c) for c in word if c in self.vocab.tokens]
        path = align(x[first:end], label, self.vocab.blank_id)
        if path is None:  # a span too short to spell the word: read its frames as they are
            path = x[first:end].argmax(axis=-1)
        frames = [t for t in range(len(path)) if path[t] != self.vocab.blank_id]
        return word_confidence(x[first:end], path, frames or list(range(len(path))), conf[first:end])

    def _lm_score(self, text: str) -> float:
        """The LM's natural-log probability of the words, sentence start and end included."""
        model = getattr(getattr(self._decoder, "_language_model", None), "_kenlm_model", None)
        return float(model.score(text, bos=True, eos=True)) * LN10 if model is not None and self.options.lm else 0.0
