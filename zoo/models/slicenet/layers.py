"""SliceNet building blocks (Kaiser et al., "Depthwise Separable Convolutions for Neural Machine
Translation"): the four convolution types of Table 1, ConvStep / ConvModule (§3.1), the timing
signal and inner-product attention (§3.2).

All convolutions are 1-D over [batch, time, channels] with a dilation and either "same"
(centred) or "causal" (left-only) zero padding, so a causal layer's output at t sees inputs <= t.
Ops are chosen for speed on CPU and GPU: `tf.nn.convolution` for regular/grouped kernels,
`tf.nn.depthwise_conv2d` for the per-channel spatial part and `einsum` for (grouped) 1x1 mixes.
"""
from __future__ import annotations

import math

import keras
import tensorflow as tf

from zoo.registry import serializable

SEPARABILITIES = ("none", "full", "sub", "super")
PADDINGS = ("same", "causal")


def table1_weights(kind: str, k: int, c: int, g: int = 1) -> int:
    """Table 1 weight count (biases excluded) of a c->c convolution of width k with g groups."""
    if kind == "none":
        return k * c * c
    if kind == "full":
        return k * c + c * c
    if kind == "sub":
        return k * c * c // g + c * c
    if kind == "super":
        return k * c + c * c // g
    raise ValueError(f"unknown separability {kind!r}; choose one of {SEPARABILITIES}")


def pad_time(x, kernel_size: int, dilation: int, padding: str):
    """Zero-pad the time axis so a VALID convolution keeps the length ("causal": left only)."""
    total = (kernel_size - 1) * dilation
    left = total if padding == "causal" else total // 2
    if total == 0:
        return x
    return tf.pad(x, [[0, 0], [left, total - left], [0, 0]])


@serializable
class SliceConv1D(keras.layers.Layer):
    """One 1-D convolution of any Table 1 type (Kaiser et al., "Depthwise Separable Convolutions for
    Neural Machine Translation", §2, Table 1).

    separability:
        "none":  regular convolution, kernel [k, c_in, c_out]                -> k*c^2
        "full":  depthwise [k, c_in] then pointwise [c_in, c_out]            -> k*c + c^2
        "sub":   g-sub-separable: a regular conv per channel group [k, c_in/g, c_out/g]
                 (concatenated), then a 1x1 mix [c_out, c_out]                -> k*c^2/g + c^2
        "super": g-super-separable (§2.2): per group a separable conv (depthwise over all
                 channels, block-diagonal pointwise [g, c_in/g, c_out/g]), concatenated, no mix
                                                                             -> k*c + c^2/g
    The bias (c_out values) is counted separately from the Table 1 figures.
    """

    def __init__(self, filters, kernel_size=3, dilation_rate=1, padding="same", separability="full",
                 groups=1, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        if separability not in SEPARABILITIES:
            raise ValueError(f"separability must be one of {SEPARABILITIES}, got {separability!r}")
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
        if kernel_size < 1 or dilation_rate < 1:
            raise ValueError(f"kernel_size and dilation_rate must be >= 1, got {kernel_size}, {dilation_rate}")
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.dilation_rate = int(dilation_rate)
        self.padding = padding
        self.separability = separability
        self.groups = int(groups) if separability in ("sub", "super") else 1
        self.use_bias = use_bias

    def build(self, input_shape):
        c_in, c_out, k, g = int(input_shape[-1]), self.filters, self.kernel_size, self.groups
        if c_in % g or c_out % g:
            raise ValueError(f"{self.separability}-separable conv with {g} groups needs channel counts "
                             f"divisible by {g}, got {c_in} -> {c_out}")
        # One initializer object per weight: a shared one gives two weights the same draw
        # (zoo/layers/initializers.py).
        init = keras.initializers.GlorotUniform()
        s = self.separability
        if s == "none":
            self.kernel = self.add_weight(name="kernel", shape=(k, c_in, c_out), initializer=init)
        elif s == "sub":
            # Stored per group so the count is exactly k * c_in * c_out / g.
            self.kernel = self.add_weight(name="kernel", shape=(g, k, c_in // g, c_out // g), initializer=init)
            self.pointwise = self.add_weight(name="pointwise", shape=(c_out, c_out),
                                             initializer=keras.initializers.GlorotUniform())
        else:
            self.depthwise = self.add_weight(name="depthwise", shape=(k, c_in),
                                             initializer=keras.initializers.RandomUniform(
                                                 -math.sqrt(3.0 / k), math.sqrt(3.0 / k)))
            shape = (c_in, c_out) if s == "full" else (g, c_in // g, c_out // g)
            self.pointwise = self.add_weight(name="pointwise", shape=shape, initializer=init)
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(c_out,), initializer="zeros")
        self.c_in = c_in
        self.built = True

    def table1_weight_count(self) -> int:
        """The weights this layer holds, bias excluded (what Table 1 counts)."""
        return int(sum(math.prod(w.shape) for w in self.weights if w is not getattr(self, "bias", None)))

    def _depthwise(self, x):
        # depthwise_conv2d over a height-1 image: one k-tap filter per channel, dilated in time.
        w = tf.cast(self.depthwise, x.dtype)[None, :, :, None]
        y = tf.nn.depthwise_conv2d(x[:, None], w, strides=[1, 1, 1, 1], padding="VALID",
                                   dilations=[1, self.dilation_rate])
        return y[:, 0]

    def call(self, x):
        x = pad_time(x, self.kernel_size, self.dilation_rate, self.padding)
        s, g = self.separability, self.groups
        if s == "none":
            y = tf.nn.convolution(x, tf.cast(self.kernel, x.dtype), padding="VALID",
                                  dilations=[self.dilation_rate])
        elif s == "sub":
            # One regular conv per group; grouped tf.nn.convolution is not implemented on CPU.
            parts = tf.split(x, g, axis=-1)
            y = tf.concat([tf.nn.convolution(p, tf.cast(self.kernel[i], x.dtype), padding="VALID",
                                             dilations=[self.dilation_rate])
                           for i, p in enumerate(parts)], axis=-1)
            y = tf.einsum("btc,cd->btd", y, tf.cast(self.pointwise, x.dtype))
        else:
            y = self._depthwise(x)
            if s == "full":
                y = tf.einsum("btc,cd->btd", y, tf.cast(self.pointwise, x.dtype))
            else:
                shape = tf.shape(y)
                y = tf.reshape(y, [shape[0], shape[1], g, self.c_in // g])
                y = tf.einsum("btgi,gio->btgo", y, tf.cast(self.pointwise, x.dtype))
                y = tf.reshape(y, [shape[0], shape[1], self.filters])
        if self.use_bias:
            y = y + tf.cast(self.bias, y.dtype)
        return y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "dilation_rate": self.dilation_rate, "padding": self.padding,
                "separability": self.separability, "groups": self.groups, "use_bias": self.use_bias}


@serializable
class ConvStep(keras.layers.Layer):
    """ConvStep_{d,s}(W, x) = LN(SepConv_{d,s}(W, ReLU(x))) (Kaiser et al., "Depthwise Separable
    Convolutions for Neural Machine Translation", §3.1), any Table 1 conv."""

    def __init__(self, filters, kernel_size=3, dilation_rate=1, padding="same", separability="full",
                 groups=1, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.dilation_rate = filters, kernel_size, dilation_rate
        self.padding, self.separability, self.groups = padding, separability, groups
        # Sub-layers share this layer's dtype policy (mixed precision reaches every sub-layer).
        self.conv = SliceConv1D(filters, kernel_size, dilation_rate, padding, separability, groups, name="conv",
                                dtype=self.dtype_policy)
        self.norm = keras.layers.LayerNormalization(epsilon=1e-6, name="norm", dtype=self.dtype_policy)

    def build(self, input_shape):
        self.conv.build(input_shape)
        self.norm.build(tuple(input_shape[:-1]) + (self.filters,))
        self.built = True

    def call(self, x):
        return self.norm(self.conv(tf.nn.relu(x)))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "dilation_rate": self.dilation_rate, "padding": self.padding,
                "separability": self.separability, "groups": self.groups}


def step_groups(separability: str, groups: int, index: int) -> int:
    """Groups of the index-th step: super-separable alternates co-prime g = 2, 3 (§2.2)."""
    if separability == "super":
        return 2 if index % 2 == 0 else 3
    return groups if separability == "sub" else 1


@serializable
class ConvModule(keras.layers.Layer):
    """A stack of ConvSteps with residuals to the module input (Kaiser et al., "Depthwise Separable
    Convolutions for Neural Machine Translation", §3.1).

    With the paper's four steps: h2 = x + step2(step1(x)), h4 = x + step4(step3(h2)), then
    dropout (0.5 in the paper) while training. Longer stacks (Table 2's 3-7-15-31-63 row) add a
    residual after every second step and after the last one.
    """

    def __init__(self, filters, kernel_sizes=(3, 3, 15, 15), dilations=(1, 1, 1, 8), padding="same",
                 separability="full", groups=16, dropout=0.5, **kwargs):
        super().__init__(**kwargs)
        kernel_sizes, dilations = [int(k) for k in kernel_sizes], [int(d) for d in dilations]
        if len(kernel_sizes) != len(dilations) or not kernel_sizes:
            raise ValueError(f"kernel_sizes {kernel_sizes} and dilations {dilations} must be "
                             f"non-empty lists of one length")
        self.filters, self.kernel_sizes, self.dilations = filters, kernel_sizes, dilations
        self.padding, self.separability, self.groups, self.dropout_rate = padding, separability, groups, dropout
        self.steps = [ConvStep(filters, k, d, padding, separability, step_groups(separability, groups, i),
                               name=f"step{i}", dtype=self.dtype_policy)
                      for i, (k, d) in enumerate(zip(kernel_sizes, dilations))]
        self.dropout = keras.layers.Dropout(dropout, dtype=self.dtype_policy)

    def build(self, input_shape):
        for s in self.steps:
            s.build(input_shape)
        self.built = True

    def call(self, x, training=False, padding_mask=None):
        """`padding_mask` [B, T, 1] (1 = real position) zeroes padding before every step, so a "same"
        convolution sees zeros past the end of a sentence whatever the batch's padded length."""
        h = x
        n = len(self.steps)
        for i, step in enumerate(self.steps):
            h = step(h if padding_mask is None else h * padding_mask)
            if i % 2 == 1 or i == n - 1:
                h = x + h
        return self.dropout(h, training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_sizes": self.kernel_sizes,
                "dilations": self.dilations, "padding": self.padding, "separability": self.separability,
                "groups": self.groups, "dropout": self.dropout_rate}


def timing_signal(length, depth: int, dtype=tf.float32):
    """timing(t, 2d) = sin(t / 10000^(2d/depth)), timing(t, 2d+1) = cos(...) (§3.2); [length, depth]."""
    half = depth // 2
    t = tf.cast(tf.range(length), tf.float32)[:, None]
    inv = tf.pow(10000.0, -2.0 * tf.range(half, dtype=tf.float32) / float(depth))[None, :]
    angles = t * inv
    signal = tf.reshape(tf.stack([tf.sin(angles), tf.cos(angles)], axis=-1), [-1, 2 * half])
    if depth % 2:
        signal = tf.pad(signal, [[0, 0], [0, 1]])
    return tf.cast(signal, dtype)


def attend(source, target, source_mask=None):
    """Inner-product attention Softmax(target . source^T / sqrt(depth)) . source (§3.2).

    source [B, m, d], target [B, n, d]; masked (padding) source positions get no weight.
    """
    depth = tf.cast(tf.shape(source)[-1], source.dtype)
    logits = tf.einsum("bnd,bmd->bnm", target, source) / tf.sqrt(depth)
    if source_mask is not None:
        logits = tf.where(tf.cast(source_mask, tf.bool)[:, None, :], logits, tf.cast(-1e9, logits.dtype))
    return tf.einsum("bnm,bmd->bnd", tf.nn.softmax(logits, axis=-1), source)


@serializable
class AttentionModule(keras.layers.Layer):
    """attention(source, target) = Attend(source, ConvStep_{4}(ConvStep_{1}(target + timing))) with
    kernel 5 (§3.2); the steps are causal when the targets are the decoder's outputs."""

    def __init__(self, filters, padding="causal", separability="full", groups=16, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.padding, self.separability, self.groups = filters, padding, separability, groups
        self.step1 = ConvStep(filters, 5, 1, padding, separability, step_groups(separability, groups, 0),
                              name="step1", dtype=self.dtype_policy)
        self.step2 = ConvStep(filters, 5, 4, padding, separability, step_groups(separability, groups, 1),
                              name="step2", dtype=self.dtype_policy)

    def build(self, source_shape, target_shape=None, source_mask_shape=None):
        # Keras's convention for several inputs: one `<argument>_shape` per tensor argument of call.
        # A single shape (earlier callers' `build(shape)`) is the targets', as wide as the source.
        if target_shape is None:
            target_shape = source_shape
        self.step1.build(target_shape)
        self.step2.build(tuple(target_shape[:-1]) + (self.filters,))
        self.built = True

    def call(self, source, target, source_mask=None):
        t = target + timing_signal(tf.shape(target)[1], self.filters, target.dtype)[None]
        return attend(source, self.step2(self.step1(t)), source_mask)

    def compute_output_shape(self, source_shape, target_shape, source_mask_shape=None):
        return tuple(target_shape[:-1]) + (source_shape[-1],)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "padding": self.padding,
                "separability": self.separability, "groups": self.groups}
