"""Rescoring: re-rank a first pass's N-best lists with a second LM (a causal Transformer).

Each hypothesis of a first-pass N-best list (asrkit.hypotheses: acoustic, lm, word, total,
natural log) is scored again:

    total = acoustic + lm_weight * transformer_lm + word_score * n_words
            [+ ngram_weight * first_pass_lm]

transformer_lm is the hypothesis' log-probability under the second LM (asrkit.lm.transformer,
BOS/EOS handling there) and becomes the hypothesis' `lm` score. The first pass's n-gram score
can be kept as a third feature: ngram_weight, 0 by default as in the paper's Transformer
column (the Transformer alone); `tune-lm --rescore --tune-ngram-weight LO HI` searches it.
It is worth keeping when the Transformer alone is weaker than the n-gram, as a Transformer
trained for a minute is: the two LMs err differently. On the demo corpus the mix cut the
dev-other WER that the Transformer alone reached (45.17 against 45.91), without reaching the
4-gram on the test sets (BENCHMARKS.md, "The Transformer LM column").

Why rescoring and not the paper's first pass. The paper decodes with the Transformer inside
the beam search (beam 500, fairseq's wav2letter decoder, on GPUs): every partial hypothesis
that ends a word asks the LM for the next word, so a beam of 500 makes up to 500 Transformer
evaluations per word boundary. Rescoring a 4-gram first pass's N-best lists costs one batched
Transformer pass over N sentences per utterance (seconds per split on a CPU), and tuning the
weights needs no decoding at all (the lists are cached: nbest.jsonl). What rescoring loses
against the first pass: it can only choose among the N hypotheses the 4-gram's beam kept.
The bound is the N-best oracle WER (the best any re-ranking could reach), which
`rescore_split` records with the first pass's WER; neither the cost nor the WER of a
Transformer first pass is measured here.

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
from asrkit.hypotheses import NBest, Scores

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
                # named as the rescoring flags are (--rescore-lm-weight), not the first pass's
                raise SettingError(f"`rescore_{f.name}` is {value}; it must be a finite number")


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
    from asrkit.score import align

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
    ngram_weight: float = 0.0  # held fixed during the search, unless ngram_range is given
    ngram_range: tuple[float, float] | None = None  # also search ngram_weight here (TPE only); None: fixed

    def check(self) -> None:
        if self.method not in ("tpe", "grid"):
            raise SettingError(f"`method` {self.method!r}: choose 'tpe' or 'grid'")
        if self.trials < 1:
            raise SettingError("`trials` must be at least 1")
        ranges = {"weight_range": self.weight_range, "score_range": self.score_range,
                  "tune_ngram_weight": self.ngram_range or (0.0, 0.0)}
        for name, (lo, hi) in ranges.items():
            if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
                raise SettingError(f"`{name}` {lo}..{hi}: give two finite numbers, the lower first")
        RescoreOptions(ngram_weight=self.ngram_weight).check()


def tune_weights(feats: Sequence[Features], errors: Sequence[np.ndarray], ref_words: int,
                 default: RescoreOptions, search: Search, progress: bool = False) -> tuple[RescoreOptions, list[dict]]:
    """The (lm_weight, word_score) of lowest WER over the cached N-best lists, and every trial
    ({"lm_weight", "word_score", "wer"}); trial 0 is `default`, so the best is never worse on dev."""
    from tqdm import tqdm

    search.check()
    trials: list[dict] = []

    def evaluate(w: float, s: float, x: float = search.ngram_weight) -> float:
        o = RescoreOptions(lm_weight=w, word_score=s, ngram_weight=x)
        wer = chosen_wer(errors, best_indices(feats, o), ref_words)
        trials.append({"lm_weight": round(w, 6), "word_score": round(s, 6), "ngram_weight": round(x, 6), "wer": wer})
        return wer

    clip = lambda v, r: min(max(v, r[0]), r[1])  # noqa: E731
    start = (clip(default.lm_weight, search.weight_range), clip(default.word_score, search.score_range))
    bar = tqdm(total=search.trials + 1, desc="tune rescore", unit=" trial", disable=not progress)
    evaluate(*start)
    bar.update()
    if search.ngram_range is not None and search.method == "grid":
        raise SettingError("searching `ngram_weight` too needs the tpe method")
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
        def objective(t) -> float:
            x = (t.suggest_float("ngram_weight", *search.ngram_range) if search.ngram_range is not None
                 else search.ngram_weight)
            return evaluate(t.suggest_float("lm_weight", *search.weight_range),
                            t.suggest_float("word_score", *search.score_range), x)

        study.optimize(objective, n_trials=search.trials, callbacks=[lambda st, tr: bar.update()])
    bar.close()
    best = min(trials, key=lambda t: t["wer"])  # the first of equals: the default wins ties
    return RescoreOptions(best["lm_weight"], best["word_score"], best["ngram_weight"]), trials


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


# --------------------------------------------------------------------------- splits

DEFAULT_NBEST = 50
"""First-pass hypotheses per utterance when rescoring (decode --nbest N overrides it)."""


@dataclass(frozen=True)
class RescoreChoice:
    """What the user asked the second pass for; rescore_splits and tune_split apply it."""

    lm: str  # the second LM: a Transformer LM name under lm_dir, a transformers folder, or a hub id
    lm_dir: object = None  # folder of named LMs (Path); None: the workspace's lm/
    nbest: int = DEFAULT_NBEST  # first-pass hypotheses per utterance
    settings: dict = dataclasses.field(default_factory=dict)  # lm_weight / word_score / ngram_weight given (None: not)
    use_tuned: bool = True  # apply the weights `asrkit tune-lm --rescore` saved for this model and LM
    setting: str | None = None  # result name; None: the second LM's name


def cached_lists(model_dir, split: str, setup, cache, refuse: bool = True):
    """(meta, rows) of the first pass's nbest.jsonl for `setup` (asrkit.decode.setup.DecoderSetup),
    or None when there is none. Lists from other log-probs (another model) or another LM
    (asrkit.results.check_nbest_source): its DataError naming the file when `refuse`, else None
    (the caller decodes again)."""
    from asrkit.decode.setup import lm_record
    from asrkit.results import NBEST_FILE, check_nbest_source, read_nbest, result_dir

    folder = result_dir(model_dir, split, setup.setting)
    if not (folder / NBEST_FILE).is_file():
        return None
    meta, rows = read_nbest(folder)
    try:
        check_nbest_source(folder, meta, cache.index.get("fingerprint"), (lm_record(setup.lm) or {}).get("sha256"))
    except DataError:
        if refuse:
            raise
        return None
    return meta, rows


def first_pass(model_dir, split: str, setup, cache, nbest: int, command: str = "", workers=None,
               progress: bool = True):
    """The first pass's (meta, rows): its cached lists when they come from this model, LM and
    decoder settings with at least `nbest` hypotheses, else a decode writing them."""
    import json

    from asrkit.decode.run import _jsonable, decode_split
    from asrkit.decode.setup import lm_record
    from asrkit.results import read_nbest, result_dir

    got = cached_lists(model_dir, split, setup, cache, refuse=False)
    wanted = json.loads(json.dumps(_jsonable({"name": setup.decoder, **dataclasses.asdict(setup.options)})))
    if got is not None and got[0].get("decoder") == wanted and got[0].get("nbest", 0) >= nbest:
        log.info("%s %s: reusing the cached N-best lists", split, setup.setting)
        return got
    decode_split(model_dir, split, cache, setup.decoder, setup.options, setup.setting, command, workers,
                 progress, nbest=nbest, lm=lm_record(setup.lm))
    return read_nbest(result_dir(model_dir, split, setup.setting))


def default_options(meta: dict) -> RescoreOptions:
    """Untuned weights: the second LM takes the first one's place at its weight (natural-log
    units) and word score."""
    return RescoreOptions(lm_weight=float(meta.get("lm_weight_ln") or 1.0),
                          word_score=float((meta.get("decoder") or {}).get("word_score") or 0.0))


def rescore_options(model_dir, record: dict, meta: dict, choice: RescoreChoice) -> tuple[RescoreOptions, str]:
    """The weights to use, and where they came from: given > tuned (lm-tuning.json, for this
    very second LM: a record tuned for another build of the same name is ignored, with a
    warning) > default_options."""
    from asrkit.results import read_tuning

    tuned = None
    for r in read_tuning(model_dir) if choice.use_tuned else []:
        if r.get("lm") == record["name"] and r.get("decoder") == DECODER:
            if (r.get("rescorer") or {}).get("sha256") == record["sha256"]:
                tuned = dict(r["best"])
            else:
                log.warning("%s: its rescoring weights in lm-tuning.json were tuned for another build of %s; "
                            "not used (run `asrkit tune-lm --rescore %s` again)", model_dir, record["name"],
                            record["name"])
    given = {k: v for k, v in choice.settings.items() if v is not None}
    o = dataclasses.replace(default_options(meta), **{**(tuned or {}), **given})
    o.check()
    return o, "tuned (lm-tuning.json)" if tuned else ("given" if given else "defaults (the first pass's weights)")


def rescore_split(model_dir, split: str, cache, meta: dict, rows: list, lm_name: str, scorer, record: dict,
                  options: RescoreOptions, setting: str, command: str = "", weights: str = "given"):
    """Re-rank one split's first-pass lists and write its results folder (recogs, N-best in the
    new order, errs, WER summary: see the module doc). Returns the DecodeSummary."""
    from asrkit.decode.run import references
    from asrkit.provenance import git_commit
    from asrkit.results import DecodeSummary, result_dir, write_nbest, write_recogs, write_summary
    from asrkit.score import write_error_stats

    options.check()
    by_id = {i: (ref, nb) for i, ref, nb in rows}
    refs = references(cache)
    missing = [r.id for r in refs if r.id not in by_id]
    if missing:
        raise DataError(f"{len(missing)} utterance(s) of {split} have no first-pass N-best list (e.g. {missing[0]})")
    nbests = [by_id[r.id][1] for r in refs]
    started = time.time()
    feats = features(nbests, scorer)
    ranked = [rerank(nb, f, options) for nb, f in zip(nbests, feats)]
    seconds = time.time() - started
    recogs = [dataclasses.replace(r, hyp=nb[0].text, words=nb[0].words) for r, nb in zip(refs, ranked)]
    errors = hypothesis_errors([r.ref for r in refs], nbests)
    ref_words = reference_words([r.ref for r in refs])
    out = result_dir(model_dir, split, setting)
    write_recogs(out, recogs)
    write_nbest(out, [(r.id, r.ref, nb) for r, nb in zip(refs, ranked)],
                {**meta, "setting": setting, "rescored": {"lm": record, **dataclasses.asdict(options)}})
    s = write_error_stats(out / "errs.txt", recogs)
    decoder = {"name": DECODER, "lm": record["path"], "lm_name": lm_name, "lm_sha256": record["sha256"],
               **dataclasses.asdict(options), "weights": weights, "nbest": meta.get("nbest"), "first_pass": meta.get("decoder"),
               "first_pass_lm": meta.get("lm"), "first_pass_setting": meta.get("setting"),
               "first_pass_wer": round(chosen_wer(errors, [0] * len(errors), ref_words), 6),
               "oracle_wer": round(oracle_wer(errors, ref_words), 6)}
    summary = DecodeSummary(
        model=str(model_dir), split=split, setting=setting, wer=s.wer, cer=s.cer, substitutions=s.substitutions,
        deletions=s.deletions, insertions=s.insertions, ref_words=s.ref_words, utterances=s.utterances,
        rtf=seconds / max(cache.audio_seconds, 1e-9), decoder=decoder, command=command, commit=git_commit(),
        skipped=cache.skipped)
    write_summary(out, summary)
    log.info("%s %s: WER %.2f%% (first pass %.2f%%, N-best oracle %.2f%%)", split, setting, 100 * s.wer,
             100 * decoder["first_pass_wer"], 100 * decoder["oracle_wer"])
    return summary


def rescore_splits(model_dir, splits: list[str], manifests, setup, choice: RescoreChoice, logits_options=None,
                   command: str = "", workers=None, progress: bool = True) -> list:
    """First pass (`setup`, its cached N-best lists reused when they match) then rescoring with
    the second LM, for each split; results under choice.setting or the second LM's name."""
    from asrkit import logits
    from asrkit.inference import LogitsOptions
    from asrkit.lm import lexicon_words

    if setup.lm is None or setup.decoder == "greedy":
        raise SettingError("rescoring re-ranks a beam search's N-best lists: give the first pass an `lm` "
                           "(e.g. 4gram)")
    if choice.nbest < 2:
        raise SettingError(f"`nbest` {choice.nbest}: rescoring needs at least 2 hypotheses per utterance")
    RescoreOptions(**{k: v for k, v in choice.settings.items() if v is not None}).check()  # before any decoding
    lm, scorer = load_rescorer(choice.lm, choice.lm_dir)
    record = rescorer_record(lm, scorer)
    if setup.lm.unit == "word":
        check_spelling(scorer, lexicon_words(setup.lm), f"the {setup.lm.name} lexicon")
    summaries = []
    for split in splits:
        cache = logits.ensure(model_dir, split, manifests, logits_options or LogitsOptions(), progress=progress)
        meta, rows = first_pass(model_dir, split, setup, cache, choice.nbest, command, workers, progress)
        options, source = rescore_options(model_dir, record, meta, choice)
        log.info("rescoring %s with %s; weights: %s %s", split, record["name"], source, dataclasses.asdict(options))
        summaries.append(rescore_split(model_dir, split, cache, meta, rows, record["name"], scorer, record,
                                       options, choice.setting or record["name"], command, source))
    return summaries


def tune_split(model_dir, split: str, manifests, setup, choice: RescoreChoice, search: Search,
               logits_options=None, progress: bool = True) -> dict:
    """Tune lm_weight and word_score of the second LM on one split's cached first-pass lists
    (decoded once when there are none; lists of another model or LM are refused), and save the
    record in <model_dir>/lm-tuning.json under (the second LM's name, "rescore")."""
    from asrkit import logits
    from asrkit.decode.setup import lm_record
    from asrkit.decode.run import decode_split
    from asrkit.inference import LogitsOptions
    from asrkit.results import read_nbest, result_dir, save_tuning

    from asrkit.lm import lexicon_words

    if setup.lm is None:
        raise SettingError("tune-lm --rescore needs the first pass's `lm` (e.g. 4gram)")
    search.check()
    lm, scorer = load_rescorer(choice.lm, choice.lm_dir)  # a bad LM is refused before any decoding
    record = rescorer_record(lm, scorer)
    if setup.lm.unit == "word":
        check_spelling(scorer, lexicon_words(setup.lm), f"the {setup.lm.name} lexicon")
    cache = logits.ensure(model_dir, split, manifests, logits_options or LogitsOptions(), progress=progress)
    got = cached_lists(model_dir, split, setup, cache, refuse=True)
    if got is None:
        decode_split(model_dir, split, cache, setup.decoder, setup.options, setup.setting, workers=None,
                     progress=progress, nbest=choice.nbest, lm=lm_record(setup.lm))
        got = read_nbest(result_dir(model_dir, split, setup.setting))
    meta, rows = got
    by_id = {i: (ref, nb) for i, ref, nb in rows}
    refs = [by_id[i][0] for i in by_id]
    nbests = [by_id[i][1] for i in by_id]
    started = time.time()
    feats = features(nbests, scorer)
    errors = hypothesis_errors(refs, nbests)
    words = reference_words(refs)
    default = dataclasses.replace(default_options(meta), ngram_weight=search.ngram_weight)
    best, trials = tune_weights(feats, errors, words, default, search, progress)
    result = {"lm": record["name"], "decoder": DECODER, "split": split, "method": search.method,
              "params": list(PARAMS), "best": {**{k: getattr(best, k) for k in PARAMS},
                                               "ngram_weight": best.ngram_weight},
              "best_wer": min(t["wer"] for t in trials), "default": {k: getattr(default, k) for k in PARAMS},
              "default_wer": trials[0]["wer"], "beam": (meta.get("decoder") or {}).get("beam", 0),
              "trials": trials, "seconds": round(time.time() - started, 1),
              "ranges": {"lm_weight": list(search.weight_range), "word_score": list(search.score_range),
                         **({"ngram_weight": list(search.ngram_range)} if search.ngram_range else {})},
              "rescorer": record, "nbest": meta.get("nbest"), "first_pass": meta.get("decoder"),
              "first_pass_lm": meta.get("lm"), "first_pass_wer": chosen_wer(errors, [0] * len(errors), words),
              "oracle_wer": oracle_wer(errors, words)}
    save_tuning(model_dir, result)
    return result
