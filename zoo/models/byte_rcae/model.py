"""Byte-level Recursive Convolutional Auto-Encoder for Text ("Byte-level Recursive Convolutional
Auto-Encoder for Text", §2; variants of §4.5-4.7).

Input: int32 byte ids [batch, L] where a paragraph's bytes are followed by the end-of-sequence
null byte (0) and padded with -1 to L = 2^ceil(log2(l+1)) >= 4; -1 one-hot encodes to the all-zero
vector the paper pads with. Output: byte logits [batch, L, 256].

Encoder: prefix group (n convs) -> recursion group (n convs + pool/2), shared weights, applied
log2(L/4) times until the representation is 4 x 256 = the 1024-d code -> postfix group of n
linear layers. Decoder: the reverse mirror, its recursion group doubling the length with the
sub-pixel interleave of Figure 3. With n = 8 and L = 1024 that is 160 parameterized layers.
"""
from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import ops

from zoo.models.byte_rcae.layers import POOLINGS, ResidualConvStack, ResidualDenseStack, TemporalPool
from zoo.registry import register_model, serializable

NUM_BYTES = 256


def recursion_depth(length: int, code_length: int = 4) -> int:
    """How many times the recursion groups run for a padded length (0 when length <= 4)."""
    if length < code_length or length & (length - 1):
        raise ValueError(f"padded length must be a power of two >= {code_length}, got {length}")
    return int(math.log2(length // code_length))


def _byte_example(model, batch, rng):
    """Random paragraphs with EOS and padding, at the model's fixed length or a short bucket."""
    import numpy as np
    length = model.fixed_length or min(16, model.max_length)
    ids = rng.integers(1, 256, size=(batch, length)).astype("int32")
    ids[:, length * 5 // 8] = 0
    ids[:, length * 5 // 8 + 1:] = -1
    return ids


@serializable
class ByteRCAE(keras.Model):
    """The recursive (or static) convolutional byte autoencoder.

    Args:
        n: parameterized layers per group (even; the paper's 2, 4, 8, 16 — Table 6).
        features: convolution width (paper: 256).
        code_length: length of the innermost representation (paper: 4, so the code is 4*256).
        pooling: "max" (paper), "average" or "l2" (Table 4).
        recursive: share the recursion groups' weights across applications (Table 5 compares).
        max_length: longest padded input; the static model always runs at this length.
        kernel_size: convolution kernel (paper: 3).
        init: "depth_scaled" (He-initialised layers, each residual branch scaled by 1/sqrt of the
            pair applications on the longest path), "zero_residual" (each branch starting at
            zero) or "glorot" (Keras's default, under which activations grow geometrically with
            n; what models trained before the zoo chose an initialisation used). See `layers`.
    """

    def __init__(self, n=8, features=256, code_length=4, pooling="max", recursive=True,
                 max_length=1024, kernel_size=3, init="depth_scaled", **kwargs):
        super().__init__(**kwargs)
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.n = n
        self.features = features
        self.code_length = code_length
        self.pooling = pooling
        self.recursive = recursive
        self.max_length = max_length
        self.kernel_size = kernel_size
        self.init = init
        self.max_depth = recursion_depth(max_length, code_length)
        self.code_dim = code_length * features
        # Sub-layers share the model's dtype policy, so a mixed-precision model is mixed throughout.
        dtype = self.dtype_policy
        # depth_scaled: each residual branch starts at 1/sqrt(P) of its input's scale, P the pair
        # applications on the longest path, so the variance grows at most (1 + 1/P)^P < e.
        pairs = n * (2 + self.max_depth)
        scale = dict(init=init, branch_scale=1.0 / math.sqrt(pairs))
        conv = dict(n=n, features=features, kernel_size=kernel_size, dtype=dtype, **scale)
        # Static model: one recursion group per application, no weight sharing (§4.6).
        copies = 1 if recursive else self.max_depth
        self.enc_prefix = ResidualConvStack(**conv, name="enc_prefix")
        self.enc_recursion = [ResidualConvStack(**conv, name=f"enc_recursion{i}") for i in range(copies)]
        self.pool = TemporalPool(pooling, name="pool", dtype=dtype)
        self.enc_postfix = ResidualDenseStack(n, self.code_dim, name="enc_postfix", dtype=dtype, **scale)
        self.dec_prefix = ResidualDenseStack(n, self.code_dim, name="dec_prefix", dtype=dtype, **scale)
        self.dec_recursion = [ResidualConvStack(**conv, expand=True, name=f"dec_recursion{i}")
                              for i in range(copies)]
        self.dec_postfix = ResidualConvStack(**conv, final_linear=True, output_features=NUM_BYTES,
                                             name="dec_postfix")

    # -- structure ---------------------------------------------------------------------------
    @property
    def input_dtype(self):
        """Byte ids: the dtype Keras converts inputs to and traces `export()` with."""
        return "int32"

    @property
    def fixed_length(self) -> int | None:
        """The static model reads exactly `max_length` bytes; the recursive one any power of 2."""
        return None if self.recursive else self.max_length

    def depth_for_length(self, length: int) -> int:
        depth = recursion_depth(length, self.code_length)
        if depth > self.max_depth:
            raise ValueError(f"padded length {length} exceeds the model's max_length {self.max_length}")
        if not self.recursive and depth != self.max_depth:
            raise ValueError(f"the static model reads exactly {self.max_length} bytes, got {length}")
        return depth

    def num_parameterized_layers(self, length: int) -> int:
        """Parameterized layers on the path of an input of padded `length` (160 for n=8, 1024)."""
        return 2 * self.n * (2 + self.depth_for_length(length))

    def shared_group_uses(self, length: int) -> list[tuple[list, int]]:
        """(variables, times applied) of each weight-shared recursion group for this length."""
        if not self.recursive:
            return []
        depth = self.depth_for_length(length)
        return [(self.enc_recursion[0].trainable_variables, depth),
                (self.dec_recursion[0].trainable_variables, depth)]

    def build(self, input_shape=None):
        f = self.features
        self.enc_prefix.build((None, None, NUM_BYTES))
        for g in self.enc_recursion:
            g.build((None, None, f))
        self.enc_postfix.build((None, self.code_dim))
        self.dec_prefix.build((None, self.code_dim))
        for g in self.dec_recursion:
            g.build((None, None, f))
        self.dec_postfix.build((None, None, f))
        self.built = True

    # -- forward -----------------------------------------------------------------------------
    def _recurse(self, x, groups, step, depth):
        if isinstance(depth, int):
            for i in range(depth):
                x = step(groups[i if len(groups) > 1 else 0], x)
            return x
        # Unknown length at trace time (a SavedModel signature with a dynamic axis): a graph
        # loop whose length changes each iteration; only the recursive model reaches here.
        _, x = tf.while_loop(
            lambda i, h: i < depth, lambda i, h: (i + 1, step(groups[0], h)), (tf.constant(0), x),
            shape_invariants=(tf.TensorShape([]), tf.TensorShape([None, None, self.features])))
        return x

    def _depth(self, length):
        static = length if isinstance(length, int) else None
        if static is not None:
            return self.depth_for_length(static)
        return tf.cast(tf.round(tf.math.log(tf.cast(length // self.code_length, tf.float32))
                                / math.log(2.0)), tf.int32)

    def encode(self, ids, training=False, taps=None):
        """Byte ids [B, L] (-1 = padding) -> the 1024-d code [B, code_dim]. `taps` (a list, static
        lengths only) receives (group name, output) after every group application."""
        ids = ops.convert_to_tensor(ids, "int32")
        length = ids.shape[1] if ids.shape[1] is not None else tf.shape(ids)[1]
        tap = (lambda name, x: taps.append((name, x)) or x) if taps is not None else (lambda name, x: x)
        x = ops.one_hot(ids, NUM_BYTES)  # -1 -> all-zero vector (the paper's padding)
        x = tap("enc_prefix", self.enc_prefix(x))
        x = self._recurse(x, self.enc_recursion, lambda g, h: tap(g.name, self.pool(g(h))), self._depth(length))
        x = ops.reshape(x, (-1, self.code_dim))
        return tap("enc_postfix", self.enc_postfix(x))

    def decode(self, code, length, taps=None):
        """Code [B, code_dim] -> byte logits [B, length, 256] for a padded `length`."""
        tap = (lambda name, x: taps.append((name, x)) or x) if taps is not None else (lambda name, x: x)
        x = tap("dec_prefix", self.dec_prefix(code))
        x = ops.reshape(x, (-1, self.code_length, self.features))
        x = self._recurse(x, self.dec_recursion, lambda g, h: tap(g.name, g(h)), self._depth(length))
        return tap("dec_postfix", self.dec_postfix(x))

    def group_outputs(self, ids) -> list:
        """(group name, output) after every group application, in order, ending with the logits:
        the activation-scale profile through the network (see `layers` on initialisation)."""
        ids = ops.convert_to_tensor(ids, "int32")
        taps = []
        self.decode(self.encode(ids, taps=taps), int(ids.shape[1]), taps=taps)
        return taps

    def call(self, ids, training=False):
        ids = ops.convert_to_tensor(ids, "int32")
        length = ids.shape[1] if ids.shape[1] is not None else tf.shape(ids)[1]
        return self.decode(self.encode(ids, training=training), length)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (NUM_BYTES,)

    def get_config(self):
        return {**super().get_config(), "n": self.n, "features": self.features,
                "code_length": self.code_length, "pooling": self.pooling,
                "recursive": self.recursive, "max_length": self.max_length,
                "kernel_size": self.kernel_size, "init": self.init}


_SMOKE = dict(features=32, max_length=64)
for _n in (2, 4, 8, 16):
    register_model(f"byte_rcae_n{_n}", smoke=_SMOKE,
                   example_input=_byte_example, n=_n)(ByteRCAE)
register_model("byte_rcae_static_n8", smoke=_SMOKE,
               example_input=_byte_example, n=8, recursive=False)(ByteRCAE)
for _pool in ("average", "l2"):
    register_model(f"byte_rcae_{_pool}_n8", smoke=_SMOKE,
                   example_input=_byte_example, n=8, pooling=_pool)(ByteRCAE)
