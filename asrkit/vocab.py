"""The letter vocabulary and the Hugging Face processor built from it.

Index 0 is the CTC blank, which is also the tokenizer's pad token, as transformers'
Wav2Vec2ForCTC expects (config.pad_token_id is the blank of its CTC loss). "|" separates
words, as in fairseq's .ltr files and the flashlight decoder's silence token.

    <pad>=0 (blank)  <unk>=1  |=2  '=3  A=4 ... Z=29
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from asrkit.audio import SAMPLE_RATE
from asrkit.text import LETTERS

BLANK = "<pad>"
UNK = "<unk>"
WORD_DELIMITER = "|"


def letters(text: str) -> list[str]:
    """The CTC label of a normalised transcript: its characters, "|" for each space.

    "HI YOU" -> ["H", "I", "|", "Y", "O", "U"]
    """
    return [WORD_DELIMITER if c == " " else c for c in text]


def spelled(text: str) -> str:
    """Words as fairseq's .ltr files and KenLM lexicons spell them: letters, "|" after each word.

    "HI YOU" -> "H I | Y O U |"
    """
    return " ".join(f"{' '.join(word)} {WORD_DELIMITER}" for word in text.split())


def letter_vocab() -> dict[str, int]:
    """Token -> id for blank, unknown, word delimiter, apostrophe and A-Z."""
    tokens = [BLANK, UNK, WORD_DELIMITER, "'"] + [c for c in LETTERS if c != "'"]
    return {t: i for i, t in enumerate(tokens)}


def build_tokenizer(vocab: dict[str, int] | None = None):
    """A Wav2Vec2CTCTokenizer over `vocab` (default: letter_vocab()).

    bos/eos are disabled so that len(tokenizer) == len(vocab): the CTC head is sized with
    len(tokenizer), and extra special tokens would add outputs the model never emits.
    """
    from transformers import Wav2Vec2CTCTokenizer

    vocab = vocab or letter_vocab()
    with tempfile.TemporaryDirectory() as tmp:
        vocab_file = Path(tmp) / "vocab.json"
        vocab_file.write_text(json.dumps(vocab))
        return Wav2Vec2CTCTokenizer(
            str(vocab_file), unk_token=UNK, pad_token=BLANK, word_delimiter_token=WORD_DELIMITER,
            bos_token=None, eos_token=None, do_lower_case=False,
        )


def build_feature_extractor(return_attention_mask: bool = True, do_normalize: bool = True):
    """A Wav2Vec2FeatureExtractor for 16 kHz raw audio.

    Whether inference passes attention masks: asrkit.model decides (always, as fairseq's
    padding masks; or transformers' convention, none for group-norm base-style checkpoints).
    """
    from transformers import Wav2Vec2FeatureExtractor

    return Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=SAMPLE_RATE, padding_value=0.0,
        do_normalize=do_normalize, return_attention_mask=return_attention_mask,
    )


def build_processor(return_attention_mask: bool = True, do_normalize: bool = True):
    """Wav2Vec2Processor = letter tokenizer + raw-audio feature extractor."""
    from transformers import Wav2Vec2Processor

    return Wav2Vec2Processor(
        feature_extractor=build_feature_extractor(return_attention_mask, do_normalize),
        tokenizer=build_tokenizer(),
    )


def save_processor(out_dir: str | os.PathLike, return_attention_mask: bool = True):
    """Build the processor and save it with save_pretrained; returns it."""
    processor = build_processor(return_attention_mask)
    processor.save_pretrained(str(out_dir))
    return processor
