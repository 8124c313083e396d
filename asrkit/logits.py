"""The logits cache: run the acoustic model once per split, keep its log-probs on disk.

Decoding with an LM, sweeping its weights and comparing decoders all read the same
cached log-probs, so the acoustic model (the slow part, asrkit.inference) runs once per
(model, split).

Layout, under the model folder:

    <model_dir>/logits/<split>/
        log_probs.npy   float16, shape (sum of T_b, V): every utterance's frames, one after
                        another (memory-mapped when read)
        index.json      {"fingerprint": ..., "sha256": ..., "tokens": [V token strings in id order],
                         "seconds_per_frame": 0.02, "inference_seconds": ...,
                         "utterances": [{"id", "speaker", "duration", "text",
                                         "offset", "frames"}, ...]}

Dimension legend: B utterances, T frames, V vocabulary (see asrkit.inference).

The fingerprint hashes the manifest file, the model's weights, config and processor files
(names, sizes, mtimes) and the chunking options: a changed manifest or a retrained model
recomputes the cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from pathlib import Path

import numpy as np

from asrkit.data.manifest import Utterance, read_manifest
from asrkit.errors import AsrkitError, CacheError, DataError, InputNotFound
from asrkit.inference import AcousticModel, LogitsOptions
from asrkit.io import atomic_path, write_json

log = logging.getLogger(__name__)

INDEX = "index.json"
ARRAY = "log_probs.npy"
FORMAT_VERSION = 2  # hashed into the fingerprint: bump it when the cache changes meaning, so older caches are redone


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
        if array.ndim != 2 or array.shape[0] != frames:
            raise self.damaged(path, f"shape {array.shape}, but the index says {frames} frames")
        if array.shape[1] != len(self.tokens):
            raise CacheError(f"{path}: log-probs have V={array.shape[1]} columns but the vocabulary has "
                             f"{len(self.tokens)} tokens (a cache made with another tokenizer); delete "
                             f"{self.folder} and it is computed again")
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

    @property
    def skipped(self) -> int:
        """Utterances of the manifest left out for unreadable audio (index.json lists them)."""
        return int(self.index.get("skipped", 0))

    def log_probs(self) -> list[np.ndarray]:
        """Every utterance's (T_b, V) float32 array, in manifest order."""
        return list(self)


def cache_dir(model_dir: str | os.PathLike, split: str) -> Path:
    from asrkit.workspace import check_name

    return Path(model_dir) / "logits" / check_name(split, "split")


def cached_manifest(model_dir: str | os.PathLike, split: str) -> Path | None:
    """The manifest the split's cached log-probs were computed from (index.json), if any."""
    try:
        index = json.loads((cache_dir(model_dir, split) / INDEX).read_text(encoding="utf-8"))
        return Path(index["manifest"]) if index.get("manifest") else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, AsrkitError):
        return None


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


# --------------------------------------------------------------------------- compute


def compute(model_dir: str | os.PathLike, manifest: str | os.PathLike, split: str | None = None,
            options: LogitsOptions = LogitsOptions(), force: bool = False, progress: bool = True) -> LogitsCache:
    """Run the model over every utterance of `manifest` and cache log-probs (see module doc).

    An existing cache with the same fingerprint is returned as is. Utterances whose audio
    cannot be read are reported and skipped, with a count. `progress`: tqdm bars (stderr)
    over reading the audio and running the model.
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
    old = _previous(out) if (out / INDEX).is_file() else None
    if old is not None:
        check_same_manifest(old, manifest, model_dir, split)
        if not force and old.index.get("fingerprint") == fp:
            log.info("%s: cached log-probs are up to date", out)
            return old
    else:
        check_results_fit(utts, manifest, model_dir, split)
    acoustic = AcousticModel(model_dir, options)

    audio: dict[int, np.ndarray] = {}
    bad = []
    for i, u in enumerate(tqdm(utts, desc=f"read {split}", unit=" utt", disable=not progress or len(utts) < 50)):
        try:
            audio[i] = load_audio(u.audio, options.sample_rate)
        except AudioError as e:
            bad.append(str(e))
    if bad:
        log.warning("%d of %d utterances skipped (unreadable audio), e.g. %s", len(bad), len(utts), bad[0])
    if not audio:
        raise DataError(f"{manifest}: no utterance could be read ({bad[0]})")

    started = time.time()
    log_probs = acoustic.run(audio, progress=f"logits {split}" if progress else None)
    seconds = time.time() - started
    kept = [i for i in range(len(utts)) if i in audio]
    per_utt = {i: [log_probs[i]] for i in kept}
    return _write(out, utts, kept, per_utt, acoustic.tokens, acoustic.seconds_per_frame, fp, seconds,
                  str(model_dir), str(manifest), bad)


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


def check_results_fit(utts: list[Utterance], manifest: Path, model_dir: Path, split: str) -> None:
    """Without a cache (removed, or damaged) check_same_manifest cannot tell which manifest the
    split's decode results came from; their utterances can. Results of utterances this manifest
    lacks are another manifest's: decoding this one would overwrite some settings' results and
    leave the others describing the old one, and a report would mix them. (A manifest that holds
    every old utterance and more is taken as the same one grown.)"""
    from asrkit.results import read_recogs, result_dir

    folder = result_dir(model_dir, split, "greedy").parent
    ids = {u.id for u in utts}
    for recogs in sorted(folder.glob("*/recogs.jsonl")) if folder.is_dir() else ():
        foreign = [r.id for r in read_recogs(recogs.parent) if r.id not in ids]
        if foreign:
            raise CacheError(f"{recogs.parent} holds results of utterances {manifest} lacks ({', '.join(foreign[:3])}"
                             f"{', ...' if len(foreign) > 3 else ''}): another manifest named {split!r} was decoded "
                             f"here, and decoding this one would mix the two in {folder}. Rename this manifest "
                             f"(its file name is the split name), or move {folder} aside")


def _write(out: Path, utts: list[Utterance], kept: list[int], per_utt: dict, tokens: list[str],
           seconds_per_frame: float, fp: str, seconds: float, model_dir: str, manifest: str,
           skipped: list[str]) -> LogitsCache:
    """Write the cache; `skipped`: one "<audio file>: <why>" per utterance left out."""
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
        "inference_seconds": round(seconds, 3), "skipped": len(skipped),
        "skipped_audio": skipped, "utterances": rows,
    })
    log.info("%s: log-probs of %d utterances (%d frames) in %.1f s", out, len(rows), offset, seconds)
    return LogitsCache(out)


def ensure(model_dir: str | os.PathLike, split: str, manifests: str | os.PathLike,
           options: LogitsOptions = LogitsOptions(), progress: bool = True) -> LogitsCache:
    """The split's cached log-probs, computed first (with progress bars unless `progress` is
    False) when missing or out of date.

    Without the manifest (a cache copied from elsewhere) the cache is used as it is.
    """
    manifest = Path(manifests) / f"{split}.jsonl"
    if manifest.is_file():
        return compute(model_dir, manifest, split, options, progress=progress)
    folder = cache_dir(model_dir, split)
    if (folder / INDEX).is_file():
        log.warning("no manifest %s: using the logits cache in %s as it is", manifest, folder)
        return LogitsCache(folder)
    raise InputNotFound(f"no manifest for split {split!r} at {manifest} and no logits cache at "
                        f"{folder}: run `asrkit prepare` first")
