"""Rescoring: re-rank a first pass's N-best lists with a second LM (a causal Transformer).

Each hypothesis of a first-pass N-best list (asrkit.hypotheses: acoustic, lm, word, total,
natural log) is scored again:

    total = acoustic + lm_weight * transformer_lm + word_score * n_words
            [+ ngram_weight * first_pass_lm]

transformer_lm is the hypothesis' log-probability under the second LM (asrkit.lm.transformer,
BOS/EOS handling there) and becomes the hypothesis' `lm` score; the first pass's n-gram score
can be kept as a third feature (ngram_weight, 0 by default as in the paper's Transformer
column, which uses the Transformer alone). Keeping it helps when the Transformer is weaker
than the n-gram on its own (a tiny one trained for a minute, as the demo's): the two LMs err
differently, and the log-linear mix is then at least as good as either on dev.

Why rescoring and not the paper's first pass. The paper decodes with the Transformer inside
the beam search (beam 500, fairseq's wav2letter decoder): every partial hypothesis that ends
a word asks the LM for the next word, so a beam of 500 makes some 500 Transformer evaluations
per word boundary, on a GPU. On 2 CPU cores that is hours per split even for a small model;
rescoring a 4-gram first pass's N-best costs one batched Transformer pass over N sentences
per utterance (seconds per split), and tuning the weights needs no decoding at all (the
N-best lists are cached: nbest.jsonl). What rescoring loses against the first pass: it can
only choose among the N hypotheses the 4-gram's beam kept. The bound is the N-best oracle WER
(the best any re-ranking could reach), which `rescore_split` records; the WER of a
Transformer first pass itself is not measured here.

Results are keyed by setting like every decode result (asrkit.results): by default the
Transformer LM's name, e.g. <model>/decode/<split>/transformer/{recogs.jsonl, errs.txt,
wer-summary.json, nbest.jsonl}.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from asrkit.errors import DataError, SettingError
from asrkit.hypotheses import Hypothesis, NBest, Scores

log = logging.getLogger(__name__)

DECODER = "rescore"
"""The decoder name rescoring results and tuning records carry (wer-summary.json, lm-tuning.json)."""
PARAMS = ("lm_weight", "word_score")
"""The two settings tune-lm searches for rescoring, as for the flashlight decoder."""


@dataclass(frozen=True)
class RescoreOptions:
    lm_weight: float = 1.0  # weight of the second LM's log-probability (natural log)
    word_score: float = 0.0  # added per word of the hypothesis
    ngram_weight: float = 0.0  # weight of the first pass's own LM score, kept as a feature (0: Transformer alone)

    def check(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise SettingError(f"`{f.name}` is {value}; it must be a finite number")


@dataclass(frozen=True)
class Features:
    """The terms of one utterance's N hypotheses, each an (N,) float array, first-pass order."""

    acoustic: np.ndarray
    lm: np.ndarray  # the second LM's log-probability
    first_lm: np.ndarray  # the first pass's LM log-probability (unweighted)
    words: np.ndarray  # number of words

    def totals(self, o: RescoreOptions) -> np.ndarray:
        return self.acoustic + o.lm_weight * self.lm + o.ngram_weight * self.first_lm + o.word_score * self.words


def features(nbests: Sequence[NBest], scorer) -> list[Features]:
    """The Features of each N-best list, the second LM (`scorer.score(texts)`) run once over
    every distinct hypothesis text."""
    texts = sorted({h.text for nb in nbests for h in nb})
    lm = dict(zip(texts, scorer.score(texts))) if texts else {}
    bad = [t for t, v in lm.items() if not math.isfinite(v)]
    if bad:
        raise DataError(f"the second LM gave a non-finite score ({lm[bad[0]]}) to {bad[0]!r}")
    return [Features(acoustic=np.array([h.scores.acoustic for h in nb], dtype=np.float64),
                     lm=np.array([lm[h.text] for h in nb], dtype=np.float64),
                     first_lm=np.array([h.scores.lm for h in nb], dtype=np.float64),
                     words=np.array([len(h.text.split()) for h in nb], dtype=np.float64)) for nb in nbests]


def rerank(nbest: NBest, f: Features, options: RescoreOptions) -> NBest:
    """The N-best list in the new order, each hypothesis' scores now the rescoring's:
    lm = the second LM's log-probability, word = word_score * n_words, total as above.
    Ties keep the first pass's order."""
    if not nbest:
        return nbest
    totals = f.totals(options)
    order = sorted(range(len(nbest)), key=lambda i: (-totals[i], i))
    return tuple(dataclasses.replace(nbest[i], scores=Scores(
        acoustic=nbest[i].scores.acoustic, lm=float(f.lm[i]), word=float(options.word_score * f.words[i]),
        total=float(totals[i]))) for i in order)


def best_indices(feats: Sequence[Features], options: RescoreOptions) -> list[int]:
    """Index of the hypothesis each utterance's re-ranking puts first (first-pass order on ties)."""
    return [int(np.argmax(f.totals(options))) if len(f.acoustic) else -1 for f in feats]


# --------------------------------------------------------------------------- word errors


def hypothesis_errors(refs: Sequence[str], nbests: Sequence[NBest]) -> list[np.ndarray]:
    """Word errors (S + D + I) of every hypothesis against its reference, normalised both
    sides as asrkit.score counts them: a tuning trial then only adds numbers."""
    from asrkit.score import EPS, align

    out = []
    for ref, nb in zip(refs, nbests):
        out.append(np.array([sum(1 for r, h in align(ref, hyp.text) if r != h) for hyp in nb]
                            or [len(ref.split())], dtype=np.int64))
    return out


def oracle_wer(errors: Sequence[np.ndarray], ref_words: int) -> float:
    """The WER if every utterance got its best hypothesis: the floor of any re-ranking."""
    return float(sum(int(e.min()) for e in errors)) / max(ref_words, 1)


def chosen_wer(errors: Sequence[np.ndarray], chosen: Sequence[int], ref_words: int) -> float:
    return float(sum(int(e[i]) if i >= 0 else int(e[0]) for e, i in zip(errors, chosen))) / max(ref_words, 1)


def reference_words(refs: Sequence[str]) -> int:
    from asrkit.text import normalize

    return sum(len(normalize(r).split()) for r in refs)


# --------------------------------------------------------------------------- tuning


@dataclass(frozen=True)
class Search:
    """What tune_weights searches; asrkit.decode.tune.TuneOptions carries the user's values."""

    method: str = "tpe"  # "tpe" (optuna) or "grid"
    trials: int = 128  # rescorings of the dev N-best lists (cheap: no decoding)
    weight_range: tuple[float, float] = (0.0, 5.0)  # lm_weight
    score_range: tuple[float, float] = (-5.0, 5.0)  # word_score
    seed: int = 0  # sampler seed
    ngram_weight: float = 0.0  # held fixed during the search


def tune_weights(feats: Sequence[Features], errors: Sequence[np.ndarray], ref_words: int,
                 default: RescoreOptions, search: Search, progress: bool = False) -> tuple[RescoreOptions, list[dict]]:
    """The (lm_weight, word_score) of lowest WER over the cached N-best lists, and every trial
    ({"lm_weight", "word_score", "wer"}); trial 0 is `default`, so the best is never worse on dev."""
    from tqdm import tqdm

    trials: list[dict] = []

    def evaluate(w: float, s: float) -> float:
        o = RescoreOptions(lm_weight=w, word_score=s, ngram_weight=search.ngram_weight)
        wer = chosen_wer(errors, best_indices(feats, o), ref_words)
        trials.append({"lm_weight": round(w, 6), "word_score": round(s, 6), "wer": wer})
        return wer

    clip = lambda v, r: min(max(v, r[0]), r[1])  # noqa: E731
    start = (clip(default.lm_weight, search.weight_range), clip(default.word_score, search.score_range))
    bar = tqdm(total=search.trials + 1, desc="tune rescore", unit=" trial", disable=not progress)
    evaluate(*start)
    bar.update()
    if search.method == "grid":
        side = max(1, int(round(math.sqrt(search.trials))))
        for w in np.linspace(*search.weight_range, side):
            for s in np.linspace(*search.score_range, side):
                evaluate(float(w), float(s))
                bar.update()
    else:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=search.seed))
        study.optimize(lambda t: evaluate(t.suggest_float("lm_weight", *search.weight_range),
                                          t.suggest_float("word_score", *search.score_range)),
                       n_trials=search.trials, callbacks=[lambda st, tr: bar.update()])
    bar.close()
    best = min(trials, key=lambda t: t["wer"])  # the first of equals: the default wins ties
    return RescoreOptions(best["lm_weight"], best["word_score"], search.ngram_weight), trials


# --------------------------------------------------------------------------- the second LM


def load_rescorer(name_or_path: str, lm_root: str | os.PathLike | None = None):
    """(LanguageModel or None, CausalLMScorer) for `rescore`: a Transformer LM name under the
    LM folder (asrkit lm build --kind transformer, or one registered with --lm-model), a
    transformers folder, or a hub id. A KenLM n-gram is refused: it is the first pass's job."""
    from pathlib import Path

    from asrkit.errors import InputNotFound, LMError
    from asrkit.lm import resolve
    from asrkit.lm.transformer import CausalLMScorer, ScorerOptions

    lm = None
    try:
        lm = resolve(name_or_path, lm_root)
    except LMError as e:
        if Path(name_or_path).exists() or "/" not in name_or_path:
            raise
        log.debug("%s; trying it as a hub id", e)  # "org/model": not a local name, maybe a hub id
    if lm is not None and lm.kind != "transformer":
        raise LMError(f"`rescore` {name_or_path!r} is a KenLM {lm.unit} n-gram; rescoring needs a causal "
                      "Transformer LM (asrkit lm build --kind transformer) or a transformers folder / hub id")
    if lm is None and not name_or_path.strip():
        raise InputNotFound("`rescore` names no LM")
    source = (lm.info.get("model") or str(lm.path)) if lm is not None else name_or_path
    case = (lm.info.get("case") if lm is not None else None) or "keep"
    return lm, CausalLMScorer(source, ScorerOptions(case=case))


def rescorer_record(lm, scorer) -> dict:
    """What identifies the second LM in results and tuning records: name, source, and a sha256
    of its info.json less the perplexity asrkit adds later (or of the source's name)."""
    import hashlib
    import json

    info = {k: v for k, v in (lm.info if lm is not None else {}).items() if k != "perplexity"}
    digest = hashlib.sha256(json.dumps(info or {"source": scorer.source}, sort_keys=True).encode()).hexdigest()
    return {"name": lm.name if lm is not None else scorer.source, "path": scorer.source, "sha256": digest,
            "case": scorer.options.case}


def check_spelling(scorer, words, what: str) -> None:
    """A second LM must be able to write the first pass's words: one whose vocabulary spells
    most of them only as <unk> (another case, another language) would rank by noise."""
    from asrkit.errors import LMError

    words = sorted(set(words))
    missing = scorer.unspellable(words)
    if words and len(missing) > len(words) // 2:
        raise LMError(f"{scorer.source}: its vocabulary cannot spell {len(missing)} of the {len(words)} words of "
                      f"{what} (e.g. {', '.join(missing[:3])}): another case or vocabulary? "
                      "(`lm_case` lower for models trained on ordinary text)")
    if missing:
        log.warning("%s: %d of %d words of %s are <unk> to it (e.g. %s)", scorer.source, len(missing),
                    len(words), what, ", ".join(missing[:3]))
