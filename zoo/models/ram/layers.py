"""DRAW's read operation with a rectangular grid (K. Gregor, I. Danihelka, A. Graves, D. J.
Rezende, D. Wierstra, "DRAW: A Recurrent Neural Network For Image Generation", §3.2; with the
changes of Semeniuta's dissertation §4.3: separate strides along x and y, and a grid centre
kept inside the image).

Pixels are indexed from 0, so a W-pixel row has coordinates 0 .. W-1 and the image centre is
at (W-1)/2. For an N x N glimpse with centre (gx, gy) in pixels, strides (dx, dy) in pixels,
variance s2 and intensity gamma, grid point i = 0 .. N-1 lies at

    mu_x[i] = gx + (i - (N-1)/2) * dx        mu_y[j] = gy + (j - (N-1)/2) * dy

and the filterbanks are one Gaussian per grid point, each row normalised to sum to 1:

    Fx[i, a] = exp(-(a - mu_x[i])^2 / (2 s2)) / sum_a' exp(-(a' - mu_x[i])^2 / (2 s2))

(the square is of the distance, divided by 2 s2 — the quantity a widely copied TF1 version
squares wrongly). The glimpse is gamma * Fy I Fx^T, N x N.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from zoo.registry import serializable

# Attention parameters per step, in this order, as `GlimpseReader` returns them.
PARAMETERS = ("center_x", "center_y", "stride_x", "stride_y", "variance", "intensity")


def filterbank(mu, variance, size: int):
    """Normalised Gaussian filters [batch, N, size] centred at mu [batch, N] (pixels)."""
    a = tf.range(size, dtype=mu.dtype)[None, None, :]
    f = tf.exp(-tf.square(a - mu[:, :, None]) / (2.0 * variance[:, None, None]))
    # A grid point far outside the image with a tiny variance underflows to all zeros: the floor
    # keeps its (zero) row finite instead of 0/0.
    return f / tf.maximum(tf.reduce_sum(f, axis=-1, keepdims=True), 1e-8)


def grid_points(center, stride, n: int):
    """mu[i] = center + (i - (n-1)/2) * stride for i = 0..n-1; center, stride [batch]."""
    offsets = tf.range(n, dtype=center.dtype) - (n - 1) / 2.0
    return center[:, None] + offsets[None, :] * stride[:, None]


def read_glimpse(images, center_x, center_y, stride_x, stride_y, variance, intensity, n: int):
    """The N x N glimpse gamma * Fy I Fx^T of images [batch, H, W]; parameters [batch], pixels."""
    height, width = images.shape[1], images.shape[2]
    fx = filterbank(grid_points(center_x, stride_x, n), variance, width)    # [b, N, W]
    fy = filterbank(grid_points(center_y, stride_y, n), variance, height)   # [b, N, H]
    glimpse = tf.matmul(tf.matmul(fy, images), fx, transpose_b=True)        # [b, N, N]
    return intensity[:, None, None] * glimpse


def glimpse_box(center_x, center_y, stride_x, stride_y, n: int):
    """The region a glimpse reads, (x0, y0, x1, y1) in pixels: its grid extended by half a
    stride on each side (each filter stands for one stride's width)."""
    hx, hy = n * stride_x / 2.0, n * stride_y / 2.0
    return tf.stack([center_x - hx, center_y - hy, center_x + hx, center_y + hy], axis=-1)


@serializable
class GlimpseReader(keras.layers.Layer):
    """Attention state -> DRAW glimpse: a linear map to (cx~, cy~, log dx~, log dy~, log s2,
    log gamma), then the read operation.

    The centre is clipped to [-1, 1] (the dissertation's restriction to the image) and mapped to
    pixels, gx = (W-1)/2 * (cx~ + 1). With `relative_shift` (the dissertation's pair-task
    parametrisation, §4.4.1) the linear map gives a shift of the previous step's position
    instead; positions add up unbounded and the centre is tanh(position), inside (-1, 1). (A
    hard clip after adding shifts is absorbing: once a centre reaches an edge, the clip passes
    no gradient to the shifts and every later glimpse stays there — measured on the pair task.)
    The strides are dx = (W-1)/(N-1) * dx~, so dx~ = 1
    spreads the grid over the whole image; dx~ = exp(.) or, with `max_extent` m, m * sigmoid(.)
    (the upper limit on the glimpse size of §4.4.1: at most a share m of the image per axis);
    s2 = exp(.) starting at (stride / 2)^2.

    Args:
        size: N, the glimpse is N x N (N >= 2).
        image_height, image_width: the image's size in pixels.
        relative_shift: centres as shifts from the previous position.
        max_extent: None, or the largest share (0, 1] of the image a glimpse may span per axis.
    """

    def __init__(self, size: int, image_height: int, image_width: int, relative_shift: bool = False,
                 max_extent: float | None = None, **kwargs):
        super().__init__(**kwargs)
        if int(size) < 2:
            raise ValueError(f"glimpse size must be >= 2, got {size!r}")
        if max_extent is not None and not 0 < max_extent <= 1:
            raise ValueError(f"max_extent must be in (0, 1], got {max_extent!r}")
        self.size, self.image_height, self.image_width = int(size), int(image_height), int(image_width)
        self.relative_shift, self.max_extent = bool(relative_shift), max_extent
        # Small weights: every glimpse starts near the whole image, centred, with gamma = 1 (exactly zero weights would also cut the gradient to the attention state).
        self.linear = keras.layers.Dense(6, kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
                                         name="attention", dtype=self.dtype_policy)

    def build(self, images_shape, state_shape=None):
        self.linear.build(state_shape)
        # The first glimpses read as much of the image as they may (all of it, or nearly the
        # max_extent share) and start their blur at half the grid's stride, so they average it
        # instead of point-sampling every stride-th pixel (DRAW's extent and variance are free;
        # only their starting values are chosen here).
        bias = np.zeros(6, np.float32)
        extent = 1.0
        if self.max_extent is not None:
            bias[2:4] = 3.0                      # sigmoid(3) = 0.95
            extent = self.max_extent / (1.0 + np.exp(-3.0))
        stride = extent * (max(self.image_height, self.image_width) - 1) / (self.size - 1)
        bias[4] = np.log((stride / 2.0) ** 2)
        self.linear.bias.assign(bias)

    def parameters(self, state, previous_position=None):
        """(params: {name: [batch]} in pixels, the position [batch, 2] the next relative shift
        starts from, the shift [batch, 2] of the centre in [-1, 1] coordinates).

        Without `relative_shift` the position is the clipped centre and the shift the linear
        map's raw centre output; with it, `previous_position` None starts at the image centre."""
        u = tf.cast(self.linear(state), tf.float32)
        raw = u[:, 0:2]
        if self.relative_shift:
            start = tf.zeros_like(raw) if previous_position is None else previous_position
            position = start + raw
            centre = tf.tanh(position)
            shift = centre - tf.tanh(start)
        else:
            centre = position = tf.clip_by_value(raw, -1.0, 1.0)
            shift = raw
        extent = (self.max_extent * tf.sigmoid(u[:, 2:4]) if self.max_extent is not None
                  else tf.exp(u[:, 2:4]))
        w, h, n = self.image_width, self.image_height, self.size
        params = {"center_x": (w - 1) / 2.0 * (centre[:, 0] + 1.0),
                  "center_y": (h - 1) / 2.0 * (centre[:, 1] + 1.0),
                  "stride_x": (w - 1) / (n - 1) * extent[:, 0],
                  "stride_y": (h - 1) / (n - 1) * extent[:, 1],
                  "variance": tf.exp(u[:, 4]),
                  "intensity": tf.exp(u[:, 5])}
        return params, position, shift

    def read(self, images, params):
        """The glimpses [batch, N, N] of images [batch, H, W] at `params` (from `parameters`);
        the filterbanks are computed in float32 whatever the compute dtype."""
        g = read_glimpse(tf.cast(images, tf.float32), *(params[k] for k in PARAMETERS), n=self.size)
        return tf.cast(g, self.compute_dtype)

    def call(self, images, state, previous_position=None):
        return self.read(images, self.parameters(state, previous_position)[0])

    def get_config(self):
        return {**super().get_config(), "size": self.size, "image_height": self.image_height,
                "image_width": self.image_width, "relative_shift": self.relative_shift,
                "max_extent": self.max_extent}
