"""The frozen CNN's output, computed once per training batch and reused (data.feature_cache).

In wav2vec 2.0 fine-tuning the CNN feature encoder never trains (model.freeze_feature_encoder),
and it has no dropout, so its output for a given input tensor never changes during a run:
recomputing it every epoch is 12-18% of a CPU training step, more while the transformer is
frozen too. What comes after the CNN still runs every time: the feature projection, the
time and channel masks (drawn on the projected features), the positional convolution and the
transformer. So a cached CNN output gives the very same forward pass.

The cache is keyed by the batch, not the utterance: a group-norm CNN (BASE) normalises each
channel over the padded length, so an utterance's features depend on the batch it is padded
in. Batches are formed once per run and only reshuffled between epochs
(asrkit.data.batching), so each batch -- hence each utterance -- is computed once.

    key = sha256(CNN weights, computation dtype, input tensor (shape and bytes))

so new audio, other input processing (normalisation, padding) or other CNN weights never
meet an old entry. Entries live in memory up to data.feature_cache_memory_mb, then on disk
under <run>/feature-cache/<CNN digest>/ up to data.feature_cache_disk_mb (written
atomically; each file carries the sha256 of its tensor and is checked when read: a damaged
file is recomputed); past both, batches are computed as without a cache.

Models without a CNN (w2v-BERT 2.0: log-mel filterbanks into a feature projection) and runs
whose CNN trains get no cache; the log says so.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path

import torch

from asrkit.io import atomic_path

log = logging.getLogger(__name__)

FOLDER = "feature-cache"  # under the run's folder
MB = 1 << 20


def cnn_of(model) -> torch.nn.Module | None:
    """The CNN feature encoder of a wav2vec2-family model (base_model.feature_extractor), or
    None for families without one (w2v-BERT's feature_projection takes filterbanks)."""
    cnn = getattr(model.base_model, "feature_extractor", None)
    return cnn if isinstance(cnn, torch.nn.Module) and hasattr(model, "freeze_feature_encoder") else None


def why_not(model) -> str | None:
    """Why a model's CNN output cannot be cached (None: it can)."""
    cnn = cnn_of(model)
    if cnn is None:
        return f"{model.config.model_type} has no CNN feature encoder"
    if any(p.requires_grad for p in cnn.parameters()):
        return "the CNN feature encoder trains (model.freeze_feature_encoder: false)"
    if any(isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.p > 0 for m in cnn.modules()):
        return "the CNN feature encoder has dropout"
    return None


def weights_digest(module: torch.nn.Module) -> str:
    """sha256 of a module's parameters and buffers (names, dtypes, shapes and bytes)."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _tensor_digest(t: torch.Tensor) -> str:
    t = t.detach().cpu().contiguous()
    h = hashlib.sha256(f"{t.dtype}:{tuple(t.shape)}".encode())
    h.update(t.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


class FeatureCache:
    """CNN outputs by input tensor: memory first, then disk, each up to its limit."""

    def __init__(self, cnn: torch.nn.Module, folder: Path | None, memory_mb: float, disk_mb: float):
        self.cnn_digest = weights_digest(cnn)
        self.folder = Path(folder) / self.cnn_digest[:16] if folder is not None else None
        self.memory_limit, self.disk_limit = memory_mb * MB, (disk_mb * MB if folder is not None else 0)
        self.memory: dict[str, torch.Tensor] = {}
        self.memory_bytes = self.disk_bytes = 0
        self.hits = self.misses = self.damaged = 0
        if self.folder is not None:
            self._drop_other_weights()

    def _drop_other_weights(self) -> None:
        """Entries of other CNN weights (an earlier run in this folder) can never match: free their disk."""
        parent = self.folder.parent
        if parent.is_dir():
            for old in parent.iterdir():
                if old.is_dir() and old.name != self.folder.name:
                    shutil.rmtree(old, ignore_errors=True)
        if self.folder.is_dir():
            self.disk_bytes = sum(p.stat().st_size for p in self.folder.glob("*.pt"))

    def key(self, inputs: torch.Tensor) -> str:
        dtype = torch.get_autocast_dtype(inputs.device.type) if torch.is_autocast_enabled(inputs.device.type) else None
        return hashlib.sha256(f"{self.cnn_digest}:{dtype}:{_tensor_digest(inputs)}".encode()).hexdigest()

    def features(self, cnn: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        """cnn(inputs), from the cache when it holds it (computed and stored otherwise)."""
        key = self.key(inputs)
        found = self.memory.get(key)
        if found is None:
            found = self._read(key)
        if found is not None:
            self.hits += 1
            return found.to(inputs.device)
        self.misses += 1
        with torch.no_grad():
            out = cnn(inputs)
        self._store(key, out.detach())
        return out

    def _store(self, key: str, t: torch.Tensor) -> None:
        size = t.numel() * t.element_size()
        if self.memory_bytes + size <= self.memory_limit:
            self.memory[key] = t.cpu() if t.device.type != "cpu" else t
            self.memory_bytes += size
        elif self.disk_bytes + size <= self.disk_limit:
            t = t.cpu().contiguous()
            with atomic_path(self.folder / f"{key}.pt") as tmp:
                torch.save({"sha256": _tensor_digest(t), "features": t}, tmp)
            self.disk_bytes += (self.folder / f"{key}.pt").stat().st_size

    def _read(self, key: str) -> torch.Tensor | None:
        if self.folder is None:
            return None
        path = self.folder / f"{key}.pt"
        if not path.is_file():
            return None
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
            if _tensor_digest(saved["features"]) == saved["sha256"]:
                return saved["features"]
            why = "its tensor does not match its checksum"
        except Exception as e:  # a truncated or garbled file, whatever torch.load raises
            why = f"{type(e).__name__}: {e}"
        self.damaged += 1
        log.warning("feature cache: %s is damaged (%s); recomputing it", path, why)
        path.unlink(missing_ok=True)
        return None

    def stats(self) -> dict:
        return {"hits": self.hits, "misses": self.misses, "damaged": self.damaged,
                "memory_mb": round(self.memory_bytes / MB, 1), "disk_mb": round(self.disk_bytes / MB, 1)}


def bytes_per_second(model, dtype_bytes: int) -> float:
    """Cache bytes per second of 16 kHz audio: channels x frames per second x bytes per value
    (BASE: 512 x 50 x 4 = 100 KB/s in fp32)."""
    channels = model.config.conv_dim[-1]
    frames = float(model._get_feat_extract_output_lengths(torch.tensor(16_000 * 100)).item()) / 100
    return channels * frames * dtype_bytes


def describe_cost(model, padded_seconds: float, dtype_bytes: int, memory_mb: float, disk_mb: float,
                  folder: Path) -> str:
    """The line the log prints before training: what the cache will hold and where."""
    per_s = bytes_per_second(model, dtype_bytes)
    need = per_s * padded_seconds / MB
    in_memory = min(need, memory_mb)
    on_disk = min(need - in_memory, disk_mb)
    rest = need - in_memory - on_disk
    return (f"feature cache (frozen CNN): {model.config.conv_dim[-1]} channels x "
            f"{per_s / model.config.conv_dim[-1] / dtype_bytes:.0f} frames/s x {dtype_bytes} bytes = "
            f"{per_s / 1024:.0f} KB per second of audio; the training batches ({padded_seconds:.0f} s with padding) "
            f"need {need:.0f} MB: {in_memory:.0f} MB in memory (data.feature_cache_memory_mb {memory_mb:g}), "
            f"{on_disk:.0f} MB on disk in {folder} (data.feature_cache_disk_mb {disk_mb:g})"
            + (f", {rest:.0f} MB over both limits recomputed each time" if rest > 0.5 else ""))
