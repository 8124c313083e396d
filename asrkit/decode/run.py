"""Decode a split from its cached log-probs and write the results layout (asrkit.results):

    <model_dir>/decode/<split>/<setting>/recogs.jsonl, errs.txt, wer-summary.json

Setting names: "greedy"; the LM's name for the default (flashlight lexicon) decoder, e.g.
"4gram"; "<lm>-pyctcdecode" / "<lm>-lexfree" for the others, and "lexfree" or
"pyctcdecode" when they run without an LM.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import time
from pathlib import Path

from asrkit.decode import DECODERS, Vocabulary, check_log_probs, make_decoder, parallel_decode
from asrkit.errors import DataError, DecodeError, SettingError
from asrkit.lm import REPO_ROOT, LanguageModel
from asrkit.logits import LogitsCache
from asrkit.results import DecodeSummary, Recog, result_dir, write_recogs, write_summary
from asrkit.score import write_error_stats

log = logging.getLogger(__name__)


def setting_name(decoder: str, lm: LanguageModel | None) -> str:
    if decoder == "greedy":
        return "greedy"
    if lm is None:
        return decoder
    return lm.name if decoder == "flashlight" else f"{lm.name}-{decoder}"


def make_options(decoder: str, lm: LanguageModel | None, values: dict | None = None):
    """The decoder's options dataclass for `lm`, with `values` (tuned or given) applied.

    Keys of `values` that the decoder does not have are an error naming them; None values
    are ignored (an option the user did not give).
    """
    values = {k: v for k, v in (values or {}).items() if v is not None}
    if decoder not in DECODERS:
        raise SettingError(f"unknown decoder {decoder!r}: choose from {', '.join(DECODERS)}")
    if decoder == "greedy":
        from asrkit.decode.greedy import GreedyOptions as cls

        base = {}
    elif decoder == "flashlight":
        from asrkit.decode.flashlight import FlashlightOptions as cls
        from asrkit.lm import lexicon_words

        if lm is None:
            raise DecodeError("the flashlight lexicon decoder needs --lm (it reads the LM's lexicon); "
                             "use --decoder lexfree or --lm none for greedy")
        if lm.unit != "word":
            raise DecodeError(f"{lm.path}: a {lm.unit} LM cannot drive the lexicon decoder; use --decoder lexfree")
        lexicon = lm.lexicon
        if lexicon is None:  # a bare ARPA given by path: spell a lexicon from its words
            lexicon = _spelled_lexicon(lm, lexicon_words(lm))
        base = {"lm": str(lm.path), "lexicon": str(lexicon)}
    elif decoder == "lexfree":
        from asrkit.decode.flashlight import LexiconFreeOptions as cls

        if lm is not None and lm.unit != "letter":
            raise DecodeError(f"{lm.path}: the lexicon-free decoder needs an LM over letters "
                             "(`asrkit lm build --unit letter`), not a word LM; or use --lm none")
        base = {"lm": str(lm.path) if lm else None}
    else:
        from asrkit.decode.pyctcdecode import PyctcdecodeOptions as cls

        if lm is not None and lm.unit != "word":
            raise DecodeError(f"{lm.path}: pyctcdecode needs a word LM")
        base = {"lm": str(lm.path) if lm else None,
                "unigrams": str(lm.unigrams) if lm and lm.unigrams else None}
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise SettingError(f"the {decoder} decoder has no setting {', '.join(unknown)} "
                         f"(it has {', '.join(sorted(fields - set(base))) or 'none'})")
    return cls(**{**base, **values})


def _spelled_lexicon(lm: LanguageModel, lexicon: dict) -> Path:
    import tempfile

    from asrkit.lm import write_lexicon

    path = Path(tempfile.gettempdir()) / f"asrkit-lexicon-{os.getpid()}-{lm.name}.txt"
    write_lexicon(list(lexicon), path)
    return path


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def references(cache: LogitsCache) -> list[Recog]:
    """One Recog per cached utterance, with the reference and an empty hypothesis."""
    return [Recog(id=u["id"], speaker=u["speaker"], duration=u["duration"], ref=u["text"], hyp="")
            for u in cache.utterances]


def decode_split(model_dir: str | os.PathLike, split: str, cache: LogitsCache, decoder: str, options,
                 setting: str, command: str = "", workers: int | None = None,
                 progress: bool = True, built=None) -> DecodeSummary:
    """Decode every utterance of `cache` and write recogs, errs and the WER summary.

    `built` is a decoder already made for these options and this vocabulary (so that
    several splits share one loaded LM); by default one is made here.
    """
    if len(cache) == 0:
        raise DataError(f"{cache.folder}: the split {split!r} has no utterances to decode")
    vocab = Vocabulary.of(cache.tokens)
    batch = check_log_probs(cache.log_probs(), vocab)
    started = time.time()
    dec = built if built is not None and built.vocab == vocab else make_decoder(decoder, options, vocab)
    load_seconds = time.time() - started
    started = time.time()
    if decoder == "greedy":
        texts = [dec.decode_one(x) for x in batch]
    else:
        texts = parallel_decode(dec, batch, workers, progress)
    seconds = time.time() - started
    recogs = [dataclasses.replace(r, hyp=t) for r, t in zip(references(cache), texts)]
    out = result_dir(model_dir, split, setting)
    write_recogs(out, recogs)
    s = write_error_stats(out / "errs.txt", recogs)
    settings = {"name": decoder, **{k: v for k, v in dataclasses.asdict(options).items()},
                "workers": workers, "load_seconds": round(load_seconds, 2)}
    summary = DecodeSummary(
        model=str(model_dir), split=split, setting=setting, wer=s.wer, cer=s.cer,
        substitutions=s.substitutions, deletions=s.deletions, insertions=s.insertions,
        ref_words=s.ref_words, utterances=s.utterances,
        rtf=seconds / max(cache.audio_seconds, 1e-9), decoder=_jsonable(settings),
        command=command, commit=git_commit(),
    )
    write_summary(out, summary)
    log.info("%s %s: WER %.2f%% (%d utterances, RTF %.4f)", split, setting, 100 * s.wer, s.utterances, summary.rtf)
    return summary


def _jsonable(d: dict) -> dict:
    import math

    return {k: (str(v) if isinstance(v, float) and math.isinf(v) else v) for k, v in d.items()}
