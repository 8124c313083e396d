"""Tune the LM weight and word score of a beam-search decoder on a dev split.

As in the wav2vec 2.0 paper: LM weight in [0, 5] and word insertion score in [-5, 5],
searched on dev-other by Bayesian optimisation (here optuna's TPE sampler; a grid is the
fallback). Every trial decodes the whole dev set from the cached log-probs; the LM and
lexicon are loaded once. Trial 0 is always the decoder's default setting, so the best is
never worse than the default on dev.

The results go to <model_dir>/lm-tuning.json, one record per (lm, decoder), with every
trial (for the report's plot of WER against LM weight):

    {"results": [{"lm": "4gram", "decoder": "flashlight", "split": "dev-other",
                  "method": "tpe", "params": ["lm_weight", "word_score"],
                  "best": {"lm_weight": 2.31, "word_score": -0.4}, "best_wer": 0.081,
                  "default": {...}, "default_wer": 0.093, "beam": 500,
                  "trials": [{"lm_weight": 2.0, "word_score": -1.0, "wer": 0.093}, ...]}]}

`asrkit decode` reads the best values from there unless told otherwise.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from asrkit import results
from asrkit.decode import Vocabulary, check_log_probs, make_decoder, parallel_decode
from asrkit.errors import DataError, DecodeError, SettingError
from asrkit.hypotheses import best as best_of
from asrkit.results import TUNING_FILE, Recog, read_tuning, tuned_params, tuning_path  # noqa: F401 (re-exported)
from asrkit.score import score

log = logging.getLogger(__name__)

PARAMS = {  # the two settings tuned per decoder: (LM weight, insertion score)
    "flashlight": ("lm_weight", "word_score"),
    "pyctcdecode": ("alpha", "beta"),
    "lexfree": ("lm_weight", "sil_score"),
}


@dataclass(frozen=True)
class TuneOptions:
    method: str = "tpe"  # "tpe" (optuna's Bayesian optimiser) or "grid"
    trials: int = 64  # decodes of the dev set (a grid uses the nearest square number)
    weight_range: tuple[float, float] = (0.0, 5.0)  # LM weight (alpha for pyctcdecode)
    score_range: tuple[float, float] = (-5.0, 5.0)  # word score (beta; sil_score for lexfree)
    seed: int = 0  # sampler seed, for repeatable searches
    workers: int | None = None  # decoding processes; None: every core

    def check(self) -> None:
        if self.method not in ("tpe", "grid"):
            raise SettingError(f"`method` {self.method!r}: choose 'tpe' or 'grid'")
        if self.trials < 1:
            raise SettingError("`trials` must be at least 1")
        for name, (lo, hi) in (("weight_range", self.weight_range), ("score_range", self.score_range)):
            if not (math.isfinite(lo) and math.isfinite(hi)):  # a grid or TPE over inf draws NaN weights
                raise SettingError(f"`{name}` {lo}..{hi}: both ends must be finite numbers")
            if not lo <= hi:
                raise SettingError(f"`{name}` {lo}..{hi} is empty")


@dataclass
class TuningResult:
    lm: str
    decoder: str
    split: str
    method: str
    params: list[str]
    best: dict
    best_wer: float
    default: dict
    default_wer: float
    beam: int
    trials: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    ranges: dict = field(default_factory=dict)  # the searched interval of each tuned setting


def _wer(texts: list[str], refs: list[Recog]) -> float:
    return score([dataclasses.replace(r, hyp=t) for r, t in zip(refs, texts)]).wer


def _grid(options: TuneOptions) -> list[tuple[float, float]]:
    n = max(1, round(math.sqrt(options.trials)))
    weights = np.linspace(*options.weight_range, n)
    scores = np.linspace(*options.score_range, n)
    return [(float(w), float(s)) for w in weights for s in scores]


def tune(decoder: str, base_options, log_probs, refs: list[Recog], options: TuneOptions = TuneOptions(),
         vocab: Vocabulary | None = None, lm_name: str = "", split: str = "",
         progress: bool = True, frame_seconds: float = 0.02) -> TuningResult:
    """Search the decoder's two LM settings (PARAMS) for the lowest WER on `refs`.

    `base_options` is the decoder's options dataclass (its LM, beam, and the default values
    tried first); `refs[b]` is the Recog (reference) of utterance b of `log_probs`.
    """
    options.check()
    if decoder not in PARAMS:
        raise DecodeError(f"decoder {decoder!r} has no LM weights to tune: choose from {', '.join(PARAMS)}")
    if len(refs) != len(log_probs):
        raise ValueError(f"{len(refs)} references for {len(log_probs)} utterances")
    if not refs:
        raise DataError("cannot tune on an empty split")
    if decoder == "flashlight" and getattr(base_options, "hotwords", ()) and options.weight_range[0] <= 0:
        raise SettingError(f"hotwords reach the flashlight decoder through its LM weight, which must stay above 0: "
                           f"give `weight_range` a lower end > 0 (it is {options.weight_range[0]:g}), e.g. 0.1 5")
    vocab = vocab or Vocabulary.letters()
    batch = check_log_probs(log_probs, vocab)
    w_name, s_name = PARAMS[decoder]
    base = make_decoder(decoder, base_options, vocab)  # loads the LM once
    trials: list[dict] = []
    started = time.time()

    def evaluate(w: float, s: float) -> float:
        opts = dataclasses.replace(base_options, **{w_name: w, s_name: s})
        # Word times are not used here: any frame duration gives the same texts.
        texts = [best_of(n).text for n in parallel_decode(base.with_options(opts), batch, options.workers,
                                                          frame_seconds=frame_seconds)]
        wer = _wer(texts, refs)
        trials.append({w_name: round(w, 4), s_name: round(s, 4), "wer": wer})
        log.debug("%s=%.3f %s=%.3f WER %.4f", w_name, w, s_name, s, wer)
        return wer

    default = (getattr(base_options, w_name), getattr(base_options, s_name))
    from tqdm import tqdm

    bar = tqdm(total=options.trials if options.method == "tpe" else len(_grid(options)) + 1,
               desc=f"tune {decoder}", unit=" trial", disable=not progress)
    if options.method == "grid":
        for w, s in [default] + _grid(options):
            evaluate(w, s)
            bar.update()
            bar.set_postfix(best=f"{min(t['wer'] for t in trials):.4f}")
    else:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=options.seed))
        clip = lambda v, r: min(max(v, r[0]), r[1])  # noqa: E731
        study.enqueue_trial({w_name: clip(default[0], options.weight_range),
                             s_name: clip(default[1], options.score_range)})

        def objective(trial) -> float:
            return evaluate(trial.suggest_float(w_name, *options.weight_range),
                            trial.suggest_float(s_name, *options.score_range))

        study.optimize(objective, n_trials=options.trials,
                       callbacks=[lambda st, tr: (bar.update(), bar.set_postfix(best=f"{st.best_value:.4f}"))])
    bar.close()
    best = min(trials, key=lambda t: t["wer"])
    return TuningResult(
        lm=lm_name, decoder=decoder, split=split, method=options.method, params=[w_name, s_name],
        best={w_name: best[w_name], s_name: best[s_name]}, best_wer=best["wer"],
        default={w_name: default[0], s_name: default[1]}, default_wer=trials[0]["wer"],
        beam=getattr(base_options, "beam", 0), trials=trials, seconds=round(time.time() - started, 1),
        ranges={w_name: list(options.weight_range), s_name: list(options.score_range)},
    )


def tune_split(model_dir: str | os.PathLike, split: str, manifests: str | os.PathLike, setup,
               options: TuneOptions = TuneOptions(), logits_options=None, progress: bool = True) -> TuningResult:
    """Tune `setup`'s decoder (asrkit.decode.setup.DecoderSetup) on one split, its log-probs
    cached first when missing or stale, and save the result in <model_dir>/lm-tuning.json."""
    from asrkit import logits
    from asrkit.decode.run import references
    from asrkit.inference import LogitsOptions

    if setup.lm is None:
        raise SettingError("tune-lm needs `lm`: there is no LM weight to tune without one")
    cache = logits.ensure(model_dir, split, manifests, logits_options or LogitsOptions(), progress=progress)
    if len(cache) == 0:
        raise DataError(f"{cache.folder}: the split {split!r} has no utterances to tune on")
    result = tune(setup.decoder, setup.options, cache.log_probs(), references(cache), options,
                  vocab=Vocabulary.of(cache.tokens), lm_name=setup.lm.name, split=split, progress=progress,
                  frame_seconds=cache.seconds_per_frame)
    save_tuning(model_dir, result)
    return result


def save_tuning(model_dir: str | os.PathLike, result: TuningResult) -> Path:
    """Add `result` to <model_dir>/lm-tuning.json (asrkit.results), replacing any for the same
    LM and decoder."""
    return results.save_tuning(model_dir, dataclasses.asdict(result))
