"""Running a fine-tuned CTC model over waveforms: log-probs out, long audio in windows.

The one inference path of asrkit: the logits cache (asrkit.logits) and transcribe
(asrkit.transcribe) both run an AcousticModel, so both cut long audio the same way.

Dimension legend: T frames (one per asrkit.ctc.samples_per_frame samples, 20 ms for wav2vec
2.0 and w2v-BERT 2.0), V vocabulary (the tokenizer's tokens, blank first).

Long audio is cut into overlapping windows (chunk_seconds long, stride_seconds of context
on each inner side), as transformers' ASR pipeline does: each window keeps only the frames
of its centre, so every frame comes from a window that saw `stride` seconds either side,
and memory stays bounded by the chunk length. Windows start on frame boundaries and their
kept frames tile the recording, so frame t of the joined log-probs is frame t of the whole
file: a word in the 40th minute gets its true time (asrkit.ctc.frame_start).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asrkit.audio import SAMPLE_RATE
from asrkit.ctc import samples_per_frame
from asrkit.errors import InputNotFound, ModelError, SettingError
from asrkit.io import damaged_file


@dataclass(frozen=True)
class LogitsOptions:
    chunk_seconds: float = 30.0  # audio longer than this is run in overlapping windows
    stride_seconds: float = 5.0  # context each window sees beyond the frames it keeps, per side
    batch_seconds: float = 160.0  # padded audio per forward pass (batch x longest window)
    device: str = "auto"  # "cpu", "cuda" or "auto" (cuda when available)
    sample_rate: int = SAMPLE_RATE

    def check(self) -> None:
        if self.chunk_seconds <= 2 * self.stride_seconds:
            raise SettingError(f"`chunk_seconds` {self.chunk_seconds} must exceed twice `stride_seconds` "
                               f"{self.stride_seconds}, or no window keeps any frame")
        if self.stride_seconds < 0 or self.batch_seconds <= 0:
            raise SettingError("`stride_seconds` must be >= 0 and `batch_seconds` > 0")
        check_device(self.device)


def check_device(device: str) -> None:
    """auto, cpu, cuda or cuda:N (and mps where torch has it); anything else would reach torch
    as an opaque RuntimeError after the model has loaded."""
    import re

    import torch

    if device in ("auto", "cpu") or re.fullmatch(r"cuda(:\d+)?", device):
        return
    if device == "mps" and torch.backends.mps.is_available():
        return
    raise SettingError(f"`device` {device!r}: choose auto, cpu, cuda or cuda:N"
                       + (" (mps: torch sees no Apple GPU here)" if device == "mps" else ""))


# --------------------------------------------------------------------------- model


def load_model(model_dir: str | os.PathLike, device: str = "cpu"):
    """(model, processor) from a folder holding a CTC model and its processor."""
    from transformers import AutoModelForCTC, AutoProcessor

    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise InputNotFound(f"no model at {model_dir}: expected config.json and weights "
                            "(a folder written by `asrkit finetune`)")
    if not any((model_dir / name).is_file() for name in ("vocab.json", "tokenizer.json")):
        raise ModelError(f"{model_dir}: no tokenizer (vocab.json): not a fine-tuned CTC model; a pre-trained "
                         "checkpoint has no letters yet (fine-tune it with `asrkit finetune`)")
    try:
        processor = AutoProcessor.from_pretrained(str(model_dir))
        model, info = AutoModelForCTC.from_pretrained(str(model_dir), output_loading_info=True)
    except Exception:
        damaged = damaged_file(model_dir)
        if damaged:
            raise ModelError(f"{damaged[0]}: damaged or truncated ({damaged[1]}); copy or train the model "
                             f"again") from None
        raise
    # transformers initialises missing weights at random and only logs it: a CTC head made up
    # now would decode noise without a word of warning.
    if any(key.startswith("lm_head.") for key in info["missing_keys"]):
        raise ModelError(f"{model_dir}: the weights have no CTC head (lm_head): not a fine-tuned CTC model "
                         "(fine-tune it with `asrkit finetune`)")
    return model.to(device).eval(), processor


def model_tokens(processor) -> list[str]:
    """The tokenizer's tokens in id order: the V columns of the model's output."""
    tokenizer = getattr(processor, "tokenizer", processor)
    return tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))


def check_vocabulary(model, tokens: list[str], model_dir) -> None:
    """The CTC head must have one output per tokenizer token (transformers sizes it with
    len(tokenizer), which can differ from tokenizer.vocab_size)."""
    v = model.config.vocab_size
    if v != len(tokens):
        raise ModelError(f"{model_dir}: the model outputs {v} classes but its tokenizer has "
                         f"{len(tokens)} tokens; the CTC head does not match the vocabulary "
                         "(size the head with len(tokenizer))")


# --------------------------------------------------------------------------- windows


@dataclass(frozen=True)
class Window:
    utt: int  # index of the utterance in the manifest (the waveform's key in AcousticModel.run)
    start: int  # first sample
    end: int  # one past the last sample
    keep_from: int  # samples into the window where the kept frames begin
    keep_to: int  # samples into the window where they end


def windows(n_samples: int, chunk: int, stride: int, utt: int = 0) -> list[Window]:
    """Overlapping windows over n_samples, as transformers' chunk_iter cuts them.

    Each window keeps frames in [keep_from, keep_to): it drops `stride` samples of context
    on each side that has a neighbour. Kept regions tile [0, n_samples) exactly.
    """
    if n_samples <= chunk:
        return [Window(utt, 0, n_samples, 0, n_samples)]
    step = chunk - 2 * stride
    out = []
    for start in range(0, n_samples, step):
        end = min(start + chunk, n_samples)
        is_last = end >= n_samples
        left = 0 if start == 0 else stride
        right = 0 if is_last else stride
        if end - start > left:
            out.append(Window(utt, start, end, left, end - start - right))
        if is_last:
            break
    return out


def kept_frames(w: Window, n: int, ratio: int) -> tuple[int, int]:
    """[first, last) of the window's n output frames that it keeps: those whose start falls in
    its centre region. Frame j of window w is frame w.start // ratio + j of the recording."""
    first = math.ceil(w.keep_from / ratio)
    last = n if w.keep_to >= w.end - w.start else min(n, math.ceil(w.keep_to / ratio))
    return first, last


def _batches(wins: list[Window], max_samples: int) -> list[list[Window]]:
    """Windows sorted longest first, grouped so that batch x longest <= max_samples."""
    from asrkit.data.batching import sorted_batches

    batches = sorted_batches([w.end - w.start for w in wins], max_samples)
    return [[wins[i] for i in batch] for batch in batches]


def _frame_counts(model, inputs, lengths: list[int], t_out: int) -> list[int]:
    """Valid output frames per batch item (the rest is padding)."""
    import torch

    from asrkit.model import output_lengths

    mask = inputs.get("attention_mask")
    in_lengths = mask.sum(-1) if mask is not None else torch.tensor(lengths)
    return [min(int(c), t_out) for c in output_lengths(model, in_lengths)]


# --------------------------------------------------------------------------- the model at work


class AcousticModel:
    """A CTC model loaded for inference with LogitsOptions' chunking: waveforms in, log-probs out.

    Used by `compute` (the cache) and by asrkit.transcribe (a user's files), so both cut long
    audio the same way (see the module doc).
    """

    def __init__(self, model_dir: str | os.PathLike, options: LogitsOptions = LogitsOptions()):
        import torch

        options.check()
        self.model_dir, self.options = Path(model_dir), options
        self.device = options.device if options.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise SettingError(f"`device` is {self.device}, but torch sees no GPU here (torch {torch.__version__}); "
                               f"use cpu, or auto to take a GPU only when there is one")
        self.model, processor = load_model(model_dir, self.device)
        self.tokens = model_tokens(processor)
        check_vocabulary(self.model, self.tokens, model_dir)
        self.feature_extractor = getattr(processor, "feature_extractor", processor)
        self.ratio = samples_per_frame(self.model.config, self.feature_extractor)
        # Whole frames per chunk and stride, so kept regions start on frame boundaries.
        self.chunk = max(1, round(options.chunk_seconds * options.sample_rate / self.ratio)) * self.ratio
        self.stride = round(options.stride_seconds * options.sample_rate / self.ratio) * self.ratio

    @property
    def seconds_per_frame(self) -> float:
        return self.ratio / self.options.sample_rate  # the sample rate the model reads (asrkit.ctc)

    def frames(self, n_samples: int) -> int:
        """Output frames for `n_samples` of audio: the model's own framing (asrkit.model.output_lengths),
        of the waveform or of the stacked filterbank frames w2v-BERT reads."""
        import torch

        from asrkit.data.collate import input_length
        from asrkit.model import output_lengths

        waveform = self.model.main_input_name == "input_values"
        return int(output_lengths(self.model, torch.tensor([input_length(n_samples, waveform)]))[0])

    def run(self, audio: dict[int, np.ndarray], progress: str | None = None) -> dict[int, np.ndarray]:
        """{key: (T_k,) waveform at options.sample_rate} -> {key: (T_k frames, V) float32 log-probs}.

        Long waveforms run in overlapping windows, batched by length up to batch_seconds;
        `progress` is the description of a progress bar over audio seconds (None: no bar).
        """
        import torch
        from tqdm import tqdm

        options, ratio = self.options, self.ratio
        wins = [w for i, wave in audio.items() for w in windows(len(wave), self.chunk, self.stride, i)]
        pieces: dict[Window, np.ndarray] = {}
        total = sum(w.end - w.start for w in wins) / options.sample_rate
        with torch.inference_mode(), tqdm(total=round(total), unit=" s audio", desc=progress,
                                          disable=progress is None) as bar:
            for batch in _batches(wins, int(options.batch_seconds * options.sample_rate)):
                waves = [audio[w.utt][w.start:w.end] for w in batch]
                inputs = self.feature_extractor(waves, sampling_rate=options.sample_rate, padding=True,
                                                return_tensors="pt")
                inputs = {k: v.to(self.device) for k, v in inputs.items()}
                logits = self.model(**inputs).logits.float()
                if logits.shape[-1] != len(self.tokens):
                    raise ModelError(f"{self.model_dir}: logits have V={logits.shape[-1]} but the tokenizer "
                                     f"has {len(self.tokens)} tokens")
                lp = torch.log_softmax(logits, dim=-1).cpu().numpy()
                counts = _frame_counts(self.model, inputs, [len(x) for x in waves], lp.shape[1])
                for w, x, n in zip(batch, lp, counts):
                    first, last = kept_frames(w, n, ratio)
                    pieces[w] = x[first:last]
                bar.update(round(sum(len(x) for x in waves) / options.sample_rate))
        per_key: dict[int, list[np.ndarray]] = {i: [] for i in audio}
        for w in wins:  # windows() lists each waveform's windows in time order
            per_key[w.utt].append(pieces[w])
        return {i: np.concatenate(p, axis=0) for i, p in per_key.items()}
