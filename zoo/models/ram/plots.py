"""Where the recurrent attention model looked: glimpse boxes per step drawn on the image
(the dissertation's Figure 4.2), as PNG figures and as TensorBoard images.

Figures are drawn on a bare `matplotlib.figure.Figure` (no pyplot: no global backend, no display)
and written atomically. Step colours run from the first glimpse (blue) to the last (red).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from zoo.io import atomic_save_figure


def step_colors(k: int) -> np.ndarray:
    """RGB in [0, 1] per step: blue -> green -> red."""
    from matplotlib import colormaps

    return np.asarray([colormaps["jet"](0.1 + 0.8 * i / max(1, k - 1))[:3] for i in range(k)])


def boxes_drawn_tf(images: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """RGB images [n, H, W, 3] (float in [0, 1]) with each step's glimpse box outlined in its
    colour; images [n, H, W] in [0, 1], boxes [n, k, 4] as (x0, y0, x1, y1) pixels. Box edges
    outside the image are not drawn."""
    n, h, w = images.shape
    out = np.repeat(np.clip(images, 0.0, 1.0)[..., None], 3, axis=-1).astype(np.float32)
    colors = step_colors(boxes.shape[1])
    for i in range(n):
        for step, (x0, y0, x1, y1) in enumerate(boxes[i]):
            xa, xb = int(round(max(x0, 0))), int(round(min(x1, w - 1)))
            ya, yb = int(round(max(y0, 0))), int(round(min(y1, h - 1)))
            if xa > xb or ya > yb:
                continue
            for x in (int(round(x0)), int(round(x1))):
                if 0 <= x < w:
                    out[i, ya:yb + 1, x] = colors[step]
            for y in (int(round(y0)), int(round(y1))):
                if 0 <= y < h:
                    out[i, y, xa:xb + 1] = colors[step]
    return out


def _draw(ax, image, boxes, title=None, digit_boxes=None):
    from matplotlib.patches import Rectangle

    ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0)
    if digit_boxes is not None:
        for x0, y0, x1, y1 in digit_boxes:
            if x0 >= 0:
                ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0 + 1, y1 - y0 + 1, fill=False,
                                       edgecolor="white", linestyle=":", linewidth=1))
    for step, ((x0, y0, x1, y1), c) in enumerate(zip(boxes, step_colors(len(boxes)))):
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=c, linewidth=1.5))
        ax.text(x0 + 1, y0 + 1, str(step + 1), color=c, fontsize=7, va="top")
    ax.set_xlim(-0.5, image.shape[1] - 0.5)
    ax.set_ylim(image.shape[0] - 0.5, -0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def plot_glimpses(images, boxes, titles, path, digit_boxes=None, columns: int = 3) -> Path:
    """One panel per image with its glimpse boxes numbered by step (and the digits' ink boxes
    dotted when given)."""
    n = len(images)
    cols = min(columns, n)
    rows = (n + cols - 1) // cols
    fig = Figure(figsize=(3.0 * cols, 3.2 * rows))
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        _draw(ax, images[i], boxes[i], titles[i] if titles else None,
              None if digit_boxes is None else digit_boxes[i])
    fig.tight_layout()
    return atomic_save_figure(fig, path)


def plot_attention(image, boxes, title, path) -> Path:
    """One image with its glimpse boxes (`zoo attend`)."""
    fig = Figure(figsize=(4, 4.3))
    _draw(fig.add_subplot(), image, boxes, title)
    fig.tight_layout()
    return atomic_save_figure(fig, path)
