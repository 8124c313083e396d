"""Which decoder, which LM and which weights: the one policy that decode, tune-lm,
transcribe and the demo share.

    choice = DecoderChoice(lm="4gram", settings={"beam": 100})
    setup = setup_decoder(model_dir, choice)   # decoder "flashlight", LM 4gram, tuned weights
    make_decoder(setup.decoder, setup.options, vocab)

The rules, in order:
  - without an LM the decoder is greedy, with one the flashlight lexicon decoder, unless
    `decoder` names another; greedy takes no LM and no beam-search settings;
  - the LM must suit the decoder: a word LM for flashlight and pyctcdecode, a letter LM
    for lexfree (asrkit.lm's info.json says which);
  - weights tuned by `asrkit tune-lm` for this model, LM and decoder (<model>/lm-tuning.json)
    apply unless `use_tuned` is off; settings given explicitly win over tuned ones.

Messages name settings as `lm`, `decoder`, `beam`, ...: the CLI shows its flags instead.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from asrkit.decode import DECODERS
from asrkit.errors import DecodeError, SettingError
from asrkit.lm import LanguageModel, lexicon_words, resolve, write_lexicon
from asrkit.results import tuned_params

# The beam-search settings a user may give, over all decoders (each decoder takes some).
BEAM_SETTINGS = ("beam", "beam_threshold", "beam_size_token", "lm_weight", "word_score", "sil_score",
                 "alpha", "beta", "beam_prune_logp", "token_min_logp", "hotwords")


@dataclass(frozen=True)
class DecoderChoice:
    """What the user asked for; setup_decoder turns it into a decoder and its options."""

    lm: str = "none"  # an LM name under lm_dir, a folder, an .arpa/.bin file, or "none"
    lm_dir: Path | None = None  # folder of named LMs; None: the workspace's lm/
    decoder: str | None = None  # one of DECODERS; None: flashlight with an LM, greedy without
    settings: dict = field(default_factory=dict)  # beam-search settings given (BEAM_SETTINGS); None = not given
    use_tuned: bool = True  # apply the weights `asrkit tune-lm` saved for this model, LM and decoder


@dataclass(frozen=True)
class DecoderSetup:
    decoder: str  # one of DECODERS
    lm: LanguageModel | None
    options: object  # the decoder's options dataclass
    source: str  # where the LM weights came from: "tuned (lm-tuning.json)" or "defaults"

    @property
    def setting(self) -> str:
        """The result name decode writes under: greedy, <lm>, <lm>-<decoder>."""
        return setting_name(self.decoder, self.lm)


def setup_decoder(model_dir: str | os.PathLike, choice: DecoderChoice = DecoderChoice()) -> DecoderSetup:
    """The decoder, LM and options for `choice` on the model in `model_dir` (rules above)."""
    lm = resolve(choice.lm, choice.lm_dir)
    decoder = choice.decoder or ("flashlight" if lm is not None else "greedy")
    given = {k: v for k, v in choice.settings.items() if v is not None}
    _check_choice(decoder, lm, given)
    tuned = tuned_params(model_dir, lm.name, decoder) if (lm is not None and choice.use_tuned) else None
    options = make_options(decoder, lm, {**(tuned or {}), **given})
    return DecoderSetup(decoder, lm, options, "tuned (lm-tuning.json)" if tuned else "defaults")


def _check_choice(decoder: str, lm: LanguageModel | None, given: dict) -> None:
    if lm is not None and lm.kind == "transformer":  # asrkit.rescore: it re-ranks a first pass's lists
        raise SettingError(f"`lm` {lm.name} is a Transformer LM, which re-ranks a beam search's N-best lists "
                           f"instead of driving one: set `lm` to an n-gram (e.g. 4gram) and `rescore` to {lm.name}")
    if decoder == "greedy" and lm is not None:
        raise SettingError("the greedy `decoder` takes no LM: set `lm` to none")
    if decoder == "flashlight" and lm is None:
        raise SettingError("the flashlight `decoder` needs `lm` (its words and lexicon)")
    if decoder == "greedy" and given:
        raise SettingError(f"{', '.join(f'`{k}`' for k in given)} need a beam-search decoder (set `lm`)")


def lm_record(lm: LanguageModel | None) -> dict | None:
    """What identifies an LM in a results folder (nbest-info.json): name, the file the decoders
    load, and a sha256: of its info.json (which holds the sha256 of the text it was built from
    and its options, or of the download) when it has one, else of the file's name, size and
    modification time (hashing a multi-GB binary on every decode would cost seconds)."""
    import hashlib

    if lm is None:
        return None
    info = lm.path.parent / "info.json"
    if lm.info and info.is_file():
        digest, source = hashlib.sha256(info.read_bytes()).hexdigest(), str(info)
    else:
        st = lm.path.stat()
        digest = hashlib.sha256(f"{lm.path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()
        source = "path, size and mtime"
    return {"name": lm.name, "path": str(lm.path), "unit": lm.unit, "sha256": digest, "sha256_of": source}


def setting_name(decoder: str, lm: LanguageModel | None) -> str:
    if decoder == "greedy":
        return "greedy"
    if lm is None:
        return decoder
    return lm.name if decoder == "flashlight" else f"{lm.name}-{decoder}"


def make_options(decoder: str, lm: LanguageModel | None, values: dict | None = None):
    """The decoder's options dataclass for `lm`, with `values` (tuned or given) applied.

    Keys of `values` that the decoder does not have are an error naming them; None values
    are ignored (a setting the user did not give).
    """
    values = {k: v for k, v in (values or {}).items() if v is not None}
    if decoder not in DECODERS:
        raise SettingError(f"unknown `decoder` {decoder!r}: choose from {', '.join(DECODERS)}")
    cls, base = _OPTIONS[decoder](lm)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise SettingError(f"the {decoder} decoder has no setting {', '.join(f'`{k}`' for k in unknown)} "
                           f"(it has {', '.join(sorted(fields - set(base))) or 'none'})")
    return cls(**{**base, **values})


def _greedy(lm: LanguageModel | None):
    from asrkit.decode.greedy import GreedyOptions

    return GreedyOptions, {}


def _flashlight(lm: LanguageModel | None):
    from asrkit.decode.flashlight import FlashlightOptions

    if lm is None:
        raise DecodeError("the flashlight lexicon decoder needs an `lm` (it reads the LM's lexicon); "
                          "use `decoder` lexfree, or `lm` none for greedy")
    if lm.unit != "word":
        raise DecodeError(f"{lm.path}: a {lm.unit} LM cannot drive the lexicon decoder; use `decoder` lexfree")
    lexicon = lm.lexicon
    if lexicon is None:  # a bare ARPA given by path: spell a lexicon from its words
        lexicon = _spelled_lexicon(lm)
    return FlashlightOptions, {"lm": str(lm.path), "lexicon": str(lexicon)}


def _lexfree(lm: LanguageModel | None):
    from asrkit.decode.flashlight import LexiconFreeOptions

    if lm is not None and lm.unit != "letter":
        raise DecodeError(f"{lm.path}: the lexicon-free decoder needs an LM over letters "
                          "(`asrkit lm build --unit letter`), not a word LM; or set `lm` to none")
    return LexiconFreeOptions, {"lm": str(lm.path) if lm else None}


def _pyctcdecode(lm: LanguageModel | None):
    import importlib.util

    from asrkit.decode.pyctcdecode import PyctcdecodeOptions

    if importlib.util.find_spec("pyctcdecode") is None:  # an optional dependency
        raise DecodeError("the pyctcdecode decoder needs the pyctcdecode package (pip install pyctcdecode); "
                          "or choose the flashlight decoder")

    if lm is not None and lm.unit != "word":
        raise DecodeError(f"{lm.path}: pyctcdecode needs a word LM")
    return PyctcdecodeOptions, {"lm": str(lm.path) if lm else None,
                                "unigrams": str(lm.unigrams) if lm and lm.unigrams else None}


# decoder name -> (options class, the values the LM fixes)
_OPTIONS = {"greedy": _greedy, "flashlight": _flashlight, "lexfree": _lexfree, "pyctcdecode": _pyctcdecode}


def _spelled_lexicon(lm: LanguageModel) -> Path:
    """A lexicon spelling every word of a bare ARPA, in the temp folder (one per process)."""
    path = Path(tempfile.gettempdir()) / f"asrkit-lexicon-{os.getpid()}-{lm.name}.txt"
    write_lexicon(list(lexicon_words(lm)), path)
    return path
