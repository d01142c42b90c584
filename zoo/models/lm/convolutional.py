"""Convolutional language models: WaveNet (A. van den Oord et al., "WaveNet: A Generative Model for
Raw Audio", 2016, §2.1-2.4) and the generic TCN (S. Bai, J. Z. Kolter, V. Koltun, "An Empirical
Evaluation of Generic Convolutional and Recurrent Networks for Sequence Modeling", 2018, §3), both
over token embeddings and both following the family's LM contract: `call(ids [B, T])` -> logits
[B, T, V] where position t sees tokens 0..t; `receptive_field` == `context_length` (tokens);
`initial_state(batch)` and `step(tokens, state)` for incremental generation.

Every convolution is causal: a dilated convolution of width k and dilation d reads its input at
t, t-d, ..., t-(k-1)d, with zeros before the sequence (left padding of (k-1)d). Incremental
generation (T. Le Paine et al., "Fast Wavenet Generation Algorithm", 2016) keeps, per
convolution, a queue of its last (k-1)d inputs: one step pushes the new input, reads the k taps
and pops the oldest, so each layer does one matrix product per token; nothing is recomputed over
the receptive field. A zero-filled queue is exactly the zero left padding of `call`, so stepping
from `initial_state` gives `call`'s logits. The queues are shifted functionally (a slice and a
concatenation): each step moves (k-1)d numbers per channel per layer in memory, with no
arithmetic over them.
"""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from zoo.layers.checks import check_rate
from zoo.registry import register_model, serializable


def _positive_int(name, value, minimum=1):
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


# Structural limits, checked before a single layer is made. Shapes are int32 in TensorFlow's
# padding and slicing: a receptive field of 2^31 or more wraps around (layers_per_stack=40 padded
# by 2^25 positions, silently). And each block is a Python object: 10,000 blocks took 21 s to
# construct here before any weight existed (the papers use 30 or fewer).
MAX_BLOCKS = 1024
MAX_RECEPTIVE_FIELD = 2 ** 31 - 1


def _check_structure(blocks: int, receptive_field, knobs: str):
    """ValueError if the blocks or the receptive field (a callable: 2^levels is only computed once
    the block count is known to be small) exceed the limits above."""
    if blocks > MAX_BLOCKS:
        raise ValueError(f"{knobs} make {blocks:,} residual blocks; at most {MAX_BLOCKS:,} are supported")
    receptive_field = receptive_field()
    if receptive_field > MAX_RECEPTIVE_FIELD:
        raise ValueError(f"{knobs} give a receptive field of {receptive_field:.3g} tokens; at most "
                         f"2^31 - 1 are supported (TensorFlow's int32 shapes)")


def _seed(seed, offset):
    return None if seed is None else seed + offset


def _unpack_state(state, expected: int, model: str):
    if not isinstance(state, (tuple, list)) or len(state) != expected:
        got = len(state) if isinstance(state, (tuple, list)) else type(state).__name__
        raise ValueError(f"{model}.step needs a state of {expected} buffers (from initial_state), got {got}")
    return list(state)


# -- the causal convolution with a generation queue ----------------------------------------------
@serializable
class CausalConv1D(keras.layers.Layer):
    """A causal dilated 1-D convolution [B, T, C_in] -> [B, T, filters] (WaveNet §2.1, Figure 3;
    Bai et al. §3.1-3.2): y_t = b + sum_j W_j x_{t-(k-1-j)d}, zeros before the sequence.

    `step(x_t [B, C_in], queue [B, (k-1)d, C_in])` -> (y_t [B, filters], new queue) is the same
    convolution one position at a time (Paine et al.'s per-layer queue); `buffer_length` = (k-1)d.

    Both paths compute the k taps as one matrix product with the kernel reshaped to
    [k * C_in, filters] (a GEMM over all positions in `call`, over the batch in `step`).

    Args:
        filters: output channels.
        kernel_size: taps k (>= 1; k = 1 is a 1x1 convolution with an empty queue).
        dilation_rate: d.
        weight_norm: W = g * v / ||v|| with the norm per output channel (T. Salimans and D. P.
            Kingma, "Weight Normalization", 2016; Bai et al. §3.3), g initialised to ||v|| so the
            initial W is v.
        use_bias, kernel_initializer: as in keras.layers.Conv1D.
    """

    def __init__(self, filters, kernel_size=2, dilation_rate=1, weight_norm=False, use_bias=True,
                 kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.filters = _positive_int("filters", filters)
        self.kernel_size = _positive_int("kernel_size", kernel_size)
        self.dilation_rate = _positive_int("dilation_rate", dilation_rate)
        self.weight_norm, self.use_bias = bool(weight_norm), bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    @property
    def buffer_length(self) -> int:
        """Inputs a generation queue holds: (k - 1) * d."""
        return (self.kernel_size - 1) * self.dilation_rate

    def build(self, input_shape):
        c_in = int(input_shape[-1])
        self.input_channels = c_in
        self.kernel = self.add_weight(name="kernel", shape=(self.kernel_size, c_in, self.filters),
                                      initializer=self.kernel_initializer)
        if self.weight_norm:
            v = self.kernel

            def norm_of_v(shape, dtype=None):
                return ops.cast(ops.sqrt(ops.sum(ops.square(v.value), axis=(0, 1))), dtype or "float32")

            self.scale = self.add_weight(name="scale", shape=(self.filters,), initializer=norm_of_v)
        self.bias = (self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
                     if self.use_bias else None)

    def _matrix(self):
        """The kernel as [k * C_in, filters] in the compute dtype (weight-normalised if asked)."""
        w = ops.convert_to_tensor(self.kernel.value)
        if self.weight_norm:
            # Normalise in the variable dtype (float32 under mixed precision), then cast.
            w = w * (self.scale.value / ops.sqrt(ops.sum(ops.square(w), axis=(0, 1)) + 1e-12))
        w = ops.cast(w, self.compute_dtype)
        return ops.reshape(w, (self.kernel_size * self.input_channels, self.filters))

    def _finish(self, y):
        return y if self.bias is None else y + ops.cast(self.bias.value, self.compute_dtype)

    def call(self, x):
        k, d, pad = self.kernel_size, self.dilation_rate, self.buffer_length
        if pad:
            x_padded = ops.pad(x, [[0, 0], [pad, 0], [0, 0]])
            # Tap j reads x_{t-(k-1-j)d}: padded positions j*d .. j*d + T - 1 (static slices).
            taps = [x_padded[:, j * d: (j * d - pad) or None] for j in range(k)]
            x = ops.concatenate(taps, axis=-1)
        return self._finish(ops.matmul(x, self._matrix()))

    def step(self, x, queue):
        """One position: x [B, C_in] and the last (k-1)d inputs [B, (k-1)d, C_in] (oldest first)."""
        x = ops.cast(x, self.compute_dtype)
        if not self.buffer_length:
            return self._finish(ops.matmul(x, self._matrix())), queue
        window = ops.concatenate([queue, x[:, None, :]], axis=1)         # [B, (k-1)d + 1, C_in]
        taps = window[:, ::self.dilation_rate]                           # [B, k, C_in]
        flat = ops.reshape(taps, (-1, self.kernel_size * self.input_channels))
        return self._finish(ops.matmul(flat, self._matrix())), window[:, 1:]

    def initial_queue(self, batch_size, input_channels):
        """Zeros [batch, (k-1)d, C_in]: the zero left padding of `call`."""
        return tf.zeros([batch_size, self.buffer_length, input_channels], self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "dilation_rate": self.dilation_rate, "weight_norm": self.weight_norm,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}


# -- WaveNet ----------------------------------------------------------------------------------
@serializable
class WaveNetBlock(keras.layers.Layer):
    """One WaveNet residual block (§2.3-2.4, Figure 4): z = tanh(W_f * x) ⊙ σ(W_g * x) with a
    causal dilated convolution (W_f and W_g are the two halves of one convolution's outputs),
    then x + 1x1_res(z) to the next block and 1x1_skip(z) to the output.

    `call(x)` / `step(x_t, queue)` return (residual output, skip output[, queue]); the residual
    output of the last block feeds nothing, so that block has no residual 1x1 (`residual=False`,
    and it returns x unchanged). `dropout` (not in the paper) applies to z in training only.
    """

    def __init__(self, residual_channels, skip_channels, dilation_rate=1, kernel_size=2, dropout=0.0,
                 residual=True, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.residual_channels = _positive_int("residual_channels", residual_channels)
        self.skip_channels = _positive_int("skip_channels", skip_channels)
        self.dilation_rate = _positive_int("dilation_rate", dilation_rate)
        self.kernel_size = _positive_int("kernel_size", kernel_size)
        self.dropout, self.residual, self.seed = check_rate("dropout", dropout), bool(residual), seed
        dtype = self.dtype_policy
        self.conv = CausalConv1D(2 * residual_channels, kernel_size, dilation_rate, name="dilated_conv",
                                 kernel_initializer=keras.initializers.GlorotUniform(seed), dtype=dtype)
        self.drop = keras.layers.Dropout(self.dropout, seed=seed, name="dropout", dtype=dtype)
        self.res = (keras.layers.Dense(residual_channels, name="residual",
                                       kernel_initializer=keras.initializers.GlorotUniform(_seed(seed, 1)),
                                       dtype=dtype) if self.residual else None)
        self.skip = keras.layers.Dense(skip_channels, name="skip",
                                       kernel_initializer=keras.initializers.GlorotUniform(_seed(seed, 2)),
                                       dtype=dtype)

    def build(self, input_shape):
        r = self.residual_channels
        self.conv.build((None, None, r))
        if self.res is not None:
            self.res.build((None, r))
        self.skip.build((None, r))

    def _gate(self, h, training):
        f, g = ops.split(h, 2, axis=-1)
        return self.drop(ops.tanh(f) * ops.sigmoid(g), training=training)

    def _out(self, x, z):
        return (x + self.res(z) if self.res is not None else x), self.skip(z)

    def call(self, x, training=False):
        return self._out(x, self._gate(self.conv(x), training))

    def step(self, x, queue):
        h, queue = self.conv.step(x, queue)
        return (*self._out(ops.cast(x, self.compute_dtype), self._gate(h, False)), queue)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape), (*input_shape[:-1], self.skip_channels)

    def get_config(self):
        return {**super().get_config(), "residual_channels": self.residual_channels,
                "skip_channels": self.skip_channels, "dilation_rate": self.dilation_rate,
                "kernel_size": self.kernel_size, "dropout": self.dropout, "residual": self.residual,
                "seed": self.seed}


class _ConvolutionalLM(keras.Model):
    """What the two convolutional LMs share: token-id inputs, a receptive field as context."""

    @property
    def context_length(self) -> int:
        return self.receptive_field

    @property
    def input_dtype(self):
        return "int32"


@serializable
class WaveNetLM(_ConvolutionalLM):
    """WaveNet over tokens (van den Oord et al., "WaveNet: A Generative Model for Raw Audio", §2):
    embedding -> causal input convolution (kernel_size taps, dilation 1) -> `stacks` x
    `layers_per_stack` gated residual blocks with dilations 1, 2, ..., 2^(layers_per_stack-1)
    per stack (§2.1: "1, 2, 4, ..., 512, 1, 2, 4, ..., 512, ...") -> sum of the skip outputs ->
    ReLU -> 1x1 -> ReLU -> 1x1 to vocabulary logits (§2.2, §2.4, Figure 4; the softmax over
    tokens replaces the paper's 256-way mu-law softmax).

    Receptive field (tokens that output t depends on, t-R+1..t):
        R = 1 + (k-1) * (1 + stacks * (2^layers_per_stack - 1)),
    the 1 + (k-1) of the input convolution plus (k-1)d per block. With k = 2, 10 layers per
    stack and 2 stacks: R = 2048.

    Args:
        vocab_size: tokens incl. <eos> (id 0) and <unk> (id 1).
        embedding_dim: token embedding size (the input convolution maps it to residual_channels).
        residual_channels, skip_channels: widths of the residual stream and of the skip sum
            (and of the first output 1x1).
        layers_per_stack, stacks: the dilation schedule above.
        kernel_size: taps of every dilated convolution (the paper's 2).
        dropout: on every block's gated activations, in training only (not in the paper).
        seed: seed of the initialisers and dropout masks.
    """

    def __init__(self, vocab_size=258, embedding_dim=64, residual_channels=64, skip_channels=128,
                 layers_per_stack=10, stacks=2, kernel_size=2, dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = _positive_int("vocab_size", vocab_size, 2)
        self.embedding_dim = _positive_int("embedding_dim", embedding_dim)
        self.residual_channels = _positive_int("residual_channels", residual_channels)
        self.skip_channels = _positive_int("skip_channels", skip_channels)
        self.layers_per_stack = _positive_int("layers_per_stack", layers_per_stack)
        self.stacks = _positive_int("stacks", stacks)
        self.kernel_size = _positive_int("kernel_size", kernel_size, 2)
        self.dropout, self.seed = check_rate("dropout", dropout), seed
        _check_structure(self.num_blocks, lambda: self.receptive_field,
                         f"stacks={stacks}, layers_per_stack={layers_per_stack}, kernel_size={kernel_size}")
        dtype = self.dtype_policy
        self.embedding = keras.layers.Embedding(
            vocab_size, embedding_dim, name="embedding", dtype=dtype,
            embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0, seed=seed))
        self.input_conv = CausalConv1D(residual_channels, kernel_size, 1, name="input_conv", dtype=dtype,
                                       kernel_initializer=keras.initializers.GlorotUniform(_seed(seed, 1)))
        # One attribute per block (not a list): tf.train.Checkpoint does not track a list of
        # layers of a Keras 3 model; fixed names key the weights by path ("block3/skip/kernel").
        n = self.num_blocks
        for i, d in enumerate(self.dilations):
            setattr(self, f"block{i + 1}", WaveNetBlock(
                residual_channels, skip_channels, d, kernel_size, self.dropout, residual=i < n - 1,
                seed=_seed(seed, 10 * (i + 1)), name=f"block{i + 1}", dtype=dtype))
        self.output1 = keras.layers.Dense(skip_channels, name="output1", dtype=dtype,
                                          kernel_initializer=keras.initializers.HeNormal(_seed(seed, 2)))
        self.output2 = keras.layers.Dense(vocab_size, name="output2", dtype=dtype,
                                          kernel_initializer=keras.initializers.GlorotUniform(_seed(seed, 3)))

    @property
    def dilations(self) -> list[int]:
        return [2 ** i for _ in range(self.stacks) for i in range(self.layers_per_stack)]

    @property
    def num_blocks(self) -> int:
        return self.stacks * self.layers_per_stack

    @property
    def blocks(self) -> list:
        return [getattr(self, f"block{i + 1}") for i in range(self.num_blocks)]

    @property
    def receptive_field(self) -> int:
        """1 + (k-1) * (1 + stacks * (2^layers_per_stack - 1)) tokens."""
        return 1 + (self.kernel_size - 1) * (1 + self.stacks * (2 ** self.layers_per_stack - 1))

    def build(self, input_shape=None):
        self.embedding.build((None, None))
        self.input_conv.build((None, None, self.embedding_dim))
        for block in self.blocks:
            block.build((None, None, self.residual_channels))
        self.output1.build((None, self.skip_channels))
        self.output2.build((None, self.skip_channels))
        self.built = True

    def _logits(self, skip):
        return self.output2(ops.relu(self.output1(ops.relu(skip))))

    def call(self, ids, training=False):
        x = self.input_conv(self.embedding(ops.convert_to_tensor(ids, "int32")))
        skip = 0
        for block in self.blocks:
            x, s = block(x, training=training)
            skip = skip + s
        return self._logits(skip)

    def initial_state(self, batch_size):
        """Zero queues: the input convolution's [B, k-1, embedding_dim], then each block's
        [B, (k-1)d, residual_channels] (as many as blocks, bottom first)."""
        return (self.input_conv.initial_queue(batch_size, self.embedding_dim),
                *(block.conv.initial_queue(batch_size, self.residual_channels) for block in self.blocks))

    def step(self, tokens, state):
        """One token per row (inference, no dropout): (next-token logits [B, V], new state)."""
        queues = _unpack_state(state, 1 + self.num_blocks, type(self).__name__)
        if not self.built:
            self.build()
        x, queues[0] = self.input_conv.step(self.embedding(ops.convert_to_tensor(tokens, "int32")), queues[0])
        skip = 0
        for i, block in enumerate(self.blocks):
            x, s, queues[i + 1] = block.step(x, queues[i + 1])
            skip = skip + s
        return self._logits(skip), (tuple(queues) if isinstance(state, tuple) else queues)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "embedding_dim": self.embedding_dim,
                "residual_channels": self.residual_channels, "skip_channels": self.skip_channels,
                "layers_per_stack": self.layers_per_stack, "stacks": self.stacks,
                "kernel_size": self.kernel_size, "dropout": self.dropout, "seed": self.seed}


# -- TCN --------------------------------------------------------------------------------------
def _tcn_init(seed):
    # N(0, 0.01), the initialisation of the authors' released TCN code.
    return keras.initializers.RandomNormal(stddev=0.01, seed=seed)


@serializable
class TCNBlock(keras.layers.Layer):
    """The TCN residual block (Bai et al. §3.3, Figure 1b): two causal dilated convolutions, each
    weight-normalised and followed by ReLU and dropout; out = ReLU(x' + F(x)) with x' = x, or a
    1x1 convolution of x when the channel counts differ. Dropout in training only."""

    def __init__(self, channels, kernel_size=3, dilation_rate=1, dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.channels = _positive_int("channels", channels)
        self.kernel_size = _positive_int("kernel_size", kernel_size)
        self.dilation_rate = _positive_int("dilation_rate", dilation_rate)
        self.dropout, self.seed = check_rate("dropout", dropout), seed
        dtype = self.dtype_policy
        conv = dict(kernel_size=kernel_size, dilation_rate=dilation_rate, weight_norm=True, dtype=dtype)
        self.conv1 = CausalConv1D(channels, name="conv1", kernel_initializer=_tcn_init(seed), **conv)
        self.conv2 = CausalConv1D(channels, name="conv2", kernel_initializer=_tcn_init(_seed(seed, 1)), **conv)
        self.drop1 = keras.layers.Dropout(self.dropout, seed=_seed(seed, 2), name="dropout1", dtype=dtype)
        self.drop2 = keras.layers.Dropout(self.dropout, seed=_seed(seed, 3), name="dropout2", dtype=dtype)
        self.downsample = None

    def build(self, input_shape):
        c_in = int(input_shape[-1])
        self.conv1.build((None, None, c_in))
        self.conv2.build((None, None, self.channels))
        if c_in != self.channels:
            self.downsample = keras.layers.Dense(self.channels, name="downsample", dtype=self.dtype_policy,
                                                 kernel_initializer=_tcn_init(_seed(self.seed, 4)))
            self.downsample.build((None, c_in))

    def _residual(self, x):
        return x if self.downsample is None else self.downsample(x)

    def call(self, x, training=False):
        h = self.drop1(ops.relu(self.conv1(x)), training=training)
        h = self.drop2(ops.relu(self.conv2(h)), training=training)
        return ops.relu(h + self._residual(x))

    def step(self, x, queue1, queue2):
        x = ops.cast(x, self.compute_dtype)
        h, queue1 = self.conv1.step(x, queue1)
        h, queue2 = self.conv2.step(ops.relu(h), queue2)
        return ops.relu(ops.relu(h) + self._residual(x)), queue1, queue2

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.channels)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "kernel_size": self.kernel_size,
                "dilation_rate": self.dilation_rate, "dropout": self.dropout, "seed": self.seed}


@serializable
class TiedHead(keras.layers.Layer):
    """Logits h @ E^T + b through a (shared) embedding matrix E [V, D] (O. Press and L. Wolf,
    "Using the Output Embedding to Improve Language Models", 2017): the layer owns only b."""

    def __init__(self, vocab_size, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = _positive_int("vocab_size", vocab_size)

    def build(self, h_shape=None, embeddings_shape=None):
        self.bias = self.add_weight(name="bias", shape=(self.vocab_size,), initializer="zeros")

    def call(self, h, embeddings):
        e = ops.cast(embeddings, self.compute_dtype)
        return ops.matmul(h, ops.transpose(e)) + ops.cast(self.bias.value, self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size}


@serializable
class TCNLM(_ConvolutionalLM):
    """The generic temporal convolutional network as a language model (Bai, Kolter and Koltun, "An
    Empirical Evaluation of Generic Convolutional and Recurrent Networks for Sequence Modeling",
    §3): embedding (+ dropout) -> `levels` residual blocks (`TCNBlock`), block i with dilation 2^i
    -> a linear head to the vocabulary, optionally tied to the embedding.

    Normalisation is weight normalisation, as in the paper (§3.3); it keeps `step` a per-position
    function of the queued inputs (a layer norm over channels would too, but weight norm is what
    the paper evaluates).

    Receptive field (tokens that output t depends on, t-R+1..t): two convolutions per block, so
        R = 1 + 2 * (k-1) * (2^levels - 1).

    Args:
        vocab_size: tokens incl. <eos> (id 0) and <unk> (id 1).
        embedding_dim: embedding size (the first block's input channels).
        channels: hidden channels of every block.
        levels: residual blocks (dilations 1, 2, ..., 2^(levels-1)).
        kernel_size: taps k of every convolution (>= 2).
        dropout: after each convolution's ReLU, in training only.
        embedding_dropout: on the embedded tokens, in training only (the paper's word-level set-up).
        tied: the head is the transposed embedding (plus a bias); the last block then outputs
            embedding_dim channels (as the authors' word-level model: hidden channels for all
            blocks but the last).
        seed: seed of the initialisers and dropout masks.
    """

    def __init__(self, vocab_size=258, embedding_dim=128, channels=128, levels=6, kernel_size=3,
                 dropout=0.0, embedding_dropout=0.0, tied=False, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = _positive_int("vocab_size", vocab_size, 2)
        self.embedding_dim = _positive_int("embedding_dim", embedding_dim)
        self.channels = _positive_int("channels", channels)
        self.levels = _positive_int("levels", levels)
        self.kernel_size = _positive_int("kernel_size", kernel_size, 2)
        self.dropout = check_rate("dropout", dropout)
        self.embedding_dropout = check_rate("embedding_dropout", embedding_dropout)
        self.tied, self.seed = bool(tied), seed
        _check_structure(levels, lambda: self.receptive_field, f"levels={levels}, kernel_size={kernel_size}")
        dtype = self.dtype_policy
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding", dtype=dtype,
                                                embeddings_initializer=_tcn_init(seed))
        self.emb_drop = keras.layers.Dropout(self.embedding_dropout, seed=_seed(seed, 1),
                                             name="embedding_dropout", dtype=dtype)
        for i in range(levels):
            setattr(self, f"block{i + 1}", TCNBlock(
                self.block_channels[i], kernel_size, 2 ** i, self.dropout, seed=_seed(seed, 10 * (i + 1)),
                name=f"block{i + 1}", dtype=dtype))
        if self.tied:
            self.head = TiedHead(vocab_size, name="head", dtype=dtype)
        else:
            self.head = keras.layers.Dense(vocab_size, name="head", dtype=dtype,
                                           kernel_initializer=_tcn_init(_seed(seed, 2)))

    @property
    def block_channels(self) -> list[int]:
        out = [self.channels] * self.levels
        if self.tied:
            out[-1] = self.embedding_dim
        return out

    @property
    def blocks(self) -> list:
        return [getattr(self, f"block{i + 1}") for i in range(self.levels)]

    @property
    def receptive_field(self) -> int:
        """1 + 2 * (k-1) * (2^levels - 1) tokens."""
        return 1 + 2 * (self.kernel_size - 1) * (2 ** self.levels - 1)

    def build(self, input_shape=None):
        self.embedding.build((None, None))
        size = self.embedding_dim
        for block, c in zip(self.blocks, self.block_channels):
            block.build((None, None, size))
            size = c
        self.head.build((None, size))
        self.built = True

    def _logits(self, h):
        if self.tied:
            return self.head(h, self.embedding.embeddings)
        return self.head(h)

    def call(self, ids, training=False):
        h = self.emb_drop(self.embedding(ops.convert_to_tensor(ids, "int32")), training=training)
        for block in self.blocks:
            h = block(h, training=training)
        return self._logits(h)

    def initial_state(self, batch_size):
        """Zero queues, two per block (its first and second convolution's inputs), bottom first:
        [B, (k-1)2^i, C_in] and [B, (k-1)2^i, C]."""
        inputs = [self.embedding_dim] + self.block_channels[:-1]
        return tuple(q for block, c_in, c in zip(self.blocks, inputs, self.block_channels)
                     for q in (block.conv1.initial_queue(batch_size, c_in),
                               block.conv2.initial_queue(batch_size, c)))

    def step(self, tokens, state):
        """One token per row (inference, no dropout): (next-token logits [B, V], new state)."""
        queues = _unpack_state(state, 2 * self.levels, type(self).__name__)
        if not self.built:
            self.build()
        h = self.embedding(ops.convert_to_tensor(tokens, "int32"))
        for i, block in enumerate(self.blocks):
            h, queues[2 * i], queues[2 * i + 1] = block.step(h, queues[2 * i], queues[2 * i + 1])
        return self._logits(h), (tuple(queues) if isinstance(state, tuple) else queues)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "embedding_dim": self.embedding_dim,
                "channels": self.channels, "levels": self.levels, "kernel_size": self.kernel_size,
                "dropout": self.dropout, "embedding_dropout": self.embedding_dropout, "tied": self.tied,
                "seed": self.seed}


# -- registry ---------------------------------------------------------------------------------
def example_ids(model, batch, rng):
    """Random token ids [batch, 12] of the model's vocabulary (the registry sweep's input)."""
    return rng.integers(0, model.vocab_size, size=(batch, 12)).astype("int32")


# Their keras-tuner spaces (the family's default space is the recurrent LM's).
_WAVENET_SPACE = {"model.residual_channels": {"choice": [32, 64, 128]},
                  "model.layers_per_stack": {"min": 5, "max": 8}, "model.dropout": {"choice": [0.0, 0.1]},
                  "trainer.learning_rate": {"choice": [0.0005, 0.001, 0.002]}}
_TCN_SPACE = {"model.channels": {"choice": [64, 128, 256]}, "model.levels": {"min": 4, "max": 7},
              "model.dropout": {"choice": [0.0, 0.1, 0.2]},
              "trainer.learning_rate": {"choice": [0.0005, 0.001, 0.002]}}
# CPU-size defaults for a byte-level vocabulary (256 bytes + <eos>, <unk>): one Adam step at batch
# 32 x 256 tokens takes ~1 s (WaveNet) and ~1.6 s (TCN) on 2 shared CPU cores, so a few hundred
# steps take minutes. Each receptive field fits a 256-token training sequence, so every tap of
# every layer reads text in training (with dilations up to 512 the wide layers' first taps would
# read only padding at that length and stay untrained).
# WaveNet: 2 stacks x dilations 1..64 (R = 256).
register_model("wavenet_lm", tune_space=_WAVENET_SPACE,
               smoke=dict(vocab_size=12, embedding_dim=6, residual_channels=8, skip_channels=8,
                          layers_per_stack=2, stacks=2),
               example_input=example_ids, vocab_size=258, embedding_dim=64, residual_channels=64,
               skip_channels=256, layers_per_stack=7, stacks=2, kernel_size=2)(WaveNetLM)
# TCN: 6 levels of kernel 3 (R = 253), tied softmax.
register_model("tcn_lm", tune_space=_TCN_SPACE,
               smoke=dict(vocab_size=12, embedding_dim=6, channels=8, levels=2, kernel_size=3),
               example_input=example_ids, vocab_size=258, embedding_dim=128, channels=128, levels=6,
               kernel_size=3, dropout=0.1, embedding_dropout=0.1, tied=True)(TCNLM)
