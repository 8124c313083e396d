"""Training examples and batches: the one place the batch schema is written down.

Dimensions:
    B  utterances in a batch
    T  input length: samples at 16 kHz (waveform models), or filterbank frames (w2v-BERT,
       10 ms frames stacked in pairs, so 20 ms each)
    F  160 stacked log-mel features per frame (w2v-BERT only)
    L  label length in tokens (letters, "'" and "|" between words)
    T' logit frames, 20 ms each: asrkit.model.output_lengths(model, input_lengths)
    V  vocabulary size, len(tokenizer) (asrkit.vocab: <pad>=blank=0, <unk>=1, |=2, '=3, A=4 ... Z=29)

Example (one utterance, from SpeechDataset):
    id        str
    inputs    float32 (T,) waveform, or (T, F) filterbanks; already normalised by the
              processor's feature extractor
    labels    int64 (L,) token ids
    samples   int, audio length at 16 kHz (batching and audio-seconds counts)

Batch (from Collator):
    ids             list[str], B of them
    inputs          float32 (B, T) or (B, T, F), zero-padded on the right
    input_lengths   int64 (B,) true T of each utterance
    attention_mask  int64 (B, T), 1 = real, 0 = padding; None only for base-style (group
                    norm) models under model.attention_mask: transformers (asrkit.model)
    labels          int64 (B, L) padded with -100 (transformers' ignore index)
    label_lengths   int64 (B,)
    samples         int64 (B,) audio samples of each utterance
    weight          float, 1.0; 0.0 for a dummy batch that only keeps DDP ranks in step

The model maps inputs to logits (B, T', V).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from asrkit.audio import SAMPLE_RATE, load_audio
from asrkit.ctc import FBANK_HOP as _FBANK_HOP, FBANK_WINDOW as _FBANK_WINDOW
from asrkit.data.manifest import Utterance
from asrkit.errors import AudioError
from asrkit.vocab import UNK, letters

log = logging.getLogger(__name__)

# Filterbank framing of SeamlessM4TFeatureExtractor: 25 ms windows every 10 ms, two frames stacked.
_FBANK_STACK = 2  # filterbank frames stacked per model input (SeamlessM4TFeatureExtractor stride)


@dataclass(frozen=True)
class Example:
    id: str
    inputs: np.ndarray
    labels: np.ndarray
    samples: int


@dataclass
class Batch:
    ids: list[str]
    inputs: torch.Tensor
    input_lengths: torch.Tensor
    attention_mask: torch.Tensor | None
    labels: torch.Tensor
    label_lengths: torch.Tensor
    samples: torch.Tensor
    weight: float = 1.0

    def to(self, device) -> "Batch":
        moved = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name, value in moved.items():
            if isinstance(value, torch.Tensor):
                moved[name] = value.to(device, non_blocking=True)
        return Batch(**moved)

    @property
    def size(self) -> int:
        return len(self.ids)


def encode_text(text: str, vocab: dict[str, int]) -> np.ndarray:
    """Token ids of a normalised transcript: letters as themselves, spaces as "|"."""
    unk = vocab[UNK]
    return np.array([vocab.get(t, unk) for t in letters(text)], dtype=np.int64)


def samples_at_16k(utt: Utterance) -> int:
    """Samples after resampling to 16 kHz (what load_audio returns), from the manifest alone."""
    return utt.samples if utt.sample_rate == SAMPLE_RATE else round(utt.samples * SAMPLE_RATE / utt.sample_rate)


def input_length(samples: int, waveform_input: bool) -> int:
    """T of an utterance of `samples` 16 kHz samples: itself, or its stacked filterbank frames."""
    if waveform_input:
        return samples
    frames = 1 + (samples - _FBANK_WINDOW) // _FBANK_HOP if samples >= _FBANK_WINDOW else 0
    return frames // _FBANK_STACK


class Featurizer:
    """waveform (T,) -> model inputs for one utterance, through the processor's feature
    extractor (per-utterance normalisation of waveforms when do_normalize; stacked log-mel
    filterbanks for w2v-BERT). A class, not a closure, so that DataLoader workers can pickle it."""

    def __init__(self, feature_extractor, waveform_input: bool):
        self.feature_extractor = feature_extractor
        self.waveform_input = waveform_input

    def __call__(self, wave: np.ndarray) -> np.ndarray:
        out = self.feature_extractor(wave, sampling_rate=SAMPLE_RATE, return_tensors="np")
        if self.waveform_input:
            return out["input_values"][0].astype(np.float32)
        frames = int(out["attention_mask"][0].sum())
        return out["input_features"][0, :frames].astype(np.float32)


class SpeechDataset(torch.utils.data.Dataset):
    """Utterances as Examples. With cache=True every utterance is loaded and featurised once
    (call preload), which pays off for the small Libri-light splits that are read thousands
    of times; otherwise audio is read on every access (use DataLoader workers)."""

    def __init__(self, utterances: Sequence[Utterance], featurize: Callable, vocab: dict[str, int],
                 cache: bool = False):
        self.utterances = list(utterances)
        self.featurize = featurize
        self.vocab = vocab
        self.cache: dict[int, Example] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.utterances)

    def load(self, i: int) -> Example:
        return self.load_utterance(self.utterances[i])

    def load_utterance(self, utt: Utterance) -> Example:
        wave = load_audio(utt.audio, SAMPLE_RATE)
        return Example(utt.id, self.featurize(wave), encode_text(utt.text, self.vocab), len(wave))

    def __getitem__(self, i: int) -> Example:
        if self.cache is None:
            return self.load(i)
        if i not in self.cache:
            self.cache[i] = self.load(i)
        return self.cache[i]

    def preload(self, desc: str = "loading audio", disable: bool = False) -> list[str]:
        """Load every utterance into the cache (when caching). Those whose audio cannot be read
        leave the dataset; returns their errors ("<file>: <why>"), for the caller to report."""
        from tqdm import tqdm

        if self.cache is None:
            return []
        kept, errors = [], []
        for utt in tqdm(self.utterances, desc=desc, unit="utt", disable=disable, leave=False):
            try:
                example = self.load_utterance(utt)
            except AudioError as e:
                errors.append(str(e))
                continue
            self.cache[len(kept)] = example
            kept.append(utt)
        self.utterances = kept
        return errors


class Collator:
    """list[Example] -> Batch (schema in the module docstring)."""

    def __init__(self, attention_mask: bool):
        self.attention_mask = attention_mask

    def __call__(self, examples: Sequence[Example], weight: float = 1.0) -> Batch:
        lengths = [len(e.inputs) for e in examples]
        t = max(lengths)
        feature_shape = examples[0].inputs.shape[1:]
        inputs = np.zeros((len(examples), t, *feature_shape), dtype=np.float32)
        mask = np.zeros((len(examples), t), dtype=np.int64)
        for b, e in enumerate(examples):
            inputs[b, :len(e.inputs)] = e.inputs
            mask[b, :len(e.inputs)] = 1
        label_lengths = [len(e.labels) for e in examples]
        labels = np.full((len(examples), max(max(label_lengths), 1)), -100, dtype=np.int64)
        for b, e in enumerate(examples):
            labels[b, :len(e.labels)] = e.labels
        return Batch(
            ids=[e.id for e in examples], inputs=torch.from_numpy(inputs),
            input_lengths=torch.tensor(lengths, dtype=torch.long),
            attention_mask=torch.from_numpy(mask) if self.attention_mask else None,
            labels=torch.from_numpy(labels), label_lengths=torch.tensor(label_lengths, dtype=torch.long),
            samples=torch.tensor([e.samples for e in examples], dtype=torch.long), weight=weight,
        )
