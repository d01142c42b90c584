"""Posterior collapse at a glance (Semeniuta's dissertation §5.5): the KL term, the active units and
the mutual information of text-VAE runs against the training step, read from each run's
TensorBoard evaluation logs (`<run>/tb/eval`)."""
from __future__ import annotations

from pathlib import Path

PANELS = (("kl", "KL term (nats)"), ("active_units", "active units (Cov > 0.01)"),
          ("mutual_information", "mutual information (nats)"), ("bits_per_char", "bits per char (bound)"))


def eval_curves(run_dir, tags=tuple(t for t, _ in PANELS)) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value)]} of a run's periodic evaluations."""
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(Path(run_dir) / "tb" / "eval"), size_guidance={"tensors": 0})
    acc.Reload()
    have = set(acc.Tags().get("tensors", []))
    return {t: [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in acc.Tensors(t)]
            for t in tags if t in have}


def plot_collapse(runs: dict[str, str | Path], out_png) -> Path:
    """One figure, a panel per collapse metric, a line per run ({label: run folder})."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from zoo.io import atomic_save_figure

    curves = {label: eval_curves(path) for label, path in runs.items()}
    fig, axes = plt.subplots(1, len(PANELS), figsize=(4 * len(PANELS), 3.2))
    for ax, (tag, title) in zip(axes, PANELS):
        for label, c in curves.items():
            if c.get(tag):
                steps, values = zip(*c[tag])
                ax.plot(steps, values, marker="o", ms=3, label=label)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path = atomic_save_figure(fig, out_png)
    plt.close(fig)
    return path
