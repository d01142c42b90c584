"""Building blocks of the byte-level recursive convolutional autoencoder ("Byte-level Recursive
Convolutional Auto-Encoder for Text", §2).

Every parameterized layer is a kernel-3, 256-feature temporal convolution with same-length zero
padding (or a linear layer in the postfix/prefix groups around the code) followed by ReLU, and
every pair of adjacent parameterized layers is bridged by a residual connection (§2: "for every
pair of adjacent parameterized layers, the input feature representation is passed through to the
output by addition").

Initialisation. The paper does not state one. With Keras's default (Glorot uniform) every residual
pair adds a branch of about the input's own scale, so activations grow geometrically with depth:
logit standard deviations of ~30 at n = 2, ~2e6 at n = 8 and ~4e10 at n = 16 at length 1,024.
Two schemes keep the scale from growing with n; in both, every layer that feeds a ReLU is
He-initialised (variance 2 / fan-in: "Delving Deep into Rectifiers", He et al. 2015, §2.2) and a
pair without a shortcut (the one-hot input or the logits of a model whose width differs) keeps He
for its ReLU layers and LeCun (1 / fan-in) for linear logits:

- "depth_scaled" (the model's default): the second layer of every pair with a shortcut is He
  scaled by `branch_scale` = 1/sqrt(P), P the pair applications on the model's longest path, so
  each branch adds 1/P of its input's variance and the total grows at most (1 + 1/P)^P < e
  whatever n is (the depth-scaled residual branches of Fixup, "Fixup Initialization", Zhang et
  al. 2019, §3). What still grows is the recursion's max-pooling of decorrelated features,
  ~1.2-1.35x per application and the same for every n. It trained the main job to 38.0% byte
  error where zero_residual reached 48.2% and Glorot 45.0% (3,000 steps each).
- "zero_residual" (the stacks' own default): that layer starts at zero, so each pair starts as
  the identity (x -> relu(x + 0) = x for x >= 0; "Accurate, Large Minibatch SGD", Goyal et al.
  2017, §5.1); the scale then stays within 1-1.3x of the first layer's through the whole network,
  but every first layer of a pair gets no gradient until its partner has moved off zero.

"glorot" is Keras's default, what models trained before the zoo chose an initialisation used.
"""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from zoo.registry import serializable

POOLINGS = ("max", "average", "l2")
INITS = ("zero_residual", "depth_scaled", "glorot")


def _check_init(init):
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    return init


def _initializer(init, role, branch_scale=1.0):
    """Kernel initializer of a layer by its role: "relu" (feeds a ReLU), "branch_end" (the second
    layer of a pair with a shortcut) or "linear" (the final logits with no shortcut)."""
    if init == "glorot":
        return "glorot_uniform"
    if role == "branch_end" and init == "depth_scaled":
        return keras.initializers.VarianceScaling(2.0 * branch_scale ** 2, "fan_in", "truncated_normal")
    return {"relu": "he_normal", "branch_end": "zeros", "linear": "lecun_normal"}[role]


@serializable
class ResidualConvStack(keras.layers.Layer):
    """`n` convolutions (kernel `kernel_size`, `features` channels, ReLU) with a residual per pair.

    `expand=True` is the decoder's recursion group (§2, Figure 3): the first convolution outputs
    `2 * features` channels which are reshaped to `features` channels at twice the length, so
    output positions 2t and 2t+1 both come from input position t (the sub-pixel interleave).
    The first pair's shortcut is then the input repeated twice along time, the identity of that
    interleave. `final_linear=True` leaves the last layer without ReLU (byte logits).
    A pair whose input and output widths differ (one-hot input or logits of a narrow model)
    has no shortcut, since an identity cannot bridge it.
    """

    def __init__(self, n, features=256, kernel_size=3, expand=False, final_linear=False,
                 output_features=None, init="zero_residual", branch_scale=1.0, **kwargs):
        super().__init__(**kwargs)
        if n < 2 or n % 2:
            raise ValueError(f"n must be an even number >= 2 (residual pairs), got {n}")
        self.init = _check_init(init)
        self.branch_scale = branch_scale
        self.n = n
        self.features = features
        self.kernel_size = kernel_size
        self.expand = expand
        self.final_linear = final_linear
        self.output_features = output_features or features
        self.convs = []
        for i in range(n):
            width = features
            if i == 0 and expand:
                width = 2 * features
            if i == n - 1:
                width = self.output_features
            # The second layer of a pair is activated after the residual sum (see call).
            act = "relu" if i % 2 == 0 else None
            self.convs.append(keras.layers.Conv1D(width, kernel_size, padding="same",
                                                  activation=act, name=f"conv{i}",
                                                  dtype=self.dtype_policy))

    def build(self, input_shape):
        shape = tuple(input_shape)
        pair_input = shape[-1]
        for i, conv in enumerate(self.convs):
            if i % 2 == 0:
                pair_input = shape[-1]
                role = "relu"
            elif pair_input == conv.filters:  # the pair has a shortcut: its branch starts at zero
                role = "branch_end"
            else:
                role = "relu" if self._pair_activation(i - 1) else "linear"
            conv.kernel_initializer = keras.initializers.get(_initializer(self.init, role, self.branch_scale))
            conv.build(shape)
            width = conv.filters
            if i == 0 and self.expand:
                width = self.features
            shape = shape[:-1] + (width,)
        self.built = True

    def call(self, x):
        for i in range(0, self.n, 2):
            a, b = self.convs[i], self.convs[i + 1]
            h = a(x)
            shortcut = x
            if i == 0 and self.expand:
                batch, length = ops.shape(h)[0], ops.shape(h)[1]
                h = ops.reshape(h, (batch, length * 2, self.features))
                shortcut = ops.repeat(x, 2, axis=1)
            y = b(h)
            x = y + shortcut if shortcut.shape[-1] == y.shape[-1] else y
            if self._pair_activation(i):
                x = tf.nn.relu(x)
        return x

    def _pair_activation(self, i):
        # ReLU after the sum (He et al. 2016): the last layer of a final_linear stack stays linear.
        return not (self.final_linear and i + 2 == self.n)

    def compute_output_shape(self, input_shape):
        length = input_shape[1]
        if self.expand and length is not None:
            length *= 2
        return (input_shape[0], length, self.output_features)

    def get_config(self):
        return {**super().get_config(), "n": self.n, "features": self.features,
                "kernel_size": self.kernel_size, "expand": self.expand,
                "final_linear": self.final_linear, "output_features": self.output_features,
                "init": self.init, "branch_scale": self.branch_scale}


@serializable
class ResidualDenseStack(keras.layers.Layer):
    """`n` linear layers of width `units` with ReLU and a residual per pair (§2 postfix/prefix)."""

    def __init__(self, n, units=1024, init="zero_residual", branch_scale=1.0, **kwargs):
        super().__init__(**kwargs)
        if n < 2 or n % 2:
            raise ValueError(f"n must be an even number >= 2 (residual pairs), got {n}")
        self.init = _check_init(init)
        self.branch_scale = branch_scale
        self.n = n
        self.units = units
        # Every pair has a shortcut (width units -> units): see the module docstring.
        self.dense = [keras.layers.Dense(units, activation="relu" if i % 2 == 0 else None, name=f"dense{i}",
                                         kernel_initializer=_initializer(init, "relu" if i % 2 == 0 else "branch_end", branch_scale),
                                         dtype=self.dtype_policy)
                      for i in range(n)]

    def build(self, input_shape):
        for d in self.dense:
            d.build(tuple(input_shape[:-1]) + (self.units,))
        self.built = True

    def call(self, x):
        for i in range(0, self.n, 2):
            x = tf.nn.relu(x + self.dense[i + 1](self.dense[i](x)))
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "n": self.n, "units": self.units, "init": self.init,
                "branch_scale": self.branch_scale}


@serializable
class TemporalPool(keras.layers.Layer):
    """Size-2, stride-2 pooling over time: max (the paper's choice), average, or L2 (§4.5)."""

    def __init__(self, mode="max", **kwargs):
        super().__init__(**kwargs)
        if mode not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {mode!r}")
        self.mode = mode

    def call(self, x):
        if self.mode == "max":
            return ops.max_pool(x, 2, 2, padding="valid")
        if self.mode == "average":
            return ops.average_pool(x, 2, 2, padding="valid")
        # L2 pooling: root of the summed squares; the epsilon keeps the gradient finite at 0.
        return ops.sqrt(2.0 * ops.average_pool(ops.square(x), 2, 2, padding="valid") + 1e-6)

    def compute_output_shape(self, input_shape):
        length = None if input_shape[1] is None else input_shape[1] // 2
        return (input_shape[0], length, input_shape[2])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
