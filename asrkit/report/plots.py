"""Report plots as inline SVG strings (matplotlib, no pyplot: no display, no global state).

Each function returns the <svg> element, or None when there is nothing to plot.
"""

from __future__ import annotations

import io
import math

from asrkit.report.collect import Result


def _svg(fig, name: str, label: str) -> str:
    """`fig` as an <svg> element; ids are salted with `name` so that several plots can
    share a page, and the output is the same from run to run."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": name, "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    svg = text[text.index("<svg"):]
    return svg.replace("<svg", f'<svg role="img" aria-label="{label}" class="plot"', 1)


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def lm_tuning(records: tuple[dict, ...] | list[dict], name: str) -> str | None:
    """WER against LM weight, one panel per tuned (LM, decoder): a dot per trial coloured
    by the second setting (word score, beta), the best starred."""
    records = [r for r in records if r.get("trials")]
    if not records:
        return None
    fig = _figure(5.0 * len(records), 3.2)
    for ax, rec in zip(fig.subplots(1, len(records), squeeze=False)[0], records):
        weight, other = rec["params"]
        trials = rec["trials"]
        x = [t[weight] for t in trials]
        y = [100 * t["wer"] for t in trials]
        colours = [t.get(other) for t in trials]
        if all(isinstance(c, (int, float)) for c in colours):
            dots = ax.scatter(x, y, c=colours, cmap="viridis", s=22, label="trial")
            fig.colorbar(dots, ax=ax, label=other.replace("_", " "))
        else:
            ax.scatter(x, y, s=22, label="trial")
        best, best_wer = rec.get("best") or {}, rec.get("best_wer")
        if isinstance(best.get(weight), (int, float)) and best_wer is not None:
            ax.scatter([best[weight]], [100 * best_wer], marker="*", s=220, c="crimson",
                       edgecolors="black", linewidths=0.6, zorder=3,
                       label=f"best: {weight} {best[weight]:.3g}, {100 * best_wer:.2f}%")
        what = " ".join(str(rec[k]) for k in ("lm", "decoder") if rec.get(k))
        where = f" on {rec['split']}" if rec.get("split") else ""
        ax.set_title(f"{what or 'LM'} tuning{where} ({len(trials)} trials)", fontsize=10)
        ax.set_xlabel(weight.replace("_", " "))
        ax.set_ylabel("WER (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _svg(fig, f"{name}-lm-tuning", "WER against LM weight")


def training_curves(train_log: tuple[dict, ...] | list[dict], name: str) -> str | None:
    """Training loss, learning rate and dev WER against update step."""
    def series(key):
        pts = [(r["step"], r[key]) for r in train_log
               if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
        return [p[0] for p in pts], [p[1] for p in pts]

    panels = [(key, *series(key)) for key in ("loss", "lr", "dev_wer")]
    panels = [p for p in panels if p[1]]
    if not panels:
        return None
    fig = _figure(3.2 * len(panels), 3.0)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    titles = {"loss": "training loss", "lr": "learning rate", "dev_wer": "dev WER (%)"}
    for ax, (key, steps, values) in zip(axes, panels):
        if key == "dev_wer":
            values = [100 * v for v in values]
        ax.plot(steps, values, marker="o" if len(steps) < 30 else None, markersize=3,
                color={"loss": "tab:blue", "lr": "tab:orange", "dev_wer": "tab:green"}[key])
        ax.set_title(titles[key])
        ax.set_xlabel("update")
        ax.grid(alpha=0.3)
        if key == "lr":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    return _svg(fig, f"{name}-training", "training curves")


def pretraining_curves(log: tuple[dict, ...] | list[dict], name: str) -> str | None:
    """The starting checkpoint's self-supervised pre-training: contrastive loss and accuracy
    (train and held-out dev), code and prob perplexity, and the Gumbel temperature, against update."""
    def series(kind, key):
        pts = [(r["update"], r[key]) for r in log if r.get("kind") == kind
               and isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
        return [p[0] for p in pts], [p[1] for p in pts]

    panels = [("contrastive loss (nats per masked frame)", [("train", "contrastive"), ("valid", "contrastive")]),
              ("contrastive accuracy", [("train", "accuracy"), ("valid", "accuracy")]),
              ("codebook perplexity", [("train", "code_perplexity"), ("train", "prob_perplexity")]),
              ("Gumbel temperature", [("train", "temperature")])]
    panels = [(title, [(kind, key, *series(kind, key)) for kind, key in lines]) for title, lines in panels]
    panels = [(title, [line for line in lines if line[2]]) for title, lines in panels]
    panels = [p for p in panels if p[1]]
    if not panels:
        return None
    fig = _figure(3.2 * len(panels), 3.0)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, lines) in zip(axes, panels):
        for kind, key, steps, values in lines:
            label = f"{'dev' if kind == 'valid' else 'train'}" if "perplexity" not in key else key.split("_")[0]
            ax.plot(steps, values, marker="o" if len(steps) < 30 else None, markersize=3, label=label)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("update")
        ax.grid(alpha=0.3)
        if len(lines) > 1:
            ax.legend(fontsize=8)
    return _svg(fig, f"{name}-pretraining", "pre-training curves")


def wer_by_length(results: tuple[Result, ...] | list[Result], name: str) -> str | None:
    """WER per utterance-length bin, one line per split and setting."""
    results = [r for r in results if r.by_length]
    if not results:
        return None
    bins: list[str] = []
    for r in results:  # bins in length order, as asrkit.score names them
        for g in r.by_length:
            if g.name not in bins:
                bins.append(g.name)
    bins.sort(key=lambda b: float(b.split("-")[0].rstrip("+ s")))
    fig = _figure(5.0, 3.2)
    ax = fig.subplots()
    for r in results:
        wer = {g.name: 100 * g.wer for g in r.by_length if math.isfinite(g.wer)}
        xs = [i for i, b in enumerate(bins) if b in wer]
        ax.plot(xs, [wer[bins[i]] for i in xs], marker="o", markersize=4, label=f"{r.split} / {r.setting}")
    ax.set_xticks(range(len(bins)), bins, rotation=30, ha="right", fontsize=8)
    ax.set_xlabel("utterance length")
    ax.set_ylabel("WER (%)")
    ax.set_title("WER by utterance length")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _svg(fig, f"{name}-length", "WER by utterance length")
