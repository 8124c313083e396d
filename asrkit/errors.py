"""Errors a user can fix, one class per area.

An `AsrkitError` is a problem with the user's input or set-up (a recipe value out of
range, a manifest that does not exist, an LM that cannot drive the chosen decoder). The
CLI prints it as one line, `asrkit COMMAND: error: MESSAGE`; `asrkit -v` adds the
traceback. Any other exception is a bug in asrkit or below it and always shows its
traceback, so that a ValueError from deep in numpy or torch is never mistaken for bad input.

Library messages name settings as the library spells them (`chunk_seconds`,
`model.name`); the CLI maps settings to its flags in one place (asrkit.cli.flags).

    AsrkitError
    ├── SettingError      an option or recipe value is out of range or unknown
    │   └── RecipeError   a recipe file or a `--set` override is malformed
    ├── InputNotFound     a file, folder or name the user gave does not exist
    ├── DataError         a corpus, manifest or split is unusable
    │   ├── AudioError    an audio file cannot be read or is too short
    │   └── SynthError    a text-to-speech engine failed
    ├── ModelError        a checkpoint cannot be loaded or does not fit the vocabulary
    ├── CacheError        a logits cache is missing or does not match its model
    ├── DecodeError       a decoder cannot run with these settings or this LM
    ├── LMError           a language model, lexicon or KenLM tool failed
    ├── DownloadError     a download failed or its bytes do not match
    ├── TrainError        a run folder or launch does not fit the training asked for
    ├── FolderBusy        another command is writing the output folder (asrkit.locks)
    └── ReportError       there is nothing to report on
"""

from __future__ import annotations


class AsrkitError(Exception):
    """A problem the user can fix; the CLI prints it in one line."""


class SettingError(AsrkitError):
    """An option or recipe value is out of range, unknown or inconsistent with another."""


class RecipeError(SettingError):
    """A recipe file or a `--set section.key=value` override is malformed."""


class InputNotFound(AsrkitError, FileNotFoundError):
    """A file, folder or name the user gave does not exist. Also a FileNotFoundError, so
    callers that look for a missing file the standard way still catch it."""


class DataError(AsrkitError):
    """A corpus, manifest or split cannot be used as it is."""


class AudioError(DataError):
    """An audio file cannot be read, holds no samples or is too short for the model."""


class SynthError(DataError):
    """A text-to-speech engine could not be run or made no audio."""


class ModelError(AsrkitError):
    """A checkpoint cannot be loaded, or does not fit its tokenizer or the recipe."""


class CacheError(AsrkitError):
    """A logits cache is missing, or was made by another model."""


class DecodeError(AsrkitError):
    """A decoder cannot run with these settings, this vocabulary or this LM."""


class LMError(AsrkitError):
    """A language model, lexicon or KenLM tool is missing, malformed or failed."""


class DownloadError(AsrkitError):
    """A download failed, was interrupted, or its bytes do not match the expected checksum."""


class TrainError(AsrkitError):
    """The run folder or the launch does not fit the training asked for."""


class FolderBusy(AsrkitError):
    """Another command holds the lock of the folder this one would write (asrkit.locks)."""


class ReportError(AsrkitError):
    """There is nothing to report on, or a result cannot be read."""
