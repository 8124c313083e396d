"""A synthetic word 4-gram of the official LibriSpeech 4-gram's shape, written as ARPA
directly (no corpus, no lmplz), streaming, with consistent back-off weights.

Why: nothing can be downloaded here, yet the cost of the official 4-gram (OpenSLR 11,
4-gram.arpa.gz, 200k words) in memory, build and decoding time depends on its shape
(vocabulary and n-gram counts per order), not on what the n-grams say. This makes an LM of
that shape whose vocabulary holds the real words of a text (the KJV, so the demo's test
transcripts are in it) ranked by frequency, then made-up letter words up to --words.

    .venv/bin/python benchmarks/synthetic_4gram.py --out /tmp/4g [--scale 0.1]

writes <out>/<name>.arpa, unigrams.txt, lexicon.txt and info.json (an asrkit LM folder
once a binary is built beside it: benchmarks/official_4gram.py does that).

The model (ranks r = word ids, 0 the most frequent; <s> is a context only):
  - unigrams: Zipf, p(r) ~ 1/(r+1), </s> 5%;
  - successors: context c = (w_1..w_m) has S(c) successors, the first S(c) of a list L(w_m)
    that depends on the last word only: three of every four are the most frequent ranks in
    order, the fourth walks a window of the rare half that starts at a hash of w_m. So the
    successors of c are a subset of those of its suffix (w_2..w_m) whenever
    S(c) <= S(w_2..w_m), which the counts below guarantee: every n-gram's prefix and suffix
    are n-grams too (as in an unpruned Kneser-Ney model);
  - counts: S(c) = min(S(suffix of c), floor(B_m * u(w_m) * prod_{i<m} v(w_i))), u(r) =
    (r+1)^-0.6, v(r) = (r+1)^-0.25 <= 1, capped at half the vocabulary; B_m is found by
    bisection so that the order's total is the target exactly (a few contexts get one more);
  - probabilities: p(L[j] | c) = (1 - g_m) (j+2)^-1.1 / sum_{i<S(c)} (i+2)^-1.1, g_m the
    back-off mass of an m-word context (0.4, 0.5, 0.6);
  - back-off weights: bo(c) = g_m / (1 - sum over c's successors of p(. | suffix of c)),
    exact because those successors are the first S(c) of the same list L(w_m): so every
    context's distribution sums to 1 (up to 4-decimal rounding; tested).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asrkit.lm.openslr import OPENSLR_COUNTS  # noqa: E402

OFFICIAL_COUNTS = OPENSLR_COUNTS["4-gram.arpa.gz"]  # the official 4-gram's \data\ header

BACKOFF_MASS = (0.4, 0.5, 0.6)  # g_m: probability left to the back-off of an m-word context
SLOPE, SHIFT = 1.1, 2.0  # p(L[j] | c) ~ (j + SHIFT)^-SLOPE
U_EXP, V_EXP = 0.6, 0.25  # successor counts ~ u(last word) * prod v(earlier words)
EOS_PROB = 0.05
UNK_LOG10 = -6.0
CHUNK = 1 << 20  # n-grams per array chunk (memory: a few hundred MB at most)


@dataclass(frozen=True)
class Shape:
    words: int  # vocabulary size, less <s>, </s>, <unk>
    counts: tuple[int, ...]  # n-grams per order 2.., as in the ARPA header


def shape_at(scale: float) -> Shape:
    """The official counts times `scale` (vocabulary too): --scale 0.1 is a tenth of it."""
    return Shape(words=int(round((OFFICIAL_COUNTS[0] - 3) * scale)),
                 counts=tuple(int(round(c * scale)) for c in OFFICIAL_COUNTS[1:]))


# ---------------------------------------------------------------- vocabulary

def real_words() -> list[str]:
    """Words of the KJV text (every book: the test transcripts' words are in it), most frequent first."""
    from asrkit.data.texts import kjv_sentences

    counts = Counter(w for s in kjv_sentences() for w in s.text.split())
    return [w for w, _ in counts.most_common()]


def vocabulary(n: int, seed: int = 0) -> list[str]:
    """`n` distinct upper-case words: the real ones, then made-up ones of 3-11 letters."""
    words = real_words()[:n]
    seen = set(words)
    rng = np.random.default_rng(seed)
    letters = np.array(list("ABCDEFGHIJKLMNOPRSTUVWY"))
    while len(words) < n:
        lengths = rng.integers(3, 12, size=4 * (n - len(words)))
        for length in lengths:
            w = "".join(rng.choice(letters, size=int(length)))
            if w not in seen:
                seen.add(w)
                words.append(w)
                if len(words) == n:
                    break
    return words


# ---------------------------------------------------------------- structure

class Model:
    """Closed-form pieces of the synthetic model for a vocabulary of V words (+ <s> = id V)."""

    def __init__(self, V: int):
        self.V, self.bos = V, V
        r = np.arange(V + 1, dtype=np.float64)
        r[V] = 0.0  # <s> behaves as the most frequent word when it is a context
        self.u, self.v = (r + 1) ** -U_EXP, (r + 1) ** -V_EXP
        self.cap = V // 2
        self.half0, self.H = V - V // 2, V // 2  # the rare window: ranks [half0, V)
        self.off = (np.arange(V + 1, dtype=np.int64) * 2654435761) % self.H
        zipf = 1.0 / (np.arange(V, dtype=np.float64) + 1)
        self.p_uni = (1 - EOS_PROB) * zipf / zipf.sum()
        self.P = np.concatenate([[0.0], np.cumsum(self.p_uni)])  # prefix sums over ranks
        g = (np.arange(V + 1, dtype=np.float64) + SHIFT) ** -SLOPE
        self.Z = np.concatenate([[0.0], np.cumsum(g)])  # Z[n] = sum_{j<n} g(j)
        self.B: list[float] = []  # B_m per context length m = 1, 2, 3

    def successor(self, last: np.ndarray, j: np.ndarray) -> np.ndarray:
        """L(last)[j]: three frequent ranks, then one from last's rare window, repeating."""
        q, t = np.divmod(j, 4)
        rare = self.half0 + (self.off[last] + q) % self.H
        return np.where(t < 3, 3 * q + t, rare).astype(np.int32)

    def raw_count(self, ctx: np.ndarray, B: float) -> np.ndarray:
        """floor(B u(w_m) prod v(w_i)) capped, before the suffix limit. ctx: (n, m) ids."""
        x = B * self.u[ctx[:, -1]]
        for i in range(ctx.shape[1] - 1):
            x = x * self.v[ctx[:, i]]
        return np.minimum(np.floor(x), self.cap).astype(np.int64)

    def count(self, ctx: np.ndarray, B: float | None = None) -> np.ndarray:
        """S(ctx) in closed form (min over the suffixes' counts), with B_m or the given B."""
        m = ctx.shape[1]
        s = self.raw_count(ctx, self.B[m - 1] if B is None else B)
        if m > 1:
            s = np.minimum(s, self.count(ctx[:, 1:]))
        return s

    def successor_mass_uni(self, w: np.ndarray, S: np.ndarray) -> np.ndarray:
        """sum of unigram probabilities over the first S of L(w)."""
        a = 3 * (S // 4) + np.minimum(S % 4, 3)  # frequent ranks [0, a)
        b = S // 4  # rare: half0 + (off + q) % H for q < b
        start = self.off[w]
        first = np.minimum(b, self.H - start)  # before the window wraps
        rare = (self.P[self.half0 + start + first] - self.P[self.half0 + start]
                + self.P[self.half0 + (b - first)] - self.P[self.half0])
        return self.P[a] + rare


def fit_B(model: Model, contexts, target: int) -> float:
    """B_m with sum of S(ctx) over `contexts` (a callable yielding chunks) <= target, closest.

    The sum grows about linearly with B: a few proportional steps, then a short bisection
    (each evaluation is a pass over all contexts: 87M of them for the 4-grams)."""
    def total(B):
        return sum(int(model.count(c, B).sum()) for c in contexts())
    B, t = 1.0, total(1.0)
    for _ in range(6):
        if t == target:
            return B
        B *= target / max(t, 1)
        t = total(B)
    lo, hi = (B, B * 1.02) if t <= target else (B / 1.02, B)
    while total(hi) <= target:
        lo, hi = hi, hi * 1.02
    while total(lo) > target:
        lo, hi = lo / 1.02, lo
    for _ in range(10):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if total(mid) <= target else (lo, mid)
    return lo


# ---------------------------------------------------------------- generation

def order_file(work: Path, n: int, rows: int, what: str, cols: int | None = None, dtype=np.int32):
    shape = (rows, cols) if cols else (rows,)
    return np.lib.format.open_memmap(work / f"{n}gram-{what}.npy", mode="w+", dtype=dtype, shape=shape)


def chunks_of(a: np.ndarray):
    return lambda: (np.asarray(a[i:i + CHUNK]) for i in range(0, len(a), CHUNK))


def generate_structure(model: Model, shape: Shape, work: Path, log) -> list[tuple]:
    """Per order: (ids memmap (n, order), log10 prob memmap, log10 back-off memmap or None)."""
    V = model.V
    ctx1 = np.arange(V + 1, dtype=np.int32)[:, None]  # words and <s>
    orders = []
    contexts = ctx1
    for m, target in enumerate(shape.counts, start=1):  # m = context length, order m + 1
        B = fit_B(model, chunks_of(contexts), target)
        model.B.append(B)
        ids = order_file(work, m + 1, target, "ids", m + 1)
        logp = order_file(work, m + 1, target, "logp", dtype=np.float32)
        bo = np.zeros(len(contexts), dtype=np.float32)  # log10 back-off of each context
        pos, deficit = 0, target - sum(int(model.count(c).sum()) for c in chunks_of(contexts)())
        log(f"order {m + 1}: B={B:.4g}, {target:,} n-grams, {deficit} contexts topped up by one")
        for start in range(0, len(contexts), CHUNK):
            c = np.asarray(contexts[start:start + CHUNK])
            S = model.count(c)
            if deficit:  # top up contexts with room below their suffix's count
                room = np.flatnonzero(S < (model.count(c[:, 1:]) if m > 1 else model.cap))[:deficit]
                S[room] += 1
                deficit -= len(room)
            n = int(S.sum())
            rep = np.repeat(np.arange(len(c)), S)
            j = np.arange(n, dtype=np.int64) - np.repeat(np.cumsum(S) - S, S)
            last = c[rep, -1]
            ids[pos:pos + n, :m] = c[rep]
            ids[pos:pos + n, m] = model.successor(last, j)
            mass = 1.0 - BACKOFF_MASS[m - 1]
            logp[pos:pos + n] = np.log10(mass * (j + SHIFT) ** -SLOPE / model.Z[S[rep]])
            bo[start:start + len(c)] = _backoff(model, c, S, m)
            pos += n
        if pos != target:
            raise SystemExit(f"order {m + 1}: made {pos:,} n-grams, wanted {target:,}")
        orders.append((contexts, bo))
        contexts = ids
        log(f"order {m + 1}: done")
    return orders + [(contexts, None)]


def _backoff(model: Model, c: np.ndarray, S: np.ndarray, m: int) -> np.ndarray:
    """log10 bo(c) = log10(g_m / (1 - mass of c's successors under c's suffix))."""
    if m == 1:
        lower = model.successor_mass_uni(c[:, 0], S)
    else:
        S_suffix = model.count(c[:, 1:])
        lower = (1.0 - BACKOFF_MASS[m - 2]) * model.Z[S] / np.maximum(model.Z[S_suffix], 1e-300)
    bo = np.log10(BACKOFF_MASS[m - 1] / np.maximum(1.0 - lower, 1e-12))
    return np.where(S > 0, bo, 0.0).astype(np.float32)  # no successors: all mass backs off


# ---------------------------------------------------------------- ARPA text

def _fmt_table() -> list[str]:
    """"%.4f" of every value in [-10, 10) at 1e-4 steps: list lookups beat formatting floats."""
    return [f"{(q - 100_000) / 10000:.4f}" for q in range(200_000)]


def write_arpa(path: Path, model: Model, words: list[str], orders: list[tuple], shape: Shape, log) -> None:
    """The ARPA text, one chunk of lines at a time (4-decimal log10 values)."""
    table = _fmt_table()
    names = words + ["<s>"]
    uni_lp = np.log10(model.p_uni)
    counts = [len(words) + 3, *shape.counts]
    with open(path, "w", encoding="utf-8", buffering=1 << 24) as f:
        f.write("\\data\\\n" + "".join(f"ngram {n}={c}\n" for n, c in enumerate(counts, 1)) + "\n\\1-grams:\n")
        bo1 = orders[0][1]
        f.write(f"{UNK_LOG10:.4f}\t<unk>\t0.0000\n-99.0000\t<s>\t{bo1[model.bos]:.4f}\n"
                f"{np.log10(EOS_PROB):.4f}\t</s>\n")
        q = lambda x: np.clip(np.rint(np.asarray(x, dtype=np.float64) * 10000) + 100_000, 0, 199_999).astype(np.int64)
        f.write("".join(f"{table[p]}\t{w}\t{table[b]}\n"
                        for p, w, b in zip(q(uni_lp).tolist(), words, q(bo1[:-1]).tolist())))
        for n in range(2, len(counts) + 1):
            f.write(f"\n\\{n}-grams:\n")
            ids, logp_path = orders[n - 1][0], path.parent / "work" / f"{n}gram-logp.npy"
            logp = np.load(logp_path, mmap_mode="r")
            bo = orders[n - 1][1]
            for s in range(0, len(ids), CHUNK):
                cols = [[names[i] for i in col] for col in np.asarray(ids[s:s + CHUNK]).T.tolist()]
                grams = [" ".join(t) for t in zip(*cols)]
                probs = [table[p] for p in q(logp[s:s + CHUNK]).tolist()]
                if bo is None:
                    f.write("".join(f"{p}\t{g}\n" for p, g in zip(probs, grams)))
                else:
                    bos = [table[b] for b in q(bo[s:s + CHUNK]).tolist()]
                    f.write("".join(f"{p}\t{g}\t{b}\n" for p, g, b in zip(probs, grams, bos)))
            log(f"wrote the {n}-grams")
        f.write("\n\\end\\\n")


def make(out: Path, shape: Shape, name: str = "4gram-synthetic", log=print) -> Path:
    """Write <out>/<name>.arpa, unigrams.txt, lexicon.txt, info.json; returns the ARPA path."""
    from asrkit.lm import write_lexicon, write_unigrams

    t0 = time.time()
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    words = vocabulary(shape.words)
    model = Model(len(words))
    orders = generate_structure(model, shape, work, log)
    t1 = time.time()
    arpa = out / f"{name}.arpa"
    write_arpa(arpa, model, words, orders, shape, log)
    t2 = time.time()
    write_unigrams(words, out / "unigrams.txt")
    n_lex = write_lexicon(words, out / "lexicon.txt")
    (out / "info.json").write_text(json.dumps({
        "name": name, "order": len(shape.counts) + 1, "unit": "word",
        "source": "synthetic (benchmarks/synthetic_4gram.py)",
        "vocabulary": len(words), "lexicon_words": n_lex, "counts": [len(words) + 3, *shape.counts],
        "B": model.B, "seconds": {"structure": round(t1 - t0, 1), "arpa": round(t2 - t1, 1)},
        "files": {"arpa": arpa.name, "unigrams": "unigrams.txt", "lexicon": "lexicon.txt"},
    }, indent=2))
    for p in work.glob("*.npy"):
        p.unlink()
    work.rmdir()
    log(f"{arpa}: {arpa.stat().st_size / 1e9:.2f} GB; structure {t1 - t0:.0f} s, text {t2 - t1:.0f} s")
    return arpa


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="folder to write the LM into")
    p.add_argument("--scale", type=float, default=1.0, help="fraction of the official counts and vocabulary")
    p.add_argument("--name", default="4gram-synthetic")
    args = p.parse_args()
    shape = shape_at(args.scale)
    print(f"vocabulary {shape.words:,} words, n-grams per order 2..: {', '.join(f'{c:,}' for c in shape.counts)}",
          flush=True)
    make(args.out, shape, args.name, log=lambda s: print(time.strftime("%H:%M:%S"), s, flush=True))


if __name__ == "__main__":
    main()
