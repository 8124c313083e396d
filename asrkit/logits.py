"""The logits cache: run the acoustic model once per split, keep its log-probs on disk.

Decoding with an LM, sweeping its weights and comparing decoders all read the same
cached log-probs, so the acoustic model (the slow part) runs once per (model, split).

Layout, under the model folder:

    <model_dir>/logits/<split>/
        log_probs.npy   float16, shape (sum of T_b, V): every utterance's frames, one after
                        another (memory-mapped when read)
        index.json      {"fingerprint": ..., "tokens": [V token strings in id order],
                         "seconds_per_frame": 0.02, "inference_seconds": ...,
                         "utterances": [{"id", "speaker", "duration", "text",
                                         "offset", "frames"}, ...]}

Dimension legend: B utterances, T frames (one per `inputs_to_logits_ratio` samples, 20 ms
for wav2vec 2.0), V vocabulary (the tokenizer's tokens, blank first).

The fingerprint hashes the manifest file, the model weights' names/sizes/mtimes and the
chunking options: a changed manifest or a retrained model recomputes the cache.

Long audio is cut into overlapping windows (chunk_seconds long, stride_seconds of context
on each inner side), as transformers' ASR pipeline does: each window keeps only the frames
of its centre, so every frame comes from a window that saw `stride` seconds either side,
and memory stays bounded by the chunk length.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asrkit.data.audio import SAMPLE_RATE
from asrkit.data.manifest import Utterance, read_manifest
from asrkit.errors import CacheError, DataError, InputNotFound, ModelError, SettingError
from asrkit.io import atomic_path, write_json

log = logging.getLogger(__name__)

INDEX = "index.json"
ARRAY = "log_probs.npy"
FORMAT_VERSION = 2  # 2: index.json holds the array's sha256; the fingerprint reads only weights, config, processor


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


# --------------------------------------------------------------------------- reading


class LogitsCache:
    """The cached log-probs of one split. `cache[i]` is utterance i's (T_i, V) float32 array."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        index_path = self.folder / INDEX
        if not index_path.is_file():
            raise CacheError(f"no logits cache at {self.folder}: run `asrkit logits` first")
        try:
            self.index = json.loads(index_path.read_text(encoding="utf-8"))
            self.utterances: list[dict] = self.index["utterances"]
            self.tokens: list[str] = self.index["tokens"]
            self.seconds_per_frame: float = self.index["seconds_per_frame"]
        except (ValueError, KeyError, TypeError) as e:
            raise self.damaged(index_path, f"not a cache index ({type(e).__name__}: {e})") from None
        self._array = self._load_array() if self.utterances else None

    def damaged(self, path: Path, why: str) -> CacheError:
        return CacheError(f"{path}: {why}; the logits cache in {self.folder} is damaged: delete that "
                          f"folder (or run `asrkit logits --force`) and it is computed again")

    def _load_array(self) -> np.ndarray:
        """The (sum of T_b, V) array, after its checksum and shape are checked against the index:
        random bytes inside it or a shorter file would otherwise decode to wrong words."""
        path = self.folder / ARRAY
        expected = self.index.get("sha256")
        if expected is not None:
            with open(path, "rb") as f:
                if hashlib.file_digest(f, "sha256").hexdigest() != expected:
                    raise self.damaged(path, "its checksum differs from the one written with it")
        try:
            array = np.load(path, mmap_mode="r")
        except (OSError, ValueError, EOFError) as e:
            raise self.damaged(path, f"not a readable array ({e})") from None
        frames = sum(u["frames"] for u in self.utterances)
        if array.ndim != 2 or array.shape != (frames, len(self.tokens)):
            raise self.damaged(path, f"shape {array.shape}, but the index says ({frames}, {len(self.tokens)})")
        return array

    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, i: int) -> np.ndarray:
        u = self.utterances[i]
        return np.asarray(self._array[u["offset"]:u["offset"] + u["frames"]], dtype=np.float32)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    @property
    def ids(self) -> list[str]:
        return [u["id"] for u in self.utterances]

    @property
    def audio_seconds(self) -> float:
        return float(sum(u["duration"] for u in self.utterances))

    def log_probs(self) -> list[np.ndarray]:
        """Every utterance's (T_b, V) float32 array, in manifest order."""
        return list(self)


def cache_dir(model_dir: str | os.PathLike, split: str) -> Path:
    return Path(model_dir) / "logits" / split


# --------------------------------------------------------------------------- fingerprint


# What the log-probs depend on: the weights, the model config and the processor (feature
# extractor and tokenizer). Not lm-tuning.json, train-summary.json, the model card or
# anything else written beside them: tune-lm then decode must reuse the cache.
PROCESSOR_FILES = ("config.json", "preprocessor_config.json", "processor_config.json", "vocab.json",
                   "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "tokenizer.json")


def _model_files(model_dir: Path) -> list[Path]:
    return sorted(p for p in model_dir.iterdir()
                  if p.is_file() and (p.suffix in (".safetensors", ".bin") or p.name in PROCESSOR_FILES
                                      or p.name.endswith(".index.json")))


def fingerprint(model_dir: str | os.PathLike, manifest: str | os.PathLike, options: LogitsOptions) -> str:
    """A hash of what the cached log-probs depend on: manifest bytes, model files, chunking."""
    h = hashlib.sha256()
    h.update(Path(manifest).read_bytes())
    for p in _model_files(Path(model_dir)):
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    opts = dataclasses.asdict(options)
    opts.pop("device")
    opts.pop("batch_seconds")  # batching changes padding only, not what is computed
    h.update(json.dumps(opts, sort_keys=True).encode())
    h.update(str(FORMAT_VERSION).encode())
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------- model


def load_model(model_dir: str | os.PathLike, device: str = "cpu"):
    """(model, processor) from a folder holding a CTC model and its processor."""
    from transformers import AutoModelForCTC, AutoProcessor

    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise InputNotFound(f"no model at {model_dir}: expected config.json and weights "
                                "(a folder written by `asrkit finetune`)")
    processor = AutoProcessor.from_pretrained(str(model_dir))
    model = AutoModelForCTC.from_pretrained(str(model_dir)).to(device).eval()
    return model, processor


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


# --------------------------------------------------------------------------- compute


def compute(model_dir: str | os.PathLike, manifest: str | os.PathLike, split: str | None = None,
            options: LogitsOptions = LogitsOptions(), force: bool = False) -> LogitsCache:
    """Run the model over every utterance of `manifest` and cache log-probs (see module doc).

    An existing cache with the same fingerprint is returned as is. Utterances whose audio
    cannot be read are reported and skipped, with a count.
    """
    from tqdm import tqdm

    from asrkit.data.audio import load_audio
    from asrkit.errors import AudioError

    options.check()
    model_dir, manifest = Path(model_dir), Path(manifest)
    split = split or manifest.name.removesuffix(".jsonl")
    out = cache_dir(model_dir, split)
    utts = read_manifest(manifest)
    if not utts:
        raise DataError(f"{manifest}: the split is empty (no utterances); nothing to run the model on")
    fp = fingerprint(model_dir, manifest, options)
    if (out / INDEX).is_file():
        old = _previous(out)
        if old is not None:
            check_same_manifest(old, manifest, model_dir, split)
            if not force and old.index.get("fingerprint") == fp:
                log.info("%s: cached log-probs are up to date", out)
                return old
    acoustic = AcousticModel(model_dir, options)

    audio: dict[int, np.ndarray] = {}
    bad = []
    for i, u in enumerate(tqdm(utts, desc=f"read {split}", unit=" utt", disable=len(utts) < 50)):
        try:
            audio[i] = load_audio(u.audio, options.sample_rate)
        except AudioError as e:
            bad.append(str(e))
    if bad:
        log.warning("%d of %d utterances skipped (unreadable audio), e.g. %s", len(bad), len(utts), bad[0])
    if not audio:
        raise DataError(f"{manifest}: no utterance could be read ({bad[0]})")

    started = time.time()
    log_probs = acoustic.run(audio, progress=f"logits {split}")
    seconds = time.time() - started
    kept = [i for i in range(len(utts)) if i in audio]
    per_utt = {i: [log_probs[i]] for i in kept}
    return _write(out, utts, kept, per_utt, acoustic.tokens, acoustic.seconds_per_frame, fp, seconds,
                  str(model_dir), str(manifest), len(bad))


def _previous(out: Path) -> LogitsCache | None:
    """The cache already in `out`, or None when it is damaged (it is then computed again)."""
    try:
        return LogitsCache(out)
    except CacheError as e:
        log.warning("%s; computing it again", e)
        return None


def check_same_manifest(old: LogitsCache, manifest: Path, model_dir: Path, split: str) -> None:
    """Results and caches are keyed by split name: a second manifest of the same name (a
    user's own "test-clean" in another folder) would overwrite the first one's log-probs and
    its decode results, so it is refused. The same manifest rewritten is an update."""
    earlier = old.index.get("manifest")
    if not earlier or not Path(earlier).is_file() or os.path.samefile(earlier, manifest):
        return
    raise CacheError(f"{old.folder} holds the log-probs of {earlier}, another manifest named {split!r}; "
                     f"running {manifest} under the same name would overwrite them and the results in "
                     f"{Path(model_dir) / 'decode' / split}. Rename one manifest (its file name is the split "
                     f"name), or move those two folders aside")


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
        self.ratio = int(getattr(self.model.config, "inputs_to_logits_ratio", 320))
        # Whole frames per chunk and stride, so kept regions start on frame boundaries.
        self.chunk = max(1, round(options.chunk_seconds * options.sample_rate / self.ratio)) * self.ratio
        self.stride = round(options.stride_seconds * options.sample_rate / self.ratio) * self.ratio

    @property
    def seconds_per_frame(self) -> float:
        return self.ratio / self.options.sample_rate

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
                    # Keep frames whose start time falls in the window's centre region.
                    first = math.ceil(w.keep_from / ratio)
                    last = n if w.keep_to >= w.end - w.start else min(n, math.ceil(w.keep_to / ratio))
                    pieces[w] = x[first:last]
                bar.update(round(sum(len(x) for x in waves) / options.sample_rate))
        per_key: dict[int, list[np.ndarray]] = {i: [] for i in audio}
        for w in wins:  # windows() lists each waveform's windows in time order
            per_key[w.utt].append(pieces[w])
        return {i: np.concatenate(p, axis=0) for i, p in per_key.items()}


def _write(out: Path, utts: list[Utterance], kept: list[int], per_utt: dict, tokens: list[str],
           seconds_per_frame: float, fp: str, seconds: float, model_dir: str, manifest: str,
           skipped: int) -> LogitsCache:
    rows, offset = [], 0
    arrays = []
    for i in kept:
        x = np.concatenate(per_utt[i], axis=0)
        u = utts[i]
        rows.append({"id": u.id, "speaker": u.speaker, "duration": round(u.duration, 3),
                     "text": u.text, "offset": offset, "frames": len(x)})
        offset += len(x)
        arrays.append(x)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / ARRAY) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, (np.concatenate(arrays) if arrays else np.zeros((0, len(tokens)))).astype(np.float16))
        with open(tmp, "rb") as f:
            sha256 = hashlib.file_digest(f, "sha256").hexdigest()
    write_json(out / INDEX, {
        "format": FORMAT_VERSION, "fingerprint": fp, "model": model_dir, "manifest": manifest,
        "sha256": sha256,
        "tokens": tokens, "seconds_per_frame": seconds_per_frame,
        "inference_seconds": round(seconds, 3), "skipped": skipped, "utterances": rows,
    })
    log.info("%s: log-probs of %d utterances (%d frames) in %.1f s", out, len(rows), offset, seconds)
    return LogitsCache(out)


def ensure(model_dir: str | os.PathLike, split: str, manifests: str | os.PathLike,
           options: LogitsOptions = LogitsOptions()) -> LogitsCache:
    """The split's cached log-probs, computed first when missing or out of date.

    Without the manifest (a cache copied from elsewhere) the cache is used as it is.
    """
    manifest = Path(manifests) / f"{split}.jsonl"
    if manifest.is_file():
        return compute(model_dir, manifest, split, options)
    folder = cache_dir(model_dir, split)
    if (folder / INDEX).is_file():
        log.warning("no manifest %s: using the logits cache in %s as it is", manifest, folder)
        return LogitsCache(folder)
    raise InputNotFound(f"no manifest for split {split!r} at {manifest} and no logits cache at "
                            f"{folder}: run `asrkit prepare` first")


def resolve_model(name_or_path: str | os.PathLike) -> Path:
    """A model folder given as a path, or as a name under workspace.models_dir()."""
    from asrkit import workspace

    p = Path(name_or_path)
    if p.is_dir():
        return p
    by_name = workspace.models_dir() / str(name_or_path)
    if by_name.is_dir():
        return by_name
    root = workspace.models_dir()
    names = sorted(d.name for d in root.iterdir() if (d / "config.json").is_file()) if root.is_dir() else []
    raise InputNotFound(f"no model folder {name_or_path!r} (nor {by_name}); "
                            f"models available: {', '.join(names) or 'none'}")
