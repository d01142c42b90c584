"""PNG figures of the byte auto-encoder analyses ("Byte-level Recursive Convolutional
Auto-Encoder for Text", Figures 4, 5 and 6).

Figures are drawn on a bare `matplotlib.figure.Figure` (no pyplot, so no global backend is
switched and nothing needs a display) and written atomically by `zoo.io.atomic_save_figure`.
"""
from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from zoo.io import atomic_save_figure

_COLORS = {"train": "tab:blue", "test": "tab:orange"}


def plot_eos_length_difference(splits: dict[str, dict], path) -> Path:
    """Histogram of predicted minus true length, one bar series per split (Figure 4, §4.2).

    `splits` maps a split name to an `eos_length_difference` result: {"histogram": {diff: count},
    "share_at_zero": float, ...}; histogram keys may be ints or their string form (from JSON).
    """
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    names = list(splits)
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        hist = {int(k): int(v) for k, v in splits[name]["histogram"].items()}
        total = sum(hist.values()) or 1
        xs = sorted(hist)
        offset = (i - (len(names) - 1) / 2) * width
        ax.bar([x + offset for x in xs], [100.0 * hist[x] / total for x in xs], width=width,
               color=_COLORS.get(name), label=f"{name} ({100.0 * splits[name]['share_at_zero']:.2f}% at 0)")
    ax.set_xlabel("predicted end-of-sequence position - true length (bytes)")
    ax.set_ylabel("share of samples (%)")
    ax.set_title("End-of-sequence length difference")
    ax.legend()
    return atomic_save_figure(fig, path)


def plot_error_by_length(splits: dict[str, list[dict]], path) -> Path:
    """Byte error per length bin, bars labelled by the bin's upper limit (Figure 6, §4.4).

    `splits` maps a split name to an `error_by_length` result; empty bins (error None) are left out.
    """
    fig = Figure(figsize=(9, 4))
    ax = fig.add_subplot()
    names = list(splits)
    uppers = sorted({b["bin_upper"] for rows in splits.values() for b in rows})
    pos = {u: i for i, u in enumerate(uppers)}
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        rows = [b for b in splits[name] if b["error"] is not None]
        offset = (i - (len(names) - 1) / 2) * width
        ax.bar([pos[b["bin_upper"]] + offset for b in rows], [100.0 * b["error"] for b in rows],
               width=width, color=_COLORS.get(name), label=f"{name} error")
    ax.set_xticks(range(len(uppers)))
    ax.set_xticklabels([str(u) for u in uppers], rotation=90 if len(uppers) > 16 else 0)
    ax.set_xlabel("sample length (bin upper limit, bytes)")
    ax.set_ylabel("byte-level error (%)")
    ax.set_title("Byte-level error by length")
    ax.legend()
    return atomic_save_figure(fig, path)


def plot_mutation(rows: list[dict], path) -> Path:
    """Error against the ground truth and against the mutated input vs mutation probability,
    each with the p = error reference diagonal (Figure 5, §4.3)."""
    fig = Figure(figsize=(10, 4))
    ps = [r["p"] for r in rows]
    panels = (("error_vs_groundtruth", "(a) Groundtruth"), ("error_vs_mutated", "(b) Mutated"))
    for k, (key, title) in enumerate(panels):
        ax = fig.add_subplot(1, 2, k + 1)
        ax.plot([0, 1], [0, 100], linestyle="--", color="gray", label="reference diagonal")
        ax.plot(ps, [100.0 * r[key] for r in rows], marker="o", color="tab:red", label="byte error")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 100)
        ax.set_xlabel("mutation probability")
        ax.set_ylabel("byte-level error (%)")
        ax.set_title(title)
        ax.legend(loc="best")
    fig.suptitle("Byte-level errors with respect to randomly mutated samples")
    return atomic_save_figure(fig, path)
