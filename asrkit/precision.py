"""Which precision a training run computes in (train.precision), decided per machine.

Weights, gradients and Adam's moments stay fp32 (master weights); "bf16" runs the forward
and backward passes under torch.autocast(bfloat16), so matrix products and convolutions
take bf16 inputs while reductions, norms and the CTC loss stay fp32.

"auto" asks the machine:
  - CUDA: bf16 when the GPU supports it (torch.cuda.is_bf16_supported), else fp32.
  - CPU: bf16 only when the CPU has native bf16 dot products (the avx512_bf16 or amx_bf16
    flags in /proc/cpuinfo) *and* a short probe measures a bf16 matrix product faster than an
    fp32 one on this machine. Without those instructions bf16 is emulated and much slower
    than fp32 (an AVX2-only machine measured 30x slower), so the flags alone decide against.
    With them the gain was measured, not assumed: 2.9x on a 2048x768 @ 768x3072 product
    (BENCHMARKS.md, "bf16 on CPU").
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path

import torch

log = logging.getLogger(__name__)

NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags for bf16 dot products
PROBE_MIN_GAIN = 1.2  # bf16 must beat fp32 by this factor in the probe to be chosen


def cpu_bf16_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str]:
    """The native-bf16 instruction flags the CPU reports (empty when it reports none or
    there is no /proc/cpuinfo, as on macOS: no claim is made there)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return [f for f in NATIVE_BF16_FLAGS if f in flags]


@functools.lru_cache(maxsize=1)
def bf16_probe_gain(n: int = 384, reps: int = 12) -> float:
    """fp32 time / bf16 time of an n x n matrix product on this CPU (~20 ms). The two take
    turns and each keeps its fastest run, so that a busy machine's pauses do not decide."""
    pairs = {dtype: (torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype))
             for dtype in (torch.float32, torch.bfloat16)}
    best = dict.fromkeys(pairs, float("inf"))
    for _ in range(reps):
        for dtype, (a, b) in pairs.items():
            started = time.perf_counter()
            a @ b
            best[dtype] = min(best[dtype], time.perf_counter() - started)
    return best[torch.float32] / best[torch.bfloat16]


def resolve(setting: str, cuda: bool | None = None) -> tuple[str, str]:
    """("fp32" or "bf16", why) for train.precision `setting` on this machine."""
    if setting != "auto":
        return setting, "train.precision"
    cuda = torch.cuda.is_available() if cuda is None else cuda
    if cuda:
        if torch.cuda.is_bf16_supported():
            return "bf16", "auto: the GPU supports bf16"
        return "fp32", "auto: the GPU has no bf16"
    flags = cpu_bf16_flags()
    if not flags:
        return "fp32", "auto: the CPU has no native bf16 instructions (avx512_bf16, amx_bf16)"
    gain = bf16_probe_gain()
    if gain >= PROBE_MIN_GAIN:
        return "bf16", f"auto: the CPU has {'+'.join(flags)} and a bf16 matrix product ran {gain:.1f}x fp32's speed"
    return "fp32", (f"auto: the CPU has {'+'.join(flags)} but a bf16 matrix product ran only {gain:.1f}x "
                    f"fp32's speed (needs {PROBE_MIN_GAIN}x)")


def accelerate_name(precision: str) -> str:
    """accelerate's mixed_precision value for a resolved precision."""
    return {"fp32": "no", "bf16": "bf16"}[precision]
