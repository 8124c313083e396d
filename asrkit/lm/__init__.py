"""KenLM language models: build from text, download the LibriSpeech 4-gram, resolve by name.

Every model lives in its own folder under asrkit.workspace.lm_dir():

    work/lm/<name>/
        <name>.arpa     the n-gram in ARPA text form
        <name>.bin      the same, KenLM binary (fast to load; what the decoders read)
        unigrams.txt    one word per line: the LM vocabulary (pyctcdecode needs it beside a
                        binary LM, since it cannot read words from one)
        lexicon.txt     word TAB its letters, space separated, ending with the word
                        delimiter, as flashlight and fairseq read it:
                            HELLO\tH E L L O |
        info.json       what was built from what: order, unit, corpus lines, vocabulary
                        size, inputs with sha256, options

A "letter" model (unit="letter") is an n-gram over the letters of the same corpus
("H E L L O | W O R L D |"), for the lexicon-free decoder, which asks its LM about
one token at a time.

The package, one module per job:

    tools.py     where KenLM's lmplz and build_binary are (setting, environment, PATH,
                 asrkit's setup) and how they are run
    formats.py   ARPA, binary, unigrams.txt and lexicon.txt
    registry.py  LanguageModel and resolve(): models by name, folder or file
    builder.py   build(): text -> normalise -> lmplz -> build_binary -> word lists
    openslr.py   download(): the LibriSpeech n-grams of OpenSLR resource 11
    memory.py    what a model needs in memory (from its ARPA header or binary size);
                 check_fits() refuses one that cannot fit before it is loaded
"""

from asrkit.errors import LMError
from asrkit.lm.builder import BuildOptions, build, corpus_lines, finish_arpa
from asrkit.lm.formats import (arpa_order, arpa_words, check_lm_file, open_text, read_lexicon, read_words,
                               write_lexicon, write_unigrams)
from asrkit.lm.memory import arpa_counts, available_bytes, check_fits, kenlm_bytes, resident_bytes
from asrkit.lm.openslr import CORPUS_FILE, DOWNLOADABLE, LM_RESOURCE, LM_URL, download
from asrkit.lm.registry import LanguageModel, available, lexicon_words, resolve
from asrkit.lm.tools import kenlm_tool

__all__ = ["BuildOptions", "CORPUS_FILE", "DOWNLOADABLE", "LMError", "LM_RESOURCE", "LM_URL", "LanguageModel",
           "arpa_counts", "arpa_order", "arpa_words", "available", "available_bytes", "build", "check_fits",
           "check_lm_file", "corpus_lines", "download", "finish_arpa", "kenlm_bytes", "kenlm_tool", "lexicon_words",
           "open_text", "read_lexicon", "read_words", "resident_bytes", "resolve", "write_lexicon", "write_unigrams"]
