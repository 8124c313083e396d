"""Decode splits from their cached log-probs and write the results layout (asrkit.results):

    <model_dir>/decode/<split>/<setting>/recogs.jsonl, nbest.jsonl, nbest-info.json,
                                          errs.txt, wer-summary.json

recogs.jsonl holds each utterance's best hypothesis with its timed words; nbest.jsonl every
hypothesis the decoder kept (up to `nbest`), and nbest-info.json what made them.

Setting names (asrkit.decode.setup.setting_name): "greedy"; the LM's name for the default
(flashlight lexicon) decoder, e.g. "4gram"; "<lm>-pyctcdecode" / "<lm>-lexfree" for the
others, and "lexfree" or "pyctcdecode" when they run without an LM.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time

from asrkit import logits
from asrkit.decode import Vocabulary, check_log_probs, check_nbest, make_decoder, parallel_decode
from asrkit.decode.setup import DecoderSetup, lm_record
from asrkit.errors import DataError
from asrkit.hypotheses import best
from asrkit.inference import LogitsOptions
from asrkit.logits import LogitsCache
from asrkit.provenance import git_commit
from asrkit.results import DecodeSummary, Recog, result_dir, write_nbest, write_recogs, write_summary
from asrkit.score import write_error_stats

log = logging.getLogger(__name__)


def references(cache: LogitsCache) -> list[Recog]:
    """One Recog per cached utterance, with the reference and an empty hypothesis."""
    return [Recog(id=u["id"], speaker=u["speaker"], duration=u["duration"], ref=u["text"], hyp="")
            for u in cache.utterances]


def decode_splits(model_dir: str | os.PathLike, splits: list[str], manifests: str | os.PathLike,
                  setup: DecoderSetup, logits_options: LogitsOptions = LogitsOptions(), setting: str | None = None,
                  command: str = "", workers: int | None = None, progress: bool = True,
                  nbest: int = 1) -> list[DecodeSummary]:
    """Decode each split (its log-probs cached first when missing or stale) and write its results,
    with up to `nbest` hypotheses per utterance in nbest.jsonl.

    One decoder (one LM load) serves every split whose vocabulary is the same.
    """
    check_nbest(nbest)
    lm = lm_record(setup.lm)
    built, summaries = None, []
    for split in splits:
        cache = logits.ensure(model_dir, split, manifests, logits_options, progress=progress)
        if built is None or list(built.vocab.tokens) != cache.tokens:
            built = make_decoder(setup.decoder, setup.options, Vocabulary.of(cache.tokens))
        summaries.append(decode_split(model_dir, split, cache, setup.decoder, setup.options,
                                      setting or setup.setting, command, workers, progress, built=built,
                                      nbest=nbest, lm=lm))
    return summaries


def decode_split(model_dir: str | os.PathLike, split: str, cache: LogitsCache, decoder: str, options,
                 setting: str, command: str = "", workers: int | None = None,
                 progress: bool = True, built=None, nbest: int = 1, lm: dict | None = None) -> DecodeSummary:
    """Decode every utterance of `cache` and write recogs, N-best lists, errs and the WER summary.

    `built` is a decoder already made for these options and this vocabulary (so that
    several splits share one loaded LM); by default one is made here. `lm` describes the LM
    for nbest-info.json (asrkit.decode.setup.lm_record).
    """
    check_nbest(nbest)
    if len(cache) == 0:
        raise DataError(f"{cache.folder}: the split {split!r} has no utterances to decode")
    vocab = Vocabulary.of(cache.tokens)
    batch = check_log_probs(cache.log_probs(), vocab)
    started = time.time()
    dec = built if built is not None and built.vocab == vocab else make_decoder(decoder, options, vocab)
    load_seconds = time.time() - started
    started = time.time()
    spf = cache.seconds_per_frame
    if decoder == "greedy":
        lists = [dec.decode_one(x, spf) for x in batch]
    else:
        lists = parallel_decode(dec, batch, workers, progress, frame_seconds=spf, nbest=nbest)
    seconds = time.time() - started
    recogs = [dataclasses.replace(r, hyp=best(n).text, words=best(n).words) for r, n in zip(references(cache), lists)]
    out = result_dir(model_dir, split, setting)
    write_recogs(out, recogs)
    write_nbest(out, [(r.id, r.ref, n) for r, n in zip(recogs, lists)], {
        "logits_fingerprint": cache.index.get("fingerprint"), "model": str(model_dir), "split": split,
        "setting": setting, "decoder": _jsonable({"name": decoder, **dataclasses.asdict(options)}),
        "lm": lm, "lm_weight_ln": getattr(dec, "lm_weight_ln", 0.0), "nbest": nbest,
        "seconds_per_frame": spf, "utterances": len(recogs)})
    s = write_error_stats(out / "errs.txt", recogs)
    settings = {"name": decoder, **dataclasses.asdict(options), "workers": workers,
                "load_seconds": round(load_seconds, 2)}
    summary = DecodeSummary(
        model=str(model_dir), split=split, setting=setting, wer=s.wer, cer=s.cer,
        substitutions=s.substitutions, deletions=s.deletions, insertions=s.insertions,
        ref_words=s.ref_words, utterances=s.utterances,
        rtf=seconds / max(cache.audio_seconds, 1e-9), decoder=_jsonable(settings),
        command=command, commit=git_commit(), skipped=cache.skipped,
    )
    write_summary(out, summary)
    log.info("%s %s: WER %.2f%% (%d utterances, RTF %.4f)", split, setting, 100 * s.wer, s.utterances, summary.rtf)
    if summary.skipped:
        log.warning("%s %s: %d more utterance(s) of the manifest not decoded (unreadable audio, listed in %s)",
                    split, setting, summary.skipped, cache.folder)
    return summary


def _jsonable(d: dict) -> dict:
    """Infinite floats (flashlight's 'no threshold') as strings, which JSON can hold."""
    return {k: (str(v) if isinstance(v, float) and math.isinf(v) else v) for k, v in d.items()}
