"""Building blocks of the byte-level recursive convolutional autoencoder ("Byte-level Recursive
Convolutional Auto-Encoder for Text", §2).

Every parameterized layer is a kernel-3, 256-feature temporal convolution with same-length zero
padding (or a linear layer in the postfix/prefix groups around the code) followed by ReLU, and
every pair of adjacent parameterized layers is bridged by a residual connection (§2: "for every
pair of adjacent parameterized layers, the input feature representation is passed through to the
output by addition").
"""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from zoo.registry import serializable

POOLINGS = ("max", "average", "l2")


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
                 output_features=None, **kwargs):
        super().__init__(**kwargs)
        if n < 2 or n % 2:
            raise ValueError(f"n must be an even number >= 2 (residual pairs), got {n}")
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
        for i, conv in enumerate(self.convs):
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
                "final_linear": self.final_linear, "output_features": self.output_features}


@serializable
class ResidualDenseStack(keras.layers.Layer):
    """`n` linear layers of width `units` with ReLU and a residual per pair (§2 postfix/prefix)."""

    def __init__(self, n, units=1024, **kwargs):
        super().__init__(**kwargs)
        if n < 2 or n % 2:
            raise ValueError(f"n must be an even number >= 2 (residual pairs), got {n}")
        self.n = n
        self.units = units
        self.dense = [keras.layers.Dense(units, activation="relu" if i % 2 == 0 else None, name=f"dense{i}",
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
        return {**super().get_config(), "n": self.n, "units": self.units}


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
